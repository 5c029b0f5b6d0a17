"""LateFusion rules against direct NumPy computation."""
import numpy as np
import pytest

from actionzoo import LateFusion
from actionzoo.data.synthetic_scores import two_stream_scores
from actionzoo.estimators._base import softmax

X, Y = two_stream_scores(200, n_classes=4, kind="agree", random_state=0)
P, Q = softmax(X[:, 0]), softmax(X[:, 1])


@pytest.mark.parametrize("method,expected", [
    ("avg", 0.5 * (P + Q)),
    ("max", np.maximum(P, Q) / np.maximum(P, Q).sum(1, keepdims=True)),
    ("multiply", softmax(X[:, 0].astype(float) + X[:, 1])),
])
def test_fixed_rules(method, expected):
    proba = LateFusion(method=method).fit(X, Y).predict_proba(X)
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-7)


def test_weighted_learns_to_trust_the_informative_stream():
    rng = np.random.default_rng(0)
    noisy = X.copy()
    noisy[:, 1] = rng.normal(size=noisy[:, 1].shape)  # the flow stream is pure noise
    est = LateFusion(method="weighted").fit(noisy, Y)
    assert est.stream_weights_[0] > 0.9
    assert est.score(noisy, Y) >= LateFusion(method="avg").fit(noisy, Y).score(noisy, Y)


def test_weighted_respects_sample_weight():
    rng = np.random.default_rng(1)
    mixed = X.copy()
    half = np.arange(len(X)) < 100
    mixed[half, 1] = rng.normal(size=mixed[half, 1].shape)  # flow useless on first half
    mixed[~half, 0] = rng.normal(size=mixed[~half, 0].shape)  # RGB useless on second half
    w_rgb_first = LateFusion(method="weighted").fit(
        mixed, Y, sample_weight=half.astype(float)).stream_weights_[0]
    w_rgb_second = LateFusion(method="weighted").fit(
        mixed, Y, sample_weight=(~half).astype(float)).stream_weights_[0]
    assert w_rgb_first > 0.8 > 0.2 > w_rgb_second


def test_per_frame_scores_are_averaged_first():
    frames = np.repeat(X[:, :, None, :], 3, axis=2)
    est = LateFusion().fit(frames, Y)
    np.testing.assert_allclose(est.predict_proba(frames), 0.5 * (P + Q), rtol=1e-5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="4 score columns but y has 2 classes"):
        LateFusion().fit(X, Y % 2)
    with pytest.raises(ValueError, match="NaN"):
        LateFusion().fit(np.full_like(X, np.nan), Y)
    with pytest.raises(ValueError, match="'method' parameter"):
        LateFusion(method="median").fit(X, Y)
