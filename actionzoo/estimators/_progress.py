"""Progress reporting for long fits."""
import sys

import keras
from tqdm.auto import tqdm


class EpochProgressBar(keras.callbacks.Callback):
    """A tqdm bar over epochs showing the latest loss (``verbose=1``)."""

    def __init__(self, epochs, description):
        super().__init__()
        self.epochs = epochs
        self.description = description
        self._bar = None

    def on_train_begin(self, logs=None):
        self._bar = tqdm(total=self.epochs, desc=self.description, unit="epoch",
                         file=sys.stderr, leave=False)

    def on_epoch_end(self, epoch, logs=None):
        self._bar.update(1)
        if logs:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()
                                   if isinstance(v, (int, float))})

    def on_train_end(self, logs=None):
        self._bar.close()


def keras_verbosity(verbose):
    """Map an estimator's ``verbose`` to Keras' own: only 2+ shows batch bars."""
    return 1 if verbose >= 2 else 0
