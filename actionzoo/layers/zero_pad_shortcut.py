"""Parameter-free residual shortcut of He et al.'s type A.

Hara et al.'s 3D ResNet-18/34 use it.
"""
import keras
from keras import ops

from actionzoo.flops import register_flops


@keras.saving.register_keras_serializable(package="actionzoo")
class ZeroPadShortcut(keras.layers.Layer):
    """Subsample a clip feature map with a stride and zero-pad its channels.

    For input ``(B, T, H, W, C)`` the output is
    ``concat(x[:, ::st, ::sh, ::sw, :], zeros(..., filters - C))``, i.e. the
    identity shortcut when shapes change, without parameters (Hara et al.'s
    ``downsample_basic_block``: a stride-``s`` average pool of size 1 followed
    by zero channels). Output length per axis is ``ceil(n / s)``, the same as
    a kernel-3, padding-1, stride-``s`` convolution.

    Parameters
    ----------
    filters : int
        Output channel count, at least the input's.
    strides : int or tuple of 3 int, default=1
        Subsampling stride over ``(T, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((1, 4, 4, 4, 2), "float32")
    >>> y = np.asarray(ZeroPadShortcut(filters=3, strides=2)(x))
    >>> y.shape, float(y[..., :2].min()), float(abs(y[..., 2]).max())
    ((1, 2, 2, 2, 3), 1.0, 0.0)
    """

    def __init__(self, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        strides = (strides,) * 3 if isinstance(strides, int) else tuple(int(s) for s in strides)
        if len(strides) != 3 or min(strides) < 1:
            raise ValueError(f"strides must be a positive int or 3 positive ints, got {strides!r}")
        if int(filters) != filters or filters < 1:
            raise ValueError(f"filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.strides = strides

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] > self.filters:
            raise ValueError(
                f"ZeroPadShortcut cannot reduce channels: input has {input_shape[-1]}, "
                f"filters={self.filters}"
            )
        self.built = True

    def call(self, x):
        st, sh, sw = self.strides
        x = x[:, ::st, ::sh, ::sw, :]
        extra = self.filters - x.shape[-1]
        if extra:
            x = ops.pad(x, [(0, 0)] * 4 + [(0, extra)])
        return x

    def compute_output_shape(self, input_shape):
        out = [input_shape[0]]
        for n, s in zip(input_shape[1:4], self.strides, strict=True):
            out.append(None if n is None else -(-n // s))
        return tuple(out) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "strides": self.strides})
        return config


# Subsampling and zero channels: data movement, free like ZeroPadding3D.
register_flops(ZeroPadShortcut)(lambda layer, input_shapes, output_shapes: 0)
