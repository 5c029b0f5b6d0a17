"""Spatio-temporal channel correlation block (Diba et al., Sec. 3.1)."""
import math

import keras
from keras import ops

from actionzoo.flops import register_flops

_BRANCHES = ("temporal", "spatial")


@keras.saving.register_keras_serializable(package="actionzoo")
class STCBlock(keras.layers.Layer):
    """Channel rescaling of a clip feature map from its channel correlations.

    Input ``x`` of shape ``(B, T, H, W, C)`` (channels last). Two
    squeeze-and-excitation style branches compute per-channel scales in
    (0, 1):

    - temporal correlation branch (TCB, Eq. 1-3): ``z = mean(x)`` over
      ``(T, H, W)`` -> FC ``C -> C/r``, ReLU -> FC ``C/r -> C``, sigmoid
      gives ``s_tcb``; ``x_tcb = s_tcb * x``.
    - spatial correlation branch (SCB, Eq. 4-6): mean over ``(H, W)`` gives
      ``(T, C)``, flattened time-major to a ``T*C`` vector (index
      ``t*C + c``) -> FC ``T*C -> T*C/r``, ReLU -> FC ``T*C/r -> C``,
      sigmoid gives ``s_scb``; ``x_scb = s_scb * x``.

    The output is ``(x_tcb + x_scb) / 2`` (Eq. 7), or the one selected
    branch alone. Reduced widths are ``max(1, C // r)`` and
    ``max(1, T*C // r)``.

    The spatial branch's first FC is ``T*C`` wide, so the layer is tied to
    the clip length ``T`` it was built with: calling it on another ``T``
    raises ``ValueError`` (build a new model for a new clip length), and
    building it with an unknown ``T`` raises too. The temporal branch alone
    accepts any ``T``.

    Parameters
    ----------
    reduction : int, default=4
        Reduction ratio ``r`` of the bottleneck FC layers (paper: 4).
    branches : tuple of {"temporal", "spatial"}, default=("temporal", "spatial")
        Branches to use; both are averaged.
    use_bias : bool, default=True
        Whether the FC layers have biases.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(2, 4, 5, 5, 8)).astype("float32")
    >>> block = STCBlock(reduction=4)
    >>> y = np.asarray(block(x))
    >>> y.shape
    (2, 4, 5, 5, 8)
    >>> ratio = y / x  # one scale in (0, 1) per sample and channel
    >>> bool(np.allclose(ratio, ratio[:, :1, :1, :1, :], atol=1e-5))
    True
    """

    def __init__(self, reduction=4, branches=_BRANCHES, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(branches, str):
            branches = (branches,)
        branches = tuple(branches)
        unknown = any(b not in _BRANCHES for b in branches)
        if not branches or unknown or len(set(branches)) != len(branches):
            raise ValueError(
                f"branches must be a non-empty subset of {_BRANCHES} without repeats, "
                f"got {branches!r}"
            )
        if int(reduction) != reduction or reduction < 1:
            raise ValueError(f"reduction must be a positive integer, got {reduction!r}")
        self.reduction = int(reduction)
        self.branches = branches
        self.use_bias = bool(use_bias)

    def _fc_pair(self, prefix, n_in, n_hidden, n_out):
        def dense(name, rows, cols):
            kernel = self.add_weight(shape=(rows, cols), initializer="glorot_uniform",
                                     name=f"{prefix}_{name}_kernel")
            bias = (self.add_weight(shape=(cols,), initializer="zeros",
                                    name=f"{prefix}_{name}_bias")
                    if self.use_bias else None)
            return kernel, bias

        return dense("fc1", n_in, n_hidden) + dense("fc2", n_hidden, n_out)

    def build(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(f"STCBlock expects (batch, T, H, W, C) input, "
                             f"got shape {tuple(input_shape)}")
        t, channels = input_shape[1], input_shape[-1]
        if channels is None:
            raise ValueError("STCBlock needs a known channel count C")
        self.channels = int(channels)
        self.clip_length = None if t is None else int(t)
        if "temporal" in self.branches:
            self.tcb = self._fc_pair("tcb", channels, max(1, channels // self.reduction), channels)
        if "spatial" in self.branches:
            if t is None:
                raise ValueError(
                    "the spatial branch of STCBlock needs a known clip length T at build time "
                    f"(its first FC is T*C wide), got input shape {tuple(input_shape)}"
                )
            self.scb = self._fc_pair("scb", t * channels, max(1, t * channels // self.reduction),
                                     channels)
        self.built = True

    def _check_t(self, t):
        if "spatial" in self.branches and t is not None and t != self.clip_length:
            raise ValueError(
                f"STCBlock {self.name!r} was built for clip length T={self.clip_length} "
                f"at this stage (its spatial branch FC is "
                f"T*C={self.clip_length * self.channels} wide) but got T={t}; "
                "build a new model for the new clip length"
            )

    @staticmethod
    def _excite(z, w1, b1, w2, b2):
        h = ops.matmul(z, w1)
        if b1 is not None:
            h = h + b1
        h = ops.matmul(ops.relu(h), w2)
        if b2 is not None:
            h = h + b2
        return ops.sigmoid(h)

    def call(self, x):
        t = x.shape[1]
        self._check_t(t)
        z_hw = ops.mean(x, axis=(2, 3))  # (B, T, C): one pass over x serves both squeezes
        scales = []
        # mean over T of equal-size frame means = mean over (T, H, W)
        if "temporal" in self.branches:
            scales.append(self._excite(ops.mean(z_hw, axis=1), *self.tcb))
        if "spatial" in self.branches:
            z = ops.reshape(z_hw, (-1, self.clip_length * self.channels))
            scales.append(self._excite(z, *self.scb))
        scale = scales[0] if len(scales) == 1 else (scales[0] + scales[1]) / 2.0
        return x * ops.cast(scale[:, None, None, None, :], x.dtype)

    def compute_output_shape(self, input_shape):
        if self.built:
            self._check_t(input_shape[1])
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"reduction": self.reduction, "branches": self.branches,
                       "use_bias": self.use_bias})
        return config


@register_flops(STCBlock)
def _stc_block_flops(layer, input_shapes, output_shapes):
    """Multiply-adds of one sample, in :mod:`actionzoo.flops`' convention.

    The squeeze is one spatial mean shared by both branches (input elements
    ``T*H*W*C``, like a global pooling) plus, for TCB, a mean over ``T``
    (``T*C``); the FC layers cost their kernel sizes (TCB ``2*C*C/r``, SCB
    ``T*C*T*C/r + T*C/r*C``); the sigmoid and the channel rescale are
    element-wise and count 0, like activations and ``Multiply``.
    """
    t, _, _, c = input_shapes[0]
    pooling = math.prod(input_shapes[0]) + (t * c if "temporal" in layer.branches else 0)
    fc = sum(math.prod(w.shape) for w in layer.weights if len(w.shape) == 2)
    return pooling + fc
