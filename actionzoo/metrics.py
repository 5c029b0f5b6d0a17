"""Evaluation metrics of action recognition.

- :func:`top_k_accuracy` -- fraction of samples whose true class is among
  the ``k`` highest scores (top-1/top-5 of the papers);
- :func:`mean_class_accuracy` -- the mean over classes of per-class recall
  (the "mean class accuracy" reported for UCF101/HMDB51);
- :func:`aggregate_clips` -- clip (view) scores -> video scores, the
  standard multi-clip/multi-crop testing protocol;
- :func:`softmax` -- class probabilities from logits.

Labels are integer class indices ``0..n_classes-1``; scores are
``(n_samples, n_classes)`` arrays (logits or probabilities).
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import balanced_accuracy_score, top_k_accuracy_score

__all__ = ["aggregate_clips", "mean_class_accuracy", "softmax", "top_k_accuracy"]


def _labels(y, name="y_true"):
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    return y.astype(np.int64)


def softmax(logits, axis=-1):
    """Numerically stable softmax along ``axis``.

    Examples
    --------
    >>> softmax(np.array([[0.0, 0.0], [1000.0, 0.0]])).round(3).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def top_k_accuracy(y_true, scores, k=1):
    """Fraction of samples whose true class is among the ``k`` best scores.

    :func:`sklearn.metrics.top_k_accuracy_score` over the classes
    ``0..n_classes-1`` (the columns of ``scores``), after the checks below; ties
    are broken as scikit-learn breaks them (among equal scores the higher class
    index ranks first).

    Parameters
    ----------
    y_true : array-like of int, shape (n,)
        True class indices.
    scores : array-like, shape (n, n_classes)
    k : int, default 1

    Returns
    -------
    float

    Examples
    --------
    >>> s = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]])
    >>> top_k_accuracy([0, 1, 2], s, k=1), top_k_accuracy([0, 1, 2], s, k=2)
    (0.3333333333333333, 1.0)
    """
    y = _labels(y_true)
    s = np.asarray(scores, np.float64)
    if s.ndim != 2 or s.shape[0] != y.shape[0]:
        raise ValueError(
            f"scores must have shape (n, n_classes) with n={y.shape[0]}, got {s.shape}")
    if y.size == 0:
        raise ValueError("no samples")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if y.min() < 0 or y.max() >= s.shape[1]:
        raise ValueError(f"y_true holds class indices outside 0..{s.shape[1] - 1}")
    if k >= s.shape[1]:
        return 1.0  # every true class is among all classes (scikit-learn would warn)
    if s.shape[1] < 3:
        # scikit-learn reads two classes as a binary problem with one score column;
        # a third column below every score keeps its multiclass ranking (and our
        # (n, n_classes) convention) without changing any rank.
        floor = np.full((s.shape[0], 3 - s.shape[1]), s.min() - 1.0)
        s = np.concatenate([s, floor], axis=1)
    return float(top_k_accuracy_score(y, s, k=k, labels=np.arange(s.shape[1])))


def mean_class_accuracy(y_true, y_pred):
    """Mean over the classes present in ``y_true`` of per-class accuracy (recall).

    :func:`sklearn.metrics.balanced_accuracy_score`, after the checks below;
    predicted classes absent from ``y_true`` count as errors of the classes
    they were predicted for and add no class of their own (scikit-learn's
    warning about them is silenced: evaluating on a subset of the classes is
    routine here).

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)

    Returns
    -------
    float

    Examples
    --------
    >>> mean_class_accuracy([0, 0, 0, 1], [0, 0, 0, 0])  # accuracy 0.75
    0.5
    """
    y = _labels(y_true)
    p = _labels(y_pred, "y_pred")
    if y.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y.shape[0]} vs {p.shape[0]}")
    if y.size == 0:
        raise ValueError("no samples")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y, p))


def aggregate_clips(scores, video_ids=None, method="mean"):
    """Combine per-clip (per-view) scores into per-video scores.

    Parameters
    ----------
    scores : array-like, shape (n_videos, n_views, n_classes) or (n_clips, n_classes)
        View scores (average probabilities, i.e. softmax outputs, for the
        usual protocol; logits are averaged as given).
    video_ids : array-like, shape (n_clips,), optional
        With 2-D ``scores``: the video of each clip. Videos come out in
        order of first appearance. Required for 2-D scores.
    method : {"mean", "max"}, default "mean"

    Returns
    -------
    numpy.ndarray, shape (n_videos, n_classes)
        With ``video_ids``, a tuple ``(video_scores, unique_ids)``.

    Examples
    --------
    >>> views = np.array([[[0.25, 0.75], [0.75, 0.25]]])  # 1 video, 2 views
    >>> aggregate_clips(views).tolist()
    [[0.5, 0.5]]
    >>> s, ids = aggregate_clips([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], ["a", "b", "a"], "max")
    >>> s.tolist(), ids
    ([[1.0, 0.5], [0.0, 1.0]], ['a', 'b'])
    """
    if method not in ("mean", "max"):
        raise ValueError(f"method must be 'mean' or 'max', got {method!r}")
    reduce = np.mean if method == "mean" else np.max
    s = np.asarray(scores, np.float64)
    if video_ids is None:
        if s.ndim != 3:
            raise ValueError("scores without video_ids must be (n_videos, n_views, n_classes), "
                             f"got {s.shape}")
        return reduce(s, axis=1)
    if s.ndim != 2:
        raise ValueError(f"scores with video_ids must be (n_clips, n_classes), got {s.shape}")
    ids = list(video_ids)
    if len(ids) != s.shape[0]:
        raise ValueError(f"{len(ids)} video_ids for {s.shape[0]} clips")
    unique = list(dict.fromkeys(ids))
    position = {v: i for i, v in enumerate(unique)}
    rows = np.array([position[v] for v in ids])
    out = np.stack([reduce(s[rows == i], axis=0) for i in range(len(unique))])
    return out, unique
