"""Figures as PNG files, drawn with OpenCV (already a dependency; no matplotlib).

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

__all__ = ["confusion_matrix_image", "save_confusion_matrix"]

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
    image = confusion_matrix_image(cm, classes, **kwargs)
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    if not cv2.imwrite(os.fspath(path), image):
        raise OSError(f"could not write {path}")
    return image
