"""Shared Keras estimator machinery, exercised through CorrNetFusion."""
import gc
import pickle

import keras
import numpy as np
import psutil
import pytest
import sklearn
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_validate

from actionzoo import CorrNetFusion
from actionzoo.data.synthetic_scores import two_stream_scores

X, Y = two_stream_scores(96, n_classes=4, random_state=0)
TINY = dict(hidden_units=(16, 16), optimizer="adam", learning_rate=1e-2, epochs=2,
            batch_size=16, random_state=0)


def test_optimizer_routing_and_paper_defaults():
    clf = CorrNetFusion(optimizer="sgd", hidden_units=(8,), epochs=1, random_state=0)
    assert "optimizer__momentum" not in clf.get_params()
    user_kwargs = {"nesterov": True}
    clf.set_params(optimizer_kwargs=user_kwargs)
    clf.set_params(optimizer__momentum=0.5)
    assert user_kwargs == {"nesterov": True}, "set_params mutated the caller's dict"
    assert clf.get_params()["optimizer__momentum"] == 0.5
    cloned = clone(clf)
    assert cloned.optimizer_kwargs == {"nesterov": True, "momentum": 0.5}
    cloned.fit(X, Y)
    assert float(cloned.model_.optimizer.momentum) == pytest.approx(0.5)
    assert cloned.model_.optimizer.nesterov is True


def test_bad_optimizer_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="not accepted by SGD"):
        CorrNetFusion(**{**TINY, "optimizer": "sgd"}, optimizer_kwargs={"betas": 1}).fit(X, Y)
    with pytest.raises(ValueError, match="'optimizer' parameter"):
        CorrNetFusion(optimizer="lion").fit(X, Y)
    with pytest.raises(ValueError, match="'epochs' parameter"):
        CorrNetFusion(epochs=0).fit(X, Y)
    with pytest.raises(ValueError, match="hidden_units"):
        CorrNetFusion(**{**TINY, "hidden_units": (8, -1)}).fit(X, Y)


def test_grid_search_over_optimizer_momentum():
    search = GridSearchCV(CorrNetFusion(**{**TINY, "optimizer": "sgd"}),
                          {"optimizer__momentum": [0.0, 0.9]}, cv=2).fit(X, Y)
    assert search.best_estimator_.optimizer_kwargs["momentum"] in (0.0, 0.9)
    assert float(search.best_estimator_.model_.optimizer.momentum) == pytest.approx(
        search.best_params_["optimizer__momentum"])


def test_callbacks_early_stopping_copied_not_mutated():
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=100.0, patience=0)
    clf = CorrNetFusion(**{**TINY, "epochs": 20}, callbacks=[stop]).fit(X, Y)
    assert len(clf.history_["loss"]) < 20
    assert stop.model is None and stop.stopped_epoch == 0, "the argument was used in place"
    assert clone(clf).callbacks[0].min_delta == 100.0


def test_validation_fraction_feeds_val_loss_callbacks():
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1)
    clf = CorrNetFusion(**{**TINY, "epochs": 3}, validation_fraction=0.25, callbacks=[stop])
    clf.fit(X, Y)
    assert len(clf.history_["val_loss"]) == len(clf.history_["loss"])


def test_every_fit_is_traced_and_learns():
    """No eager fallback for short fits: the model trains through tf.function."""
    clf = CorrNetFusion(**{**TINY, "epochs": 10}).fit(X, Y)
    assert not clf.model_.run_eagerly
    assert clf.model_.train_function is not None
    assert clf.history_["loss"][-1] < 0.8 * clf.history_["loss"][0]


def test_warm_start_continues_training():
    clf = CorrNetFusion(**TINY, warm_start=True).fit(X, Y)
    model = clf.model_
    weights = model.get_layer("fc1").get_weights()[0].copy()
    clf.fit(X, Y)
    assert clf.model_ is model
    assert len(clf.history_["loss"]) == 4
    assert not np.allclose(weights, model.get_layer("fc1").get_weights()[0])
    bad = Y.astype(object)
    bad[0] = "new-class"
    with pytest.raises(ValueError, match="new-class"):
        clf.fit(X, bad)
    cold = CorrNetFusion(**TINY).fit(X, Y)
    first = cold.model_
    cold.fit(X, Y)
    assert cold.model_ is not first and len(cold.history_["loss"]) == 2


def test_sample_weight_reaches_the_loss():
    weights = np.where(Y == 0, 0.0, 1.0)
    clf = CorrNetFusion(**{**TINY, "epochs": 15}, fusion="none")
    predicted = clf.fit(X, Y, sample_weight=weights).predict(X)
    unweighted = clone(clf).fit(X, Y).predict(X)
    assert (unweighted == 0).sum() > 10
    assert (predicted == 0).sum() < (unweighted == 0).sum() / 3


