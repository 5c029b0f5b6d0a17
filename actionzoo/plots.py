"""Figures as PNG files, drawn with OpenCV (already a dependency; no matplotlib):
a confusion matrix and line plots of training curves.

Examples
--------
>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "cm.png")
>>> image = save_confusion_matrix(np.array([[3, 1], [0, 4]]), ["Run", "Walk"], path)
>>> image.shape[2], os.path.getsize(path) > 0
(3, True)
"""
from __future__ import annotations

import os

import cv2
import numpy as np

__all__ = ["confusion_matrix_image", "curves_image", "save_confusion_matrix", "save_curves"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text(image, text, org, scale, color=(0, 0, 0)):
    cv2.putText(image, text, org, _FONT, scale, color, 1, cv2.LINE_AA)


def confusion_matrix_image(cm, classes, *, cell=None, title=None):
    """Render a confusion matrix (rows: true class, columns: predicted) as BGR ``uint8``.

    Cells are shaded by row-normalised frequency (white 0 -> dark blue 1);
    counts are written in the cells when they fit; class names label the
    rows and, by index, the columns.

    Parameters
    ----------
    cm : array-like of int, shape (n, n)
    classes : sequence of str, length n
    cell : int, optional
        Cell size in pixels (default: 36 for up to 20 classes, smaller for more).
    title : str, optional

    Returns
    -------
    numpy.ndarray, shape (H, W, 3), uint8
    """
    cm = np.asarray(cm)
    n = len(classes)
    if cm.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {cm.shape} for {n} classes")
    cell = cell or (36 if n <= 20 else max(6, 720 // n))
    scale = cell / 90
    labels = [f"{i}: {c}" for i, c in enumerate(classes)]
    label_w = max(cv2.getTextSize(s, _FONT, max(scale, 0.3), 1)[0][0] for s in labels) + 10
    top = 50 if title else 30
    height, width = top + n * cell + 10, label_w + n * cell + 10
    image = np.full((height, width, 3), 255, np.uint8)
    rows = cm.sum(axis=1, keepdims=True)
    freq = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    light, dark = np.array([255, 255, 255], float), np.array([120, 40, 10], float)  # BGR
    for i in range(n):
        y0 = top + i * cell
        _text(image, labels[i], (4, y0 + cell // 2 + 4), max(scale, 0.3))
        for j in range(n):
            x0 = label_w + j * cell
            color = light + (dark - light) * freq[i, j]
            cv2.rectangle(image, (x0, y0), (x0 + cell - 1, y0 + cell - 1), color.tolist(), -1)
            if cell >= 20 and cm[i, j]:
                ink = (255, 255, 255) if freq[i, j] > 0.5 else (0, 0, 0)
                _text(image, str(int(cm[i, j])), (x0 + 3, y0 + cell // 2 + 4), scale, ink)
    for j in range(n):
        if cell >= 14:
            _text(image, str(j), (label_w + j * cell + 3, top - 6), max(scale, 0.3))
    cv2.rectangle(image, (label_w, top), (label_w + n * cell, top + n * cell), (0, 0, 0), 1)
    if title:
        _text(image, title, (4, 20), 0.5)
    return image


def save_confusion_matrix(cm, classes, path, **kwargs):
    """Write :func:`confusion_matrix_image` to ``path`` (PNG); return the image."""
    return _write_png(confusion_matrix_image(cm, classes, **kwargs), path)


def _write_png(image, path):
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    if not cv2.imwrite(os.fspath(path), image):
        raise OSError(f"could not write {path}")
    return image


#: BGR colours of the curves of :func:`curves_image`, in order.
_CURVE_COLOURS = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
                  (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23)]


def curves_image(curves, *, title=None, xlabel="epoch", ylabel="loss", size=(760, 420)):
    """Render named curves (e.g. training loss per epoch) as a BGR ``uint8`` line plot.

    Parameters
    ----------
    curves : dict of str -> sequence of float
        One line per entry, drawn against 1, 2, ... (epochs); empty or
        non-finite values are skipped. A legend lists the names in order.
    title, xlabel, ylabel : str
    size : (int, int)
        Width and height of the plot area with its axes, in pixels (the
        legend is added on the right).

    Returns
    -------
    numpy.ndarray, shape (H, W, 3), uint8

    Examples
    --------
    >>> curves_image({"a": [2.0, 1.0, 0.5], "b": [1.5, 1.4]}).shape[2]
    3
    """
    series = {name: np.asarray(values, float) for name, values in curves.items()}
    series = {name: v for name, v in series.items() if v.size and np.isfinite(v).any()}
    if not series:
        raise ValueError("no curve has a finite value to draw")
    names = list(series)
    legend_w = max(cv2.getTextSize(n, _FONT, 0.4, 1)[0][0] for n in names) + 40
    width, height = size
    image = np.full((height, width + legend_w, 3), 255, np.uint8)
    left, right, top, bottom = 60, width - 15, 50 if title else 30, height - 45
    values = np.concatenate([v[np.isfinite(v)] for v in series.values()])
    lo, hi = float(values.min()), float(values.max())
    lo, hi = (min(0.0, lo), hi) if hi > lo else (lo - 1.0, hi + 1.0)
    n_max = max(len(v) for v in series.values())

    def point(i, value):
        x = left + (right - left) * (i / max(n_max - 1, 1))
        y = bottom - (bottom - top) * ((value - lo) / (hi - lo))
        return int(round(x)), int(round(y))

    cv2.rectangle(image, (left, top), (right, bottom), (0, 0, 0), 1)
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        value = lo + frac * (hi - lo)
        y = point(0, value)[1]
        cv2.line(image, (left - 4, y), (left, y), (0, 0, 0), 1)
        _text(image, f"{value:.3g}", (4, y + 4), 0.4)
    for i in sorted({0, n_max - 1, (n_max - 1) // 2}):
        x = point(i, lo)[0]
        cv2.line(image, (x, bottom), (x, bottom + 4), (0, 0, 0), 1)
        _text(image, str(i + 1), (x - 4, bottom + 18), 0.4)
    _text(image, xlabel, ((left + right) // 2 - 15, height - 8), 0.45)
    _text(image, ylabel, (4, top - 14), 0.45)
    for k, name in enumerate(names):
        colour = _CURVE_COLOURS[k % len(_CURVE_COLOURS)]
        v = series[name]
        pts = [point(i, x) for i, x in enumerate(v) if np.isfinite(x)]
        if len(pts) > 1:
            cv2.polylines(image, [np.array(pts, np.int32)], False, colour, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(image, p, 2, colour, -1, cv2.LINE_AA)
        y = top + 10 + 18 * k
        cv2.line(image, (width + 5, y - 4), (width + 25, y - 4), colour, 2)
        _text(image, name, (width + 30, y), 0.4)
    if title:
        _text(image, title, (left, 18), 0.5)
    return image


def save_curves(curves, path, **kwargs):
    """Write :func:`curves_image` to ``path`` (PNG); return the image."""
    return _write_png(curves_image(curves, **kwargs), path)
