"""FLOP counter: per-layer rules, and paper Table 3 / Table 6 of Wang et al."""
import keras
import numpy as np
import pytest

from actionzoo.flops import count_flops, count_params, register_flops
from actionzoo.layers.correlation import Correlation
from actionzoo.models.correlation_net import correlation_net


def _model(inp_shape, *layers):
    x = inp = keras.Input(inp_shape)
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x)


def test_conv3d_strided_and_grouped():
    model = _model((8, 16, 16, 6),
                   keras.layers.Conv3D(12, (3, 1, 1), strides=(2, 1, 1), padding="same"),
                   keras.layers.Conv3D(12, (1, 3, 3), strides=(1, 2, 2), padding="same",
                                       groups=3))
    first = 4 * 16 * 16 * 12 * 3 * 6
    second = 4 * 8 * 8 * 12 * 9 * 12 // 3
    assert count_flops(model) == first + second


def test_dense_pool_and_zero_cost_layers():
    model = _model((4, 8, 8, 2),
                   keras.layers.MaxPooling3D((1, 2, 2)),
                   keras.layers.BatchNormalization(),
                   keras.layers.Activation("relu"),
                   keras.layers.GlobalAveragePooling3D(),
                   keras.layers.Dense(5))
    assert count_flops(model) == 4 * 4 * 4 * 2 * 4 + 4 * 4 * 4 * 2 + 2 * 5


def test_recurrent_rules_count_gates_per_timestep():
    gru = _model((7, 10), keras.layers.Bidirectional(
        keras.layers.GRU(4, return_sequences=True)), keras.layers.LSTM(3))
    assert count_flops(gru) == 2 * 7 * 3 * 4 * (10 + 4) + 7 * 4 * 3 * (8 + 3)
    assert count_flops(_model((5, 2), keras.layers.SimpleRNN(6))) == 5 * 6 * (2 + 6)


def test_sequential_model_is_counted_through_its_graph():
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.Dense(4)])
    assert count_flops(model) == 5 * 3 * 4


def test_inception_resnet_residual_scaling_is_free():
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    import actionzoo.models  # noqa: F401  (registers the rule beside the backbones)

    x, r = keras.Input((4, 4, 2)), keras.Input((4, 4, 2))
    y = keras.layers.Conv2D(3, 1)(CustomScaleLayer(0.1)([x, r]))
    assert count_flops(keras.Model([x, r], y)) == 4 * 4 * 3 * 2


def test_correlation_rule_is_paper_table1():
    model = _model((4, 6, 6, 16), Correlation(kernel_size=5, dilation=2, group_size=8))
    assert count_flops(model) == 16 * 5 * 5 * 4 * 6 * 6  # C*K*K*L*H*W


def test_nested_model_and_shared_layer():
    inner = _model((10,), keras.layers.Dense(3))
    a, b = keras.Input((10,)), keras.Input((10,))
    shared = keras.layers.Dense(4)
    out = keras.layers.Concatenate()([inner(a), shared(a), shared(b)])
    assert count_flops(keras.Model([a, b], out)) == 30 + 40 + 40


def test_unknown_layer_raises_until_registered():
    class Scale(keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    model = _model((3, 4), Scale())
    with pytest.raises(TypeError, match="no rule for layer"):
        count_flops(model)
    register_flops(Scale)(lambda layer, ins, outs: int(np.prod(ins[0])))
    assert count_flops(model) == 12


def test_count_params_matches_keras():
    model = _model((4, 8, 8, 3), keras.layers.Conv3D(4, 3), keras.layers.BatchNormalization())
    assert count_params(model) == model.count_params() == 3 * 27 * 4 + 4 + 4 * 4
    assert count_params(model, trainable_only=True) == 3 * 27 * 4 + 4 + 2 * 4


# Paper Table 3 (GFLOPs, 224x224) and Table 6 (CorrNet-50/101, L=32).
PAPER = [
    (26, "r2d", 16, 27.5), (26, "r2plus1d", 16, 36.0), (26, "corrnet", 16, 37.4),
    (26, "r2d", 32, 55.0), (26, "r2plus1d", 32, 71.9), (26, "corrnet", 32, 74.8),
    (50, "corrnet", 32, 115.0),
    pytest.param(101, "corrnet", 32, 187.0, marks=pytest.mark.slow),  # ~15 s to build
]


@pytest.mark.parametrize("depth,variant,length,gflops", PAPER)
def test_paper_gflops_within_5_percent(depth, variant, length, gflops):
    # Built symbolically only: nothing runs, so full size is cheap.
    model = correlation_net(depth, variant, clip_length=length, input_size=224, num_classes=400)
    measured = count_flops(model) / 1e9
    assert abs(measured - gflops) / gflops < 0.05, f"{measured:.2f} vs paper {gflops}"


def test_flops_imports_nothing_from_layers():
    """The dependencies run one way: the layers register their rules with flops."""
    import subprocess
    import sys

    code = "import sys, actionzoo.flops; print('actionzoo.layers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
