"""STFN: spatio-temporal fusion network over two feature sequences (Cho & Foroosh)."""
from numbers import Integral, Real

import keras
import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from actionzoo._sklearn_compat import Interval, StrOptions
from actionzoo.estimators._base import KerasClassifierBase, softmax
from actionzoo.estimators._batches import ArrayBatches, slice_inputs
from actionzoo.models import stfn, stfn_embedding_model


def check_two_stream_sequences(estimator, X, *, reset):
    """Validate two-stream sequences; return ``([appearance, motion], n_views)``.

    X is ``(n, 2, n_segments, d)`` or, for prediction only, the multi-view
    form ``(n, n_views, 2, n_segments, d)`` (STFN's test protocol:
    :class:`actionzoo.TwoStreamFeatures` with ``test_views``), flattened to
    ``n * n_views`` sequences, video-major. On ``reset`` (fit) stores
    ``n_segments_`` and ``feature_dim_``; otherwise checks the feature width
    against them (the segment count may differ: the temporal convolutions
    and the average accept any length).
    """
    name = type(estimator).__name__
    if isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
        raise TypeError(f"{name} expects an array of shape (n, 2, n_segments, d), "
                        f"got {type(X).__name__}")
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: X must be numeric (n, 2, n_segments, d): {err}") from err
    if X.ndim == 5 and X.shape[2] == 2 and reset:
        raise ValueError(f"{name}.fit takes one sequence pair per video, (n, 2, n_segments, d); "
                         f"the multi-view form {X.shape} is for prediction (fit on "
                         f"TwoStreamFeatures.fit_transform's training sampling)")
    views = 1
    if X.ndim == 5 and X.shape[2] == 2:
        views = X.shape[1]
        X = X.reshape((-1,) + X.shape[2:])
    if X.ndim != 4 or X.shape[1] != 2:
        raise ValueError(f"{name} expects X of shape (n, 2, n_segments, d) -- appearance "
                         f"and motion feature sequences -- or (n, n_views, 2, n_segments, d) "
                         f"to predict, got shape {X.shape}")
    if X.shape[0] < 1 or X.shape[2] < 1 or X.shape[3] < 1:
        raise ValueError(f"{name}: X of shape {X.shape} is empty")
    bad = ~np.isfinite(X).reshape(len(X) // views, -1).all(axis=1)
    if bad.any():
        raise ValueError(f"{name}: X contains NaN or infinity in sample(s) "
                         f"{np.flatnonzero(bad)[:10].tolist()}")
    if reset:
        estimator.n_segments_ = int(X.shape[2])
        estimator.feature_dim_ = int(X.shape[3])
    elif X.shape[3] != estimator.feature_dim_:
        raise ValueError(f"{name} was fitted on features of width {estimator.feature_dim_}, "
                         f"X has width {X.shape[3]}")
    return [X[:, 0], X[:, 1]], views


def feature_statistics(inputs):
    """Per-stream, per-feature mean and standard deviation over videos and segments.

    ``inputs`` is ``[appearance, motion]``, each ``(n, n_segments, d)``;
    returns two ``(2, d)`` float32 arrays. A (near-)constant feature gets
    scale 1, as in ``sklearn.preprocessing.StandardScaler``.
    """
    flat = [np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1]) for x in inputs]
    mean = np.stack([x.mean(axis=0) for x in flat])
    scale = np.stack([x.std(axis=0) for x in flat])
    constant = scale <= 1e-6 * np.maximum(1.0, np.abs(mean))
    scale[constant] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def _view_mean(values, views):
    """Average video-major ``(n * views, ...)`` rows over each video's views."""
    return values.reshape((-1, views) + values.shape[1:]).mean(axis=1)


def plateau_schedule(has_validation, min_lr, patience):
    """Divide the learning rate by 10 when the (validation) loss stalls."""
    monitor = "val_loss" if has_validation else "loss"
    return [keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.1, patience=patience,
                                              min_lr=min_lr, verbose=0)]


