"""Correlation layer: formula (vs NumPy), implementations agree, layer contract."""
import logging
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from actionzoo.layers import _correlation_op
from actionzoo.layers.correlation import (
    Correlation,
    correlation_ops,
    correlation_xla,
    normalize_groups,
)
from tests.layer_testing import run_layer_test

CONFIGS = [  # (K, D, g, C)
    (1, 1, 4, 8),
    (3, 1, 2, 8),
    (3, 2, 8, 8),
    (5, 1, 4, 12),
    (7, 2, 4, 8),
]


def numpy_correlation(x, kernel, k, d, g):
    """Independent NumPy version of docs/design.md's formula (explicit bounds, no padding)."""
    b, length, h, w, c = x.shape
    groups, r = c // g, k // 2
    prev = np.concatenate([x[:, :1], x[:, :-1]], axis=1)
    out = np.zeros((b, length, h, w, k * k * groups), np.float64)
    for ky in range(k):
        for kx in range(k):
            dy, dx = d * (ky - r), d * (kx - r)
            shifted = np.zeros_like(x, dtype=np.float64)
            i0, i1 = max(0, -dy), min(h, h - dy)
            j0, j1 = max(0, -dx), min(w, w - dx)
            if i0 < i1 and j0 < j1:
                shifted[:, :, i0:i1, j0:j1] = x[:, :, i0 + dy:i1 + dy, j0 + dx:j1 + dx]
            prod = prev * shifted
            if kernel is not None:
                prod = prod * kernel[None, :, None, None, ky, kx, :]
            for gi in range(groups):
                out[..., (ky * k + kx) * groups + gi] = prod[..., gi * g:(gi + 1) * g].sum(-1) / g
    return out


def _data(k, c, seed=0, shape=(2, 3, 9, 10)):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape + (c,)).astype("float32")
    kernel = rng.normal(size=(shape[1], k, k, c)).astype("float32")
    return x, kernel


