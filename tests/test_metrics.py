"""actionzoo.metrics: hand-computed values and errors."""
import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, top_k_accuracy_score

from actionzoo.metrics import aggregate_clips, mean_class_accuracy, softmax, top_k_accuracy


def test_top_k_by_hand():
    scores = np.array([[0.1, 0.7, 0.2],   # true 1: rank 0
                       [0.5, 0.3, 0.2],   # true 2: rank 2
                       [0.3, 0.3, 0.4],   # true 0: rank 2 (tie with 1, higher index first)
                       [0.2, 0.2, 0.6]])  # true 1: rank 1 (tie with 0, 1 ranks first)
    y = [1, 2, 0, 1]
    assert top_k_accuracy(y, scores, 1) == 0.25
    assert top_k_accuracy(y, scores, 2) == 0.5
    assert top_k_accuracy(y, scores, 3) == 1.0


def test_top_k_matches_sklearn_on_random_scores():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(200, 7))
    y = rng.integers(0, 7, 200)
    for k in (1, 3, 5):
        assert top_k_accuracy(y, scores, k) == pytest.approx(
            top_k_accuracy_score(y, scores, k=k, labels=np.arange(7)))


def test_two_and_one_class_scores():
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    assert top_k_accuracy([0, 0, 1], scores, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy([0, 0, 1], scores, 2) == 1.0
    assert top_k_accuracy([0, 0], np.zeros((2, 1))) == 1.0


def test_mean_class_accuracy_matches_sklearn_and_ignores_extra_predicted_classes():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    assert mean_class_accuracy(y, p) == balanced_accuracy_score(y, p)
    # class 3 is predicted but absent from y_true: the mean runs over classes 0-2 only
    assert mean_class_accuracy([0, 1, 2, 2], [3, 1, 2, 2]) == pytest.approx(2 / 3)


def test_mean_class_accuracy_differs_from_accuracy_on_imbalance():
    y = np.array([0] * 8 + [1] * 2)
    p = np.zeros(10, int)
    assert np.mean(p == y) == 0.8
    assert mean_class_accuracy(y, p) == 0.5
    assert mean_class_accuracy([0, 1, 2, 2], [0, 1, 2, 0]) == pytest.approx((1 + 1 + 0.5) / 3)


def test_aggregate_clips_views_and_ids():
    views = np.array([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]],
                      [[0.2, 0.8], [0.4, 0.6], [0.0, 1.0]]])
    np.testing.assert_allclose(aggregate_clips(views), [[0.5, 0.5], [0.2, 0.8]])
    np.testing.assert_allclose(aggregate_clips(views, method="max"), [[1.0, 1.0], [0.4, 1.0]])
    flat = views.reshape(6, 2)[[5, 0, 1, 3, 2, 4]]
    ids = ["b", "a", "a", "b", "a", "b"]
    out, order = aggregate_clips(flat, ids)
    assert order == ["b", "a"]
    np.testing.assert_allclose(out, [[0.2, 0.8], [0.5, 0.5]])


def test_softmax_rows_sum_to_one_and_are_stable():
    p = softmax(np.array([[1e4, 0.0, -1e4], [1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(p.sum(1), 1.0)
    np.testing.assert_allclose(p[1], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    assert p[0, 0] == 1.0


@pytest.mark.parametrize("call, match", [
    (lambda: top_k_accuracy([0, 1], np.zeros((3, 2))), "shape"),
    (lambda: top_k_accuracy([0, 5], np.zeros((2, 2))), "outside"),
    (lambda: top_k_accuracy([0.5, 1], np.zeros((2, 2))), "integer"),
    (lambda: top_k_accuracy([0], np.zeros((1, 2)), k=0), "k must"),
    (lambda: mean_class_accuracy([0, 1], [0]), "differ in length"),
    (lambda: aggregate_clips(np.zeros((2, 3))), "n_views"),
    (lambda: aggregate_clips(np.zeros((2, 3)), ["a"]), "1 video_ids for 2 clips"),
    (lambda: aggregate_clips(np.zeros((1, 2, 3)), method="median"), "method"),
])
def test_errors_are_clear(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