class STFN(TransformerMixin, KerasClassifierBase):
    """Spatio-temporal fusion network over appearance and motion feature sequences.

    Implements Cho & Foroosh, "Spatio-Temporal Fusion Networks for Action
    Recognition" (Eq. 1, Fig. 4, Fig. 5). Each video is a pair of
    per-segment CNN feature sequences ``F^a`` (appearance) and ``F^m``
    (motion); a Residual Inception block of 1-D temporal convolutions
    (kernels 2, 3, 4, 5, d/4 filters each, plus a kernel-2 skip) extracts each
    stream's temporal dynamics, the streams are fused element-wise
    (``fusion``) in the chosen ``direction``, a second block per stream
    follows (``architecture="a"``), and each stream's temporally averaged
    sequence feeds a softmax head; the per-stream scores are summed
    (averaged softmax outputs by default, as Eq. 1). See
    :func:`actionzoo.models.stfn` for the exact graph.

    Parameters
    ----------
    filters : int or None, default=None
        Channels of every Res-Inc block; None = the feature width d (the
        paper). Must be divisible by 4.
    fusion : {"avg", "max", "mul"}, default="avg"
        Element-wise fusion G (paper Eq. 4-6; Table 2: avg best).
    direction : {"bidirectional", "a_to_m", "m_to_a"}, default="bidirectional"
        Which stream(s) receive the fused sequence (Fig. 5, Table 3).
    architecture : {"a", "b", "c"}, default="a"
        Paper Fig. 4a (blocks after fusion), 4b (none), 4c (feature
        concatenation before the blocks; fusion/direction then unused and
        must stay at their defaults).
    n_blocks : int, default=1
        Res-Inc blocks per stream before (and, for "a", after) the fusion.
    dropout : float, default=0.0
        Dropout before each head (the paper states none).
    standardize : bool, default=True
        Standardise each stream's features per feature with the mean and
        standard deviation of the training sequences (``feature_mean_``,
        ``feature_scale_``), applied inside ``model_`` as its first layers,
        like a ``StandardScaler`` fitted in ``fit``. Not in the paper. The
        Res-Inc blocks' batch normalisation predicts with moving statistics
        that start at mean 0, variance 1 and move by 1% per training step:
        on unscaled features (e.g. small, all-positive ReLU outputs of random
        backbones) a fit of a few hundred steps predicts with statistics far
        from the data's, and Fig. 4a's stacked blocks then collapsed to
        chance on the demo data (training-mode accuracy 0.85, prediction
        0.10; 0.58 standardised). ``False``: raw features, as the paper.
    score_fusion : {"softmax", "logits"}, default="softmax"
        Sum of per-stream softmax outputs (Eq. 1) or of raw scores.
    optimizer : str or keras Optimizer class, default="rmsprop"
        Paper Sec. 4.2: RMSProp.
    learning_rate : float or schedule, default=1e-4
        Paper: 1e-4, divided by 10 down to 1e-7 when the (validation) loss
        saturates -- the schedule used when ``callbacks=None``.
    optimizer_kwargs : dict or None, default=None
    epochs : int, default=100
    batch_size : int, default=32
    callbacks : list or None, default=None
        None: the paper's schedule (``ReduceLROnPlateau`` factor 0.1,
        patience 5, floor 1e-7, on ``val_loss`` when ``validation_fraction``
        is set, else on the training loss). ``[]``: a constant rate.
    validation_fraction, class_weight, warm_start, random_state, verbose
        See :class:`actionzoo.estimators._base.KerasClassifierBase`.
    distribution, checkpoint_dir : default=None
        Training under a ``tf.distribute`` strategy (several GPUs or hosts)
        and epoch backups to resume from; see ``docs/distributed.md`` and
        :class:`actionzoo.estimators._base.KerasEstimatorMixin`.

    Attributes
    ----------
    classes_ : ndarray
    n_segments_ : int
        Segments per video seen in fit (other counts are accepted later).
    feature_dim_ : int
        Per-segment feature width d.
    feature_mean_, feature_scale_ : ndarray of shape (2, d) or None
        Per-stream (row 0 appearance, row 1 motion) feature mean and
        standard deviation over the training videos and segments (a
        constant feature gets scale 1); None when ``standardize=False``.
    model_ : keras.Model
        Inputs ``[appearance, motion]``, output the fused logits.
    history_ : dict

    Notes
    -----
    X is ``(n, 2, n_segments, d)``: ``X[:, 0]`` appearance, ``X[:, 1]``
    motion features (e.g. from :class:`actionzoo.TwoStreamFeatures`).
    scikit-learn's generic checks feed 2-D tables, which this estimator
    rejects by design; the estimator contract is checked with 4-D data by
    :mod:`actionzoo.estimators.contract_checks`.

    Examples
    --------
    >>> import numpy as np
    >>> from actionzoo import STFN
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=60)
    >>> X = rng.normal(size=(60, 2, 5, 8)).astype("float32")
    >>> X[:, 1, :, :3] += 2 * np.eye(3)[y][:, None, :]
    >>> clf = STFN(optimizer="adam", learning_rate=1e-2, epochs=20, random_state=0)
    >>> clf.fit(X, y).predict_proba(X).shape, clf.transform(X).shape
    ((60, 3), (60, 16))
    >>> clf.score(X, y) > 0.8
    True
    """

    _parameter_constraints = {
        **KerasClassifierBase._parameter_constraints,
        "filters": [Interval(Integral, 4, None, closed="left"), None],
        "fusion": [StrOptions({"avg", "max", "mul"})],
        "direction": [StrOptions({"bidirectional", "a_to_m", "m_to_a"})],
        "architecture": [StrOptions({"a", "b", "c"})],
        "n_blocks": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "standardize": ["boolean"],
        "score_fusion": [StrOptions({"softmax", "logits"})],
    }
    _min_learning_rate = 1e-7
    _plateau_patience = 5

    def __init__(self, filters=None, fusion="avg", direction="bidirectional", architecture="a",
                 n_blocks=1, dropout=0.0, standardize=True, score_fusion="softmax",
                 optimizer="rmsprop",
                 learning_rate=1e-4, optimizer_kwargs=None, epochs=100, batch_size=32,
                 callbacks=None, validation_fraction=None, class_weight=None,
                 warm_start=False, random_state=None, verbose=0,
                 distribution=None, checkpoint_dir=None):
        self.filters = filters
        self.fusion = fusion
        self.direction = direction
        self.architecture = architecture
        self.n_blocks = n_blocks
        self.dropout = dropout
        self.standardize = standardize
        self.score_fusion = score_fusion
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
        self.distribution = distribution
        self.checkpoint_dir = checkpoint_dir

    def fit(self, X, y, sample_weight=None):
        """Train STFN end to end on fixed feature sequences.

        Parameters
        ----------
        X : array-like of shape (n, 2, n_segments, d)
            Appearance (``X[:, 0]``) and motion (``X[:, 1]``) sequences.
        y : array-like of shape (n,)
            Labels (any hashable).
        sample_weight : array-like of shape (n,), default=None

        Returns
        -------
        self : STFN
        """
        return self._fit_keras(X, y, sample_weight)

    def _check_X(self, X, *, reset):
        inputs = check_two_stream_sequences(self, X, reset=reset)[0]
        if reset:
            self.feature_mean_, self.feature_scale_ = (
                feature_statistics(inputs) if self.standardize else (None, None))
        return inputs

    def _build_model(self, inputs, n_classes):
        filters = self.feature_dim_ if self.filters is None else self.filters
        if filters % 4:
            raise ValueError(f"STFN needs filters divisible by 4 (four Inception branches "
                             f"of filters/4); filters={filters}"
                             + (" is the feature width d: pass filters=" if self.filters is None
                                else ""))
        return stfn(None, self.feature_dim_, n_classes, filters=filters, fusion=self.fusion,
                    direction=self.direction, architecture=self.architecture,
                    n_blocks=self.n_blocks, dropout=self.dropout,
                    score_fusion=self.score_fusion, input_mean=self.feature_mean_,
                    input_scale=self.feature_scale_)

    def _training_batches(self, inputs, y, sample_weight, seed, *, shuffle=True):
        return ArrayBatches(slice_inputs(inputs), y, sample_weight, self.batch_size, seed,
                            shuffle=shuffle)

    def _default_callbacks(self, has_validation):
        return plateau_schedule(has_validation, self._min_learning_rate, self._plateau_patience)

    def decision_function(self, X):
        """Fused class scores whose softmax is ``predict_proba``.

        Parameters
        ----------
        X : array-like of shape (n, 2, n_segments, d) or (n, n_views, 2, n_segments, d)
            With several views (the paper's test protocol: 5 sequences per
            video), the log of the view-averaged probabilities.

        Returns
        -------
        ndarray of shape (n, n_classes)
            Logits for one view per video.
        """
        check_is_fitted(self)
        inputs, views = check_two_stream_sequences(self, X, reset=False)
        logits = self._run_model(self.model_, inputs)
        if views == 1:
            return logits
        return np.log(np.maximum(_view_mean(softmax(logits), views), np.finfo(np.float32).tiny))

    def predict_proba(self, X):
        """Class probabilities (averaged over views for multi-view X); rows sum to 1."""
        return softmax(self.decision_function(X))

    def transform(self, X):
        """The video embedding: each stream's temporally averaged last-block output,
        concatenated (``2 * filters`` wide; the fused sequence for ``"c"``),
        averaged over views for multi-view X.

        Parameters
        ----------
        X : array-like of shape (n, 2, n_segments, d) or (n, n_views, 2, n_segments, d)

        Returns
        -------
        ndarray of shape (n, 2 * filters)
        """
        check_is_fitted(self)
        inputs, views = check_two_stream_sequences(self, X, reset=False)
        return _view_mean(self._run_model(stfn_embedding_model(self.model_), inputs), views)
