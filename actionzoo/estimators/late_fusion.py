"""Late-fusion baselines over two streams' class scores (paper Table IV)."""
import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from actionzoo._sklearn_compat import StrOptions
from actionzoo.estimators._base import ClassifierBase, softmax
from actionzoo.estimators._two_stream_scores import (
    check_scores_match_classes,
    check_two_stream_scores,
    structural_failed_checks,
)


class LateFusion(ClassifierBase):
    """Fixed-rule and learned-weight late fusion of RGB and flow class scores.

    The baselines CorrNet is compared with in Yudistira & Kurita, Table IV.
    Each stream's raw scores become probabilities ``p = softmax(u)``,
    ``q = softmax(v)``; then

    - ``"avg"``: ``(p + q) / 2`` (the paper's "ava");
    - ``"max"``: ``max(p, q)`` element-wise, renormalised;
    - ``"multiply"``: ``p * q`` renormalised, which equals ``softmax(u + v)``;
    - ``"weighted"``: ``w p + (1 - w) q`` with ``w`` in [0, 1] learned on the
      training scores by minimising the (sample-weighted) log-loss.

    Column ``j`` of each stream must hold the score of ``classes_[j]``.
    Per-frame scores ``(n, 2, T, C)`` are averaged over frames first (the
    TSN consensus).

    Parameters
    ----------
    method : {"avg", "max", "multiply", "weighted"}, default="avg"

    Attributes
    ----------
    classes_ : ndarray
    n_scores_ : int
    stream_weights_ : ndarray of shape (2,)
        Weights of the RGB and flow probabilities (fixed ``[0.5, 0.5]`` for
        ``avg``; learned for ``weighted``; ``nan`` for the others).

    Examples
    --------
    >>> import numpy as np
    >>> from actionzoo import LateFusion
    >>> y = np.array([0, 1, 2, 0, 1, 2])
    >>> X = np.stack([np.eye(3)[y] * 4, np.eye(3)[(y + 1) % 3]], axis=1)
    >>> LateFusion(method="weighted").fit(X, y).score(X, y)
    1.0
    """

    _parameter_constraints = {
        "method": [StrOptions({"avg", "max", "multiply", "weighted"})],
    }

    def __init__(self, method="avg"):
        self.method = method

    def fit(self, X, y, sample_weight=None):
        """Store the classes (and learn the stream weight for ``weighted``).

        Parameters
        ----------
        X : array-like of shape (n, 2*C), (n, 2, C) or (n, 2, T, C)
        y : array-like of shape (n,)
        sample_weight : array-like of shape (n,), default=None

        Returns
        -------
        self : LateFusion
        """
        self._validate_params()
        p, q = self._stream_probabilities(X, reset=True)
        y_enc = self._encode_labels(y, len(p), reset=True)
        check_scores_match_classes(self)
        weights = _check_sample_weight(sample_weight, p, ensure_non_negative=True)
        if self.method == "weighted":
            rows = np.arange(len(y_enc))
            p_true, q_true = p[rows, y_enc], q[rows, y_enc]

            def log_loss(w):
                return -np.sum(weights * np.log(np.clip(w * p_true + (1 - w) * q_true,
                                                        1e-12, None)))
            w = minimize_scalar(log_loss, bounds=(0.0, 1.0), method="bounded").x
            self.stream_weights_ = np.array([w, 1.0 - w])
        elif self.method == "avg":
            self.stream_weights_ = np.array([0.5, 0.5])
        else:
            self.stream_weights_ = np.array([np.nan, np.nan])
        return self

    def _stream_probabilities(self, X, *, reset):
        rgb, flow = check_two_stream_scores(self, X, reset=reset)
        if rgb.ndim == 3:
            rgb, flow = rgb.mean(axis=1), flow.mean(axis=1)
        return softmax(rgb), softmax(flow)

    def predict_proba(self, X):
        """Fused class probabilities; rows sum to 1."""
        check_is_fitted(self)
        self._validate_params()
        check_scores_match_classes(self)
        p, q = self._stream_probabilities(X, reset=False)
        if self.method == "max":
            fused = np.maximum(p, q)
        elif self.method == "multiply":
            fused = p * q
        elif self.method == "weighted":
            fused = self.stream_weights_[0] * p + self.stream_weights_[1] * q
        else:
            fused = 0.5 * (p + q)
        fused = np.clip(fused, 1e-300, None)
        return fused / fused.sum(axis=1, keepdims=True)

    def _expected_failed_checks(self):
        """sklearn checks that cannot apply (two-stream score structure), with reasons."""
        return structural_failed_checks(score_fusion=True)
