"""TwoStreamFeatures: video files -> STFN's appearance and motion feature sequences."""
import os
from numbers import Integral

import keras
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from actionzoo._sklearn_compat import Interval, StrOptions
from actionzoo.data import SegmentSampler, VideoReader, read_sampled
from actionzoo.estimators._serialization import deserialize_models, serialize_models
from actionzoo.estimators._stream_features import (
    StreamExtractor,
    build_backbone,
    check_video_paths,
    preprocess_for,
    progress,
)
from actionzoo.estimators._video_files import check_readable, readable_videos

STREAMS = {"appearance": "rgb", "motion": "flow"}


class TwoStreamFeatures(TransformerMixin, BaseEstimator):
    """Per-segment appearance and motion CNN features of videos (STFN's input).

    Cho & Foroosh, Sec. 4.2: each video is divided into ``n_segments``
    equal segments; a frame is taken from each -- at random in training
    (``fit_transform``), the segment centre at test time (``transform``) --
    and two 2-D backbones with their classifier removed give global-pooled
    features: the appearance network on the RGB frame, the motion network
    on the stack of ``flow_length`` optical flows centred on it (x, y
    interleaved: 20 channels for 10 flows). The result
    ``(n_videos, 2, n_segments, d)`` is what :class:`actionzoo.STFN` takes,
    so ``Pipeline([("features", TwoStreamFeatures()), ("stfn", STFN())])``
    runs from video files.

    The backbones are fixed feature extractors (the paper's first training
    step); fine-tuning them end to end is not part of this transformer.

    Parameters
    ----------
    n_segments : int, default=5
        Segments N per video (paper: 5; Table 4 best 7).
    appearance_backbone, motion_backbone : str or keras.Model, default="InceptionV3"
        A ``keras.applications`` name (paper: InceptionV3 or ResNet101, both
        2048-d) or any Keras model (RGB input of ``frame_size`` for
        appearance, ``2 * flow_length`` channels for motion; 4-D outputs are
        global-average pooled). Both streams must give the same width d
        (STFN fuses them element-wise).
    backbone_weights : {"imagenet", None} or path, default="imagenet"
        Weights of the named backbones: ImageNet through Keras' download path
        and cache (the motion network gets the RGB first-layer kernel
        averaged over channels and replicated, TSN's cross-modality
        initialisation); offline and uncached this raises
        :class:`actionzoo.models.WeightsUnavailableError` naming the file to
        place -- never random weights in silence. ``None``: random weights
        seeded by ``random_state`` (tests). Applies to named backbones only:
        a Keras model brings its own weights.
    frame_size : int, default=224
        Frames and flow are resized (short side) and centre-cropped to this
        square.
    flow_length : int, default=10
        Flows per motion stack.
    test_views : int, default=1
        Sequences per video in ``transform``: 1 takes each segment's centre
        frame; the paper's test protocol takes 5 uniformly spaced frames per
        segment, making 5 sequences whose scores are averaged --
        ``transform`` then returns ``(n_videos, test_views, 2, n_segments,
        d)``, which :class:`actionzoo.STFN` averages over in prediction.
    flow_method : {"auto", "tvl1", "farneback"}, default="auto"
        TV-L1 (the paper's) when opencv-contrib is installed, else Farneback.
    cache_dir : path or None, default=None
        Directory of the on-disk feature and flow cache (keyed by file
        content and configuration). None: no caching.
    batch_size : int, default=32
        Frames per backbone call.
    random_state : int, RandomState or None, default=None
        Seeds the training-time segment draws and random backbone weights.
    verbose : int, default=0
        1: a progress bar over videos.
    on_error : {"raise", "skip"}, default="raise"
        Unreadable video files in ``fit`` (every file's header and first
        frame are read first): ``"raise"`` stops with one ``ValueError``
        listing them all; ``"skip"`` leaves them out with one warning and
        records them in ``skipped_``. ``fit`` computes nothing from the
        videos (the backbones are fixed), so under ``"skip"`` ``skipped_``
        is the probe's result, for filtering the inputs before
        ``transform``. ``transform`` (and so ``fit_transform``) always
        raises one ``ValueError`` listing every unreadable file: a
        transformer returns one row per input, and leaving rows out would
        misalign them with ``y`` in a :class:`~sklearn.pipeline.Pipeline`.
        Filter the files first with :func:`actionzoo.data.probe.probe_videos`
        or the ``skipped_`` list.

    Attributes
    ----------
    backbones_ : dict of keras.Model
        ``"appearance"`` and ``"motion"`` feature models.
    backbone_ids_ : dict
        What the feature cache records about each backbone.
    feature_dim_ : int
        Width d of both streams' features.
    segment_seed_ : int
        Seed of the training-time segment draws.
    skipped_ : list of (str, str)
        ``(path, reason)`` of the unreadable files ``fit`` found under
        ``on_error="skip"`` (empty under ``"raise"``).

    Examples
    --------
    >>> import keras
    >>> from actionzoo import TwoStreamFeatures
    >>> def tiny(channels):
    ...     return keras.Sequential([keras.Input((32, 32, channels)),
    ...                              keras.layers.Conv2D(8, 3, activation="relu")])
    >>> features = TwoStreamFeatures(n_segments=3, appearance_backbone=tiny(3),
    ...                              motion_backbone=tiny(20), backbone_weights=None,
    ...                              frame_size=32)
    >>> features.fit_transform(video_paths).shape  # doctest: +SKIP
    (24, 2, 3, 8)
    """

    _parameter_constraints = {
        "n_segments": [Interval(Integral, 1, None, closed="left")],
        "appearance_backbone": [str, keras.Model],
        "motion_backbone": [str, keras.Model],
        "backbone_weights": [StrOptions({"imagenet"}), str, os.PathLike, None],
        "frame_size": [Interval(Integral, 8, None, closed="left")],
        "flow_length": [Interval(Integral, 1, None, closed="left")],
        "test_views": [Interval(Integral, 1, None, closed="left")],
        "flow_method": [StrOptions({"auto", "tvl1", "farneback"})],
        "cache_dir": [str, os.PathLike, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "on_error": [StrOptions({"raise", "skip"})],
    }

    def __init__(self, n_segments=5, appearance_backbone="InceptionV3",
                 motion_backbone="InceptionV3", backbone_weights="imagenet", frame_size=224,
                 flow_length=10, test_views=1, flow_method="auto", cache_dir=None, batch_size=32,
                 random_state=None, verbose=0, on_error="raise"):
        self.n_segments = n_segments
        self.appearance_backbone = appearance_backbone
        self.motion_backbone = motion_backbone
        self.backbone_weights = backbone_weights
        self.frame_size = frame_size
        self.flow_length = flow_length
        self.test_views = test_views
        self.flow_method = flow_method
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.on_error = on_error

    def fit(self, X, y=None):
        """Build the two backbones (no training: they are fixed extractors).

        Parameters
        ----------
        X : sequence of str or path-like
            Video files: every file is opened first; under
            ``on_error="raise"`` one ``ValueError`` lists all that cannot be
            read, under ``"skip"`` they are listed in ``skipped_`` (nothing
            else in ``fit`` depends on the videos).
        y : ignored

        Returns
        -------
        self : TwoStreamFeatures
        """
        self._validate_params()
        _, self.skipped_ = readable_videos(type(self).__name__, check_video_paths(self, X),
                                           self.on_error)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        self.backbones_, self.backbone_ids_ = {}, {}
        for i, (stream, kind) in enumerate(STREAMS.items()):
            spec = getattr(self, f"{stream}_backbone")
            weights = None if isinstance(spec, keras.Model) else self.backbone_weights
            self.backbones_[stream], self.backbone_ids_[stream] = build_backbone(
                kind, spec, weights, self.frame_size, self.flow_length, seed + i)
        dims = {s: int(m.outputs[0].shape[-1]) for s, m in self.backbones_.items()}
        if dims["appearance"] != dims["motion"]:
            raise ValueError(f"appearance features are {dims['appearance']} wide but motion "
                             f"features {dims['motion']}: STFN fuses them element-wise, so "
                             f"choose backbones of equal output width")
        self.feature_dim_ = dims["appearance"]
        self.segment_seed_ = seed
        return self

    def fit_transform(self, X, y=None):
        """Fit, then features of a random frame per segment (training sampling).

        The features need every video: unreadable files raise one
        ``ValueError`` as in ``transform``, whatever ``on_error``.

        Returns
        -------
        ndarray of shape (n_videos, 2, n_segments, d)
        """
        self.fit(X, y)
        if self.skipped_:  # fit probed every file: only then is one unreadable
            check_readable(type(self).__name__, check_video_paths(self, X))
        return self._features(X, mode="train", probed=True)

    def transform(self, X):
        """Features of the test sampling: each segment's centre frame, or
        ``test_views`` uniformly spaced frames per segment.

        Every file is opened first and one ``ValueError`` lists all that
        cannot be read, whatever ``on_error``: the output has one row per
        input (a :class:`~sklearn.pipeline.Pipeline`'s ``y`` stays aligned),
        so filter the files first (``skipped_`` after a ``fit`` with
        ``on_error="skip"``, or :func:`actionzoo.data.probe.probe_videos`).

        Returns
        -------
        ndarray of shape (n_videos, 2, n_segments, d)
            Or (n_videos, test_views, 2, n_segments, d) when ``test_views > 1``.
        """
        check_is_fitted(self)
        return self._features(X, mode="test")

    def _extractors(self):
        return {stream: StreamExtractor(
            kind, self.backbones_[stream],
            preprocess_for(kind, getattr(self, f"{stream}_backbone")), self.backbone_ids_[stream],
            frame_size=self.frame_size, flow_length=self.flow_length,
            flow_method=self.flow_method, cache_dir=self.cache_dir, batch_size=self.batch_size)
            for stream, kind in STREAMS.items()}

    def _features(self, X, mode, probed=False):
        paths = check_video_paths(self, X)
        if not probed:
            check_readable(type(self).__name__, paths)
        sampler = SegmentSampler(self.n_segments, mode=mode, test_views=self.test_views)
        rng = np.random.default_rng(self.segment_seed_)
        extractors = self._extractors()
        out = np.empty((len(paths), sampler.num_views, 2, self.n_segments, self.feature_dim_),
                       np.float32)

        def sampled_features(path):
            """(num_views, n_segments) frame indices and each stream's features."""
            with VideoReader(path) as reader:
                return read_sampled(
                    reader, lambda: sampler.sample(reader.info.num_frames, rng),
                    lambda views: [extractors[stream].frame_features(path, views.ravel())
                                   for stream in STREAMS])

        for i, path in enumerate(progress(paths, self.verbose, type(self).__name__)):
            views, features = sampled_features(path)
            for j, stream_features in enumerate(features):
                out[i, :, j] = stream_features.reshape(views.shape + (-1,))
        return out[:, 0] if sampler.num_views == 1 else out

    def __getstate__(self):
        state = dict(super().__getstate__())
        if "backbones_" in state:
            state["backbones_"] = serialize_models(state["backbones_"])
        return state

    def __setstate__(self, state):
        if "backbones_" in state:
            state["backbones_"] = deserialize_models(state["backbones_"])
        super().__setstate__(state)
