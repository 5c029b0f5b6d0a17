"""Figures as PNG files, drawn with OpenCV (already a dependency; no matplotlib):
a confusion matrix and line plots of training curves.

Each figure is a :class:`Figure`: the BGR image and every text drawn on it
with its role (``"title"``, ``"xlabel"``, ``"ylabel"``, ...) and its pixel
box, so what a reader sees can be checked without reading pixels. Titles
wrap at word boundaries to the figure's width; nothing is cut.

Examples
--------
>>> import numpy as np, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "cm.png")
>>> figure = save_confusion_matrix(np.array([[3, 1], [0, 4]]), ["Run", "Walk"], path)
>>> figure.text("xlabel"), figure.text("ylabel"), os.path.getsize(path) > 0
('predicted', 'true', True)
"""
from __future__ import annotations

import os
from typing import NamedTuple

import cv2
import numpy as np

__all__ = ["Figure", "Text", "confusion_matrix_figure", "curves_figure", "save_confusion_matrix",
           "save_curves"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TITLE_SCALE = 0.5
_LABEL_SCALE = 0.45
_MARGIN = 8


class Text(NamedTuple):
    """One line of text drawn on a figure: its role, content and ``(x0, y0, x1, y1)`` box."""

    role: str
    text: str
    box: tuple


class Figure:
    """An image and the texts drawn on it.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8
        BGR pixels.
    texts : list of Text
        Every text drawn, in drawing order.

    Examples
    --------
    >>> figure = curves_figure({"loss": [1.0]}, title="One epoch")
    >>> figure.text("title"), figure.image.shape[2]
    ('One epoch', 3)
    """

    def __init__(self, image, texts):
        self.image = image
        self.texts = texts

    def text(self, role):
        """The lines of ``role`` joined by spaces (``""`` when there are none)."""
        return " ".join(t.text for t in self.texts if t.role == role)


class _Canvas:
    """A white BGR image that records the texts drawn on it."""

    def __init__(self, height, width):
        self.image = np.full((height, width, 3), 255, np.uint8)
        self.texts = []

    def put(self, role, text, org, scale, color=(0, 0, 0)):
        (w, h), base = cv2.getTextSize(text, _FONT, scale, 1)
        cv2.putText(self.image, text, org, _FONT, scale, color, 1, cv2.LINE_AA)
        self.texts.append(Text(role, text, (org[0], org[1] - h, org[0] + w, org[1] + base)))

    def put_vertical(self, role, text, centre, scale):
        """Text turned 90 degrees counter-clockwise (read bottom to top) around ``centre``."""
        (w, h), base = cv2.getTextSize(text, _FONT, scale, 1)
        patch = np.full((h + base + 2, w + 2, 3), 255, np.uint8)
        cv2.putText(patch, text, (1, h + 1), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
        patch = cv2.rotate(patch, cv2.ROTATE_90_COUNTERCLOCKWISE)
        x0, y0 = centre[0] - patch.shape[1] // 2, centre[1] - patch.shape[0] // 2
        self.image[y0:y0 + patch.shape[0], x0:x0 + patch.shape[1]] = patch
        self.texts.append(Text(role, text, (x0, y0, x0 + patch.shape[1], y0 + patch.shape[0])))

    def put_lines(self, role, lines, x, top, scale):
        """Lines one under the other from ``top``; returns the y below the last one."""
        for line in lines:
            (_, h), base = cv2.getTextSize(line, _FONT, scale, 1)
            top += h
            self.put(role, line, (x, top), scale)
            top += base + 4
        return top

    def figure(self):
        return Figure(self.image, self.texts)


def _text_width(text, scale):
    return cv2.getTextSize(text, _FONT, scale, 1)[0][0]


def _lines_height(lines, scale):
    """Height of ``lines`` as :meth:`_Canvas.put_lines` stacks them."""
    return sum(cv2.getTextSize(s, _FONT, scale, 1)[0][1] + cv2.getTextSize(s, _FONT, scale, 1)[1]
               + 4 for s in lines)


def _wrap(text, scale, width):
    """Split ``text`` into lines no wider than ``width`` pixels, at spaces where possible."""
    lines = []
    for word in text.split():
        if lines and _text_width(f"{lines[-1]} {word}", scale) <= width:
            lines[-1] = f"{lines[-1]} {word}"
            continue
        while _text_width(word, scale) > width and len(word) > 1:  # a word wider than a line
            cut = max(k for k in range(1, len(word)) if _text_width(word[:k], scale) <= width
                      or k == 1)
            lines.append(word[:cut])
            word = word[cut:]
        lines.append(word)
    return lines


def confusion_matrix_figure(cm, classes, *, cell=None, title=None, min_width=480):
    """Draw a confusion matrix (rows: true class, columns: predicted class).

    Cells are shaded by row-normalised frequency (white 0 -> dark blue 1);
    counts are written in the cells when they fit; class names label the
    rows (``i: name``) and their indices the columns. The axes are labelled
    ``true`` (rows) and ``predicted`` (columns); the title wraps to the width.

    Parameters
    ----------
    cm : array-like of int, shape (n, n)
    classes : sequence of str, length n
    cell : int, optional
        Cell size in pixels (default: 36 for up to 20 classes, smaller for more).
    title : str, optional
    min_width : int, default 480
        Narrowest figure, in pixels, so that a title needs few lines.

    Returns
    -------
    Figure

    Examples
    --------
    >>> figure = confusion_matrix_figure([[2, 0], [1, 1]], ["a", "b"], title="Model X")
    >>> figure.text("title"), figure.text("xlabel"), figure.text("ylabel")
    ('Model X', 'predicted', 'true')
    """
    cm = np.asarray(cm)
    n = len(classes)
    if cm.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {cm.shape} for {n} classes")
    cell = cell or (36 if n <= 20 else max(6, 720 // n))
    scale = cell / 90
    label_scale = max(scale, 0.3)
    labels = [f"{i}: {c}" for i, c in enumerate(classes)]
    ylabel_w = cv2.getTextSize("true", _FONT, _LABEL_SCALE, 1)[0][1] + 12
    left = ylabel_w + max(_text_width(s, label_scale) for s in labels) + 10
    width = max(min_width, left + n * cell + _MARGIN)
    title_lines = _wrap(title, _TITLE_SCALE, width - 2 * _MARGIN) if title else []
    top = _MARGIN + _lines_height(title_lines, _TITLE_SCALE) + 42  # title, "predicted", indices
    height = top + n * cell + _MARGIN
    canvas = _Canvas(height, width)
    canvas.put_lines("title", title_lines, _MARGIN, _MARGIN, _TITLE_SCALE)

    rows = cm.sum(axis=1, keepdims=True)
    freq = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    light, dark = np.array([255, 255, 255], float), np.array([120, 40, 10], float)  # BGR
    for i in range(n):
        y0 = top + i * cell
        canvas.put("row", labels[i], (ylabel_w, y0 + cell // 2 + 4), label_scale)
        for j in range(n):
            x0 = left + j * cell
            color = light + (dark - light) * freq[i, j]
            cv2.rectangle(canvas.image, (x0, y0), (x0 + cell - 1, y0 + cell - 1), color.tolist(),
                          -1)
            if cell >= 20 and cm[i, j]:
                ink = (255, 255, 255) if freq[i, j] > 0.5 else (0, 0, 0)
                canvas.put("count", str(int(cm[i, j])), (x0 + 3, y0 + cell // 2 + 4), scale, ink)
    if cell >= 14:
        for j in range(n):
            canvas.put("column", str(j), (left + j * cell + 3, top - 6), label_scale)
    cv2.rectangle(canvas.image, (left, top), (left + n * cell, top + n * cell), (0, 0, 0), 1)
    xlabel_w = _text_width("predicted", _LABEL_SCALE)
    canvas.put("xlabel", "predicted",
               (max(left, left + (n * cell - xlabel_w) // 2), top - 26), _LABEL_SCALE)
    canvas.put_vertical("ylabel", "true", (ylabel_w // 2, top + n * cell // 2), _LABEL_SCALE)
    return canvas.figure()


def save_confusion_matrix(cm, classes, path, **kwargs):
    """Write :func:`confusion_matrix_figure` to ``path`` (PNG); return the :class:`Figure`."""
    return _write_png(confusion_matrix_figure(cm, classes, **kwargs), path)


def _write_png(figure, path):
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    if not cv2.imwrite(os.fspath(path), figure.image):
        raise OSError(f"could not write {path}")
    return figure


#: BGR colours of the curves of :func:`curves_figure`, in order.
_CURVE_COLOURS = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
                  (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23)]
#: Radius of the marker drawn at every point of a curve.
MARKER_RADIUS = 4


def curves_figure(curves, *, title=None, xlabel="epoch", ylabel="loss", size=(760, 420)):
    """Draw named curves (e.g. training loss per epoch) as a line plot.

    Every point has a marker, so a one-epoch curve shows as a dot; the
    epochs 1..n sit half a step inside the plot frame.

    Parameters
    ----------
    curves : dict of str -> sequence of float
        One line per entry, drawn against 1, 2, ... (epochs); empty or
        non-finite values are skipped. A legend lists the names in order.
    title, xlabel, ylabel : str
        The title wraps to the figure's width.
    size : (int, int)
        Width and height of the plot area with its axes, in pixels (the
        legend is added on the right).

    Returns
    -------
    Figure

    Examples
    --------
    >>> figure = curves_figure({"a": [2.0, 1.0, 0.5], "b": [1.5, 1.4]})
    >>> figure.text("legend"), figure.text("xlabel"), figure.text("ylabel")
    ('a b', 'epoch', 'loss')
    """
    series = {name: np.asarray(values, float) for name, values in curves.items()}
    series = {name: v for name, v in series.items() if v.size and np.isfinite(v).any()}
    if not series:
        raise ValueError("no curve has a finite value to draw")
    names = list(series)
    legend_w = max(_text_width(n, 0.4) for n in names) + 40
    width, plot_height = size
    title_lines = _wrap(title, _TITLE_SCALE, width + legend_w - 2 * _MARGIN) if title else []
    title_h = _MARGIN + _lines_height(title_lines, _TITLE_SCALE)
    height = title_h + plot_height
    canvas = _Canvas(height, width + legend_w)
    canvas.put_lines("title", title_lines, _MARGIN, _MARGIN, _TITLE_SCALE)
    left, right, top, bottom = 70, width - 15, title_h + 12, height - 45
    values = np.concatenate([v[np.isfinite(v)] for v in series.values()])
    lo, hi = float(values.min()), float(values.max())
    lo, hi = (min(0.0, lo), hi) if hi > lo else (lo - 1.0, hi + 1.0)
    n_max = max(len(v) for v in series.values())

    def point(i, value):  # epoch i + 1 of n_max, in [0.5, n_max + 0.5]
        x = left + (right - left) * ((i + 0.5) / n_max)
        y = bottom - (bottom - top) * ((value - lo) / (hi - lo))
        return int(round(x)), int(round(y))

    cv2.rectangle(canvas.image, (left, top), (right, bottom), (0, 0, 0), 1)
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        value = lo + frac * (hi - lo)
        y = point(0, value)[1]
        cv2.line(canvas.image, (left - 4, y), (left, y), (0, 0, 0), 1)
        canvas.put("ytick", f"{value:.3g}", (28, y + 4), 0.4)
    for i in sorted({0, n_max - 1, (n_max - 1) // 2}):
        x = point(i, lo)[0]
        cv2.line(canvas.image, (x, bottom), (x, bottom + 4), (0, 0, 0), 1)
        canvas.put("xtick", str(i + 1), (x - 4, bottom + 18), 0.4)
    canvas.put("xlabel", xlabel, ((left + right - _text_width(xlabel, _LABEL_SCALE)) // 2,
                                  height - 10), _LABEL_SCALE)
    canvas.put_vertical("ylabel", ylabel, (12, (top + bottom) // 2), _LABEL_SCALE)
    for k, name in enumerate(names):
        colour = _CURVE_COLOURS[k % len(_CURVE_COLOURS)]
        pts = [point(i, x) for i, x in enumerate(series[name]) if np.isfinite(x)]
        if len(pts) > 1:
            cv2.polylines(canvas.image, [np.array(pts, np.int32)], False, colour, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(canvas.image, p, MARKER_RADIUS, colour, -1, cv2.LINE_AA)
        y = top + 10 + 18 * k
        cv2.line(canvas.image, (width + 5, y - 4), (width + 25, y - 4), colour, 2)
        cv2.circle(canvas.image, (width + 15, y - 4), MARKER_RADIUS, colour, -1, cv2.LINE_AA)
        canvas.put("legend", name, (width + 30, y), 0.4)
    return canvas.figure()


def save_curves(curves, path, **kwargs):
    """Write :func:`curves_figure` to ``path`` (PNG); return the :class:`Figure`."""
    return _write_png(curves_figure(curves, **kwargs), path)
