"""stream_scores: per-stream class scores (log-probabilities) for the fusion estimators."""
import numpy as np
from sklearn.model_selection import GroupKFold

from actionzoo import LateFusion
from actionzoo.estimators.stream_scores import stream_scores


def _features(n_per_class, classes, shift, seed):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    X = rng.normal(size=(y.size, 6))
    X[np.arange(y.size), y] += shift
    return X, y


def test_scores_are_log_probabilities_that_learn_the_classes():
    X_train, y_train = _features(12, 3, 3.0, seed=0)
    X_test, y_test = _features(8, 3, 3.0, seed=1)
    train, test = stream_scores(X_train, X_test, y_train, cv=3)
    assert train.shape == (36, 3) and test.shape == (24, 3)
    np.testing.assert_allclose(np.exp(train).sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.exp(test).sum(1), 1.0, atol=1e-5)
    assert (test.argmax(1) == y_test).mean() > 0.8
    assert (train.argmax(1) == y_train).mean() > 0.8


def test_training_scores_are_out_of_fold():
    # Noise features: a classifier fit on all training videos recalls most of
    # their labels, the out-of-fold scores stay near chance.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 30)), np.repeat([0, 1], 20)
    groups = np.arange(40) % 8
    oof, in_sample = stream_scores(X, X, y, GroupKFold(4), groups)
    assert (in_sample.argmax(1) == y).mean() > 0.85
    assert (oof.argmax(1) == y).mean() < 0.65


def test_scores_feed_late_fusion():
    X_train, y_train = _features(10, 2, 2.0, seed=2)
    X_test, y_test = _features(6, 2, 2.0, seed=3)
    streams = [stream_scores(X_train[:, s::2], X_test[:, s::2], y_train, cv=2) for s in (0, 1)]
    S_train = np.stack([train for train, _ in streams], 1)
    S_test = np.stack([test for _, test in streams], 1)
    assert LateFusion(method="avg").fit(S_train, y_train).score(S_test, y_test) > 0.7
