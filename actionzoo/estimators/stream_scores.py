"""Per-stream class scores from stream features, the input of the fusion estimators.

:class:`~actionzoo.estimators.TwoStreamFeatures` gives appearance and motion
features per video; :class:`~actionzoo.estimators.LateFusion` and
:class:`~actionzoo.estimators.CorrNetFusion` fuse per-stream class scores.
:func:`stream_scores` turns one stream's features into such scores.
"""
from __future__ import annotations

import numpy as np

__all__ = ["stream_scores"]


def stream_scores(X_train, X_test, y_train, cv, groups=None):
    """One stream's class scores from its (segment-averaged) features.

    A standardised logistic regression stands in for the stream network:
    the training videos get out-of-fold scores (``cross_val_predict`` over
    ``cv``, with ``groups`` if the splitter uses them), as a network's
    scores on videos it did not train on would be; the test videos those
    of the classifier fit on all training videos. Scores are
    log-probabilities (their softmax gives the probabilities back), columns
    in ``np.unique(y_train)`` order.

    Parameters
    ----------
    X_train : array-like, shape (n_train, n_features)
        Features of the training videos.
    X_test : array-like, shape (n_test, n_features)
        Features of the test videos.
    y_train : array-like, shape (n_train,)
        Labels of the training videos.
    cv : int or cross-validation splitter
        Folds of the out-of-fold scores (as ``cross_val_predict`` takes them).
    groups : array-like, shape (n_train,), optional
        Group of each training video, for splitters such as ``GroupKFold``.

    Returns
    -------
    (ndarray, ndarray)
        ``(n_train, n_classes)`` and ``(n_test, n_classes)`` scores.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 10)
    >>> X = rng.normal(size=(20, 4)) + y[:, None]
    >>> train, test = stream_scores(X, X[:3], y, cv=2)
    >>> train.shape, test.shape
    ((20, 2), (3, 2))
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    oof = cross_val_predict(clf, X_train, y_train, groups=groups, cv=cv, method="predict_proba")
    proba = clf.fit(X_train, y_train).predict_proba(X_test)
    return np.log(np.clip(oof, 1e-7, 1.0)), np.log(np.clip(proba, 1e-7, 1.0))
