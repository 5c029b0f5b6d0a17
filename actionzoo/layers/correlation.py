"""Learnable groupwise correlation over adjacent video frames (Wang et al., Sec. 3).

The operator is pinned in docs/design.md::

    out[b, t, i, j, (ky*K + kx)*G + gi] =
        1/g * sum_{c in group gi} kernel[t, ky, kx, c] * prev[b, t, i, j, c]
              * x[b, t, i + D*(ky - K//2), j + D*(kx - K//2), c]

with ``prev[t] = x[t-1]`` (``prev[0] = x[0]``) and zero outside the frame.
With ``normalize=True`` the layer first divides every channel group of ``x``
at every position by ``sqrt(1 + mean square of the group)``
(:func:`normalize_groups`): features at the unit scale BatchNorm trains them
to pass almost unchanged, larger ones are matched by direction only (the
cosine similarity in the limit), so the output is bounded by the filter.

Three implementations give the same numbers:

- :func:`correlation_ops` — ``keras.ops`` only, any Keras backend;
- :func:`correlation_xla` — the same graph compiled with XLA
  (TensorFlow backend; fallback and test reference);
- the C++ TensorFlow custom op in :mod:`actionzoo.layers._correlation_op`
  (compiled on first use; float32 on CPU), the default on TensorFlow when
  no GPU is visible.
"""
import functools
import logging

import keras
from keras import ops

logger = logging.getLogger(__name__)

#: Added to the groups' mean square by ``normalize=True``: the unit scale of
#: BatchNorm's output. It sets where the map turns from (nearly) the identity
#: into a projection onto the unit-RMS sphere, and it bounds the map's Jacobian
#: by ``1 / sqrt(epsilon)`` = 1, so small groups (near-zero after ReLU) never
#: get amplified gradients, as they would under a tiny epsilon.
NORMALIZE_EPSILON = 1.0


