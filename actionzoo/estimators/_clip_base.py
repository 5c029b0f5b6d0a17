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
centred (``temporal_center``): the estimator's
:class:`~actionzoo.weights.Preprocessing` (``_preprocessing()``) describes
the test views and the normalisation, as a registry entry's does.
"""
import math
import os
from numbers import Integral, Real
from types import SimpleNamespace

import keras
import numpy as np
import tensorflow as tf
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from actionzoo._sklearn_compat import Interval, Options, StrOptions
from actionzoo.data import (
    ClipLoader,
    DenseClipSampler,
    ResizeShortSide,
    SkipLog,
    eval_transform,
    make_dataset,
    train_transform,
)
from actionzoo.estimators._base import KerasClassifierBase, softmax
from actionzoo.estimators._batches import ArrayBatches
from actionzoo.estimators._pretrained import PretrainedWeightsMixin
from actionzoo.estimators._video_files import check_readable, readable_videos
from actionzoo.weights.preprocessing import Preprocessing

PIXEL_MEAN = 0.45
PIXEL_STD = 0.225


def clip_preprocessing(temporal_center=False, pixel_mean=(PIXEL_MEAN,) * 3,
                       pixel_std=(PIXEL_STD,) * 3, **views):
    """The :class:`~actionzoo.weights.Preprocessing` of clip-estimator input.

    ``(x / 255 - pixel_mean) / pixel_std`` (CorrelationNet and STCNet:
    0.45 and 0.225); with ``temporal_center`` each pixel's mean over the clip
    is subtracted first and the mean offset is not (a static background
    vanishes and what moves remains, like TSN's RGB difference). ``views``
    are the sampling fields (``clip_length``, ``stride``, ``input_size``...).
    """
    mean = (0.0,) * 3 if temporal_center else tuple(pixel_mean)
    return Preprocessing(**{"clip_length": 1, **views}, mean=mean, std=tuple(pixel_std),
                         temporal_center=temporal_center)


def normalize_pixels(clips, temporal_center=False):
    """uint8 clips ``(..., T, H, W, 3)`` -> float32 input of :func:`clip_preprocessing`.

    NumPy arrays stay NumPy arrays; tensors stay tensors.
    """
    return clip_preprocessing(temporal_center).normalize(clips)


class _ArrayVideo:
    """One row ``(T, H, W, 3)`` of a 5-D array, read like an open video file."""

    def __init__(self, frames, name):
        self.frames = frames
        self.path = name
        self.info = SimpleNamespace(num_frames=len(frames), fps=25.0)

    def read(self, indices, *, short_side=None):
        clip = self.frames[np.asarray(indices)]
        return clip if short_side is None else ResizeShortSide(short_side)(clip, None)


class ClipClassifierBase(PretrainedWeightsMixin, ClassNamePrefixFeaturesOutMixin,
                         TransformerMixin, KerasClassifierBase):
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
    _pixel_mean = (PIXEL_MEAN,) * 3
    _pixel_std = (PIXEL_STD,) * 3

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
        return self._preprocessing().loader()

    def _preprocessing(self):
        """The :class:`~actionzoo.weights.Preprocessing` of these hyper-parameters.

        Test views from ``test_clips``/``test_crops``, normalisation from
        ``temporal_center`` and the weights' pixel statistics.
        """
        mean, std = self._pixel_statistics()
        return clip_preprocessing(
            self.temporal_center, mean, std,
            clip_length=self.clip_length, stride=self.frame_stride, input_size=self.crop_size,
            short_side=self.short_side, num_clips=self.test_clips, crops=int(self.test_crops))

    def _training_batches(self, inputs, y, sample_weight, seed, *, shuffle=True):
        loader = self._train_loader(augment=shuffle)
        if inputs.ndim == 5:
            def make(idx, rng):
                seeds = rng.integers(2**31 - 1, size=len(idx))
                clips = np.stack([loader.load(_ArrayVideo(inputs[i], f"X[{i}]"), int(s))["rgb"]
                                  for i, s in zip(idx, seeds, strict=True)])
                return [self._preprocessing().normalize(clips)]
            return ArrayBatches(make, y, sample_weight, self.batch_size, seed, shuffle=shuffle)

        # Bad files were left out before training: the pipeline records a file
        # that still fails (skip_log) and train_model stops on it.
        log = SkipLog()
        ds = make_dataset(inputs, np.asarray(y, "int64"), loader, batch_size=self.batch_size,
                          shuffle=shuffle, seed=seed, on_error="skip", skip_log=log,
                          num_workers=self.num_workers, return_index=sample_weight is not None)
        ds = ds.apply(tf.data.experimental.assert_cardinality(
            math.ceil(len(inputs) / self.batch_size)))
        normalize = self._preprocessing().normalize
        if sample_weight is None:
            ds = ds.map(lambda x, label: (normalize(x), label))
        else:
            weights = tf.constant(sample_weight, tf.float32)
            ds = ds.map(lambda x, label: (normalize(x["rgb"]), label,
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
        return self._build_with_weights(lambda: self._build_backbone(n_classes))

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    # ------------------------------------------------------------ inference
    def _view_outputs(self, model, X):
        """``model`` on every test view of every video: ``(n, views, d)``."""
        check_is_fitted(self)
        self._validate_params()
        inputs = self._check_X(X, reset=False)
        loader = self._test_loader()
        normalize = self._preprocessing().normalize
        views = loader.num_views
        per_batch = max(1, self.batch_size // views)

        def run(clips):
            clips = np.asarray(clips).reshape((-1,) + tuple(model.input_shape[1:]))
            # an eager call: no tf.function retraced per fitted model
            out = model(normalize(clips), training=False)
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
            ds = make_dataset(inputs, None, loader, batch_size=per_batch, on_error="skip",
                              skip_log=log, num_workers=self.num_workers)
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


