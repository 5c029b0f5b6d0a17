"""Outer-product correlation of two class-score vectors (Yudistira & Kurita, Eq. 1-2)."""
import keras
from keras import ops

from actionzoo.flops import register_flops


@keras.saving.register_keras_serializable(package="actionzoo")
class OuterProductCorrelation(keras.layers.Layer):
    """Correlation map ``C = u v^T`` of two score vectors, row-normalised.

    For inputs ``u`` of shape ``(B, n)`` and ``v`` of shape ``(B, m)`` the
    output is ``(B, n, m)`` with ``C[b, i, j] = u[b, i] * v[b, j]``. With
    ``normalize="row_l2"`` each row ``i`` is divided by its L2 norm
    ``||u_i v||`` (Eq. 2 of the paper), computed as
    ``x * rsqrt(max(sum(x**2), epsilon))`` so an all-zero row stays zero and
    gradients stay finite.

    Parameters
    ----------
    normalize : {"row_l2", None}, default="row_l2"
        Row-wise L2 normalisation of the correlation map, or none.
    epsilon : float, default=1e-12
        Lower bound on a row's squared norm.

    Examples
    --------
    >>> import numpy as np
    >>> layer = OuterProductCorrelation()
    >>> u = np.array([[1.0, -2.0]], "float32"); v = np.array([[3.0, 4.0]], "float32")
    >>> np.round(np.asarray(layer([u, v]), dtype="float64"), 2).tolist()
    [[[0.6, 0.8], [-0.6, -0.8]]]
    """

    def __init__(self, normalize="row_l2", epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        if normalize not in ("row_l2", None):
            raise ValueError(f"normalize must be 'row_l2' or None, got {normalize!r}")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
        self.normalize = normalize
        self.epsilon = epsilon

    def call(self, inputs):
        u, v = inputs
        corr = ops.expand_dims(u, -1) * ops.expand_dims(v, -2)
        if self.normalize == "row_l2":
            sq = ops.sum(ops.square(corr), axis=-1, keepdims=True)
            corr = corr * ops.rsqrt(ops.maximum(sq, self.epsilon))
        return corr

    def compute_output_shape(self, input_shape):
        u_shape, v_shape = input_shape
        return (u_shape[0], u_shape[-1], v_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"normalize": self.normalize, "epsilon": self.epsilon})
        return config


# One multiply per element of the n x m map (the row norms' squares are as many again).
register_flops(OuterProductCorrelation)(
    lambda layer, input_shapes, output_shapes: input_shapes[0][-1] * input_shapes[1][-1])
