"""Shared scikit-learn machinery of every actionzoo estimator.

``ClassifierBase``
    label encoding of any hashable labels into ``classes_``, ``predict`` from
    ``predict_proba``, accuracy ``score`` that refuses labels never seen in
    ``fit``.
``KerasEstimatorMixin``
    Keras machinery for any estimator: optimizer building and
    ``optimizer__<name>`` routing, seeds, the distribution strategy, eager
    batched inference with a finiteness check, pickling with models saved as
    bytes. Training itself is :func:`actionzoo.estimators._training.train_model`.
``KerasClassifierBase``
    the classifier fit: parameter validation, labels, sample and class
    weights, the validation split, then :meth:`_train_classifier` (build,
    compile and train one model inside a seeded context), ``warm_start``.

Classifier subclasses implement three hooks: ``_check_X`` (validate and
convert X), ``_build_model`` (the Keras graph, logits out) and
``_training_batches`` (what ``fit`` iterates); ``_default_callbacks`` gives
a paper's schedule when ``callbacks=None``. Inference is theirs to write
with ``_run_model``.
"""
import contextlib
import copy
import math
import os
from numbers import Integral, Real

import keras
import numpy as np
import tensorflow as tf
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d

from actionzoo._sklearn_compat import HasMethods, Interval, StrOptions
from actionzoo.estimators._distribution import (
    STRATEGIES,
    num_workers,
    resolve_strategy,
    strategy_name,
)
from actionzoo.estimators._progress import EpochProgressBar, keras_verbosity
from actionzoo.estimators._serialization import deserialize_models, serialize_models
from actionzoo.estimators._training import check_finite, seeded, train_model

OPTIMIZERS = {
    "sgd": keras.optimizers.SGD,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "rmsprop": keras.optimizers.RMSprop,
    "nadam": keras.optimizers.Nadam,
}


def softmax(logits):
    """Row-wise softmax in float64 (rows sum to 1 to machine precision)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ClassifierBase(ClassifierMixin, BaseEstimator):
    """Label handling shared by every actionzoo classifier."""

    def _encode_labels(self, y, n_samples, *, reset):
        """Check ``y`` against ``n_samples`` and return it as indices into
        ``classes_`` (which is set when ``reset``)."""
        name = type(self).__name__
        if y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None")
        y = column_or_1d(_as_label_array(y), warn=True)
        if len(y) != n_samples:
            raise ValueError(f"X has {n_samples} samples but y has {len(y)}")
        if n_samples < 2:
            raise ValueError(f"{name} needs at least 2 samples to fit; got 1 sample")
        if not reset:
            return self._label_indices(y).astype("int32")
        self.classes_, encoded = _encode_any_labels(y)
        if len(self.classes_) < 2:
            raise ValueError(f"{name} needs samples of at least 2 classes; "
                             f"y has 1 class: {self.classes_.tolist()}")
        return encoded.astype("int32")

    def _label_indices(self, y):
        """Positions in ``classes_`` of the labels ``y``; unseen labels are an error."""
        index = {label: i for i, label in enumerate(self.classes_.tolist())}
        labels = np.asarray(y, dtype=object).tolist() if np.ndim(y) else [y]
        unseen = [label for label in dict.fromkeys(labels) if label not in index]
        if unseen:
            raise ValueError(
                f"y contains labels not seen in fit: {unseen[:10]}; "
                f"known classes are {self.classes_.tolist()[:20]}")
        return np.array([index[label] for label in labels], dtype=np.intp)

    def predict(self, X):
        """Predict class labels (elements of ``classes_``) for ``X``."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy of ``predict(X)`` against ``y``.

        Raises ``ValueError`` when ``y`` holds labels the estimator was not
        fitted on: it can never predict them, so the accuracy would silently
        count them as errors.
        """
        check_is_fitted(self)
        truth = self._label_indices(column_or_1d(_as_label_array(y)))
        # compared as class indices: labels of mixed types are fine
        predicted = np.argmax(self.predict_proba(X), axis=1)
        return accuracy_score(truth, predicted, sample_weight=sample_weight)


def _as_label_array(y):
    """``y`` as an array that keeps each label's type: a list mixing ints and
    strings (or holding None or tuples) becomes a 1-D object array, not
    NumPy's strings ``'1'`` or a 2-D array of tuples."""
    if isinstance(y, np.ndarray) or not hasattr(y, "__iter__") or isinstance(y, (str, bytes)):
        return y
    values = list(y)
    kinds = {type(v) for v in values}
    if len(kinds) > 1 or tuple in kinds:
        labels = np.empty(len(values), dtype=object)
        labels[:] = values
        return labels
    return np.asarray(values)


