"""The one training function of every Keras-backed estimator.

:func:`train_model` runs ``model.fit`` on prepared batches, always traced
(``tf.function``), and leaves the process as it found it:

* the random state of Python, NumPy and TensorFlow is seeded for the fit and
  restored afterwards (:func:`seeded`);
* no ``keras.backend.clear_session``: the user's other models stay as they
  are; the memory a fit's traced graphs hold is released when the model is
  released (see :func:`released_traces`);
* a non-finite loss stops the fit with an error naming the epoch and step
  (:class:`FiniteLossGuard`); :func:`check_finite` does the same for outputs;
* after a fit too short for the BatchNormalization moving averages to forget
  their initial values, the statistics are recomputed from training batches
  (:mod:`actionzoo.estimators._batch_norm_statistics`; not under a
  ``tf.distribute`` strategy, whose statistics stay Keras' averages);
* under a ``tf.distribute`` strategy the data is sharded, and under a
  multi-worker strategy the model gets its own step functions
  (:func:`_multi_worker_steps`) instead of patched Keras internals.
"""
import contextlib
import os
import random

import keras
import numpy as np
import tensorflow as tf

from actionzoo.estimators._batch_norm_statistics import (
    recalibrate_batch_norm,
    statistics_are_stale,
    trainable_batch_norms,
)
from actionzoo.estimators._distribution import (
    average_non_trainable,
    backup_callback,
    num_workers,
    sharded_dataset,
)


class NonFiniteError(FloatingPointError):
    """A loss or a model output is NaN or infinite."""


@contextlib.contextmanager
def seeded(seed):
    """Seed Python, NumPy and TensorFlow with ``seed``; restore their state on exit.

    Keras initialisers and dropout draw their seeds from Python's ``random``,
    TensorFlow ops without a seed from the global seed: both are seeded here,
    and the caller's generators continue afterwards exactly where they were
    (what ``keras.utils.set_random_seed`` alone would lose).
    """
    from tensorflow.python.eager import context
    from tensorflow.python.framework import ops

    python_state = random.getstate()
    numpy_state = np.random.get_state()
    ctx = context.context()
    tf_seed, tf_rng = ctx._seed, getattr(ctx, "_rng", None)  # _rng: set with a seed
    tf_rng_state = None if tf_rng is None else tf_rng.getstate()
    graph = ops.get_default_graph()
    graph_seed = graph.seed
    keras.utils.set_random_seed(int(seed))
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        ctx._seed = tf_seed
        if tf_rng is None:
            ctx.__dict__.pop("_rng", None)
        else:
            tf_rng.setstate(tf_rng_state)
            ctx._rng = tf_rng
        graph.seed = graph_seed


# TensorFlow registers a gradient function in its process-wide gradient
# registry every time a `tf.custom_gradient` function is traced, and never
# removes it (tensorflow/tensorflow#27492, still open as #80895 and #97697 for
# TF 2.18-2.19). Keras' optimizer traces one in every train step
# (`ReplicaContext.all_reduce` wraps the gradients in a custom gradient), and
# the registered closure holds the traced FuncGraph: every fit leaked its whole
# train graph (benchmarks/fit_memory.py, "before" rows). The entries a fit
# registered for graphs it traced are removed when the fit ends (their
# gradients were taken while tracing). Applied up to the version below; a
# later TensorFlow must be re-checked with that benchmark before the bound is
# raised.
_CUSTOM_GRADIENT_LEAK = tuple(int(p) for p in tf.__version__.split(".")[:2]) <= (2, 19)


@contextlib.contextmanager
def released_traces():
    """Drop the custom-gradient registry entries traced in this block."""
    if not _CUSTOM_GRADIENT_LEAK:
        yield
        return
    from tensorflow.python.framework import ops

    registry = ops._gradient_registry._registry
    before = set(registry)
    try:
        yield
    finally:
        for name in [n for n in list(registry) if n not in before]:
            if name.startswith("CustomGradient-") and _traced_in_function(registry[name]):
                registry.pop(name, None)


def _traced_in_function(entry):
    """Whether a gradient-registry entry's closure holds tensors of a FuncGraph
    (a finished trace), not of a graph a user builds by hand."""
    from tensorflow.python.framework.func_graph import FuncGraph

    pending = [entry.get("type")]
    seen = set()
    while pending:
        fn = pending.pop()
        if id(fn) in seen or fn is None:
            continue
        seen.add(id(fn))
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if callable(value) and hasattr(value, "__closure__"):
                pending.append(value)
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(getattr(item, "graph", None), FuncGraph):
                    return True
    return False


class BadFileGuard(keras.callbacks.Callback):
    """Stop training at the first video file that failed to decode mid-epoch.

    The training pipeline runs with ``on_error="skip"`` into ``skip_log``
    (so TensorFlow never raises for it); this raises one short ``ValueError``
    naming the file at the end of the step during which it was recorded.
    """

    # Keras runs async-safe batch hooks in a thread while the next steps run
    # (no sync per step); what they raise surfaces at the next step or epoch end.
    async_safe = True

    def __init__(self, owner, skip_log):
        super().__init__()
        self.owner = owner
        self.skip_log = skip_log

    def check(self):
        if len(self.skip_log):
            item = self.skip_log.items[0]
            reason = item.error.removeprefix(f"{item.path}: ")
            raise ValueError(f"{self.owner}: bad video file {item.path!r}, found during "
                             f"training: {reason}")

    def on_train_batch_end(self, batch, logs=None):
        self.check()

    def on_train_end(self, logs=None):
        self.check()


