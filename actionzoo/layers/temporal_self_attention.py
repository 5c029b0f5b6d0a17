"""Masked dot-product self-attention over the time axis of a sequence."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="actionzoo")
class TemporalSelfAttention(keras.layers.Layer):
    """Dot-product self-attention over time with a learned scale, mask-aware.

    For ``x`` of shape ``(B, T, E)`` and a Keras mask ``m`` of shape
    ``(B, T)`` (True = real step):

        scores[b, i, j] = scale * <x[b, i], x[b, j]>   (j masked -> -inf)
        out[b, i] = sum_j softmax_j(scores[b, i]) * x[b, j]

    The output keeps the shape and the mask of the input, so it can feed an
    RNN that skips padded steps. ``scale`` starts at ``1 / sqrt(E)``.
    (``keras.layers.Attention`` of Keras 3.8 cannot broadcast a value mask in
    self-attention, hence this layer.)

    Parameters
    ----------
    learn_scale : bool, default=True
        Whether ``scale`` is a trainable scalar (else fixed ``1 / sqrt(E)``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.eye(3, dtype="float32")[None]
    >>> tuple(TemporalSelfAttention()(x).shape)
    (1, 3, 3)
    """

    def __init__(self, learn_scale=True, **kwargs):
        super().__init__(**kwargs)
        self.learn_scale = bool(learn_scale)
        self.supports_masking = True

    def build(self, input_shape):
        init = float(input_shape[-1]) ** -0.5
        self.scale = self.add_weight(
            name="scale", shape=(), initializer=keras.initializers.Constant(init),
            trainable=self.learn_scale)

    def call(self, inputs, mask=None):
        scores = self.scale * ops.matmul(inputs, ops.transpose(inputs, (0, 2, 1)))
        if mask is not None:
            keep = ops.expand_dims(ops.cast(mask, scores.dtype), 1)  # (B, 1, T)
            scores = scores - 1e9 * (1.0 - keep)
        weights = ops.softmax(scores, axis=-1)
        return ops.matmul(weights, inputs)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"learn_scale": self.learn_scale})
        return config