def _encode_any_labels(y):
    """``(classes_, indices)`` for labels of any hashable type.

    Numbers, strings and booleans of one kind are sorted as
    ``numpy.unique`` sorts them; a mix (say ints and strings, or ``None``)
    is ordered by type name, then by value within a type. Continuous float
    targets are refused as scikit-learn refuses them, and so are NaN labels
    and unhashable ones (lists, arrays).
    """
    if y.dtype != object:
        check_classification_targets(y)
        return np.unique(y, return_inverse=True)
    labels = y.tolist()
    for label in labels:
        try:
            hash(label)
        except TypeError:
            raise ValueError(f"labels must be hashable (numbers, strings, tuples, None); "
                             f"got {type(label).__name__} {label!r}") from None
        if isinstance(label, float) and label != label:
            raise ValueError("y contains NaN, which cannot be a class label")
    by_type = {}
    for label in dict.fromkeys(labels):
        by_type.setdefault(type(label).__name__, []).append(label)
    ordered = []
    for kind in sorted(by_type):
        try:
            ordered.extend(sorted(by_type[kind]))
        except TypeError:  # values of one type that do not compare: first-seen order
            ordered.extend(by_type[kind])
    classes = np.empty(len(ordered), dtype=object)
    classes[:] = ordered
    index = {label: i for i, label in enumerate(ordered)}
    return classes, np.array([index[label] for label in labels], dtype=np.intp)


