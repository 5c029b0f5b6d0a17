"""One worker of the two-worker ``MultiWorkerMirroredStrategy`` tests.

Run as a script with ``TF_CONFIG`` set (see ``test_distributed.py``)::

    python distributed_worker.py OUT_DIR CHECKPOINT_DIR EPOCHS EXIT_AFTER_EPOCH

It fits a tiny CorrelationNet on a fixed random uint8 clip array with
``distribution="multi_worker_mirrored"`` and ``checkpoint_dir``, appends
every epoch it actually runs to ``OUT_DIR/epochs-<index>.txt``, and, when
``EXIT_AFTER_EPOCH >= 0``, dies (``os._exit``) at the end of that epoch,
after the epoch's backup is written. A completed fit writes the final
weights (``weights-<index>.npz``), the history, the predictions on X and
the pickled estimator.
"""
import json
import os
import pickle
import sys

import keras
import numpy as np

from actionzoo import CorrelationNet


def task_index():
    return int(json.loads(os.environ["TF_CONFIG"])["task"]["index"])


class EpochLog(keras.callbacks.Callback):
    def __init__(self, path, exit_after):
        super().__init__()
        self.path = path
        self.exit_after = exit_after

    def on_epoch_end(self, epoch, logs=None):
        with open(self.path, "a") as f:
            f.write(f"{epoch}\n")
        if epoch == self.exit_after:
            os._exit(3)  # a worker killed mid-fit


def tiny_clips():
    """A fixed 8-video uint8 array (n, T, H, W, 3) and labels."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(8, 5, 36, 36, 3), dtype=np.uint8)
    return X, np.array([0, 1] * 4)


def tiny_corrnet(**params):
    # The R2D variant: this tiny CorrNet's inference outputs are NaN after these
    # three epochs, even in one process (now refused by predict_proba); the
    # distribution mechanics under test do not depend on the blocks.
    return CorrelationNet(variant="r2d", width=0.125, group_size=8, kernel_size=3, dilation=1,
                          clip_length=4,
                          crop_size=32, short_side=36, test_clips=1, lr_schedule="constant",
                          learning_rate=0.01, batch_size=4, random_state=0, **params)


def main(out_dir, checkpoint_dir, epochs, exit_after):
    index = task_index()
    X, y = tiny_clips()
    clf = tiny_corrnet(epochs=epochs, distribution="multi_worker_mirrored",
                       checkpoint_dir=checkpoint_dir,
                       callbacks=[EpochLog(os.path.join(out_dir, f"epochs-{index}.txt"),
                                           exit_after)])
    clf.fit(X, y)
    np.savez(os.path.join(out_dir, f"weights-{index}.npz"), *clf.model_.get_weights())
    np.save(os.path.join(out_dir, f"proba-{index}.npy"), clf.predict_proba(X))
    with open(os.path.join(out_dir, f"history-{index}.json"), "w") as f:
        json.dump(clf.history_, f)
    clf.set_params(callbacks=None)  # EpochLog lives in this script's __main__
    with open(os.path.join(out_dir, f"model-{index}.pkl"), "wb") as f:
        pickle.dump(clf, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
