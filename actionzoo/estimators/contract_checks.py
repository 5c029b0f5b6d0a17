"""The estimator contract of docs/design.md as reusable checks for any X.

scikit-learn's ``parametrize_with_checks`` runs nothing for an estimator that
does not take 2-D arrays, so the clip estimators (video paths, 5-D arrays)
need checks that accept the estimator's own ``X``. Every check takes
``(estimator, X, y)`` with a small ``X`` the estimator can fit quickly and
raises ``AssertionError`` naming the broken rule.

Examples
--------
>>> import numpy as np
>>> from actionzoo import LateFusion
>>> from actionzoo.estimators.contract_checks import check_estimator_contract
>>> y = np.array([0, 1, 2] * 4)
>>> X = np.stack([np.eye(3)[y] * 3, np.eye(3)[y]], axis=1)
>>> check_estimator_contract(LateFusion(), X, y)
"""
import inspect
import pickle

import joblib
import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError


def _fitted_attributes(estimator):
    return [k for k in vars(estimator) if k.endswith("_") and not k.startswith("__")]


def check_init_stores_params(estimator, X, y):
    """``__init__`` stores every argument unchanged and sets nothing else."""
    params = estimator.get_params(deep=False)
    signature = inspect.signature(type(estimator).__init__)
    names = [p for p in signature.parameters if p != "self"]
    assert sorted(params) == sorted(names), (
        f"get_params() keys {sorted(params)} differ from __init__ arguments {sorted(names)}")
    fresh = type(estimator)(**params)
    for name in names:
        assert getattr(fresh, name) is params[name], f"__init__ changed argument {name!r}"
    extra = set(vars(fresh)) - set(names)
    assert not extra, f"__init__ sets attributes beyond its arguments: {sorted(extra)}"


def check_clone(estimator, X, y):
    """``clone`` keeps parameters and drops fitted state."""
    fitted = clone(estimator).fit(X, y)
    copy = clone(fitted)
    assert joblib.hash(copy.get_params(deep=False)) == joblib.hash(
        fitted.get_params(deep=False)), "clone changed parameters"
    assert not _fitted_attributes(copy), (
        f"clone kept fitted attributes {_fitted_attributes(copy)}")


def check_fit_returns_self_and_keeps_params(estimator, X, y):
    """``fit`` returns ``self``, sets fitted attributes and mutates no argument."""
    est = clone(estimator)
    before = joblib.hash(est.get_params(deep=False))
    assert est.fit(X, y) is est, "fit() does not return self"
    assert joblib.hash(est.get_params(deep=False)) == before, "fit() mutated a parameter"
    assert hasattr(est, "classes_"), "fit() did not set classes_"


def check_predict_before_fit(estimator, X, y):
    """Prediction before ``fit`` raises ``NotFittedError``."""
    for method in ("predict", "predict_proba", "transform"):
        if hasattr(estimator, method):
            try:
                getattr(clone(estimator), method)(X)
            except NotFittedError:
                continue
            raise AssertionError(f"{method}() before fit did not raise NotFittedError")


def check_string_labels(estimator, X, y):
    """Any hashable labels: strings come back from ``predict`` as given."""
    labels = np.array([f"action-{v}" for v in y], dtype=object)
    est = clone(estimator).fit(X, labels)
    assert sorted(est.classes_.tolist()) == sorted(set(labels.tolist())), (
        f"classes_ {est.classes_.tolist()} differ from the labels")
    predicted = est.predict(X)
    assert set(predicted.tolist()) <= set(labels.tolist()), (
        "predict() returned labels outside classes_")


def check_probabilities(estimator, X, y):
    """``predict_proba`` rows sum to 1 and ``predict`` is their argmax label."""
    est = clone(estimator).fit(X, y)
    proba = est.predict_proba(X)
    assert proba.shape == (len(y), len(est.classes_)), f"predict_proba shape {proba.shape}"
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6,
                               err_msg="predict_proba rows do not sum to 1")
    np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])


def check_repeatable(estimator, X, y):
    """Equal ``random_state`` gives equal predictions."""
    if "random_state" not in estimator.get_params():
        return
    est = clone(estimator).set_params(random_state=0)
    first = clone(est).fit(X, y).predict_proba(X)
    second = clone(est).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(first, second, rtol=0, atol=1e-6,
                               err_msg="two fits with random_state=0 differ")


def check_pickle_roundtrip(estimator, X, y):
    """A fitted estimator pickles and predicts the same afterwards."""
    est = clone(estimator).fit(X, y)
    expected = est.predict_proba(X)
    revived = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(revived.predict_proba(X), expected, rtol=0, atol=1e-6,
                               err_msg="predictions changed across pickling")
    np.testing.assert_allclose(est.predict_proba(X), expected, rtol=0, atol=0,
                               err_msg="pickling changed the original estimator")


def check_unseen_labels_rejected(estimator, X, y):
    """``score`` with labels never seen in fit is a ``ValueError`` naming them."""
    est = clone(estimator).fit(X, y)
    bad = np.asarray(y, dtype=object).copy()
    bad[0] = "never-seen-label"
    try:
        est.score(X, bad)
    except ValueError as err:
        assert "never-seen-label" in str(err), f"error does not name the label: {err}"
        return
    raise AssertionError("score() accepted a label never seen in fit")


CONTRACT_CHECKS = (
    check_init_stores_params,
    check_clone,
    check_fit_returns_self_and_keeps_params,
    check_predict_before_fit,
    check_string_labels,
    check_probabilities,
    check_repeatable,
    check_pickle_roundtrip,
    check_unseen_labels_rejected,
)


def check_estimator_contract(estimator, X, y):
    """Run every contract check on ``estimator`` with its own ``X`` and ``y``."""
    for check in CONTRACT_CHECKS:
        check(estimator, X, y)
