"""MultiStreamGRU: spatial, optical-flow and audio recurrent video embeddings (Tkachenko)."""
import os
from numbers import Integral, Real

import keras
import numpy as np
from sklearn.base import TransformerMixin, clone
from sklearn.svm import LinearSVC
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted

from actionzoo._sklearn_compat import HasMethods, Interval, StrOptions
from actionzoo.data import AdaptiveSampler, VideoReader, read_sampled
from actionzoo.estimators._base import KerasClassifierBase, softmax
from actionzoo.estimators._batches import ArrayBatches, slice_inputs
from actionzoo.estimators._stream_features import (
    FeatureStore,
    StreamExtractor,
    build_backbone,
    check_video_paths,
    motion_profile,
    preprocess_for,
    progress,
)
from actionzoo.estimators._video_files import check_readable, readable_videos
from actionzoo.estimators.stfn import plateau_schedule
from actionzoo.models import sequence_classifier

STREAM_KINDS = {"spatial": "rgb", "temporal": "flow", "audio": "audio"}


def pad_sequences(sequences, dim):
    """Variable-length ``(T_i, dim)`` sequences -> zero-padded ``(n, max T, dim)``
    (zeros at the end are masked by the sequence model)."""
    length = max(len(s) for s in sequences)
    out = np.zeros((len(sequences), length, dim), np.float32)
    for i, seq in enumerate(sequences):
        out[i, :len(seq)] = seq
    return out


def _fusion_fitted(estimator):
    return estimator.fusion is not None