def test_numpy_reference_matches_literal_formula():
    k, d, g, c = 3, 2, 2, 4
    x, kernel = _data(k, c, shape=(1, 3, 6, 7))
    ref = numpy_correlation(x, kernel, k, d, g)
    rng = np.random.default_rng(1)
    for _ in range(60):
        b, t, i, j = 0, *(int(rng.integers(n)) for n in (3, 6, 7))
        ky, kx, gi = (int(rng.integers(n)) for n in (k, k, c // g))
        tp = max(t - 1, 0)
        ii, jj = i + d * (ky - k // 2), j + d * (kx - k // 2)
        expected = 0.0
        if 0 <= ii < 6 and 0 <= jj < 7:
            for ch in range(gi * g, gi * g + g):
                expected += kernel[t, ky, kx, ch] * x[b, tp, i, j, ch] * x[b, t, ii, jj, ch]
            expected /= g
        np.testing.assert_allclose(ref[b, t, i, j, (ky * k + kx) * (c // g) + gi],
                                   expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("learnable", [True, False])
@pytest.mark.parametrize("k,d,g,c", CONFIGS)
def test_all_paths_match_numpy(k, d, g, c, learnable):
    x, kernel = _data(k, c)
    kern = kernel if learnable else None
    expected = numpy_correlation(x, kern, k, d, g)
    outputs = {
        "keras.ops": correlation_ops(tf.constant(x), kern, k, d, g),
        "xla": correlation_xla(tf.constant(x), None if kern is None else tf.constant(kern),
                               k, d, g),
    }
    layer = Correlation(kernel_size=k, dilation=d, group_size=g, learnable=learnable)
    layer.build(x.shape)
    if learnable:
        layer.kernel.assign(kernel)
    outputs["layer"] = layer(x)
    if _correlation_op.available():
        outputs["c++ op"] = _correlation_op.correlation(x, kern, k, d, g)
    for name, out in outputs.items():
        np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def _grads(fn, x, kernel, weights=None):
    """Gradients of ``sum(fn(x, kernel) * weights)`` (random weights by default)."""
    x = tf.constant(x)
    kernel = None if kernel is None else tf.constant(kernel)
    if weights is None:
        weights = np.random.default_rng(5).normal(size=fn(x, kernel).shape)
    weights = tf.constant(np.asarray(weights, "float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        if kernel is not None:
            tape.watch(kernel)
        loss = tf.reduce_sum(fn(x, kernel) * weights)
    return tape.gradient(loss, [x] + ([] if kernel is None else [kernel]))


@pytest.mark.skipif(not _correlation_op.available(), reason="C++ op could not be built")
@pytest.mark.parametrize("learnable", [True, False])
@pytest.mark.parametrize("k,d,g,c", [(3, 1, 2, 8), (5, 2, 4, 8), (7, 2, 4, 12)])
def test_custom_op_gradients_match(k, d, g, c, learnable):
    """C++ op gradients == autodiff of keras.ops (eager) == XLA (smallest K only:
    XLA compile time grows with K*K)."""
    x, kernel = _data(k, c, seed=3)
    kern = kernel if learnable else None
    ref = _grads(lambda a, w: correlation_ops(a, w, k, d, g), x, kern)
    others = [_grads(lambda a, w: _correlation_op.correlation(a, w, k, d, g), x, kern)]
    if k == 3:
        others.append(_grads(lambda a, w: correlation_xla(a, w, k, d, g), x, kern))
    assert len(ref) == (2 if learnable else 1)
    for got in others:
        assert len(got) == len(ref)
        for r, gx in zip(ref, got, strict=True):
            assert np.abs(np.asarray(r)).max() > 0
            np.testing.assert_allclose(np.asarray(gx), np.asarray(r), rtol=1e-4, atol=1e-4)


def test_input_gradient_matches_finite_difference():
    k, d, g, c = 3, 1, 2, 4
    x, kernel = _data(k, c, seed=7, shape=(1, 3, 4, 5))
    x, kernel = x.astype("float64"), kernel.astype("float64")
    weights = np.random.default_rng(8).normal(size=numpy_correlation(x, kernel, k, d, g).shape)
    (gx, gk) = _grads(lambda a, w: correlation_ops(a, w, k, d, g),
                      x.astype("float32"), kernel.astype("float32"), weights)
    rng = np.random.default_rng(9)
    for arr, grad in ((x, gx), (kernel, gk)):
        for _ in range(8):
            idx = tuple(int(rng.integers(n)) for n in arr.shape)
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += 1e-4
            minus[idx] -= 1e-4
            moved_input = arr is x
            pair_plus = (plus, kernel) if moved_input else (x, plus)
            pair_minus = (minus, kernel) if moved_input else (x, minus)
            fd = ((numpy_correlation(*pair_plus, k, d, g) * weights).sum()
                  - (numpy_correlation(*pair_minus, k, d, g) * weights).sum()) / 2e-4
            np.testing.assert_allclose(np.asarray(grad)[idx], fd, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("learnable", [True, False])
def test_layer_contract(learnable):
    x, _ = _data(3, 8, shape=(2, 4, 6, 6))
    out = run_layer_test(
        Correlation,
        dict(kernel_size=3, dilation=2, group_size=4, learnable=learnable),
        x,
        expected_output_shape=(2, 4, 6, 6, 18),
        expected_num_trainable_weights=1 if learnable else 0,
    )
    np.testing.assert_allclose(out, numpy_correlation(x, None, 3, 2, 4), rtol=1e-4, atol=1e-5)


def _normalized_groups(x, g, epsilon=1.0):
    grouped = x.reshape(x.shape[:-1] + (x.shape[-1] // g, g)).astype(np.float64)
    grouped = grouped / np.sqrt((grouped ** 2).mean(-1, keepdims=True) + epsilon)
    return grouped.reshape(x.shape)


@pytest.mark.parametrize("k,d,g,c", [(3, 1, 2, 8), (5, 2, 4, 12)])
def test_normalized_is_the_formula_on_normalized_groups(k, d, g, c):
    """normalize=True: the formula of docs/design.md applied to x with every channel group
    divided by sqrt(1 + its mean square); at large scale, the filter-weighted
    cosine similarity of the matched feature vectors."""
    x, kernel = _data(k, c, seed=2)
    layer = Correlation(kernel_size=k, dilation=d, group_size=g, normalize=True)
    layer.build(x.shape)
    layer.kernel.assign(kernel)
    expected = numpy_correlation(_normalized_groups(x, g), kernel, k, d, g)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-5)
    plain = Correlation(kernel_size=k, dilation=d, group_size=g, learnable=False,
                        normalize=True)(1e3 * x)
    centre = (k // 2 * k + k // 2) * (c // g)  # zero displacement, first group
    prev, cur = x[:, 0, :, :, :g], x[:, 1, :, :, :g]  # frame 1 is matched with frame 0
    cosine = (prev * cur).sum(-1) / np.linalg.norm(prev, axis=-1) / np.linalg.norm(cur, axis=-1)
    np.testing.assert_allclose(np.asarray(plain)[:, 1, :, :, centre], cosine, atol=1e-3)


def test_normalized_output_is_bounded_by_the_kernel_at_any_scale():
    """The raw operator is quadratic in its input's scale; the normalised one
    tends to a scale-free limit, |output| <= max|kernel| (Cauchy-Schwarz), and
    it never amplifies its input's gradient (Jacobian norm <= 1)."""
    k, d, g, c = 3, 1, 4, 8
    x, kernel = _data(k, c, seed=4)
    outputs = {}
    for normalize in (False, True):
        layer = Correlation(kernel_size=k, dilation=d, group_size=g, normalize=normalize)
        layer.build(x.shape)
        layer.kernel.assign(kernel)
        outputs[normalize] = [np.asarray(layer(scale * x)) for scale in (1.0, 1e3, 1e5)]
    unit, large, larger = outputs[False]
    np.testing.assert_allclose(large, 1e6 * unit, rtol=1e-3, atol=1e-3 * np.abs(large).max())
    unit, large, larger = outputs[True]
    np.testing.assert_allclose(larger, large, rtol=1e-4, atol=1e-5)
    for out in (unit, large):
        assert np.abs(out).max() <= np.abs(kernel).max() * (1 + 1e-5)
    assert np.abs(large).max() > 0.1 * np.abs(kernel).max()
    # near zero (e.g. a group after ReLU) the map is nearly the identity: the
    # input gradient is the raw operator's, not amplified by 1 / RMS
    raw, = _grads(lambda a, w: correlation_ops(a, None, k, d, g), 1e-3 * x, None)
    normalized, = _grads(lambda a, w: correlation_ops(normalize_groups(a, g), None, k, d, g),
                         1e-3 * x, None)
    assert np.abs(raw).max() > 0
    np.testing.assert_allclose(np.asarray(normalized), np.asarray(raw), rtol=1e-3,
                               atol=1e-3 * np.abs(raw).max())


def test_normalized_layer_contract():
    x, _ = _data(3, 8, shape=(2, 4, 6, 6))
    out = run_layer_test(
        Correlation,
        dict(kernel_size=3, dilation=2, group_size=4, normalize=True),
        x,
        expected_output_shape=(2, 4, 6, 6, 18),
        expected_num_trainable_weights=1,
    )
    np.testing.assert_allclose(out, numpy_correlation(_normalized_groups(x, 4), None, 3, 2, 4),
                               rtol=1e-4, atol=1e-5)


def test_kernel_shape_and_default_config():
    layer = Correlation()
    assert (layer.kernel_size, layer.dilation, layer.group_size, layer.learnable,
            layer.normalize) == (7, 2, 32, True, False)
    layer.build((None, 16, 14, 14, 64))
    assert tuple(layer.kernel.shape) == (16, 7, 7, 64)
    assert layer.compute_output_shape((None, 16, 14, 14, 64)) == (None, 16, 14, 14, 98)


def test_inside_xla_compiled_model():
    x, _ = _data(3, 8, shape=(2, 4, 6, 6))
    inp = keras.Input((4, 6, 6, 8))
    model = keras.Model(inp, Correlation(3, 1, 4)(inp))
    model.compile("sgd", "mse", jit_compile=True)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               numpy_correlation(x, None, 3, 1, 4), rtol=1e-4, atol=1e-5)
    model.fit(x, np.zeros((2, 4, 6, 6, 18), "float32"), verbose=0)


def test_falls_back_to_xla_without_custom_op(monkeypatch):
    x, kernel = _data(3, 8)
    monkeypatch.setattr(_correlation_op, "available", lambda: False)
    layer = Correlation(3, 2, 4)
    layer.build(x.shape)
    layer.kernel.assign(kernel)
    np.testing.assert_allclose(np.asarray(layer(x)), numpy_correlation(x, kernel, 3, 2, 4),
                               rtol=1e-4, atol=1e-5)


def test_failed_compilation_logs_and_returns_none(tmp_path, monkeypatch, caplog):
    broken = tmp_path / "broken.cc"
    broken.write_text("this is not C++\n")
    monkeypatch.setattr(_correlation_op, "_SOURCE", str(broken))
    monkeypatch.setenv("ACTIONZOO_HOME", str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING, logger=_correlation_op.__name__):
        assert _correlation_op.load.__wrapped__() is None
    assert "falling back to the XLA" in caplog.text
    assert not list((tmp_path / "cache").rglob("*.so"))


def test_cache_key_depends_on_source(tmp_path, monkeypatch):
    first = _correlation_op.library_path()
    other = tmp_path / "other.cc"
    other.write_text("// different source\n")
    monkeypatch.setattr(_correlation_op, "_SOURCE", str(other))
    assert _correlation_op.library_path() != first
    assert tf.__version__ in first


@pytest.mark.parametrize("kwargs,shape,match", [
    (dict(group_size=3), (1, 2, 5, 5, 8), "not divisible by group_size"),
    (dict(kernel_size=4), None, "odd"),
    (dict(dilation=0), None, "positive int"),
    (dict(learnable="yes"), None, "learnable must be a bool"),
    (dict(normalize=1), None, "normalize must be a bool"),
    (dict(), (1, 5, 5, 8), "\\(batch, L, H, W, C\\)"),
])
def test_bad_arguments(kwargs, shape, match):
    base = dict(kernel_size=3, dilation=1, group_size=4)
    with pytest.raises(ValueError, match=match):
        layer = Correlation(**{**base, **kwargs})
        layer.build(shape)


def test_clip_length_mismatch():
    layer = Correlation(3, 1, 4)
    layer.build((None, 4, 5, 5, 8))
    with pytest.raises(ValueError, match="clip length L=3 does not match"):
        layer(np.zeros((1, 3, 5, 5, 8), "float32"))


def test_numpy_backend_matches(tmp_path):
    """The keras.ops path on another Keras backend gives the same numbers."""
    pytest.importorskip("jax", reason="Keras' numpy backend needs jax installed")
    x, kernel = _data(3, 8, shape=(1, 3, 5, 6))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "k.npy", kernel)
    script = textwrap.dedent(f"""
        import numpy as np, keras
        from actionzoo.layers.correlation import Correlation
        assert keras.backend.backend() == "numpy"
        x = np.load(r"{tmp_path / 'x.npy'}"); k = np.load(r"{tmp_path / 'k.npy'}")
        layer = Correlation(3, 2, 4); layer.build(x.shape); layer.kernel.assign(k)
        np.save(r"{tmp_path / 'out.npy'}", np.asarray(layer(x)))
    """)
    env = {**os.environ, "KERAS_BACKEND": "numpy", "TF_CPP_MIN_LOG_LEVEL": "3"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=root)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"),
                               numpy_correlation(x, kernel, 3, 2, 4), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not _correlation_op.available(), reason="C++ op could not be built")
@pytest.mark.parametrize("shape,k,d,g", [
    ((1, 3, 5, 37, 32), 7, 2, 16),   # two 16-pixel blocks + one, full 16x16 tiles
    ((2, 2, 17, 33, 16), 3, 1, 16),  # batch > 1, three blocks of 16 pixels
    ((1, 2, 4, 20, 24), 9, 1, 8),    # K=9: run-time K path, partial tiles
    ((1, 3, 6, 11, 64), 5, 1, 32),   # channel-vectorised gradients, K=5, two vectors
    ((2, 2, 5, 21, 32), 9, 1, 16),   # channel-vectorised gradients, run-time K
    ((1, 2, 3, 5, 32), 7, 2, 32),    # frame narrower than the kernel's reach
])
def test_custom_op_wide_frames(shape, k, d, g):
    """Frames wider than 16 pixels and >= 16 channels exercise the blocked
    paths of the C++ op (multi-block rows, full transpose tiles)."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=shape).astype("float32")
    kernel = rng.normal(size=(shape[1], k, k, shape[-1])).astype("float32")
    np.testing.assert_allclose(np.asarray(_correlation_op.correlation(x, kernel, k, d, g)),
                               numpy_correlation(x, kernel, k, d, g), rtol=1e-4, atol=1e-4)
    ref = _grads(lambda a, w: correlation_ops(a, w, k, d, g), x, kernel)
    got = _grads(lambda a, w: _correlation_op.correlation(a, w, k, d, g), x, kernel)
    for r, gx in zip(ref, got, strict=True):
        np.testing.assert_allclose(np.asarray(gx), np.asarray(r), rtol=1e-4, atol=1e-3)


def test_large_kernel_uses_xla_path():
    k = _correlation_op.MAX_KERNEL_SIZE + 2
    x, kernel = _data(k, 4, shape=(1, 2, 3, 4))
    layer = Correlation(k, 1, 4)
    layer.build(x.shape)
    layer.kernel.assign(kernel)
    np.testing.assert_allclose(np.asarray(layer(x)), numpy_correlation(x, kernel, k, 1, 4),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not _correlation_op.available(), reason="C++ op could not be built")
@pytest.mark.parametrize("shape,k,d,g", [
    ((2, 5, 7, 23, 24), 7, 2, 12),   # G=2, g=12: vector + scalar conversion, B*L=10
    ((1, 6, 11, 19, 64), 7, 3, 32),  # D=3: three phases, short rows
    ((3, 2, 4, 9, 16), 7, 1, 8),     # H < rows a kernel spans, pairs and single rows
    ((1, 5, 9, 44, 64), 3, 2, 16),   # G=4 (K*G=12), D=2
    ((2, 1, 6, 8, 128), 3, 1, 32),   # G=4, L=1 (prev = the frame itself)
    ((1, 4, 14, 14, 128), 7, 2, 32),  # G=4, K*G=28 (2 chunks), CorrNet res3 at 112
    ((2, 3, 9, 13, 32), 7, 1, 8),    # G=4, 2 chunks, odd width, B*L=6
    ((1, 3, 7, 7, 256), 7, 2, 32),   # G=8, K*G=56 (4 chunks), CorrNet res4 at 112
    ((1, 2, 8, 11, 40), 5, 2, 5),    # G=8, K*G=40 (3 chunks)
    ((1, 2, 6, 9, 24), 3, 1, 3),     # G=8, K*G=24 (2 chunks)
    ((1, 2, 10, 12, 36), 9, 1, 9),   # G=4, K*G=36: 3 chunks, pixel-vectorised path
])
def test_custom_op_displacement_path(shape, k, d, g):
    """Shapes for the displacement-vectorised forward and gradients of the C++
    op (G of 2, 4 or 8, K*G in one to four 16-lane chunks): frames in lockstep
    across batch elements, partial pixel blocks, phases, top and bottom rows,
    the first frame (its own prev) and the last."""
    rng = np.random.default_rng(13)
    x = rng.normal(size=shape).astype("float32")
    kernel = rng.normal(size=(shape[1], k, k, shape[-1])).astype("float32")
    np.testing.assert_allclose(np.asarray(_correlation_op.correlation(x, kernel, k, d, g)),
                               numpy_correlation(x, kernel, k, d, g), rtol=1e-4, atol=1e-5)
    ref = _grads(lambda a, w: correlation_ops(a, w, k, d, g), x, kernel)
    got = _grads(lambda a, w: _correlation_op.correlation(a, w, k, d, g), x, kernel)
    for r, gx in zip(ref, got, strict=True):
        np.testing.assert_allclose(np.asarray(gx), np.asarray(r), rtol=1e-4, atol=1e-3)


def _traced_op_types(layer, x):
    import tensorflow as tf

    graph = tf.function(layer).get_concrete_function(
        tf.TensorSpec(x.shape, tf.float32)).graph
    return {op.type for op in graph.get_operations()}


@pytest.mark.skipif(not _correlation_op.available(), reason="C++ op could not be built")
def test_custom_op_is_used_only_where_no_gpu_is_visible(monkeypatch):
    """The C++ op has a CPU kernel only: with a GPU visible the layer traces the
    XLA graph instead (this machine has no GPU, so TensorFlow's device list is
    replaced by one that names a GPU), with the same numbers."""
    import tensorflow as tf

    x, kernel = _data(3, 4, shape=(1, 2, 5, 6))
    layer = Correlation(3, 1, 4)
    layer.build(x.shape)
    layer.kernel.assign(kernel)
    assert "ActionzooCorrelation" in _traced_op_types(layer, x)
    gpu = tf.config.LogicalDevice(name="/device:GPU:0", device_type="GPU")
    real = tf.config.list_logical_devices
    monkeypatch.setattr(tf.config, "list_logical_devices",
                        lambda kind=None: [gpu] if kind == "GPU" else real(kind))
    assert "ActionzooCorrelation" not in _traced_op_types(layer, x)
    np.testing.assert_allclose(np.asarray(layer(x)), numpy_correlation(x, kernel, 3, 1, 4),
                               rtol=1e-4, atol=1e-5)
