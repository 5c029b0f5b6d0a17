"""Temporal samplers: TSN segments, dense clips, uniform test clips, adaptive, audio windows."""
import numpy as np
import pytest

from actionzoo.data import (
    AdaptiveSampler,
    DenseClipSampler,
    SegmentSampler,
    UniformClipSampler,
    audio_window,
)


def test_segment_train_draws_one_frame_per_segment_deterministically():
    s = SegmentSampler(5, mode="train")
    idx = s.sample(100, rng=np.random.default_rng(3))
    assert idx.shape == (1, 5) and idx.dtype == np.int64
    for k, i in enumerate(idx[0]):
        assert 20 * k <= i < 20 * (k + 1)
    np.testing.assert_array_equal(idx, s.sample(100, rng=np.random.default_rng(3)))
    draws = {tuple(s.sample(100, rng=seed)[0]) for seed in range(20)}
    assert len(draws) > 15  # really random across seeds


def test_segment_test_takes_centres_and_views():
    assert SegmentSampler(5, mode="test").sample(100).tolist() == [[10, 30, 50, 70, 90]]
    views = SegmentSampler(5, mode="test", test_views=5).sample(100)
    assert views.shape == (5, 5)
    assert views[:, 0].tolist() == [2, 6, 10, 14, 18]


def test_segment_short_video_repeats_frames():
    idx = SegmentSampler(8, mode="test").sample(3)
    assert idx.shape == (1, 8) and idx.max() <= 2 and set(idx[0].tolist()) == {0, 1, 2}


def test_dense_clip_train_and_test():
    s = DenseClipSampler(16, stride=2, mode="train")
    for seed in range(10):
        idx = s.sample(100, rng=seed)[0]
        assert np.all(np.diff(idx) == 2) and idx[0] >= 0 and idx[-1] <= 99
    starts = {int(s.sample(100, rng=seed)[0, 0]) for seed in range(30)}
    assert len(starts) > 10  # temporal jittering
    assert DenseClipSampler(4, stride=3, mode="test").sample(20).tolist() == [[5, 8, 11, 14]]


@pytest.mark.parametrize("short,expected", [
    ("loop", [[0, 1, 2, 3, 4, 0, 1, 2]]),
    ("pad", [[0, 1, 2, 3, 4, 4, 4, 4]]),
])
def test_dense_clip_short_video_policies(short, expected):
    assert DenseClipSampler(8, mode="test", short=short).sample(5).tolist() == expected


def test_dense_clip_short_error_and_empty_video():
    with pytest.raises(ValueError, match="5 frames.*spans 8"):
        DenseClipSampler(8, short="error").sample(5)
    with pytest.raises(ValueError, match="0 frames"):
        DenseClipSampler(8).sample(0)


def test_uniform_clips_cover_the_video():
    idx = UniformClipSampler(8, stride=2, num_clips=10).sample(300)
    assert idx.shape == (10, 8)
    assert idx[0, 0] == 0 and idx[-1, -1] == 299
    assert np.all(np.diff(idx[:, 0]) > 0)
    assert UniformClipSampler(4, num_clips=1).sample(10).tolist() == [[3, 4, 5, 6]]
    # at least one clip
    assert UniformClipSampler(4, num_clips=None).sample(3).tolist() == [[0, 1, 2, 0]]
    assert (UniformClipSampler(4, stride=2, num_clips=None).sample(20).tolist()
            == [[0, 2, 4, 6], [8, 10, 12, 14]])


def test_adaptive_allocates_by_motion():
    motion = np.r_[np.full(25, 0.1), np.full(25, 0.3), np.zeros(49)]
    s = AdaptiveSampler(num_samples=16, num_segments=4)
    idx = s.sample(100, motion=motion)[0]
    assert idx.shape == (16,) and np.all(np.diff(idx) >= 0)
    counts = np.bincount(idx // 25, minlength=4)
    assert counts.tolist() == [4, 12, 0, 0]
    train = AdaptiveSampler(16, 4, mode="train")
    np.testing.assert_array_equal(train.sample(100, rng=1, motion=motion),
                                  train.sample(100, rng=1, motion=motion))
    with pytest.raises(ValueError, match="motion"):
        s.sample(100)


def test_adaptive_static_video_falls_back_to_uniform():
    idx = AdaptiveSampler(8, 4).sample(80, motion=np.zeros(79))[0]
    assert np.bincount(idx // 20, minlength=4).tolist() == [2, 2, 2, 2]


def test_audio_window_aligned_with_frames():
    assert audio_window([25, 30, 49], fps=25) == (1.0, 2.0)
    start, end = audio_window(np.arange(50, 66), fps=25, num_examples=1)
    assert end - start == pytest.approx(0.975)
    assert (start + end) / 2 == pytest.approx((50 / 25 + 66 / 25) / 2)
    start, end = audio_window([0, 1], fps=25, num_examples=2)
    assert start == 0.0 and end == pytest.approx(1.935)


def test_bad_parameters():
    with pytest.raises(ValueError, match="num_segments"):
        SegmentSampler(0)
    with pytest.raises(ValueError, match="mode"):
        DenseClipSampler(8, mode="eval")
    with pytest.raises(ValueError, match="short"):
        UniformClipSampler(8, short="wrap")
