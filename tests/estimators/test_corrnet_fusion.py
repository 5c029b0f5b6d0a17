"""CorrNetFusion semantics: fusion rules, Shannon gate, frame pairing, transfer, learning."""
import keras
import numpy as np
import pytest

from actionzoo import CorrNetFusion, LateFusion
from actionzoo.data.synthetic_scores import two_stream_scores
from actionzoo.estimators._base import softmax
from actionzoo.estimators.corrnet_fusion import entropy_bits

FAST = dict(hidden_units=(32, 32), optimizer="adam", learning_rate=3e-3, epochs=3,
            batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def fitted():
    X, y = two_stream_scores(120, n_classes=4, random_state=0)
    return CorrNetFusion(**FAST).fit(X, y), X, y


def test_entropy_bits_of_known_distributions():
    np.testing.assert_allclose(entropy_bits([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.5]]),
                               [1.0, 0.0, 1.5], atol=1e-9)


def test_fusion_rules_and_gate_follow_design(fitted):
    clf, X, _ = fitted
    z = clf.correlation_scores(X).astype(np.float64)
    u, v = X[:, 0].astype(np.float64), X[:, 1].astype(np.float64)
    gate_open = entropy_bits(softmax(z + u + v)) < 1.0
    assert 0 < gate_open.sum() < len(X), "fixture should exercise both gate outcomes"

    clf.set_params(fusion="sum", entropy_threshold=None)
    np.testing.assert_allclose(clf.decision_scores(X), z + u + v, rtol=1e-6)
    clf.set_params(fusion="avg", entropy_threshold=None)
    np.testing.assert_allclose(clf.decision_scores(X), z + 0.5 * (u + v), rtol=1e-6)
    clf.set_params(fusion="none")
    np.testing.assert_allclose(clf.decision_scores(X), z, rtol=1e-6)
    clf.set_params(fusion="sum", entropy_threshold=1.0)
    expected = np.where(gate_open[:, None], z + u + v, u + v)
    np.testing.assert_allclose(clf.decision_scores(X), expected, rtol=1e-6)
    clf.set_params(fusion="avg", entropy_threshold=1.0)
    expected = np.where(gate_open[:, None], z + 0.5 * (u + v), 0.5 * (u + v))
    np.testing.assert_allclose(clf.decision_scores(X), expected, rtol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X), softmax(expected), rtol=1e-6)


def test_gate_at_zero_bits_drops_z_everywhere(fitted):
    clf, X, y = fitted
    clf.set_params(fusion="sum", entropy_threshold=0.0)
    multiply = LateFusion(method="multiply").fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), multiply.predict_proba(X), atol=1e-6)
    clf.set_params(entropy_threshold=1.0)


def test_fusion_settings_change_without_refit(fitted):
    clf, X, _ = fitted
    model = clf.model_
    clf.set_params(fusion="avg", entropy_threshold=None)
    clf.predict(X)
    assert clf.model_ is model
    clf.set_params(fusion="sum", entropy_threshold=1.0)


def test_per_frame_form_pairs_random_frames_each_epoch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 2, 5, 3)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2])
    clf = CorrNetFusion(**FAST)
    rgb, flow = clf._check_X(X, reset=True)
    batches = clf._training_batches((rgb, flow), y, None, seed=0)
    drawn = set()
    for _ in range(4):
        (rgb_b, flow_b), _ = batches[0]
        order = batches._order[:len(rgb_b)]
        for row, i in enumerate(order):
            t_rgb = [t for t in range(5) if np.array_equal(rgb[i, t], rgb_b[row])]
            t_flow = [t for t in range(5) if np.array_equal(flow[i, t], flow_b[row])]
            assert len(t_rgb) == 1 and len(t_flow) == 1, "batch rows must be frames of video i"
            drawn.add((int(i), t_rgb[0], t_flow[0]))
        batches.on_epoch_end()
    assert len(drawn) > 6, "frame pairs should change across epochs"
    assert any(a != b for _, a, b in drawn), "RGB and flow frames are drawn independently"


