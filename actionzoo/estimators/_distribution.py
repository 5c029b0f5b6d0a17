"""``tf.distribute`` training for the Keras-backed estimators.

Every Keras-backed estimator takes two hyper-parameters handled here:

``distribution``
    ``None`` (the default: one process, TensorFlow's default device
    placement), a name, ``"mirrored"`` (``tf.distribute.MirroredStrategy``:
    every GPU of this host) or ``"multi_worker_mirrored"``
    (``tf.distribute.MultiWorkerMirroredStrategy``: one process per host,
    the cluster described by the ``TF_CONFIG`` environment variable), or a
    ``tf.distribute.Strategy`` object. A name creates its strategy on the
    first fit and reuses it in the process afterwards (a
    ``MultiWorkerMirroredStrategy`` can be created once per process).

``checkpoint_dir``
    A directory for ``keras.callbacks.BackupAndRestore``: the training state
    (weights, optimizer, epoch) is saved there at the end of every epoch, and
    a fit started again after an interruption resumes from the last saved
    epoch. Under a multi-worker strategy each worker keeps its own
    sub-directory ``worker-<index>``, so the directory may be shared or
    local. The backup is deleted when a fit completes.

Strategy objects are process-local resources (devices, gRPC servers): they
are not deep-copied by ``sklearn.base.clone`` (the clone shares the object)
and are never pickled: pickling stores their name (``"mirrored"``,
``"multi_worker_mirrored"``; ``None`` for other strategies), so a fitted
estimator unpickles on any machine, and its fitted state (the Keras model
saved as bytes) is the same whichever strategy trained it.

``batch_size`` stays the global batch: each of the ``R`` replicas computes
the gradient of ``batch_size / R`` samples of every step.

Two defects of Keras 3.8's TensorFlow trainer under
``MultiWorkerMirroredStrategy`` are worked around by giving the trained model
its own step functions (``actionzoo.estimators._training``); the two-worker
test in ``tests/estimators/test_distributed.py`` fails if they come back.
"""
import copy
import os
import threading

import keras
import numpy as np
import tensorflow as tf

STRATEGIES = {
    "mirrored": tf.distribute.MirroredStrategy,
    "multi_worker_mirrored": tf.distribute.MultiWorkerMirroredStrategy,
}
# Strategies created from a name, one per name and process.
_created = {}
_created_lock = threading.Lock()


def resolve_strategy(distribution):
    """The ``tf.distribute.Strategy`` for a ``distribution`` parameter (or None)."""
    if distribution is None or isinstance(distribution, tf.distribute.Strategy):
        return distribution
    if isinstance(distribution, str) and distribution in STRATEGIES:
        with _created_lock:
            if distribution not in _created:
                _created[distribution] = STRATEGIES[distribution]()
            return _created[distribution]
    raise ValueError(f"distribution must be None, one of {sorted(STRATEGIES)} or a "
                     f"tf.distribute.Strategy, got {distribution!r}")


def strategy_name(distribution):
    """What a ``distribution`` parameter pickles as: its name, or None."""
    if distribution is None or isinstance(distribution, str):
        return distribution
    # MultiWorkerMirroredStrategy is not a MirroredStrategy subclass.
    for name, cls in STRATEGIES.items():
        if isinstance(distribution, cls):
            return name
    return None


def num_workers(strategy):
    """Workers (processes) taking part in ``strategy``'s training."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 1
    spec = resolver.cluster_spec()
    jobs = spec.as_dict() if spec is not None else {}
    return max(1, sum(len(tasks) for tasks in jobs.values()))


def worker_index(strategy):
    """This process's task index under a multi-worker strategy (0 otherwise)."""
    if num_workers(strategy) == 1:
        return 0
    return int(strategy.cluster_resolver.task_id or 0)


def backup_callback(checkpoint_dir, strategy):
    """``BackupAndRestore`` into ``checkpoint_dir`` (``worker-<i>`` per worker)."""
    path = os.fspath(checkpoint_dir)
    if num_workers(strategy) > 1:
        path = os.path.join(path, f"worker-{worker_index(strategy)}")
    return keras.callbacks.BackupAndRestore(path)


def sharded_dataset(batches):
    """``batches`` (a ``keras.utils.PyDataset`` or a batched ``tf.data``
    dataset) as a ``tf.data`` dataset that a strategy shards by data.

    Every worker builds the same batches (same seed) and keeps its part of
    each global batch (``AutoShardPolicy.DATA``): nothing is assumed about
    files, so arrays, generators and video lists all shard alike.
    """
    if isinstance(batches, tf.data.Dataset):
        ds = batches
    elif isinstance(batches, keras.utils.PyDataset):
        # The signature from a copy, so the draws of the fit are untouched.
        first = copy.deepcopy(batches)[0]
        signature = tf.nest.map_structure(
            lambda a: tf.TensorSpec((None,) + np.shape(a)[1:], tf.as_dtype(np.asarray(a).dtype)),
            tuple(first))

        def generate():
            for i in range(len(batches)):
                yield tuple(batches[i])
            batches.on_epoch_end()

        ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(batches)))
    else:
        raise TypeError(f"cannot distribute training data of type {type(batches).__name__}")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def average_non_trainable(model, strategy):
    """Average the float non-trainable variables (BatchNorm moving statistics)
    over the workers, so every worker ends with the same model.

    The trainable weights are kept equal by the gradient all-reduce, but each
    worker's BatchNorm statistics follow its own data shard. One all-reduce
    of their concatenation replaces them by the mean over workers (the mean
    of the per-shard moving means is the moving mean of the global batches).
    """
    if num_workers(strategy) == 1:
        return
    variables = [v for v in model.non_trainable_variables
                 if keras.backend.standardize_dtype(v.dtype).startswith("float")]
    if not variables:
        return
    flat = tf.concat([tf.reshape(tf.cast(keras.ops.convert_to_tensor(v), tf.float32), [-1])
                      for v in variables], axis=0)
    mean = strategy.reduce("MEAN", strategy.run(lambda: tf.identity(flat)), axis=None)
    start = 0
    for v in variables:
        size = int(np.prod(v.shape))
        v.assign(tf.cast(tf.reshape(mean[start:start + size], v.shape), v.dtype))
        start += size
