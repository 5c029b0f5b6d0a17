"""TemporalSelfAttention: standard checks and a NumPy reference with a mask."""
import keras
import numpy as np

from actionzoo.layers.temporal_self_attention import TemporalSelfAttention
from tests.layer_testing import run_layer_test


def _np_attention(x, scale, keep):
    scores = scale * x @ x.transpose(0, 2, 1)
    scores = np.where(keep[:, None, :], scores, -np.inf)
    w = np.exp(scores - scores.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return w @ x


def test_standard_layer_checks():
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    run_layer_test(TemporalSelfAttention, {"learn_scale": True}, x,
                   expected_output_shape=(2, 4, 3), expected_num_trainable_weights=1)


def test_matches_numpy_with_mask_and_passes_mask_on():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    keep = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer = TemporalSelfAttention()
    out = np.asarray(layer(x, mask=keep))
    np.testing.assert_allclose(out, _np_attention(x.astype("float64"), 3 ** -0.5, keep),
                               rtol=1e-5, atol=1e-6)
    assert np.asarray(layer.compute_mask(x, keep)).tolist() == keep.tolist()
    # through a functional graph: masked steps carry no weight and the mask survives
    inp = keras.Input((None, 3))
    masked = keras.layers.Masking(0.0)(inp)
    model = keras.Model(inp, keras.layers.GRU(2)(TemporalSelfAttention()(masked)))
    padded = x * keep[..., None]
    np.testing.assert_allclose(np.asarray(model(padded))[0], np.asarray(model(x[:1, :3]))[0],
                               rtol=1e-5, atol=1e-6)


def test_fixed_scale_is_not_trainable():
    layer = TemporalSelfAttention(learn_scale=False)
    layer(np.zeros((1, 2, 4), "float32"))
    assert layer.trainable_weights == [] and float(layer.scale.numpy()) == 0.5