class KerasEstimatorMixin:
    """Keras machinery shared by every Keras-backed estimator, classifier or not.

    Hyper-parameters it relies on (stored by the subclass ``__init__``):

    optimizer : {"sgd", "adam", "adamw", "rmsprop", "nadam"} or Optimizer class
    learning_rate : float or ``keras.optimizers.schedules.LearningRateSchedule``
    optimizer_kwargs : dict or None
        Extra optimizer arguments; also settable as ``optimizer__<name>``
        (``set_params(optimizer__momentum=0.95)``, grid-searchable). ``None``
        means the estimator's paper defaults (``_default_optimizer_kwargs``).
    epochs, batch_size : int
    random_state : int, RandomState or None
        Seeds every random draw of the fit (initial weights, dropout, batch
        order, augmentation); equal seeds give equal predictions. The global
        random state of Python, NumPy and TensorFlow is restored after the
        fit.
    verbose : int
        0 silent, 1 a progress bar over epochs, 2 Keras' per-batch bars.
    distribution : None, "mirrored", "multi_worker_mirrored" or tf.distribute.Strategy
        Train under a ``tf.distribute`` strategy: model building, compile
        and the (per-worker sharded) training data run under its scope;
        ``batch_size`` is the global batch. A multi-worker strategy needs
        an int ``random_state`` (every worker must draw the same batches).
        See :mod:`actionzoo.estimators._distribution` and
        ``docs/distributed.md``.
    checkpoint_dir : str, path-like or None
        Back up the training state there at every epoch end
        (``keras.callbacks.BackupAndRestore``); a fit interrupted and started
        again resumes from the last saved epoch.
    """

    _keras_parameter_constraints = {
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "learning_rate": [Interval(Real, 0, None, closed="neither"),
                          HasMethods(["__call__", "get_config"])],
        "optimizer_kwargs": [dict, None],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "distribution": [StrOptions(set(STRATEGIES)), tf.distribute.Strategy, None],
        "checkpoint_dir": [str, os.PathLike, None],
    }

    # Paper defaults for optimizer arguments, per optimizer name.
    _default_optimizer_kwargs = {}
    # Attributes holding Keras models (or dicts of models) when fitted.
    _keras_attributes = ("model_",)
    # Inference batch size floor: prediction is cheap per sample.
    _min_inference_batch_size = 256

    # ----------------------------------------------------------- parameters
    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        if deep and isinstance(self.optimizer_kwargs, dict):
            for key, value in self.optimizer_kwargs.items():
                params[f"optimizer__{key}"] = value
        return params

    def set_params(self, **params):
        routed = {k.split("__", 1)[1]: params.pop(k)
                  for k in list(params) if k.startswith("optimizer__")}
        if routed:
            # A new dict: the caller's optimizer_kwargs object is never mutated.
            self.optimizer_kwargs = {**(self.optimizer_kwargs or {}), **routed}
        return super().set_params(**params) if params else self

    def __sklearn_clone__(self):
        # A strategy object holds devices and servers of this process: the
        # clone shares it instead of deep-copying it.
        from sklearn.base import _clone_parametrized
        strategy = getattr(self, "distribution", None)
        if not isinstance(strategy, tf.distribute.Strategy):
            return _clone_parametrized(self)
        proxy = object.__new__(type(self))
        proxy.__dict__.update(self.__dict__)
        proxy.distribution = None
        clone = _clone_parametrized(proxy)
        clone.distribution = strategy
        return clone

    # ------------------------------------------------------- distribution
    def _training_strategy(self):
        """The strategy of this fit (None: no ``tf.distribute``)."""
        strategy = resolve_strategy(getattr(self, "distribution", None))
        if num_workers(strategy) > 1 and not isinstance(self.random_state, Integral):
            raise ValueError(
                f"distribution={self.distribution!r} trains on {num_workers(strategy)} "
                f"workers, which must all draw the same batches: pass an int "
                f"random_state (got {self.random_state!r})")
        return strategy

    @staticmethod
    def _strategy_scope(strategy):
        return contextlib.nullcontext() if strategy is None else strategy.scope()

    # ----------------------------------------------------------- building
    def _make_optimizer(self, steps_per_epoch=None):
        """The optimizer of a fit of ``steps_per_epoch`` steps per epoch (a
        subclass may build a learning-rate schedule from it)."""
        return self._optimizer_with(copy.deepcopy(self.learning_rate))

    def _optimizer_with(self, learning_rate):
        """The configured optimizer class and arguments at ``learning_rate``."""
        cls = OPTIMIZERS[self.optimizer] if isinstance(self.optimizer, str) else self.optimizer
        if not (isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)):
            raise TypeError(f"optimizer must be one of {sorted(OPTIMIZERS)} or a "
                            f"keras.optimizers.Optimizer subclass, got {self.optimizer!r}")
        defaults = self._default_optimizer_kwargs.get(self.optimizer, {})
        kwargs = {**defaults, **(self.optimizer_kwargs or {})}
        try:
            return cls(learning_rate=learning_rate, **kwargs)
        except (TypeError, ValueError) as err:
            raise ValueError(f"optimizer_kwargs {kwargs} are not accepted by "
                             f"{cls.__name__}: {err}") from err

    def _seed(self):
        """An int seed drawn from ``random_state`` (None: a fresh one)."""
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _checkpoint_path(self, name=""):
        """``checkpoint_dir/name`` (one directory per trained model), or None."""
        if getattr(self, "checkpoint_dir", None) is None:
            return None
        return os.path.join(os.fspath(self.checkpoint_dir), name)

    def _fit_callbacks(self, has_validation):
        """The callbacks of one fit: the user's (copied) or the defaults, and
        the progress bar at ``verbose=1``."""
        user = getattr(self, "callbacks", None)
        callbacks = (self._default_callbacks(has_validation) if user is None
                     else copy.deepcopy(user))
        if self.verbose == 1:
            callbacks.append(EpochProgressBar(self.epochs, type(self).__name__))
        return callbacks

    def _default_callbacks(self, has_validation):
        """Callbacks used when ``callbacks=None`` (a paper's LR schedule); none here."""
        return []

    # ---------------------------------------------------------- inference
    def _inference_batch_size(self):
        return max(self.batch_size, self._min_inference_batch_size)

    def _run_model(self, model, inputs):
        """``model`` on in-memory inputs in eager batches, as a float32 array.

        Eager calls avoid tracing a new ``tf.function`` for every (small)
        fitted model, which ``model.predict`` would do.
        """
        arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        step = self._inference_batch_size()
        outputs = []
        for start in range(0, len(arrays[0]), step):
            batch = [x[start:start + step] for x in arrays]
            out = model(batch if len(batch) > 1 else batch[0], training=False)
            outputs.append(keras.ops.convert_to_numpy(out))
        return self._finite(np.concatenate(outputs, axis=0))

    def _finite(self, outputs):
        """``outputs`` of the fitted model, refused when any is NaN or infinite."""
        return check_finite(outputs, type(self).__name__)

    # ----------------------------------------------------------- pickling
    def __getstate__(self):
        # object.__getstate__ returns __dict__ itself: copy before replacing.
        state = dict(super().__getstate__())
        if "distribution" in state:  # a strategy object pickles as its name
            state["distribution"] = strategy_name(state["distribution"])
        for name in self._keras_attributes:
            if name in state:
                state[name] = serialize_models(state[name])
        return state

    def __setstate__(self, state):
        for name in self._keras_attributes:
            if name in state:
                state[name] = deserialize_models(state[name])
        super().__setstate__(state)