def correlation_ops(x, kernel, kernel_size, dilation, group_size):
    """Correlation from ``keras.ops`` (runs on every Keras backend).

    Loops over the ``K*K`` displacements; each step reads one shifted window
    of the zero-padded input and reduces it over the channel groups at once,
    so no stack of ``K*K`` shifted copies is materialised.

    Parameters
    ----------
    x : tensor of shape (B, L, H, W, C)
    kernel : tensor of shape (L, K, K, C) or None
        ``None`` is the plain (non-learnable) operator, a kernel of ones.
    kernel_size, dilation, group_size : int
        ``K``, ``D`` and ``g`` of the formula.

    Returns
    -------
    tensor of shape (B, L, H, W, G*K*K)
    """
    k, d, g = kernel_size, dilation, group_size
    dynamic = ops.shape(x)
    shape = [dynamic[i] if n is None else n for i, n in enumerate(x.shape)]
    h, w, c = shape[2], shape[3], shape[4]
    prev = ops.concatenate([x[:, :1], x[:, :-1]], axis=1)
    r = d * (k // 2)
    padded = ops.pad(x, [[0, 0], [0, 0], [r, r], [r, r], [0, 0]])
    grouped = tuple(shape[:4]) + (c // g, g)
    outs = []
    for ky in range(k):
        for kx in range(k):
            window = padded[:, :, ky * d:ky * d + h, kx * d:kx * d + w, :]
            prod = prev * window
            if kernel is not None:
                prod = prod * kernel[None, :, None, None, ky, kx, :]
            outs.append(ops.mean(ops.reshape(prod, grouped), axis=-1))
    return ops.concatenate(outs, axis=-1)


def normalize_groups(x, group_size, epsilon=NORMALIZE_EPSILON):
    """Bring each group of ``group_size`` channels to root mean square below 1.

    ``x / sqrt(mean(x**2 over the group) + epsilon)`` at every position of
    ``x`` (B, L, H, W, C). For groups much larger than ``sqrt(epsilon)``
    the result has unit RMS, and ``1/g * sum(a * b)`` of two such groups is
    the cosine similarity of the raw ones; much smaller groups are only
    scaled by about ``1 / sqrt(epsilon)``.
    """
    dynamic = ops.shape(x)
    shape = [dynamic[i] if n is None else n for i, n in enumerate(x.shape)]
    grouped = ops.reshape(x, shape[:4] + [shape[4] // group_size, group_size])
    scale = ops.rsqrt(ops.mean(ops.square(grouped), axis=-1, keepdims=True) + epsilon)
    return ops.reshape(grouped * scale, shape)


@functools.lru_cache(maxsize=None)
def _xla_function(kernel_size, dilation, group_size, learnable):
    import tensorflow as tf

    if learnable:
        def fn(x, kernel):
            return correlation_ops(x, kernel, kernel_size, dilation, group_size)
    else:
        def fn(x):
            return correlation_ops(x, None, kernel_size, dilation, group_size)
    return tf.function(fn, jit_compile=True)


def correlation_xla(x, kernel, kernel_size, dilation, group_size):
    """:func:`correlation_ops` compiled with XLA ``jit_compile`` (TensorFlow)."""
    fn = _xla_function(kernel_size, dilation, group_size, kernel is not None)
    return fn(x) if kernel is None else fn(x, kernel)


def _in_xla_context():
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_util

    if tf.executing_eagerly():
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def _gpu_visible():
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def _tensorflow_correlation(x, kernel, kernel_size, dilation, group_size):
    """Pick the fastest available TensorFlow implementation.

    The C++ op has a CPU kernel only: where TensorFlow sees a GPU, the XLA
    graph runs there instead of copying every correlation to the host.
    """
    from actionzoo.layers import _correlation_op

    if (x.dtype == "float32" and kernel_size <= _correlation_op.MAX_KERNEL_SIZE
            and not _in_xla_context() and not _gpu_visible() and _correlation_op.available()):
        return _correlation_op.correlation(x, kernel, kernel_size, dilation, group_size)
    if _in_xla_context():  # already inside an XLA cluster: inline the graph
        return correlation_ops(x, kernel, kernel_size, dilation, group_size)
    return correlation_xla(x, kernel, kernel_size, dilation, group_size)


@keras.saving.register_keras_serializable(package="actionzoo")
class Correlation(keras.layers.Layer):
    """Learnable groupwise correlation of each frame with the previous one.

    For input ``x`` of shape ``(B, L, H, W, C)`` every pixel of frame ``t``
    is matched against a ``K x K`` neighbourhood (dilation ``D``) of the
    same pixel in frame ``t - 1`` (frame 0 is matched with itself). Channels
    are split into ``G = C / group_size`` groups; each group gives one
    weighted, ``1/g``-normalised dot product per displacement, so the output
    has ``G*K*K`` channels ordered ``(ky*K + kx)*G + gi``. With ``learnable``
    the per-frame, per-displacement channel weights ``kernel`` of shape
    ``(L, K, K, C)`` are trained (initialised to ones, the plain operator).

    With ``normalize`` each channel group of the input is first divided by
    ``sqrt(1 + its mean square)`` at every position (:func:`normalize_groups`):
    unit-scale features are matched almost as they are, large ones by their
    direction (the filter-weighted cosine similarity), and every output lies
    in ``[-max|kernel|, max|kernel|]`` whatever the input's scale. Without it
    the output grows with the square of the input's scale (see
    :func:`actionzoo.models.correlation_net`, which normalises by default,
    for why that matters in a network).

    On the TensorFlow backend float32 inputs on CPU use a C++ custom op
    compiled on first use (see :mod:`actionzoo.layers._correlation_op`);
    otherwise the computation is the XLA-compiled ``keras.ops`` graph, and on
    other backends plain ``keras.ops``. All give the same numbers.

    Parameters
    ----------
    kernel_size : int, default=7
        Neighbourhood size ``K`` (odd, >= 1).
    dilation : int, default=2
        Displacement step ``D`` (>= 1).
    group_size : int, default=32
        Channels per group ``g``; the input channels must be divisible by it.
    learnable : bool, default=True
        Whether the layer has the trainable ``kernel``.
    normalize : bool, default=False
        Match channel groups brought to RMS below 1 (see above) instead of
        the raw features.

    Examples
    --------
    >>> import numpy as np
    >>> layer = Correlation(kernel_size=3, dilation=1, group_size=4)
    >>> x = np.ones((1, 2, 5, 5, 8), "float32")
    >>> y = np.asarray(layer(x))
    >>> y.shape
    (1, 2, 5, 5, 18)
    >>> float(y[0, 0, 2, 2, 0]), float(y[0, 0, 0, 0, 0])  # inside / off the frame
    (1.0, 0.0)
    >>> cosine = Correlation(kernel_size=3, dilation=1, group_size=4, normalize=True)
    >>> [round(float(np.asarray(cosine(s * x))[0, 0, 2, 2, 0]), 4) for s in (1, 1e3, 1e6)]
    [0.5, 1.0, 1.0]
    """

    def __init__(self, kernel_size=7, dilation=2, group_size=32, learnable=True,
                 normalize=False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("kernel_size", kernel_size), ("dilation", dilation),
                            ("group_size", group_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        for name, value in (("learnable", learnable), ("normalize", normalize)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be a bool, got {value!r}")
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.group_size = group_size
        self.learnable = learnable
        self.normalize = normalize
        self.kernel = None

    def _check_shape(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(
                f"Correlation expects input (batch, L, H, W, C), got shape {input_shape}")
        length, channels = input_shape[1], input_shape[-1]
        if length is None or channels is None:
            raise ValueError(
                f"Correlation needs a known clip length L and channels C, got {input_shape}")
        if channels % self.group_size:
            raise ValueError(
                f"input channels C={channels} are not divisible by "
                f"group_size={self.group_size}")
        return length, channels

    def build(self, input_shape):
        length, channels = self._check_shape(input_shape)
        if self.learnable:
            k = self.kernel_size
            self.kernel = self.add_weight(
                name="kernel", shape=(length, k, k, channels), initializer="ones")

    def call(self, inputs):
        if self.learnable and inputs.shape[1] != self.kernel.shape[0]:
            raise ValueError(
                f"input clip length L={inputs.shape[1]} does not match the kernel's "
                f"L={self.kernel.shape[0]} (kernel shape {tuple(self.kernel.shape)})")
        if self.normalize:
            inputs = normalize_groups(inputs, self.group_size)
        kernel = ops.cast(self.kernel, inputs.dtype) if self.learnable else None
        args = (inputs, kernel, self.kernel_size, self.dilation, self.group_size)
        if keras.backend.backend() == "tensorflow":
            return _tensorflow_correlation(*args)
        return correlation_ops(*args)

    def compute_output_shape(self, input_shape):
        _, channels = self._check_shape(input_shape)
        out = channels // self.group_size * self.kernel_size ** 2
        return tuple(input_shape[:4]) + (out,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "kernel_size": self.kernel_size,
            "dilation": self.dilation,
            "group_size": self.group_size,
            "learnable": self.learnable,
            "normalize": self.normalize,
        })
        return config
