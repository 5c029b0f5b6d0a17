"""STCBlock: standard layer checks, rescaling property, NumPy reference per branch."""
import keras
import numpy as np
import pytest
from keras import ops

from actionzoo.flops import count_flops
from actionzoo.layers.stc_block import STCBlock
from tests.layer_testing import run_layer_test

SHAPE = (2, 4, 3, 5, 8)  # (B, T, H, W, C)


def _clip(shape=SHAPE, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _np_excite(z, w1, b1, w2, b2):
    return _sigmoid(np.maximum(z @ w1 + b1, 0.0) @ w2 + b2)


def _np_tcb(x, weights):
    """Eq. 1-3: squeeze over (T, H, W), FC-ReLU-FC-sigmoid, rescale."""
    z = x.mean(axis=(1, 2, 3))
    return _np_excite(z, *weights)[:, None, None, None, :] * x


def _np_scb(x, weights):
    """Eq. 4-6: squeeze over (H, W), flatten (T, C) time-major, FC-ReLU-FC-sigmoid, rescale."""
    b, t, _, _, c = x.shape
    z = x.mean(axis=(2, 3)).reshape(b, t * c)
    return _np_excite(z, *weights)[:, None, None, None, :] * x


def _randomise(layer, seed=1):
    """Random weights and biases, so the reference check sees non-zero biases."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))
    return [ops.convert_to_numpy(w) for w in layer.weights]


@pytest.mark.parametrize("branches, n_weights", [
    (("temporal", "spatial"), 8), (("temporal",), 4), (("spatial",), 4),
])
def test_standard_layer_checks(branches, n_weights):
    run_layer_test(STCBlock, {"reduction": 2, "branches": branches, "use_bias": True},
                   _clip(), expected_output_shape=SHAPE,
                   expected_num_trainable_weights=n_weights)


def test_weight_shapes_follow_paper_widths():
    layer = STCBlock(reduction=4)
    layer(_clip())
    t, c = SHAPE[1], SHAPE[-1]
    shapes = [tuple(w.shape) for w in layer.weights]
    assert shapes == [(c, c // 4), (c // 4,), (c // 4, c), (c,),
                      (t * c, t * c // 4), (t * c // 4,), (t * c // 4, c), (c,)]


@pytest.mark.parametrize("branches", [("temporal", "spatial"), ("temporal",), ("spatial",)])
def test_ratio_is_one_scale_per_channel_in_open_unit_interval(branches):
    x = _clip()
    layer = STCBlock(reduction=2, branches=branches)
    layer.build(x.shape)
    _randomise(layer)
    ratio = ops.convert_to_numpy(layer(x)) / x
    per_channel = ratio[:, :1, :1, :1, :]
    np.testing.assert_allclose(ratio, np.broadcast_to(per_channel, ratio.shape),
                               rtol=1e-4, atol=1e-6)
    assert np.all(ratio > 0) and np.all(ratio < 1)
    # not one global scale: channels and samples get different scales
    assert np.ptp(per_channel) > 1e-3


def test_temporal_branch_matches_numpy():
    x = _clip()
    layer = STCBlock(reduction=2, branches=("temporal",))
    layer.build(x.shape)
    weights = _randomise(layer)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), _np_tcb(x, weights),
                               rtol=1e-5, atol=1e-5)


def test_spatial_branch_matches_numpy():
    x = _clip()
    layer = STCBlock(reduction=2, branches=("spatial",))
    layer.build(x.shape)
    weights = _randomise(layer)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), _np_scb(x, weights),
                               rtol=1e-5, atol=1e-5)


def test_spatial_branch_sees_temporal_order():
    """SCB keeps the (T, C) layout, so reversing time changes its scales; TCB does not see it."""
    x = _clip()
    layer = STCBlock(reduction=2, branches=("spatial",))
    layer.build(x.shape)
    _randomise(layer)
    rev = x[:, ::-1]
    scale = ops.convert_to_numpy(layer(x))[:, :1, :1, :1] / x[:, :1, :1, :1]
    scale_rev = ops.convert_to_numpy(layer(rev))[:, :1, :1, :1] / rev[:, :1, :1, :1]
    assert not np.allclose(scale, scale_rev, atol=1e-4)


def test_both_branches_average_the_rescaled_inputs():
    x = _clip()
    layer = STCBlock(reduction=2)
    layer.build(x.shape)
    w = _randomise(layer)
    expected = (_np_tcb(x, w[:4]) + _np_scb(x, w[4:])) / 2
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_without_bias():
    x = _clip()
    layer = STCBlock(reduction=2, use_bias=False)
    layer.build(x.shape)
    w1, w2, w3, w4 = _randomise(layer)
    zeros = [np.zeros(w.shape[1]) for w in (w1, w2, w3, w4)]
    expected = (_np_tcb(x, [w1, zeros[0], w2, zeros[1]])
                + _np_scb(x, [w3, zeros[2], w4, zeros[3]])) / 2
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_other_clip_length_is_a_clear_error():
    layer = STCBlock()
    layer(_clip())
    with pytest.raises(ValueError, match=r"T=4.*T=6"):
        layer(_clip((2, 6, 3, 5, 8)))
    inp = keras.Input((6, 3, 5, 8))
    with pytest.raises(ValueError, match=r"T=4.*T=6"):
        layer(inp)


def test_temporal_branch_alone_accepts_any_clip_length():
    layer = STCBlock(branches=("temporal",))
    layer(_clip())
    assert tuple(layer(_clip((2, 6, 3, 5, 8))).shape) == (2, 6, 3, 5, 8)


def test_spatial_branch_needs_static_clip_length():
    with pytest.raises(ValueError, match="clip length T"):
        STCBlock()(keras.Input((None, 3, 5, 8)))


@pytest.mark.parametrize("kwargs", [{"branches": ()}, {"branches": ("temporal", "temporal")},
                                    {"branches": ("channel",)}, {"reduction": 0},
                                    {"reduction": 2.5}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        STCBlock(**kwargs)


@pytest.mark.parametrize("branches, expected", [
    # shared (H, W) mean T*H*W*C = 480, TCB's T-mean T*C = 32;
    # TCB FCs 8*4 + 4*8 = 64; SCB FCs 32*16 + 16*8 = 640 (r = 2)
    (("temporal",), 480 + 32 + 64),
    (("spatial",), 480 + 640),
    (("temporal", "spatial"), 480 + 32 + 704),
])
def test_flop_count_rule(branches, expected):
    inp = keras.Input(SHAPE[1:])
    assert count_flops(keras.Model(inp, STCBlock(reduction=2, branches=branches)(inp))) == expected