class KerasClassifierBase(KerasEstimatorMixin, ClassifierBase):
    """Base of the Keras-backed classifiers.

    Besides the hyper-parameters of :class:`KerasEstimatorMixin`:

    callbacks : list of ``keras.callbacks.Callback`` or None
        Copied at every fit, so the arguments are never mutated.
    validation_fraction : float or None
        Stratified share of the training data held out as Keras validation
        data (needed by callbacks that monitor ``val_loss``).
    class_weight : dict, "balanced" or None
        Keyed by the original labels; multiplied into ``sample_weight``.
    warm_start : bool
        Continue training the fitted model instead of starting anew.
    """

    _parameter_constraints = {
        **KerasEstimatorMixin._keras_parameter_constraints,
        "callbacks": [list, None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
    }

    # -------------------------------------------------------------- hooks
    def _check_X(self, X, *, reset):  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_model(self, inputs, n_classes):  # pragma: no cover - abstract
        raise NotImplementedError

    def _training_batches(self, inputs, y, sample_weight, seed, *, shuffle=True):
        raise NotImplementedError  # pragma: no cover - abstract

    def _readable_samples(self, inputs):
        """Indices of the samples to train on (None: all of them); a subclass
        reading files drops the unreadable ones here."""
        return None

    def _restarts_schedule(self):
        """Whether a warm-started fit restarts the learning-rate schedule."""
        return False

    def _fit_sample_weight(self, y_enc, sample_weight, n_samples):
        weights = _check_sample_weight(sample_weight, np.empty((n_samples, 0)),
                                       dtype=np.float32, ensure_non_negative=True)
        if self.class_weight is not None:
            class_weight = self.class_weight
            if isinstance(class_weight, dict):  # keyed by label -> keyed by class index
                unknown = [k for k in class_weight if k not in set(self.classes_.tolist())]
                if unknown:
                    raise ValueError(f"class_weight has labels not in y: {unknown[:10]}; "
                                     f"classes are {self.classes_.tolist()[:20]}")
                class_weight = {int(i): class_weight[label]
                                for i, label in enumerate(self.classes_.tolist())
                                if label in class_weight}
            weights = weights * compute_sample_weight(class_weight, y_enc)
        if sample_weight is None and self.class_weight is None:
            return None
        return weights.astype("float32")

    def _split_validation(self, y, seed):
        from sklearn.model_selection import train_test_split
        idx = np.arange(len(y))
        try:
            return train_test_split(idx, test_size=self.validation_fraction,
                                    random_state=seed, stratify=y)
        except ValueError as err:
            raise ValueError(f"validation_fraction={self.validation_fraction} cannot "
                             f"hold out a stratified validation set: {err}") from err

    # --------------------------------------------------------------- fit
    def _fit_keras(self, X, y, sample_weight=None, initialize=None):
        """The shared fit; subclasses' ``fit`` call it and return self."""
        self._validate_params()
        continuing = self.warm_start and hasattr(self, "model_")
        inputs = self._check_X(X, reset=not continuing)
        y_enc = self._encode_labels(y, _num_samples(inputs), reset=not continuing)
        weights = self._fit_sample_weight(y_enc, sample_weight, len(y_enc))
        keep = self._readable_samples(inputs)
        if keep is not None:
            inputs, y_enc = _take(inputs, keep), y_enc[keep]
            weights = None if weights is None else weights[keep]
        previous = (self.model_, self.history_) if continuing else None
        self.model_, self.history_ = self._train_classifier(
            inputs, y_enc, weights, self._seed(), previous=previous, initialize=initialize)
        return self

    def _train_classifier(self, inputs, y_enc, weights, seed, *, previous=None,
                          initialize=None, checkpoint_name=""):
        """Build (or continue ``previous = (model, history)``), compile and
        train one classifier on encoded labels; returns ``(model, history)``.

        Everything random (initial weights, dropout, validation split,
        batch order, augmentation) is drawn inside :func:`seeded` ``(seed)``.
        """
        strategy = self._training_strategy()
        n_samples = len(y_enc)
        train_idx, val_idx = np.arange(n_samples), None
        if self.validation_fraction is not None:
            train_idx, val_idx = self._split_validation(y_enc, seed)
        steps_per_epoch = max(1, math.ceil(len(train_idx) / self.batch_size))
        with seeded(seed):
            if previous is not None:
                model, history = previous[0], {k: list(v) for k, v in previous[1].items()}
                if getattr(model, "_distribute_strategy", None) is not strategy:
                    raise ValueError("warm_start continues the fitted model under the "
                                     "strategy that built it; this fit has another "
                                     "distribution: refit with warm_start=False")
                if self._restarts_schedule():
                    model.optimizer.iterations.assign(0)  # SGDR-style restart
            else:
                history = {}
                with self._strategy_scope(strategy):
                    model = self._build_model(inputs, len(self.classes_))
                    if initialize is not None:
                        initialize(model)
                    model.compile(
                        optimizer=self._make_optimizer(steps_per_epoch),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        weighted_metrics=[], metrics=["accuracy"])
            validation = None
            if val_idx is not None:
                validation = self._training_batches(
                    _take(inputs, val_idx), y_enc[val_idx],
                    None if weights is None else weights[val_idx], seed, shuffle=False)
            batches = self._training_batches(
                _take(inputs, train_idx), y_enc[train_idx],
                None if weights is None else weights[train_idx], seed)
            new = train_model(model, batches, owner=type(self).__name__, epochs=self.epochs,
                              callbacks=self._fit_callbacks(validation is not None),
                              verbose=keras_verbosity(self.verbose),
                              validation_data=validation, strategy=strategy,
                              checkpoint_path=self._checkpoint_path(checkpoint_name))
        for key, values in new.items():
            history.setdefault(key, []).extend(values)
        return model, history


def _num_samples(inputs):
    return len(inputs[0]) if isinstance(inputs, (list, tuple)) else len(inputs)


def _take(inputs, idx):
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(x[idx] for x in inputs)
    return inputs[idx]