def test_per_frame_predict_averages_over_frames(fitted):
    clf, X, _ = fitted
    repeated = np.repeat(X[:, :, None, :], 4, axis=2)
    np.testing.assert_allclose(clf.predict_proba(repeated), clf.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(clf.transform(repeated), clf.transform(X), atol=1e-5)


def test_per_frame_fit_learns(fitted):
    X, y = two_stream_scores(200, n_classes=4, random_state=3)
    frames = X[:, :, None, :] + np.random.default_rng(0).normal(
        0, 0.3, size=(200, 2, 6, 4)).astype("float32")
    clf = CorrNetFusion(**{**FAST, "epochs": 15}).fit(frames, y)
    assert clf.score(frames, y) > 0.6


def test_transfer_tiles_fc1_and_copies_fc2():
    X9, y9 = two_stream_scores(90, n_classes=9, random_state=0)
    source = CorrNetFusion(**FAST).fit(X9, y9)
    X4, y4 = two_stream_scores(40, n_classes=4, random_state=1)
    target = CorrNetFusion(**{**FAST, "epochs": 1, "learning_rate": 1e-12}).fit(
        X4, y4, init_from=source)
    src_k, src_b = source.model_.get_layer("fc1").get_weights()
    tgt_k, tgt_b = target.model_.get_layer("fc1").get_weights()
    grid = src_k.reshape(9, 9, -1)
    expected = np.stack([np.stack([grid[i % 9, j % 9] for j in range(4)]) for i in range(4)])
    np.testing.assert_allclose(tgt_k.reshape(4, 4, -1), expected, atol=1e-6)
    np.testing.assert_allclose(tgt_b, src_b, atol=1e-6)
    np.testing.assert_allclose(target.model_.get_layer("embedding").get_weights()[0],
                               source.model_.get_layer("embedding").get_weights()[0], atol=1e-6)
    with pytest.raises(ValueError, match="hidden_units"):
        CorrNetFusion(**{**FAST, "hidden_units": (8, 8)}).fit(X4, y4, init_from=source)
    with pytest.raises(TypeError, match="fitted CorrNetFusion"):
        CorrNetFusion(**FAST).fit(X4, y4, init_from=LateFusion())


def test_learns_stream_combinations_late_fusion_cannot():
    """Each class is identified only by the pair of RGB and flow argmaxes."""
    X_train, y_train = two_stream_scores(600, 4, "combination", random_state=0)
    X_test, y_test = two_stream_scores(400, 4, "combination", random_state=1)
    clf = CorrNetFusion(**{**FAST, "hidden_units": (64, 64), "epochs": 30}).fit(X_train, y_train)
    corrnet = clf.score(X_test, y_test)
    late = LateFusion(method="avg").fit(X_train, y_train).score(X_test, y_test)
    assert late < 0.45, f"the task should defeat late fusion (got {late:.3f})"
    assert corrnet > late + 0.2, f"CorrNetFusion {corrnet:.3f} vs LateFusion avg {late:.3f}"


def test_agreeing_streams_match_late_fusion():
    X_train, y_train = two_stream_scores(600, 4, "agree", random_state=0)
    X_test, y_test = two_stream_scores(400, 4, "agree", random_state=1)
    clf = CorrNetFusion(**{**FAST, "hidden_units": (64, 64), "epochs": 30}).fit(X_train, y_train)
    corrnet = clf.score(X_test, y_test)
    late = LateFusion(method="avg").fit(X_train, y_train).score(X_test, y_test)
    assert corrnet >= late - 0.05, f"CorrNetFusion {corrnet:.3f} vs LateFusion avg {late:.3f}"


def test_transform_names_and_pandas_output(fitted):
    clf, X, _ = fitted
    X2 = X.reshape(len(X), -1)
    est = CorrNetFusion(**FAST).fit(X2, fitted[2])
    names = est.get_feature_names_out()
    assert names.tolist() == [f"corrnetfusion{i}" for i in range(32)]
    frame = est.set_output(transform="pandas").transform(X2)
    assert list(frame.columns) == names.tolist() and frame.shape == (len(X2), 32)


def test_model_is_the_paper_mlp():
    X, y = two_stream_scores(40, n_classes=4, random_state=0)
    clf = CorrNetFusion(epochs=1, random_state=0).fit(X, y)
    dense = [layer for layer in clf.model_.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [4096, 4096, 4]
    assert dense[0].kernel.shape == (16, 4096)
    assert clf.model_.optimizer.__class__.__name__ == "SGD"
    assert float(clf.model_.optimizer.momentum) == pytest.approx(0.9)
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(1e-3)
