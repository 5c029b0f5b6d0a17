"""Report figures (actionzoo.plots): labelled axes, whole titles, visible one-epoch curves."""
import cv2
import numpy as np
import pytest

from actionzoo.plots import (
    MARKER_RADIUS,
    confusion_matrix_figure,
    curves_figure,
    save_confusion_matrix,
    save_curves,
)

CLASSES = ["MoveLeft", "MoveRight", "MoveUp"]
QUICK_DEMO_TITLE = "motion stream (logistic regression): test split 1 (accuracy 0.667)"


def _inside(figure):
    height, width = figure.image.shape[:2]
    return all(0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
               for _, _, (x0, y0, x1, y1) in figure.texts)


def test_confusion_matrix_has_axis_labels_class_names_and_the_whole_title():
    figure = confusion_matrix_figure([[2, 0, 0], [0, 1, 1], [1, 0, 1]], CLASSES,
                                     title=QUICK_DEMO_TITLE)
    assert figure.text("xlabel") == "predicted" and figure.text("ylabel") == "true"
    assert figure.text("title") == QUICK_DEMO_TITLE
    assert [t.text for t in figure.texts if t.role == "row"] == ["0: MoveLeft", "1: MoveRight",
                                                                 "2: MoveUp"]
    assert [t.text for t in figure.texts if t.role == "column"] == ["0", "1", "2"]
    assert sorted(int(t.text) for t in figure.texts if t.role == "count") == [1, 1, 1, 1, 2]
    assert _inside(figure)


def test_long_titles_wrap_at_words_inside_the_figure():
    title = ("corrnet26.demo on /data/UCF-101 (3783 videos): top-1 accuracy 0.812, top-5 0.950, "
             "mean class accuracy 0.800")
    figure = confusion_matrix_figure(np.eye(2, dtype=int), ["a", "b"], title=title)
    lines = [t for t in figure.texts if t.role == "title"]
    assert len(lines) > 1 and " ".join(t.text for t in lines) == title
    assert all(set(t.text.split()) <= set(title.split()) for t in lines)  # whole words
    assert [t.box[1] for t in lines] == sorted(t.box[1] for t in lines)  # one under the other
    assert _inside(figure)


def test_a_word_wider_than_the_figure_is_broken_not_cut():
    word = "x" * 200
    figure = confusion_matrix_figure(np.eye(2, dtype=int), ["a", "b"], title=word)
    lines = [t.text for t in figure.texts if t.role == "title"]
    assert len(lines) > 1 and "".join(lines) == word and _inside(figure)


def test_confusion_matrix_checks_its_shape():
    with pytest.raises(ValueError, match=r"shape \(2, 2\) for 3 classes"):
        confusion_matrix_figure(np.eye(2), CLASSES)


def _colour_pixels(image, colour, right):
    return int(np.all(image[:, :right] == colour, axis=-1).sum())


def test_one_epoch_curves_are_visible_markers_inside_the_frame():
    figure = curves_figure({"CorrelationNet (CorrNet-26)": [1.1], "STFN": [1.2, 0.9]},
                           title="Training loss (cross-entropy) per epoch", size=(400, 300))
    blue = np.array((180, 119, 31), np.uint8)  # the first curve's colour (BGR)
    marker = _colour_pixels(figure.image, blue, right=400)
    assert marker >= np.pi * (MARKER_RADIUS - 1) ** 2  # a filled dot, not a pixel
    ys, xs = np.nonzero(np.all(figure.image[:, :400] == blue, axis=-1))
    assert xs.min() > 70 + MARKER_RADIUS  # off the frame's left edge
    assert figure.text("legend") == "CorrelationNet (CorrNet-26) STFN"
    assert figure.text("xlabel") == "epoch" and figure.text("ylabel") == "loss"
    assert figure.text("title") == "Training loss (cross-entropy) per epoch"
    assert [t.text for t in figure.texts if t.role == "xtick"] == ["1", "2"]
    assert _inside(figure)


def test_curves_skip_non_finite_values_and_need_one():
    figure = curves_figure({"a": [np.nan, 2.0, 1.0], "empty": []})
    assert figure.text("legend") == "a"
    with pytest.raises(ValueError, match="no curve has a finite value"):
        curves_figure({"a": [np.nan]})


def test_saved_pngs_hold_the_figures(tmp_path):
    cm_figure = save_confusion_matrix(np.eye(3, dtype=int), CLASSES, tmp_path / "a" / "cm.png",
                                      title="t")
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "a" / "cm.png")), cm_figure.image)
    curves = save_curves({"loss": [3.0, 2.0]}, tmp_path / "curves.png", ylabel="cross-entropy")
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "curves.png")), curves.image)
    assert curves.text("ylabel") == "cross-entropy"