def test_class_weight_equals_the_matching_sample_weight():
    class_weight = {0: 3.0, 1: 1.0, 2: 0.5, 3: 1.0}
    by_class = CorrNetFusion(**TINY, class_weight=class_weight).fit(X, Y).predict_proba(X)
    weights = np.array([class_weight[v] for v in Y])
    by_sample = CorrNetFusion(**TINY).fit(X, Y, sample_weight=weights).predict_proba(X)
    np.testing.assert_allclose(by_class, by_sample, atol=1e-6)
    with pytest.raises(ValueError):
        CorrNetFusion(**TINY, class_weight={"nope": 1.0}).fit(X, Y)


def test_sample_weight_metadata_routing():
    weights = np.where(Y == 0, 0.0, 1.0)
    with sklearn.config_context(enable_metadata_routing=True):
        est = CorrNetFusion(**TINY).set_fit_request(sample_weight=True).set_score_request(
            sample_weight=True)
        result = cross_validate(est, X, Y, cv=2, params={"sample_weight": weights},
                                return_estimator=True)
        assert len(result["estimator"]) == 2
        unrequested = CorrNetFusion(**TINY).set_score_request(sample_weight=True)
        with pytest.raises(Exception, match="sample_weight"):
            cross_validate(unrequested, X, Y, cv=2, params={"sample_weight": weights})


def test_verbose_progress_bar(capsys):
    CorrNetFusion(**TINY, verbose=1).fit(X, Y)
    assert "epoch" in capsys.readouterr().err
    CorrNetFusion(**TINY, verbose=0).fit(X, Y)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


@pytest.mark.parametrize("bad,match", [
    (np.full((4, 2, 3), np.nan), "NaN"),
    (np.full((4, 2, 3), np.inf), "infinity"),
    (np.zeros((4, 5)), "odd number"),
    (np.zeros((4, 3, 3)), "2 streams"),
    (np.zeros((4, 2, 3, 3, 1)), "must have shape"),
])
def test_bad_input_is_named(bad, match):
    y = np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match=match):
        CorrNetFusion(**TINY).fit(bad, y)


def test_bad_fit_and_predict_inputs():
    clf = CorrNetFusion(**TINY)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    with pytest.raises(ValueError, match="1 sample"):
        clf.fit(X[:1], Y[:1])
    with pytest.raises(ValueError, match="1 class"):
        clf.fit(X[:5], np.zeros(5))
    with pytest.raises(ValueError, match="4 score columns but y has 2 classes"):
        clf.fit(X[:6], np.array([0, 1] * 3))
    with pytest.raises(ValueError, match="96 samples but y has 95"):
        clf.fit(X, Y[:-1])
    clf.fit(X, Y)
    with pytest.raises(ValueError, match="3 scores per stream but the estimator was fitted on 4"):
        clf.predict(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full((2, 2, 4), np.nan))
    with pytest.raises(ValueError, match="not seen in fit"):
        clf.score(X, np.where(Y == 0, 7, Y))


def test_pickled_estimator_can_keep_training():
    clf = CorrNetFusion(**TINY, warm_start=True).fit(X, Y)
    revived = pickle.loads(pickle.dumps(clf))
    revived.fit(X, Y)
    assert len(revived.history_["loss"]) == 4


def _rss_mb():
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def test_repeated_fits_in_grid_search_do_not_grow_memory():
    """20 fits inside GridSearchCV, twice: the second round must not add memory."""
    grid = {"hidden_units": [(16,), (32,)], "learning_rate": [1e-2, 3e-3],
            "fusion": ["sum", "avg"], "entropy_threshold": [1.0, None]}
    # 16 candidates x 2 folds would be 32; take 10 candidates x 2 folds = 20 fits.
    from sklearn.model_selection import ParameterGrid
    candidates = list(ParameterGrid(grid))[:10]
    grid = [{k: [v] for k, v in c.items()} for c in candidates]
    base = CorrNetFusion(**{**TINY, "epochs": 1})
    GridSearchCV(base, grid, cv=2, refit=False).fit(X, Y)      # warm-up: 20 fits
    before = _rss_mb()
    for _ in range(2):
        GridSearchCV(base, grid, cv=2, refit=False).fit(X, Y)  # 40 more fits
    growth = _rss_mb() - before
    assert growth < 40, f"memory grew by {growth:.1f} MiB over 40 fits"


def _live_traced_graphs():
    from tensorflow.python.framework.func_graph import FuncGraph
    gc.collect()
    return sum(isinstance(o, FuncGraph) for o in gc.get_objects())