class FiniteLossGuard(keras.callbacks.Callback):
    """Stop training at the first step whose loss is NaN or infinite.

    Raises :class:`NonFiniteError` naming the epoch (1-based) and the step
    within it, with the usual remedy.
    """

    async_safe = True  # see BadFileGuard; the epoch is set before any step of it

    def __init__(self, owner):
        super().__init__()
        self.owner = owner
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise NonFiniteError(
                f"{self.owner}: the training loss became {float(loss)} at epoch "
                f"{self._epoch + 1}, step {batch + 1}; the weights diverged. Lower the "
                f"learning_rate (or use a warm-up), or check the inputs for NaN/inf")


def check_finite(values, owner):
    """``values`` unchanged if every entry is finite; else :class:`NonFiniteError`."""
    values = np.asarray(values)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.unique(np.nonzero(bad.reshape(len(values), -1))[0])
        raise NonFiniteError(
            f"{owner}: the fitted model's outputs are NaN or infinite for {len(rows)} of "
            f"{len(values)} samples (first: {rows[:5].tolist()}); its weights or "
            f"statistics diverged in training: refit with a lower learning_rate")
    return values


def train_model(model, data, *, owner, epochs, callbacks=(), verbose=0, validation_data=None,
                strategy=None, checkpoint_path=None, **fit_kwargs):
    """``model.fit(data, ...)``, traced, guarded and without side effects.

    Call it inside :func:`seeded` (with the model's building) for a
    repeatable fit.

    Parameters
    ----------
    model : keras.Model
        Compiled (under ``strategy``'s scope when there is one).
    data : keras.utils.PyDataset, tf.data.Dataset or array
        The training batches (arrays take ``fit_kwargs`` such as ``y``). A
        video dataset with a ``skip_log`` (``on_error="skip"``) stops the fit
        with a ``ValueError`` naming the first file recorded there.
    owner : str
        Named in errors (the estimator's class name).
    epochs : int
    callbacks : sequence of keras.callbacks.Callback
    verbose : int
        Keras' own verbosity.
    validation_data : optional
        Batches evaluated at every epoch end.
    strategy : tf.distribute.Strategy or None
    checkpoint_path : str or None
        ``BackupAndRestore`` directory: an interrupted fit resumes there.

    Returns
    -------
    dict
        The Keras history: ``{metric: [value per epoch]}`` as floats.

    Notes
    -----
    When some trainable BatchNormalization layer's moving averages still hold
    more than 1% of their initial values (``momentum ** steps > 0.01`` for the
    optimizer's total step count: fewer than 44 steps at momentum 0.9), the
    model's inference output would run on statistics of the initial weights;
    they are then recomputed from up to 64 training batches
    (:func:`~actionzoo.estimators._batch_norm_statistics.recalibrate_batch_norm`,
    one forward pass each, drawn under the caller's seed). A longer fit keeps
    the statistics Keras trained, as does a fit under ``strategy`` (each
    replica sees only its shard there).
    """
    callbacks = [FiniteLossGuard(owner), *callbacks]
    skip_log = getattr(data, "skip_log", None)  # a video pipeline's record of bad files
    files = None if skip_log is None else BadFileGuard(owner, skip_log)
    if files is not None:
        callbacks.insert(0, files)
    if checkpoint_path is not None:
        callbacks.insert(0, backup_callback(os.fspath(checkpoint_path), strategy))
    if strategy is not None:
        data = sharded_dataset(data)
        if validation_data is not None:
            validation_data = sharded_dataset(validation_data)
        if num_workers(strategy) > 1:
            _multi_worker_steps(model, strategy, data.element_spec)
    with released_traces():
        try:
            history = model.fit(data, validation_data=validation_data, callbacks=callbacks,
                                epochs=epochs, verbose=verbose, **fit_kwargs)
        except tf.errors.OpError:
            if files is not None:
                files.check()  # the pipeline ended short because a file failed
            raise
        if strategy is None and statistics_are_stale(trainable_batch_norms(model),
                                                     int(model.optimizer.iterations)):
            recalibrate_batch_norm(model, data)
    if strategy is not None:
        average_non_trainable(model, strategy)
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def _multi_worker_steps(model, strategy, element_spec):
    """Step functions of ``model`` that work under a multi-worker strategy.

    Keras 3.8's TensorFlow trainer fails there twice: it builds the model
    state from a first batch reduced with ``strategy.reduce("MEAN", (x, y),
    axis=None)`` (which fails on a tuple of ``PerReplica`` values), and it
    reduces the scalar step logs (loss, metrics) with ``axis=0``. This model
    is built from the dataset's ``element_spec`` and gets its own train and
    test functions that average scalars over replicas. Only this model's
    attributes change; Keras' modules stay untouched.
    """
    with strategy.scope():
        model._symbolic_build(data_batch=element_spec)

    def skip_rebuild(iterator=None, data_batch=None):
        return None

    model._maybe_symbolic_build = skip_rebuild
    model.train_function = _replica_mean_function(model.train_step, strategy)
    model.test_function = _replica_mean_function(model.test_step, strategy)


def _replica_mean_function(step, strategy):
    def mean(value):
        if not (isinstance(value, tf.distribute.DistributedValues) or tf.is_tensor(value)):
            return value
        local = strategy.experimental_local_results(value)[0]
        return strategy.reduce("MEAN", value, axis=None if local.shape.rank == 0 else 0)

    @tf.function(reduce_retracing=True)
    def one_step(data):
        return tf.nest.map_structure(mean, strategy.run(step, args=(data,)))

    def function(iterator):
        return one_step(next(iterator))
    return function
