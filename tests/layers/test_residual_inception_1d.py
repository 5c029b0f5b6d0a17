"""ResidualInception1D: standard layer checks and an independent NumPy reference."""
import numpy as np
import pytest
from keras import ops

from actionzoo.layers.residual_inception_1d import ResidualInception1D
from tests.layer_testing import run_layer_test


def _np_conv1d_same(x, kernel, bias):
    """Cross-correlation over time with TF 'same' padding: (k-1)//2 zeros
    before, the rest after. x (B, N, C), kernel (k, C, F), bias (F,) or None."""
    k = kernel.shape[0]
    before = (k - 1) // 2
    padded = np.pad(x, ((0, 0), (before, k - 1 - before), (0, 0)))
    n = x.shape[1]
    out = np.zeros(x.shape[:2] + (kernel.shape[2],))
    for t in range(n):
        for j in range(k):
            out[:, t] += padded[:, t + j] @ kernel[j]
    return out if bias is None else out + bias


def _np_bn_inference(x, gamma, beta, mean, var, eps):
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def _np_block(layer, x):
    def conv_bn(conv, bn):
        w = [ops.convert_to_numpy(v).astype("float64") for v in conv.weights]
        y = _np_conv1d_same(x, w[0], w[1] if len(w) > 1 else None)
        gamma, beta, mean, var = (ops.convert_to_numpy(v).astype("float64")
                                  for v in (bn.gamma, bn.beta, bn.moving_mean,
                                            bn.moving_variance))
        return _np_bn_inference(y, gamma, beta, mean, var, bn.epsilon)

    branches = [np.maximum(conv_bn(c, b), 0)
                for c, b in zip(layer.branch_convs, layer.branch_bns, strict=True)]
    skip = conv_bn(layer.skip_conv, layer.skip_bn)
    return np.maximum(np.concatenate(branches, -1) + skip, 0)


def _randomise_weights(layer, rng):
    for w in layer.weights:
        value = rng.normal(size=w.shape)
        if "variance" in w.path:
            value = np.abs(value) + 0.5
        w.assign(value.astype("float32"))


def test_standard_layer_checks():
    x = np.random.default_rng(0).normal(size=(3, 5, 8)).astype("float32")
    run_layer_test(
        ResidualInception1D,
        {"filters": 8, "kernel_sizes": (2, 3, 4, 5), "skip_kernel_size": 2,
         "use_bias": True, "bn_momentum": 0.9, "bn_epsilon": 1e-3},
        x, expected_output_shape=(3, 5, 8),
        # 5 convs x (kernel, bias) + 5 BNs x (gamma, beta)
        expected_num_trainable_weights=20,
    )


@pytest.mark.parametrize("in_dim, filters, n", [(8, 8, 5), (6, 12, 7), (4, 4, 1)])
def test_matches_numpy_reference_in_inference(in_dim, filters, n):
    rng = np.random.default_rng(1)
    layer = ResidualInception1D(filters=filters)
    x = rng.normal(size=(2, n, in_dim)).astype("float32")
    layer(x)
    _randomise_weights(layer, rng)
    got = ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(got, _np_block(layer, x.astype("float64")),
                               rtol=1e-4, atol=1e-4)
    assert got.shape == (2, n, filters)


def test_branch_widths_and_kernels():
    layer = ResidualInception1D(filters=16)
    layer(np.zeros((1, 5, 10), "float32"))
    assert [tuple(c.kernel.shape) for c in layer.branch_convs] == [
        (2, 10, 4), (3, 10, 4), (4, 10, 4), (5, 10, 4)]
    assert tuple(layer.skip_conv.kernel.shape) == (2, 10, 16)


def test_training_mode_uses_batch_statistics():
    rng = np.random.default_rng(2)
    layer = ResidualInception1D(filters=4)
    x = (5.0 + 3.0 * rng.normal(size=(4, 6, 4))).astype("float32")
    train = ops.convert_to_numpy(layer(x, training=True))
    infer = ops.convert_to_numpy(layer(x, training=False))
    assert not np.allclose(train, infer)


@pytest.mark.parametrize("filters", [6, 0, 2.5])
def test_filters_not_divisible_is_a_clear_error(filters):
    with pytest.raises(ValueError, match="multiple of len\\(kernel_sizes\\)=4"):
        ResidualInception1D(filters=filters)


def test_bad_kernel_sizes():
    with pytest.raises(ValueError, match="kernel_sizes"):
        ResidualInception1D(filters=4, kernel_sizes=(0, 2))
