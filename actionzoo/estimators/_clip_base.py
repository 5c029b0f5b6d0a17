"""Clip input machinery shared by the clip estimators (CorrelationNet, STCNet).

X is either a 1-D array of video file paths, streamed through the data
layer (:func:`actionzoo.data.make_dataset`: decoded on demand in parallel
``tf.data`` calls, never loaded whole), or a 5-D ``uint8`` array
``(n, T, H, W, 3)`` of decoded videos. Both go through the same
:class:`~actionzoo.data.ClipLoader` (sampler + transform), so a row of the
array is treated exactly like a decoded file:

* training: one clip of ``clip_length`` frames every ``frame_stride``
  frames at a random start (temporal jittering), short side resized to
  ``short_side``, multi-scale random crop of ``crop_size`` and, with
  ``flip``, a random horizontal flip;
* validation (``validation_fraction``): the centred clip, centre crop;
* prediction: ``test_clips`` clips spread uniformly over the video times
  ``test_crops`` crops (1, 3 or 10); class probabilities (and ``transform``
  embeddings) are averaged over these views.

Pixels enter the network as ``(x / 255 - 0.45) / 0.225``, or temporally
centred (``temporal_center``).
"""
import math
import os
from numbers import Integral, Real
from types import SimpleNamespace

import keras
import numpy as np
import tensorflow as tf
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted

from actionzoo.data import (
    ClipLoader, DenseClipSampler, ResizeShortSide, SkipLog, UniformClipSampler,
    eval_transform, make_dataset, train_transform)
from actionzoo.estimators._base import KerasClassifierBase, softmax
from actionzoo.estimators._batches import ArrayBatches
from actionzoo.estimators._video_files import check_readable, readable_videos

PIXEL_MEAN = 0.45
PIXEL_STD = 0.225


def normalize_pixels(clips, temporal_center=False):
    """uint8 clips ``(..., T, H, W, 3)`` -> float32 network input.

    ``(x / 255 - 0.45) / 0.225``; with ``temporal_center`` each pixel's mean
    over the clip is subtracted first and the mean offset is not (a static
    background vanishes and what moves remains, like TSN's RGB difference;
    the same rule as ``actionzoo.weights.Preprocessing``). NumPy arrays stay
    NumPy arrays; tensors stay tensors.
    """
    numpy = isinstance(clips, np.ndarray)
    x = clips.astype(np.float32) / 255.0 if numpy else tf.cast(clips, tf.float32) / 255.0
    if temporal_center:
        mean = x.mean(axis=-4, keepdims=True) if numpy else tf.reduce_mean(x, -4, keepdims=True)
        return (x - mean) / PIXEL_STD
    return (x - PIXEL_MEAN) / PIXEL_STD


class _ArrayVideo:
    """One row ``(T, H, W, 3)`` of a 5-D array, read like an open video file."""

    def __init__(self, frames, name):
        self.frames = frames
        self.path = name
        self.info = SimpleNamespace(num_frames=len(frames), fps=25.0)

    def read(self, indices, *, short_side=None):
        clip = self.frames[np.asarray(indices)]
        return clip if short_side is None else ResizeShortSide(short_side)(clip, None)