class MultiStreamGRU(TransformerMixin, KerasClassifierBase):
    """Multi-stream recurrent video embeddings with an SVM fusion (Tkachenko).

    Implements the multistream architecture of Tkachenko, "Human action
    recognition using fusion of modern deep convolutional and recurrent
    neural networks" (Sec. III-V). From each video (its first ``max_seconds``; paper 36 s):

    - ``"spatial"``: frames chosen by motion-adaptive sampling (each of
      ``adaptive_segments`` segments gets a share of the ``max_length``
      frames proportional to its mean optical-flow magnitude, Sec. IV-F)
      through a 2-D image backbone (InceptionResNetV2, 1536-d, Sec. IV-A);
    - ``"temporal"``: the stacks of ``flow_length`` optical flows centred on
      the same frames through the motion CNN (Sec. IV-C) or another backbone;
    - ``"audio"``: VGGish embeddings of the soundtrack's 0.96 s log-mel
      examples (Sec. IV-D). A video without an audio track is normal (about
      half of UCF101): its audio stream is the embedding of silence.

    Each stream's sequence trains its own recurrent classifier
    (:func:`actionzoo.models.sequence_classifier`: by default two stacked
    bidirectional GRU(512) with dropout 0.5, Sec. IV-E and Table I) with the
    paper's optimizer (SGD with Nesterov momentum, learning rate 1e-2 divided
    by 10 when the loss has not improved for 5 epochs, down to 1e-6, with
    early stopping). ``transform`` returns the concatenated per-stream video
    embeddings (1024-d each by default) and ``fusion`` -- a linear SVM by
    default -- classifies them. With ``fusion=None`` there is no
    ``predict``; the estimator is then an embedding transformer for a
    :class:`~sklearn.pipeline.Pipeline` (e.g. ``StandardScaler`` then
    ``LinearSVC``) or a :class:`~sklearn.pipeline.FeatureUnion` of
    single-stream models.

    The backbones are fixed feature extractors; the paper trains the motion
    CNN on flow beforehand (pass the trained model or its weights file).

    Parameters
    ----------
    streams : tuple of {"spatial", "temporal", "audio"}, default=all three
    spatial_backbone : str or keras.Model, default="InceptionResNetV2"
        ``keras.applications`` name or any Keras image model.
    spatial_weights : {"imagenet", None} or path, default="imagenet"
        ImageNet weights through Keras' download path and cache; offline and
        uncached this raises :class:`actionzoo.models.WeightsUnavailableError`
        naming the file to place (never random weights in silence). None:
        random weights seeded by ``random_state``.
    temporal_backbone : str or keras.Model, default="motion_cnn"
        ``"motion_cnn"`` (the paper's, 2048-d), a ``keras.applications``
        name, or any Keras model on ``2 * flow_length`` channels.
    temporal_weights : None or path, default=None
        A ``.weights.h5`` of a trained motion CNN (``"imagenet"`` for a named
        application). None: random weights seeded by ``random_state``.
    audio_backbone : "vggish" or keras.Model, default="vggish"
        VGGish or any Keras model on ``(96, 64)`` log-mel examples.
    audio_weights : None or path, default=None
        The AudioSet ``vggish_model.ckpt`` prefix, its conversion by
        ``actionzoo weights convert-vggish`` (``.weights.h5``) or an ``.npz``.
        None: random weights seeded by ``random_state``.
    frame_size : int, default=224
        Square side of frames and flow for the image backbones.
    flow_length : int, default=10
    flow_method : {"auto", "tvl1", "farneback"}, default="auto"
    max_length : int, default=180
        Sequence length limit (paper: 180).
    max_seconds : float, default=36.0
        Only the first ``max_seconds`` of each video are used (paper: 36).
    adaptive_segments : int, default=8
        Segments of the adaptive sampler.
    rnn : {"gru", "lstm", "bigru", "bilstm"}, default="bigru"
    units : int, default=512
    layers : int, default=2
    dropout : float, default=0.5
    attention : bool, default=False
        Self-attention over the input sequence (Table I "+ attention").
    fusion : classifier or None, default=LinearSVC()
        Fit (a clone) on the concatenated training embeddings.
    optimizer : str or keras Optimizer class, default="sgd"
    learning_rate : float or schedule, default=1e-2
    optimizer_kwargs : dict or None, default=None
        None: the paper's Nesterov momentum 0.9.
    epochs : int, default=100
    batch_size : int, default=32
    callbacks : list or None, default=None
        None: the paper's schedule (``ReduceLROnPlateau`` factor 0.1,
        patience 5, floor 1e-6, and ``EarlyStopping`` patience 10 restoring
        the best weights, on ``val_loss`` when ``validation_fraction`` is set,
        else on the training loss).
    validation_fraction, class_weight, warm_start, random_state, verbose
        See :class:`actionzoo.estimators._base.KerasClassifierBase`; they
        apply to every stream's recurrent model.
    distribution, checkpoint_dir : default=None
        Training under a ``tf.distribute`` strategy (several GPUs or hosts)
        and epoch backups to resume from (``checkpoint_dir/<stream>``); see
        ``docs/distributed.md`` and
        :class:`actionzoo.estimators._base.KerasEstimatorMixin`.
    cache_dir : path or None, default=None
        On-disk cache of per-stream features and flow, keyed by file content
        and configuration (strongly recommended: without it the flow is
        computed twice per video).
    feature_batch_size : int, default=32
        Frames per backbone call.
    on_error : {"raise", "skip"}, default="raise"
        Unreadable video files in ``fit``, all found before any feature is
        extracted: ``"raise"`` stops with one ``ValueError`` listing them;
        ``"skip"`` leaves them out with a warning (``skipped_``).
        ``transform`` and prediction always raise.

    Attributes
    ----------
    classes_ : ndarray
    backbones_ : dict of keras.Model
        Feature model per stream.
    feature_dims_ : dict of int
        Feature width per stream.
    models_ : dict of keras.Model
        Recurrent classifier per stream (logits; layer ``"embedding"``).
    histories_ : dict of dict
        Per-stream training history.
    skipped_ : list of (str, str)
        ``(path, reason)`` of the files left out under ``on_error="skip"``.
    embedding_dims_ : dict of int
        Embedding width per stream, in ``transform`` column order.
    fusion_ : classifier
        The fitted fusion (absent with ``fusion=None``).

    Examples
    --------
    >>> import keras
    >>> from actionzoo import MultiStreamGRU
    >>> frames = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3)])
    >>> model = MultiStreamGRU(streams=("spatial",), spatial_backbone=frames,
    ...                        spatial_weights=None, frame_size=32, units=8, epochs=5)
    >>> model.fit(train_paths, train_labels).score(test_paths, test_labels)  # doctest: +SKIP
    """

    _parameter_constraints = {
        **KerasClassifierBase._parameter_constraints,
        "streams": [tuple, list],
        "spatial_backbone": [str, keras.Model],
        "spatial_weights": [str, os.PathLike, None],
        "temporal_backbone": [str, keras.Model],
        "temporal_weights": [str, os.PathLike, None],
        "audio_backbone": [str, keras.Model],
        "audio_weights": [str, os.PathLike, None],
        "frame_size": [Interval(Integral, 8, None, closed="left")],
        "flow_length": [Interval(Integral, 1, None, closed="left")],
        "flow_method": [StrOptions({"auto", "tvl1", "farneback"})],
        "max_length": [Interval(Integral, 1, None, closed="left")],
        "max_seconds": [Interval(Real, 0, None, closed="neither")],
        "adaptive_segments": [Interval(Integral, 1, None, closed="left")],
        "rnn": [StrOptions({"gru", "lstm", "bigru", "bilstm"})],
        "units": [Interval(Integral, 1, None, closed="left")],
        "layers": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "attention": ["boolean"],
        "fusion": [HasMethods(["fit", "predict"]), None],
        "cache_dir": [str, os.PathLike, None],
        "feature_batch_size": [Interval(Integral, 1, None, closed="left")],
        "on_error": [StrOptions({"raise", "skip"})],
    }
    _default_optimizer_kwargs = {"sgd": {"momentum": 0.9, "nesterov": True}}
    _keras_attributes = ("model_", "models_", "backbones_")
    _min_learning_rate = 1e-6
    _plateau_patience = 5
    _early_stopping_patience = 10

    def __init__(self, streams=("spatial", "temporal", "audio"),
                 spatial_backbone="InceptionResNetV2", spatial_weights="imagenet",
                 temporal_backbone="motion_cnn", temporal_weights=None,
                 audio_backbone="vggish", audio_weights=None, frame_size=224, flow_length=10,
                 flow_method="auto", max_length=180, max_seconds=36.0, adaptive_segments=8,
                 rnn="bigru", units=512, layers=2, dropout=0.5, attention=False,
                 # A default instance is safe here: fit clones `fusion` before fitting it,
                 # so the shared default is never changed; it shows in get_params.
                 fusion=LinearSVC(), optimizer="sgd", learning_rate=1e-2,  # noqa: B008
                 optimizer_kwargs=None, epochs=100, batch_size=32, callbacks=None,
                 validation_fraction=None, class_weight=None, warm_start=False,
                 random_state=None, verbose=0, cache_dir=None, feature_batch_size=32,
                 distribution=None, checkpoint_dir=None, on_error="raise"):
        self.streams = streams
        self.spatial_backbone = spatial_backbone
        self.spatial_weights = spatial_weights
        self.temporal_backbone = temporal_backbone
        self.temporal_weights = temporal_weights
        self.audio_backbone = audio_backbone
        self.audio_weights = audio_weights
        self.frame_size = frame_size
        self.flow_length = flow_length
        self.flow_method = flow_method
        self.max_length = max_length
        self.max_seconds = max_seconds
        self.adaptive_segments = adaptive_segments
        self.rnn = rnn
        self.units = units
        self.layers = layers
        self.dropout = dropout
        self.attention = attention
        self.fusion = fusion
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.optimizer_kwargs = optimizer_kwargs
        self.epochs = epochs
        self.batch_size = batch_size
        self.callbacks = callbacks
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.cache_dir = cache_dir
        self.feature_batch_size = feature_batch_size
        self.distribution = distribution
        self.checkpoint_dir = checkpoint_dir
        self.on_error = on_error

    # ------------------------------------------------------------ features
    def _check_streams(self):
        streams = tuple(self.streams)
        unknown = [s for s in streams if s not in STREAM_KINDS]
        if not streams or unknown or len(set(streams)) != len(streams):
            raise ValueError(f"streams must be distinct names from {tuple(STREAM_KINDS)}, "
                             f"got {self.streams!r}")
        return streams

    def _build_backbones(self, seed):
        self.backbones_, self.backbone_ids_ = {}, {}
        for i, stream in enumerate(self._check_streams()):
            spec = getattr(self, f"{stream}_backbone")
            weights = getattr(self, f"{stream}_weights")
            self.backbones_[stream], self.backbone_ids_[stream] = build_backbone(
                STREAM_KINDS[stream], spec, weights, self.frame_size, self.flow_length,
                seed + i)
        self.feature_dims_ = {s: int(m.outputs[0].shape[-1]) for s, m in self.backbones_.items()}

    def _sampled_frames(self, reader, flow_cache):
        """Adaptively sampled frame indices within the first ``max_seconds``."""
        info = reader.info
        n = max(1, min(info.num_frames, int(np.floor(self.max_seconds * info.fps))))
        motion = (motion_profile(reader.path, frame_size=self.frame_size,
                                 flow_method=self.flow_method, flow_cache=flow_cache)[:n]
                  if info.num_frames > 1 else np.zeros(1))
        sampler = AdaptiveSampler(min(self.max_length, n), min(self.adaptive_segments, n),
                                  mode="test")
        return sampler.sample(n, motion=motion)[0]

    def _sequences(self, paths):
        """Per stream, the list of ``(T_i, d)`` feature sequences of ``paths``."""
        streams = self._check_streams()
        extractors = {s: StreamExtractor(
            STREAM_KINDS[s], self.backbones_[s],
            preprocess_for(STREAM_KINDS[s], getattr(self, f"{s}_backbone")),
            self.backbone_ids_[s], frame_size=self.frame_size, flow_length=self.flow_length,
            flow_method=self.flow_method, cache_dir=self.cache_dir,
            batch_size=self.feature_batch_size) for s in streams}
        flow_cache = FeatureStore(self.cache_dir).flow_cache
        out = {s: [] for s in streams}
        frame_streams = [s for s in streams if s != "audio"]

        def frame_features(path):
            with VideoReader(path) as reader:
                return read_sampled(
                    reader, lambda: self._sampled_frames(reader, flow_cache),
                    lambda frames: {s: extractors[s].frame_features(path, frames)
                                    for s in frame_streams})[1]

        for path in progress(paths, self.verbose, f"{type(self).__name__} features"):
            if frame_streams:
                features = frame_features(path)
                for s in frame_streams:
                    out[s].append(features[s])
            if "audio" in streams:
                out["audio"].append(extractors["audio"].audio_features(path, self.max_seconds))
        return out

    # ----------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Extract the stream features, train one recurrent model per stream,
        then the fusion classifier on the concatenated embeddings.

        Parameters
        ----------
        X : sequence of str or path-like
            Video files.
        y : array-like of shape (n,)
            Labels (any hashable).
        sample_weight : array-like of shape (n,), default=None
            Weights of every stream's cross-entropy (and of the fusion fit,
            when it accepts them).

        Returns
        -------
        self : MultiStreamGRU
        """
        self._fit(X, y, sample_weight)
        return self

    def fit_transform(self, X, y=None, sample_weight=None):
        """``fit`` then the training videos' embeddings, extracting the stream
        features once.

        Returns
        -------
        ndarray of shape (n, sum(embedding_dims_.values()))
        """
        return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        """Fit; return the training embeddings."""
        self._validate_params()
        paths = check_video_paths(self, X)
        y_enc = self._encode_labels(y, len(paths), reset=True)
        weights = self._fit_sample_weight(y_enc, sample_weight, len(paths))
        keep, self.skipped_ = readable_videos(type(self).__name__, paths, self.on_error)
        paths, y_enc = paths[keep], y_enc[keep]
        weights = None if weights is None else weights[keep]
        seed = self._seed()
        previous = getattr(self, "models_", None) if self.warm_start else None
        if previous is None or set(previous) != set(self._check_streams()):
            previous = None
            self._build_backbones(seed)
        sequences = self._sequences(paths)
        models, histories = {}, {}
        for stream in self._check_streams():
            models[stream], histories[stream] = self._train_classifier(
                pad_sequences(sequences[stream], self.feature_dims_[stream]), y_enc, weights,
                seed, checkpoint_name=stream,  # checkpoint_dir/<stream>
                previous=None if previous is None else (previous[stream],
                                                        self.histories_[stream]))
        self.models_, self.histories_ = models, histories
        self.embedding_dims_ = {s: int(m.get_layer("embedding").output.shape[-1])
                                for s, m in models.items()}
        embeddings = self._embed_sequences(sequences)
        if self.fusion is not None:
            self.fusion_ = clone(self.fusion)
            # fitted on class indices: its columns are those of classes_, whatever
            # the labels' types
            if sample_weight is not None:
                self.fusion_.fit(embeddings, y_enc,
                                 sample_weight=np.asarray(sample_weight)[keep])
            else:
                self.fusion_.fit(embeddings, y_enc)
        elif hasattr(self, "fusion_"):
            del self.fusion_
        return embeddings

    def _check_X(self, X, *, reset):
        return np.asarray(X, np.float32)

    def _build_model(self, inputs, n_classes):
        return sequence_classifier(inputs.shape[-1], n_classes, rnn=self.rnn, units=self.units,
                                   layers=self.layers, dropout=self.dropout,
                                   attention=self.attention)

    def _training_batches(self, inputs, y, sample_weight, seed, *, shuffle=True):
        return ArrayBatches(slice_inputs([inputs]), y, sample_weight, self.batch_size, seed,
                            shuffle=shuffle)

    def _default_callbacks(self, has_validation):
        monitor = "val_loss" if has_validation else "loss"
        return plateau_schedule(has_validation, self._min_learning_rate,
                                self._plateau_patience) + [
            keras.callbacks.EarlyStopping(monitor=monitor, patience=self._early_stopping_patience,
                                          restore_best_weights=True)]

    # ----------------------------------------------------------- inference
    def _embed_sequences(self, sequences):
        parts = []
        for stream, model in self.models_.items():
            embed = keras.Model(model.inputs[0], model.get_layer("embedding").output)
            parts.append(self._run_model(
                embed, pad_sequences(sequences[stream], self.feature_dims_[stream])))
        return np.concatenate(parts, axis=1)

    def transform(self, X):
        """Concatenated per-stream video embeddings, in ``streams`` order.

        Parameters
        ----------
        X : sequence of str or path-like

        Returns
        -------
        ndarray of shape (n, sum(embedding_dims_.values()))
        """
        check_is_fitted(self, "models_")
        paths = check_video_paths(self, X)
        check_readable(type(self).__name__, paths)
        return self._embed_sequences(self._sequences(paths))

    @available_if(_fusion_fitted)
    def decision_function(self, X):
        """The fusion classifier's decision scores on the embeddings."""
        check_is_fitted(self, "fusion_")
        return self.fusion_.decision_function(self.transform(X))

    @available_if(_fusion_fitted)
    def predict_proba(self, X):
        """Class probabilities: the fusion's own, else the softmax of its
        decision scores (normalised scores, not calibrated probabilities)."""
        check_is_fitted(self, "fusion_")
        embeddings = self.transform(X)
        if hasattr(self.fusion_, "predict_proba"):
            return self.fusion_.predict_proba(embeddings)
        scores = self.fusion_.decision_function(embeddings)
        if scores.ndim == 1:
            scores = np.column_stack([-scores, scores])
        return softmax(scores)

    @available_if(_fusion_fitted)
    def predict(self, X):
        """Labels from ``classes_`` (the argmax of ``predict_proba``)."""
        return super().predict(X)

    @available_if(_fusion_fitted)
    def score(self, X, y, sample_weight=None):
        """Accuracy of ``predict``."""
        return super().score(X, y, sample_weight=sample_weight)