@pytest.mark.parametrize("release", [True, False], ids=["released", "leaking"])
def test_six_fits_keep_no_traced_graph_alive(release, monkeypatch):
    """Each fit's traced train graph is freed with its model: the live graph
    count stays flat over six fits and RSS grows by <= 25 MiB per fit. With
    the release turned off (TensorFlow's custom-gradient registry keeps every
    train graph, tensorflow/tensorflow#27492) the count grows by one a fit,
    which shows the check can fail."""
    from actionzoo.estimators import _training
    monkeypatch.setattr(_training, "_CUSTOM_GRADIENT_LEAK", release)
    clf = CorrNetFusion(**TINY)
    clf.fit(X, Y)
    graphs, rss = [_live_traced_graphs()], [_rss_mb()]
    for _ in range(5):
        clf.fit(X, Y)
        graphs.append(_live_traced_graphs())
        rss.append(_rss_mb())
    if release:
        assert graphs[-1] <= graphs[0], f"traced graphs alive after each fit: {graphs}"
        assert (rss[-1] - rss[0]) / 5 <= 25, f"RSS after each fit: {rss}"
    else:
        assert graphs[-1] >= graphs[0] + 5, graphs


def test_fit_leaves_other_models_and_global_random_state_alone():
    """No clear_session, no reseeding left behind: a model of the user's gives
    the same predictions after a fit, and the next draws of Python, NumPy and
    TensorFlow's global generators are those they would have been."""
    import random

    import tensorflow as tf

    def draws():
        return random.random(), np.random.random(), float(tf.random.uniform(()))

    other = keras.Sequential([keras.Input(X.shape[1:]), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    before = other.predict(X, verbose=0)
    keras.utils.set_random_seed(123)
    expected = draws()
    keras.utils.set_random_seed(123)
    CorrNetFusion(**TINY).fit(X, Y)
    assert draws() == expected
    np.testing.assert_array_equal(other.predict(X, verbose=0), before)


def test_equal_seeds_give_equal_fits_unequal_seeds_differ():
    first = CorrNetFusion(**TINY).fit(X, Y).predict_proba(X)
    second = CorrNetFusion(**TINY).fit(X, Y).predict_proba(X)
    other = CorrNetFusion(**{**TINY, "random_state": 1}).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


def test_a_diverging_fit_stops_with_the_epoch_step_and_remedy():
    from actionzoo.estimators._training import NonFiniteError
    clf = CorrNetFusion(**{**TINY, "optimizer": "sgd", "learning_rate": 1e12, "epochs": 3})
    with pytest.raises(NonFiniteError, match=r"epoch 1, step \d+.*learning_rate"):
        clf.fit(X, Y)


def test_non_finite_outputs_are_refused_not_returned():
    from actionzoo.estimators._training import NonFiniteError
    clf = CorrNetFusion(**TINY).fit(X, Y)
    assert np.isfinite(clf.predict_proba(X)).all()
    first = next(layer for layer in clf.model_.layers if layer.weights)
    kernel = first.weights[0]
    kernel.assign(np.full(kernel.shape, 1e38, "float32"))  # activations overflow to inf
    for method in (clf.predict_proba, clf.predict, clf.transform):
        with pytest.raises(NonFiniteError, match="NaN or infinite.*learning_rate"):
            method(X)


def test_labels_of_any_hashable_mix():
    """Mixed ints and strings, None and tuples are classes, returned as given."""
    names = [3, "walk", None, ("jump", 2)]
    y = [names[i] for i in Y]
    clf = CorrNetFusion(**{**TINY, "epochs": 10}).fit(X, y)
    assert clf.classes_.tolist() == [None, 3, "walk", ("jump", 2)]  # by type name, then value
    predicted = clf.predict(X)
    assert {type(p) for p in predicted} <= {int, str, type(None), tuple}
    assert clf.score(X, y) == np.mean([p == t for p, t in zip(predicted, y, strict=True)])
    # the same fit as on the class indices: labels only name the classes
    as_indices = [clf.classes_.tolist().index(label) for label in y]
    plain = CorrNetFusion(**{**TINY, "epochs": 10}).fit(X, as_indices)
    np.testing.assert_array_equal(clf.predict_proba(X), plain.predict_proba(X))
    assert clf.score(X, y) == plain.score(X, as_indices) > 0.25
    weighted = CorrNetFusion(**TINY, class_weight={None: 2.0, "walk": 1.0}).fit(X, y)
    assert weighted.classes_.tolist() == clf.classes_.tolist()
    with pytest.raises(ValueError, match="class_weight has labels not in y"):
        CorrNetFusion(**TINY, class_weight={"run": 2.0}).fit(X, y)
    with pytest.raises(ValueError, match="not seen in fit: \\['run'\\]"):
        clf.score(X, ["run"] + y[1:])
    with pytest.raises(ValueError, match="NaN"):
        CorrNetFusion(**TINY).fit(X, [float("nan")] + y[1:])
    with pytest.raises(ValueError, match="hashable"):
        CorrNetFusion(**TINY).fit(X, [[1, 2]] + y[1:])
