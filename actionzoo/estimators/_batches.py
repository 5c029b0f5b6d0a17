"""Seeded, shuffled mini-batches of in-memory arrays for ``keras.Model.fit``."""
import keras
import numpy as np


def slice_inputs(inputs):
    """Default batch maker: take rows ``idx`` of every input array."""
    def make(idx, rng):
        return [x[idx] for x in inputs]
    return make


class ArrayBatches(keras.utils.PyDataset):
    """Batches of ``(inputs, y, sample_weight)`` reshuffled every epoch.

    ``make_inputs(idx, rng)`` returns the model inputs for the sample
    indices ``idx``; it may draw randomly from ``rng`` (for example a new
    frame pairing each epoch). The order and every draw come from one
    ``numpy`` generator seeded by ``seed``, so a fit is repeatable.
    """

    def __init__(self, make_inputs, y, sample_weight, batch_size, seed, shuffle=True):
        super().__init__()
        self.make_inputs = make_inputs
        self.y = np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight, "float32")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = self._new_order()

    def _new_order(self):
        n = len(self.y)
        return self._rng.permutation(n) if self.shuffle else np.arange(n)

    def __len__(self):
        return int(np.ceil(len(self.y) / self.batch_size))

    def __getitem__(self, i):
        idx = self._order[i * self.batch_size:(i + 1) * self.batch_size]
        inputs = self.make_inputs(idx, self._rng)
        x = inputs[0] if len(inputs) == 1 else tuple(inputs)
        if self.sample_weight is None:
            return x, self.y[idx]
        return x, self.y[idx], self.sample_weight[idx]

    def on_epoch_end(self):
        self._order = self._new_order()
