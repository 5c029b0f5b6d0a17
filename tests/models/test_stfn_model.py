"""STFN model builder: every fusion/direction/architecture builds and trains,
the wiring follows Fig. 4/5 and Eq. 1."""
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from actionzoo.layers.residual_inception_1d import ResidualInception1D
from actionzoo.models.stfn import stfn, stfn_embedding_model

N, D, C = 3, 8, 4
COMBOS = [(a, f, d) for a, f, d in itertools.product(
    "ab", ("avg", "max", "mul"), ("bidirectional", "a_to_m", "m_to_a"))] + [
    ("c", "avg", "bidirectional")]


def _data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    app = rng.normal(size=(n, N, D)).astype("float32")
    mot = rng.normal(size=(n, N, D)).astype("float32")
    return app, mot, rng.integers(0, C, size=n)


@pytest.mark.parametrize("architecture, fusion, direction", COMBOS)
def test_builds_and_trains_one_step(architecture, fusion, direction):
    model = stfn(N, D, C, fusion=fusion, direction=direction,
                 architecture=architecture, dropout=0.2)
    assert tuple(model.output.shape) == (None, C)
    width = 2 * D
    assert tuple(stfn_embedding_model(model).output.shape) == (None, width)
    n_resinc = sum(isinstance(layer, ResidualInception1D) for layer in model.layers)
    assert n_resinc == {"a": 4, "b": 2, "c": 1}[architecture]

    app, mot, y = _data()
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), run_eagerly=True,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss = model.train_on_batch([app, mot], y)
    assert np.isfinite(loss)
    changed = [not np.allclose(b, w.numpy())
               for b, w in zip(before, model.trainable_weights, strict=True)]
    assert all(changed), "some trainable weight received no update"


def _depends_on(model, out_name, app, mot):
    """Whether layer `out_name`'s output depends on the appearance / motion input."""
    sub = keras.Model(model.inputs, model.get_layer(out_name).output)
    a, m = tf.constant(app), tf.constant(mot)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([a, m])
        out = tf.reduce_sum(tf.square(sub([a, m], training=False)))
    grads = [tape.gradient(out, t) for t in (a, m)]
    return [g is not None and bool(np.any(g.numpy() != 0)) for g in grads]


@pytest.mark.parametrize("architecture", ["a", "b"])
@pytest.mark.parametrize("direction, app_sees_motion, mot_sees_appearance", [
    ("bidirectional", True, True), ("a_to_m", False, True), ("m_to_a", True, False)])
def test_fusion_direction(architecture, direction, app_sees_motion, mot_sees_appearance):
    model = stfn(N, D, C, direction=direction, architecture=architecture)
    app, mot, _ = _data(seed=1)
    assert _depends_on(model, "appearance_logits", app, mot) == [True, app_sees_motion]
    assert _depends_on(model, "motion_logits", app, mot) == [mot_sees_appearance, True]


@pytest.mark.parametrize("fusion, op", [("avg", lambda a, b: (a + b) / 2),
                                        ("max", np.maximum), ("mul", np.multiply)])
def test_architecture_b_embedding_is_time_mean_of_fused_blocks(fusion, op):
    model = stfn(N, D, C, fusion=fusion, architecture="b")
    app, mot, _ = _data(seed=2)
    probe = keras.Model(model.inputs, [model.get_layer("appearance_resinc1").output,
                                       model.get_layer("motion_resinc1").output,
                                       stfn_embedding_model(model).output])
    p_a, p_m, emb = (np.asarray(t) for t in probe([app, mot], training=False))
    fused_mean = op(p_a, p_m).mean(axis=1)
    np.testing.assert_allclose(emb, np.concatenate([fused_mean, fused_mean], -1),
                               rtol=1e-5, atol=1e-6)


def test_output_is_log_of_mean_stream_softmax():
    model = stfn(N, D, C)
    app, mot, _ = _data(seed=3)
    probe = keras.Model(model.inputs, [model.get_layer("appearance_logits").output,
                                       model.get_layer("motion_logits").output,
                                       model.output])
    la, lm, out = (np.asarray(t, "float64") for t in probe([app, mot], training=False))
    soft = lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(soft(out), (soft(la) + soft(lm)) / 2, atol=1e-6)

    summed = stfn(N, D, C, score_fusion="logits")
    probe = keras.Model(summed.inputs, [summed.get_layer("appearance_logits").output,
                                        summed.get_layer("motion_logits").output,
                                        summed.output])
    la, lm, out = (np.asarray(t) for t in probe([app, mot], training=False))
    np.testing.assert_allclose(out, la + lm, rtol=1e-5, atol=1e-6)


def test_n_blocks_filters_and_variable_length():
    model = stfn(None, D, C, filters=12, n_blocks=2)
    blocks = [layer for layer in model.layers if isinstance(layer, ResidualInception1D)]
    assert len(blocks) == 8 and all(b.filters == 12 for b in blocks)
    for n in (2, 7):
        rng = np.random.default_rng(n)
        x = [rng.normal(size=(2, n, D)).astype("float32") for _ in range(2)]
        assert tuple(model(x).shape) == (2, C)
    c_model = stfn(N, D, C, architecture="c", filters=4)
    assert tuple(stfn_embedding_model(c_model).output.shape) == (None, 8)
    with pytest.raises(ValueError, match="not built by stfn"):
        stfn_embedding_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))


def test_saving_round_trip(tmp_path):
    model = stfn(N, D, C, fusion="max", direction="m_to_a")
    app, mot, _ = _data(seed=4)
    expected = np.asarray(model([app, mot]))
    model.save(tmp_path / "stfn.keras")
    revived = keras.saving.load_model(tmp_path / "stfn.keras")
    np.testing.assert_allclose(np.asarray(revived([app, mot])), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"fusion": "sum"}, "fusion"), ({"direction": "both"}, "direction"),
    ({"architecture": "d"}, "architecture"), ({"n_blocks": 0}, "n_blocks"),
    ({"architecture": "c", "fusion": "max"}, "concatenation"),
    ({"filters": 6}, "multiple"), ({"dropout": 1.0}, "dropout")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        stfn(N, D, C, **kwargs)
