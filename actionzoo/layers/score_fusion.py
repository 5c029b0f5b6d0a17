"""Late fusion of per-stream class scores into one set of logits."""
import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="actionzoo")
class ScoreFusion(keras.layers.Layer):
    """Combine the logits of several streams into fused logits.

    With ``mode="softmax"`` the streams' softmax probabilities are averaged,
    the fusion of Cho & Foroosh (Eq. 1: ``H(.) + H(.)`` with ``H`` a softmax,
    up to the factor 1/n that keeps a distribution), and returned as logits
    ``log(mean_i softmax(z_i))`` computed stably as
    ``logsumexp_i(log_softmax(z_i)) - log(n)``; so ``softmax(output)`` is
    exactly the averaged probability and the output can be trained with
    ``from_logits=True`` cross-entropy. With ``mode="logits"`` the raw
    scores are summed (TSN-style consensus before the softmax).

    Parameters
    ----------
    mode : {"softmax", "logits"}, default="softmax"
        Average of probabilities or sum of logits.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.log(np.array([[0.5, 0.5]], "float32"))
    >>> b = np.log(np.array([[0.9, 0.1]], "float32"))
    >>> out = ScoreFusion()([a, b])
    >>> np.round(np.asarray(keras.ops.softmax(out), "float64"), 3).tolist()
    [[0.7, 0.3]]
    """

    def __init__(self, mode="softmax", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("softmax", "logits"):
            raise ValueError(f"mode must be 'softmax' or 'logits', got {mode!r}")
        self.mode = mode

    def call(self, inputs):
        inputs = list(inputs)
        if self.mode == "logits":
            out = inputs[0]
            for z in inputs[1:]:
                out = out + z
            return out
        stacked = ops.stack([ops.log_softmax(z, axis=-1) for z in inputs], axis=0)
        return ops.logsumexp(stacked, axis=0) - math.log(len(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config