class ClipClassifierBase(ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                         KerasClassifierBase):
    """Clip input, view averaging and the learning-rate schedule of clip nets.

    Subclasses list the clip hyper-parameters below in their ``__init__``
    and implement ``_build_backbone(n_classes)`` (a Keras model from float
    clips ``(clip_length, crop_size, crop_size, 3)`` to logits, with the
    pooled layer named ``"embedding"``).

    Clip hyper-parameters
    ---------------------
    clip_length : int
        Frames per clip ``L``.
    frame_stride : int
        Temporal sampling stride.
    crop_size : int
        Spatial crop (network input size).
    short_side : int
        Frames are resized to this short side before cropping.
    flip : bool
        Random horizontal flips in training (turn off when left/right
        matters, e.g. the demo dataset's ``MoveLeft``/``MoveRight``).
    test_clips, test_crops : int
        Views averaged at prediction: clips uniformly spaced over the video,
        and 1, 3 or 10 crops per clip.
    lr_schedule : {"cosine", "constant"}
        ``"cosine"``: linear warm-up over ``warmup_epochs`` then cosine
        decay to 0 at the last epoch (a warm-started fit restarts it, as in
        SGDR). Ignored when ``learning_rate`` is already a schedule.
    warmup_epochs : float
    temporal_center : bool
        Subtract each pixel's mean over the clip from the input (static
        appearance removed, motion kept); see :func:`normalize_pixels`.
    on_error : {"raise", "skip"}
        Bad video files in ``fit``, all found before the first epoch (every
        file's header and first frame are read): ``"raise"`` stops with one
        ``ValueError`` listing them all; ``"skip"`` leaves them out with one
        warning and records them in ``skipped_`` as ``(path, reason)``. A
        file that still fails to decode during training stops ``fit`` with a
        ``ValueError`` naming it. Prediction always raises (every row needs
        an output).
    num_workers : int or "auto"
        Decoding processes for video-path inputs (``"auto"``: one per usable
        core when there are several; ``0``: threads of this process; ``-1``:
        one per core); see :func:`actionzoo.data.make_dataset`.
    """

    _clip_parameter_constraints = {
        "clip_length": [Interval(Integral, 1, None, closed="left")],
        "frame_stride": [Interval(Integral, 1, None, closed="left")],
        "crop_size": [Interval(Integral, 1, None, closed="left")],
        "short_side": [Interval(Integral, 1, None, closed="left")],
        "flip": ["boolean"],
        "test_clips": [Interval(Integral, 1, None, closed="left")],
        "test_crops": [Options(Integral, {1, 3, 10})],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        "warmup_epochs": [Interval(Real, 0, None, closed="left")],
        "temporal_center": ["boolean"],
        "on_error": [StrOptions({"raise", "skip"})],
        "num_workers": [Interval(Integral, -1, None, closed="left"), StrOptions({"auto"})],
        "weights": [str, os.PathLike, None],
    }
    _parameter_constraints = {**KerasClassifierBase._parameter_constraints,
                              **_clip_parameter_constraints}

    # ------------------------------------------------------------------ X
    def _check_X(self, X, *, reset):
        name = type(self).__name__
        if isinstance(X, (str, bytes, os.PathLike)):
            raise TypeError(f"{name} expects a 1-D array of video paths or a 5-D uint8 "
                            f"array (n, T, H, W, 3), got a single path {X!r}")
        if isinstance(X, (tf.Tensor, tf.data.Dataset)):
            raise TypeError(f"{name} expects numpy input (paths or a 5-D uint8 array), "
                            f"got {type(X).__name__}")
        X = np.asarray(X) if not (isinstance(X, np.ndarray)) else X
        if X.ndim == 1:
            return self._check_paths(X)
        if X.ndim != 5:
            raise ValueError(f"{name} expects a 1-D array of video paths or a 5-D array "
                             f"(n, T, H, W, 3); got an array of shape {X.shape}")
        if X.shape[-1] != 3:
            raise ValueError(f"X must hold RGB frames (last axis 3), got shape {X.shape}")
        if X.dtype != np.uint8:
            raise TypeError(f"X as a 5-D array must be uint8 pixels 0..255, got dtype "
                            f"{X.dtype}")
        if min(X.shape[:4]) < 1:
            raise ValueError(f"X has an empty axis: shape {X.shape}")
        return X

    def _check_paths(self, X):
        if len(X) == 0:
            raise ValueError("X is empty: no video paths")
        paths = np.empty(len(X), dtype=object)
        for i, p in enumerate(X.tolist()):
            if not isinstance(p, (str, os.PathLike)):
                raise TypeError(f"X[{i}] is {type(p).__name__} {p!r}, not a video path")
            paths[i] = os.fspath(p)
        return paths

    def _readable_samples(self, inputs):
        self.skipped_ = []
        if inputs.ndim != 1:
            return None
        keep, self.skipped_ = readable_videos(type(self).__name__, inputs, self.on_error)
        return keep

    # -------------------------------------------------------------- loaders
    def _train_loader(self, *, augment):
        frame = (self.crop_size, self.crop_size)
        if augment:
            return ClipLoader(
                DenseClipSampler(self.clip_length, self.frame_stride, mode="train"),
                train_transform(self.crop_size, self.short_side, flip=self.flip),
                frame_size=frame)
        return ClipLoader(DenseClipSampler(self.clip_length, self.frame_stride, mode="test"),
                          eval_transform(self.crop_size, self.short_side, crops=1),
                          frame_size=frame)

    def _test_loader(self):
        return ClipLoader(
            UniformClipSampler(self.clip_length, self.frame_stride, num_clips=self.test_clips),
            eval_transform(self.crop_size, self.short_side, crops=int(self.test_crops)),
            frame_size=(self.crop_size, self.crop_size))

    def _training_batches(self, inputs, y, sample_weight, seed, *, shuffle=True):
        loader = self._train_loader(augment=shuffle)
        if inputs.ndim == 5:
            def make(idx, rng):
                seeds = rng.integers(2**31 - 1, size=len(idx))
                clips = np.stack([loader.load(_ArrayVideo(inputs[i], f"X[{i}]"), int(s))["rgb"]
                                  for i, s in zip(idx, seeds)])
                return [normalize_pixels(clips, self.temporal_center)]
            return ArrayBatches(make, y, sample_weight, self.batch_size, seed, shuffle=shuffle)

        # Bad files were left out before training: the pipeline records a file
        # that still fails (skip_log) and train_model stops on it.
        log = SkipLog()
        ds = make_dataset(inputs, np.asarray(y, "int64"), loader.sampler, loader.transform,
                          frame_size=loader.frame_size, batch_size=self.batch_size,
                          shuffle=shuffle, seed=seed, on_error="skip", skip_log=log,
                          num_workers=self.num_workers, return_index=sample_weight is not None)
        ds = ds.apply(tf.data.experimental.assert_cardinality(
            math.ceil(len(inputs) / self.batch_size)))
        center = self.temporal_center
        if sample_weight is None:
            ds = ds.map(lambda x, label: (normalize_pixels(x, center), label))
        else:
            weights = tf.constant(sample_weight, tf.float32)
            ds = ds.map(lambda x, label: (normalize_pixels(x["rgb"], center), label,
                                          tf.gather(weights, x["index"])))
        ds.skip_log = log
        return ds

    # ----------------------------------------------------------------- fit
    def _restarts_schedule(self):
        return self.lr_schedule == "cosine" and not callable(self.learning_rate)

    def _make_optimizer(self, steps_per_epoch=None):
        if not self._restarts_schedule():
            return super()._make_optimizer()
        steps = self.epochs * (steps_per_epoch or 1)
        warmup = min(int(round(self.warmup_epochs * (steps_per_epoch or 1))), steps - 1)
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else float(self.learning_rate), decay_steps=max(steps - warmup, 1),
            warmup_target=float(self.learning_rate) if warmup else None, warmup_steps=warmup)
        return self._optimizer_with(schedule)

    def _build_model(self, inputs, n_classes):
        name = registry_name(self.weights)
        info = self._check_pretrained(name) if name is not None else None
        if info is not None:
            from actionzoo import weights as registry

            registry.download(info.name, verbose=self.verbose)  # before the build: errors early
        model = self._build_backbone(n_classes)
        if info is not None:
            load_pretrained_weights(model, info, getattr(self, "classes_", None))
        elif self.weights is not None:
            load_initial_weights(model, self.weights)
        return model

    # ------------------------------------------------------ registry weights
    # Subclasses: the actionzoo.models builder of _build_backbone and the
    # hyper-parameters that fix the weights, as {estimator param: builder kwarg}.
    _builder = None
    _architecture_params = {}
    # Builder kwargs an estimator may set freely: they change no weight shape
    # (the networks pool globally) or are replaced in fine-tuning.
    _free_builder_kwargs = ("num_classes", "input_size", "dropout", "name")

    @classmethod
    def pretrained_params(cls, name):
        """Hyper-parameters matching the registry weights ``name``.

        The architecture (the builder's keyword arguments) and the input
        preprocessing (clip length, stride, crop size, short side, test views,
        temporal centring) of the entry, as keyword arguments of this
        estimator. ``Estimator(**Estimator.pretrained_params(name),
        weights=name, epochs=...)`` fine-tunes from those weights.

        Parameters
        ----------
        name : str
            A name of :func:`actionzoo.weights.list_pretrained`.

        Returns
        -------
        dict

        Raises
        ------
        ValueError
            The weights are of another architecture (builder) or use a
            builder argument this estimator does not expose.

        Examples
        --------
        >>> from actionzoo import CorrelationNet
        >>> params = CorrelationNet.pretrained_params("corrnet26.demo")
        >>> params["width"], params["clip_length"], params["temporal_center"]
        (0.125, 8, True)
        """
        from actionzoo import weights as registry

        try:
            info = registry.pretrained_info(name)
        except registry.UnknownWeightsError as exc:
            raise ValueError(str(exc)) from None
        arch = _pretrained_architecture(cls, info)
        prep = info.preprocessing
        params = {param: arch[kwarg] for param, kwarg in cls._architecture_params.items()}
        params.update(clip_length=prep.clip_length, frame_stride=prep.stride,
                      crop_size=prep.input_size, short_side=prep.short_side,
                      test_clips=prep.num_clips, test_crops=prep.crops,
                      temporal_center=prep.temporal_center)
        return params

    def _check_pretrained(self, name):
        """The registry entry of ``name`` after checking it fits this estimator.

        Raises ``ValueError`` naming every hyper-parameter whose value
        differs from the weights' (architecture, clip length, input
        normalisation); crop size, stride, short side and test views may
        differ (fine-tuning choices; the networks pool globally).
        """
        from actionzoo import weights as registry

        cls = type(self)
        try:
            info = registry.pretrained_info(name)
        except registry.UnknownWeightsError as exc:
            raise ValueError(f"weights={name!r} is neither a file nor a registry name: "
                             f"{exc}") from None
        arch = _pretrained_architecture(cls, info)
        prep = info.preprocessing
        wanted = {param: arch[kwarg] for param, kwarg in cls._architecture_params.items()}
        wanted.update(clip_length=prep.clip_length, temporal_center=prep.temporal_center)
        mine = {param: _plain(value) for param, value in self.get_params(deep=False).items()}
        mismatched = [f"{param}={mine[param]!r} (weights: {value!r})"
                      for param, value in wanted.items() if mine[param] != value]
        if prep.modality != "rgb":
            mismatched.append(f"input modality rgb (weights: {prep.modality!r})")
        mean = (0.0 if prep.temporal_center else PIXEL_MEAN,) * 3
        if not (np.allclose(prep.mean, mean) and np.allclose(prep.std, (PIXEL_STD,) * 3)):
            mismatched.append(f"input mean {mean} std {(PIXEL_STD,) * 3} (weights: mean "
                              f"{tuple(prep.mean)} std {tuple(prep.std)}; this estimator "
                              f"cannot feed that normalisation)")
        if mismatched:
            raise ValueError(
                f"{cls.__name__}(weights={name!r}): the weights do not fit these "
                f"hyper-parameters: {'; '.join(mismatched)}. Use "
                f"{cls.__name__}(**{cls.__name__}.pretrained_params({name!r}), "
                f"weights={name!r}, ...) to take the weights' architecture and input")
        return info

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    # ------------------------------------------------------------ inference
    def _view_outputs(self, model, X):
        """``model`` on every test view of every video: ``(n, views, d)``."""
        check_is_fitted(self)
        self._validate_params()
        inputs = self._check_X(X, reset=False)
        loader = self._test_loader()
        views = loader.num_views
        per_batch = max(1, self.batch_size // views)

        def run(clips):
            clips = np.asarray(clips).reshape((-1,) + tuple(model.input_shape[1:]))
            # an eager call: no tf.function retraced per fitted model
            out = model(normalize_pixels(clips, self.temporal_center), training=False)
            out = keras.ops.convert_to_numpy(out)
            return out.reshape(-1, views, out.shape[-1])

        outputs = []
        if inputs.ndim == 5:
            for start in range(0, len(inputs), per_batch):
                clips = np.stack([loader.load(_ArrayVideo(inputs[i], f"X[{i}]"), 0)["rgb"]
                                  for i in range(start, min(start + per_batch, len(inputs)))])
                outputs.append(run(clips))
        else:
            check_readable(type(self).__name__, inputs)
            log = SkipLog()
            ds = make_dataset(inputs, None, loader.sampler, loader.transform,
                              frame_size=loader.frame_size, batch_size=per_batch,
                              on_error="skip", skip_log=log, num_workers=self.num_workers)
            for clips in ds:
                outputs.append(run(clips))
            if len(log):  # every video needs its row: a file failing now is an error
                item = log.items[0]
                raise ValueError(f"{type(self).__name__}: bad video file {item.path!r}: "
                                 f"{item.error}")
        return np.concatenate(outputs, axis=0)

    def predict_proba(self, X):
        """Class probabilities averaged over the test views; rows sum to 1.

        Parameters
        ----------
        X : array of video paths (n,) or uint8 array (n, T, H, W, 3)

        Returns
        -------
        ndarray of shape (n, n_classes)
        """
        check_is_fitted(self)
        logits = self._finite(self._view_outputs(self.model_, X))
        n, views, c = logits.shape
        proba = softmax(logits.reshape(n * views, c)).reshape(n, views, c).mean(axis=1)
        return proba / proba.sum(axis=1, keepdims=True)

    def transform(self, X):
        """The pooled clip embedding (layer ``"embedding"``) averaged over views.

        Parameters
        ----------
        X : array of video paths (n,) or uint8 array (n, T, H, W, 3)

        Returns
        -------
        ndarray of shape (n, embedding width)
        """
        check_is_fitted(self)
        embed = keras.Model(self.model_.input, self.model_.get_layer("embedding").output)
        return self._finite(self._view_outputs(embed, X)).mean(axis=1)

    @property
    def _n_features_out(self):
        return int(self.model_.get_layer("embedding").output.shape[-1])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = False
        return tags


def registry_name(weights):
    """``weights`` if it names registry weights rather than a file, else ``None``.

    A string without a path separator that does not end in ``.keras`` or
    ``.h5`` is a registry name (``"corrnet26.demo"``); write ``./name`` for a
    file of such a name.
    """
    if not isinstance(weights, str) or os.sep in weights or "/" in weights:
        return None
    return None if weights.endswith((".keras", ".h5")) else weights


def _plain(value):
    """Hyper-parameter value comparable with its JSON form (tuples as lists)."""
    if isinstance(value, tuple):
        return list(value)
    return value


def _pretrained_architecture(cls, info):
    """Builder kwargs of ``info`` with the builder's defaults filled in; checks the builder."""
    import inspect

    from actionzoo import models

    builder = info.architecture["builder"]
    if builder != cls._builder:
        raise ValueError(f"{cls.__name__} cannot use weights {info.name!r}: they are of a "
                         f"{builder!r} model, {cls.__name__} builds {cls._builder!r}")
    defaults = {k: p.default for k, p in
                inspect.signature(getattr(models, builder)).parameters.items()
                if p.default is not inspect.Parameter.empty}
    arch = {**defaults, **info.architecture["kwargs"]}
    arch = {k: _plain(v) for k, v in arch.items()}
    exposed = set(cls._architecture_params.values()) | set(cls._free_builder_kwargs)
    hidden = [f"{k}={v!r}" for k, v in info.architecture["kwargs"].items()
              if k not in exposed and k in defaults and _plain(v) != _plain(defaults[k])]
    if hidden:
        raise ValueError(f"{cls.__name__} cannot use weights {info.name!r}: they were built "
                         f"with {', '.join(hidden)}, which {cls.__name__} does not expose")
    return arch


def load_pretrained_weights(model, info, classes=None):
    """Initialise ``model`` from the registry weights ``info``, for fine-tuning.

    The file is found, downloaded if needed and verified by
    :func:`actionzoo.weights.load_pretrained` (``ACTIONZOO_OFFLINE`` and
    ``ACTIONZOO_WEIGHTS_URL`` apply). All layers are copied by name. The
    classifier (``"logits"``) is kept only when ``classes`` (the
    estimator's ``classes_``) are the weights' class names, its columns
    reordered to ``classes``; otherwise it stays freshly initialised.
    """
    from actionzoo import weights as registry

    source = registry.load_pretrained(info.name)
    logits = model.get_layer("logits")
    initial = logits.get_weights()
    transfer_layer_weights(source, model, skip=("logits",))
    logits.set_weights(initial)
    names = [] if classes is None else [str(c) for c in np.asarray(classes).tolist()]
    if sorted(names) == sorted(info.classes) and len(names) == len(set(names)):
        order = [info.classes.index(c) for c in names]
        kernel, bias = source.get_layer("logits").get_weights()
        logits.set_weights([kernel[:, order], bias[order]])
    return model


def load_initial_weights(model, weights):
    """Initialise ``model`` from a saved model or weights file, for fine-tuning.

    ``.keras`` files: every layer whose name and weight shapes match is
    copied; the classifier (``"logits"``) is skipped when its class count
    differs. Any other layer of ``model`` left without weights is an error
    (the file holds another architecture). ``.weights.h5`` files are loaded
    with Keras' ``load_weights(skip_mismatch=True)``.
    """
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise ValueError(f"weights={path!r} is not a file; pass the path of a .keras "
                         f"model or .weights.h5 file")
    if path.endswith(".weights.h5"):
        model.load_weights(path, skip_mismatch=True)
        return model
    if not path.endswith(".keras"):
        raise ValueError(f"weights={path!r}: expected a .keras or .weights.h5 file")
    source = keras.saving.load_model(path, compile=False)
    transfer_layer_weights(source, model, skip=("logits",))
    return model


def transfer_layer_weights(source, target, skip=()):
    """Copy weights layer by layer (matched by name) from ``source`` to ``target``.

    Layers named in ``skip`` are copied only when their shapes match.
    Raises ``ValueError`` naming the layers of ``target`` with weights that
    found no counterpart.
    """
    by_name = {layer.name: layer for layer in source.layers}
    missing = []
    for layer in target.layers:
        if not layer.weights:
            continue
        src = by_name.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        if src is None or [tuple(w.shape) for w in src.weights] != shapes:
            if layer.name not in skip:
                missing.append(layer.name)
            continue
        layer.set_weights(src.get_weights())
    if missing:
        raise ValueError(f"the weights do not fit this architecture: no matching weights "
                         f"for layers {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    return target
