"""STFN estimator: contract on 4-D sequences, paper semantics, errors, learning."""
import keras
import numpy as np
import pytest

from actionzoo import STFN
from actionzoo.estimators.contract_checks import CONTRACT_CHECKS


def sequences(n=24, n_segments=3, d=8, n_classes=3, seed=0, strength=2.0):
    """Class evidence only in the motion stream's first features."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.normal(size=(n, 2, n_segments, d)).astype("float32")
    X[:, 1, :, :n_classes] += strength * np.eye(n_classes, dtype="float32")[y][:, None, :]
    return X, y


X, Y = sequences()
TINY = dict(optimizer="adam", learning_rate=1e-2, epochs=2, batch_size=24, random_state=0)


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_contract(check):
    check(STFN(**TINY), X, Y)


def test_paper_defaults():
    est = STFN()
    assert (est.optimizer, est.learning_rate, est.fusion, est.direction, est.architecture) == (
        "rmsprop", 1e-4, "avg", "bidirectional", "a")
    est.set_params(epochs=1, random_state=0).fit(X, Y)
    assert isinstance(est.model_.optimizer, keras.optimizers.RMSprop)
    assert np.isclose(float(est.model_.optimizer.learning_rate), 1e-4)
    (schedule,) = est._default_callbacks(has_validation=False)
    assert isinstance(schedule, keras.callbacks.ReduceLROnPlateau)
    assert (schedule.factor, schedule.min_lr, schedule.monitor) == (0.1, 1e-7, "loss")
    assert est._default_callbacks(has_validation=True)[0].monitor == "val_loss"


def test_plateau_schedule_lowers_the_rate():
    """callbacks=None divides the rate by 10 once the loss stalls (a rate of 1e-6
    moves the loss by less than the plateau's min_delta)."""
    est = STFN(optimizer="sgd", learning_rate=1e-6, epochs=7, batch_size=24,
               random_state=0).fit(X, Y)
    assert np.isclose(float(est.model_.optimizer.learning_rate), 1e-7)
    fixed = STFN(optimizer="sgd", learning_rate=1e-6, epochs=7, batch_size=24,
                 callbacks=[], random_state=0).fit(X, Y)
    assert np.isclose(float(fixed.model_.optimizer.learning_rate), 1e-6)


def test_per_stream_heads_are_summed_as_softmax_average():
    est = STFN(**TINY).fit(X, Y)
    heads = keras.Model(est.model_.inputs, [est.model_.get_layer("appearance_logits").output,
                                            est.model_.get_layer("motion_logits").output])
    a, m = (np.asarray(h, np.float64) for h in heads([X[:, 0], X[:, 1]], training=False))

    def sm(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(est.predict_proba(X), (sm(a) + sm(m)) / 2, atol=1e-5)
    logits_sum = STFN(score_fusion="logits", **TINY).fit(X, Y)
    heads = keras.Model(logits_sum.model_.inputs,
                        [logits_sum.model_.get_layer(f"{s}_logits").output
                         for s in ("appearance", "motion")])
    a, m = (np.asarray(h) for h in heads([X[:, 0], X[:, 1]], training=False))
    np.testing.assert_allclose(logits_sum.decision_function(X), a + m, atol=1e-5)


@pytest.mark.parametrize("architecture,blocks", [("a", 4), ("b", 2), ("c", 1)])
def test_architectures(architecture, blocks):
    est = STFN(architecture=architecture, **TINY).fit(X, Y)
    names = [layer.name for layer in est.model_.layers if "resinc" in layer.name]
    assert len(names) == blocks
    assert est.transform(X).shape == (len(X), 16)
    assert est.predict_proba(X).shape == (len(X), 3)


@pytest.mark.parametrize("direction,into_a,into_m", [
    ("bidirectional", "fusion", "fusion"), ("a_to_m", "appearance_resinc1", "fusion"),
    ("m_to_a", "fusion", "motion_resinc1")])
@pytest.mark.parametrize("fusion", ["avg", "max", "mul"])
def test_fusion_and_direction_wiring(fusion, direction, into_a, into_m):
    est = STFN(fusion=fusion, direction=direction, **TINY)
    est._check_X(X, reset=True)
    model = est._build_model(None, 3)
    assert model.get_layer(f"fusion_{fusion}") is not None

    def source(layer_name):
        node = model.get_layer(layer_name)._inbound_nodes[0]
        return node.input_tensors[0]._keras_history.operation.name
    assert source("fused_appearance_resinc1").startswith(into_a)
    assert source("fused_motion_resinc1").startswith(into_m)


def test_n_blocks_and_filters():
    est = STFN(n_blocks=2, filters=4, **TINY).fit(X, Y)
    assert sum("resinc" in layer.name for layer in est.model_.layers) == 8
    assert est.transform(X).shape == (len(X), 8)


def test_other_segment_counts_at_predict():
    est = STFN(**TINY).fit(X, Y)
    longer, _ = sequences(n_segments=7)
    assert est.predict(longer).shape == (len(longer),)


def test_multi_view_prediction_averages_the_views():
    """Paper Sec. 4.2 test protocol: several sequences per video, scores averaged."""
    est = STFN(**TINY).fit(X, Y)
    views = np.stack([X, X[:, :, ::-1], 0.5 * X], axis=1)  # (n, 3, 2, N, d)
    per_view = np.stack([est.predict_proba(views[:, v]) for v in range(3)], axis=1)
    np.testing.assert_allclose(est.predict_proba(views), per_view.mean(axis=1), rtol=1e-5,
                               atol=1e-6)
    embeddings = np.stack([est.transform(views[:, v]) for v in range(3)], axis=1)
    np.testing.assert_allclose(est.transform(views), embeddings.mean(axis=1), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(est.predict_proba(views[:, :1]), est.predict_proba(X),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="multi-view form .* is for prediction"):
        STFN(**TINY).fit(views, Y)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((4, 3, 8), "float32"), r"\(n, 2, n_segments, d\).*\(4, 3, 8\)"),
    (np.zeros((4, 3, 3, 8), "float32"), r"got shape \(4, 3, 3, 8\)"),
    ("videos.txt", "expects an array"),
])
def test_bad_shapes(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        STFN(**TINY).fit(bad, np.arange(len(bad)) % 2)


def test_nan_sample_is_named_and_width_checked():
    bad = X.copy()
    bad[5, 0, 1, 2] = np.nan
    with pytest.raises(ValueError, match=r"sample\(s\) \[5\]"):
        STFN(**TINY).fit(bad, Y)
    est = STFN(**TINY).fit(X, Y)
    with pytest.raises(ValueError, match="width 8, X has width 6"):
        est.predict(X[..., :6])


def test_filters_must_split_in_four():
    odd, y = sequences(d=6)
    with pytest.raises(ValueError, match="divisible by 4.*pass filters="):
        STFN(**TINY).fit(odd, y)
    assert STFN(filters=8, **TINY).fit(odd, y).transform(odd).shape == (len(odd), 16)


@pytest.mark.slow  # 120 steps: 7 min measured eagerly, now traced
def test_learns_motion_evidence():
    """Held-out accuracy well above chance (1/3) when only motion carries the class."""
    X_train, y_train = sequences(n=60, seed=1, strength=3.0)
    X_test, y_test = sequences(n=60, seed=2, strength=3.0)
    # Enough steps (120) for the batch-norm moving statistics (momentum 0.99)
    # used at prediction to approach the data's.
    est = STFN(optimizer="adam", learning_rate=1e-2, epochs=20, batch_size=10,
               random_state=0).fit(X_train, y_train)
    assert est.score(X_test, y_test) >= 0.8


def test_standardizes_each_stream_inside_the_model():
    """standardize=True: per-stream feature mean/std of the training sequences
    are fitted attributes and the model's first layers; a per-feature affine
    change of the inputs (ReLU features of another scale) then leaves the fit
    unchanged. False: raw features, no such layers."""
    est = STFN(**TINY).fit(X, Y)
    for stream in (0, 1):
        flat = X[:, stream].reshape(-1, X.shape[-1])
        np.testing.assert_allclose(est.feature_mean_[stream], flat.mean(0), atol=1e-5)
        np.testing.assert_allclose(est.feature_scale_[stream], flat.std(0), rtol=1e-5)
    assert {"appearance_standardize", "motion_standardize"} <= {
        layer.name for layer in est.model_.layers}
    rng = np.random.default_rng(3)
    scale = rng.uniform(0.01, 20, size=(1, 2, 1, X.shape[-1])).astype("float32")
    shift = rng.uniform(-5, 5, size=(1, 2, 1, X.shape[-1])).astype("float32")
    moved = STFN(**TINY).fit(X * scale + shift, Y)
    np.testing.assert_allclose(moved.predict_proba(X * scale + shift), est.predict_proba(X),
                               atol=2e-3)
    raw = STFN(standardize=False, **TINY).fit(X, Y)
    assert raw.feature_mean_ is None and raw.feature_scale_ is None
    assert not any("standardize" in layer.name for layer in raw.model_.layers)


def test_constant_features_keep_scale_one():
    const = X.copy()
    const[:, 0, :, 2] = 7.0
    est = STFN(**TINY).fit(const, Y)
    assert est.feature_scale_[0, 2] == 1.0 and np.isclose(est.feature_mean_[0, 2], 7.0)
    assert np.isfinite(est.predict_proba(const)).all()
