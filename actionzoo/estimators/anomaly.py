"""Autoencoder anomaly detection on video embeddings (Tkachenko, Sec. VII)."""
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from actionzoo._sklearn_compat import Interval
from actionzoo.estimators._base import KerasEstimatorMixin
from actionzoo.estimators._batches import ArrayBatches, slice_inputs
from actionzoo.estimators._progress import keras_verbosity
from actionzoo.estimators._training import seeded, train_model
from actionzoo.models import embedding_autoencoder


class EmbeddingAnomalyDetector(KerasEstimatorMixin, OutlierMixin, BaseEstimator):
    """Outlier detection by the reconstruction error of an autoencoder.

    The paper's Sec. VII proposal: video embeddings (e.g. the output of
    :meth:`actionzoo.MultiStreamGRU.transform`) of *normal* videos train a
    dense autoencoder with a narrow bottleneck
    (:func:`actionzoo.models.embedding_autoencoder`); it learns the frequent
    structure, so anomalous embeddings reconstruct worse. Features are
    standardised with the training mean and deviation first, so that every
    embedding dimension counts alike.

    The scikit-learn outlier API: ``score_samples`` is the negated mean
    squared reconstruction error (higher = more normal); ``offset_`` is its
    ``contamination`` quantile on the training data; ``decision_function``
    is ``score_samples - offset_`` (negative = outlier); ``predict``
    returns 1 for inliers and -1 for outliers.

    Parameters
    ----------
    encoding_dim : int, default=32
        Bottleneck width; capped at ``n_features - 1`` (it must compress).
    hidden_units : tuple of int, default=(256,)
        Encoder hidden widths, mirrored by the decoder.
    activation : str, default="relu"
    dropout : float, default=0.0
    contamination : float in (0, 0.5], default=0.1
        Expected share of outliers in the training data; sets ``offset_``.
    optimizer : str or keras Optimizer class, default="adam"
    learning_rate : float, default=1e-3
    optimizer_kwargs : dict or None, default=None
    epochs : int, default=100
    batch_size : int, default=32
    random_state : int, RandomState or None, default=None
        Seeds the weights and the batch order; equal seeds, equal scores.
    verbose : int, default=0
    distribution, checkpoint_dir : default=None
        Training under a ``tf.distribute`` strategy (several GPUs or hosts)
        and epoch backups to resume from; see ``docs/distributed.md`` and
        :class:`actionzoo.estimators._base.KerasEstimatorMixin`.

    Attributes
    ----------
    n_features_in_ : int
    encoding_dim_ : int
        Bottleneck width used.
    mean_, scale_ : ndarray of shape (n_features,)
        Standardisation of the inputs.
    model_ : keras.Model
        The fitted autoencoder.
    offset_ : float
    history_ : dict
        Per-epoch training ``loss``.

    Examples
    --------
    >>> import numpy as np
    >>> from actionzoo import EmbeddingAnomalyDetector
    >>> rng = np.random.default_rng(0)
    >>> basis = rng.normal(size=(2, 16))
    >>> normal = rng.normal(size=(200, 2)) @ basis + 0.05 * rng.normal(size=(200, 16))
    >>> odd = rng.normal(size=(5, 16)) * 2
    >>> det = EmbeddingAnomalyDetector(encoding_dim=2, hidden_units=(32,), epochs=60,
    ...                                random_state=0).fit(normal)
    >>> det.predict(odd).tolist()
    [-1, -1, -1, -1, -1]
    >>> float((det.predict(normal) == 1).mean())
    0.9
    """

    _parameter_constraints = {
        **KerasEstimatorMixin._keras_parameter_constraints,
        "encoding_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_units": [tuple, list],
        "activation": [str],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
    }

    def __init__(self, encoding_dim=32, hidden_units=(256,), activation="relu", dropout=0.0,
                 contamination=0.1, optimizer="adam", learning_rate=1e-3,
                 optimizer_kwargs=None, epochs=100, batch_size=32, random_state=None,
                 verbose=0, distribution=None, checkpoint_dir=None):
        self.encoding_dim = encoding_dim
        self.hidden_units = hidden_units
        self.activation = activation
        self.dropout = dropout
        self.contamination = contamination
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.optimizer_kwargs = optimizer_kwargs
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.distribution = distribution
        self.checkpoint_dir = checkpoint_dir

    def fit(self, X, y=None):
        """Train the autoencoder on (mostly normal) embeddings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : EmbeddingAnomalyDetector
        """
        self._validate_params()
        X = validate_data(self, X, dtype=np.float32, reset=True)
        n, d = X.shape
        if d < 2:
            raise ValueError(f"EmbeddingAnomalyDetector needs at least 2 features to "
                             f"compress; got n_features = {d}")
        if n < 2:
            raise ValueError(f"EmbeddingAnomalyDetector needs at least 2 samples; "
                             f"got n_samples = {n}")
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 1e-12 * max(1.0, float(np.abs(X).max())), std, 1.0
                               ).astype(np.float32)
        Z = (X - self.mean_) / self.scale_

        seed = self._seed()
        strategy = self._training_strategy()
        self.encoding_dim_ = int(min(self.encoding_dim, d - 1))
        with seeded(seed):
            with self._strategy_scope(strategy):
                self.model_ = embedding_autoencoder(
                    d, self.encoding_dim_, tuple(self.hidden_units),
                    activation=self.activation, dropout=self.dropout)
                self.model_.compile(optimizer=self._make_optimizer(), loss="mse")
            self.history_ = train_model(
                self.model_, ArrayBatches(slice_inputs([Z]), Z, None, self.batch_size, seed),
                owner=type(self).__name__, epochs=self.epochs,
                callbacks=self._fit_callbacks(has_validation=False),
                verbose=keras_verbosity(self.verbose), strategy=strategy,
                checkpoint_path=self._checkpoint_path())
        self.offset_ = float(np.percentile(self._scores(Z), 100.0 * self.contamination))
        return self

    def _scores(self, Z):
        recon = self._run_model(self.model_, Z)
        return -np.mean(np.square(recon.astype(np.float64) - Z), axis=1)

    def score_samples(self, X):
        """Negated mean squared reconstruction error; higher means more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        return self._scores((X - self.mean_) / self.scale_)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """1 for inliers, -1 for outliers.

        Returns
        -------
        ndarray of int of shape (n_samples,)
        """
        return np.where(self.decision_function(X) >= 0, 1, -1)

    def _expected_failed_checks(self):
        """sklearn checks that cannot apply, with reasons (none known)."""
        return {}
