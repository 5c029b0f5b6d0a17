"""Optical flow: direction, TSN quantisation, stacking, flips and the disk cache."""
import os

import numpy as np
import pytest

import actionzoo.data.flow as flow_module
from actionzoo.data import (
    FlowCache,
    VideoReader,
    compute_flow,
    dequantize_flow,
    flip_flow,
    has_tvl1,
    motion_magnitude,
    quantize_flow,
    read_flow_stacks,
    stack_flow,
    video_flow,
)
from actionzoo.data.encode import write_video


def moving_square(n=8, dx=2, dy=0, size=64):
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (16, 16, 3)).astype(np.uint8)
    frames = np.full((n, size, size, 3), 90, np.uint8)
    for t in range(n):
        x, y = 20 + dx * t, 20 + dy * t
        frames[t, y:y + 16, x:x + 16] = texture
    return frames


@pytest.mark.parametrize("dx,dy", [(2, 0), (-2, 0), (0, 2)])
def test_farneback_recovers_motion_direction(dx, dy):
    # leftward motion: the rightward video played backwards
    frames = moving_square(dx=abs(dx), dy=dy)
    frames = frames[::-1].copy() if dx < 0 else frames
    flow = compute_flow(frames, method="farneback")
    assert flow.shape == (7, 64, 64, 2) and flow.dtype == np.float32
    region = flow[:, 26:30, 28:32]  # inside the square throughout
    np.testing.assert_allclose(region[..., 0].mean(), dx, atol=0.5)
    np.testing.assert_allclose(region[..., 1].mean(), dy, atol=0.5)


def test_auto_method_and_missing_tvl1():
    frames = moving_square(n=3)
    expected_method = "tvl1" if has_tvl1() else "farneback"
    np.testing.assert_array_equal(compute_flow(frames, "auto"),
                                  compute_flow(frames, expected_method))
    if not has_tvl1():
        with pytest.raises(ImportError, match="opencv-contrib"):
            compute_flow(frames, "tvl1")
    with pytest.raises(ValueError, match="method"):
        compute_flow(frames, "horn")


def test_quantisation_is_tsn_bound_20():
    q = quantize_flow(np.array([-25.0, -20.0, -10.0, 0.0, 10.0, 20.0, 99.0]))
    assert q.dtype == np.uint8
    assert q.tolist() == [0, 0, 64, 128, 191, 255, 255]
    np.testing.assert_allclose(dequantize_flow(q)[1:-1], [-20, -10, 0, 10, 20], atol=40 / 255)


def test_flip_negates_x_exactly_and_mirrors():
    rng = np.random.default_rng(1)
    stack = rng.integers(0, 256, (2, 5, 7, 6)).astype(np.uint8)
    flipped = flip_flow(stack)
    np.testing.assert_array_equal(flipped[..., 0::2], 255 - stack[:, :, ::-1, 0::2])
    np.testing.assert_array_equal(flipped[..., 1::2], stack[:, :, ::-1, 1::2])
    np.testing.assert_allclose(dequantize_flow(flipped[..., 0::2]),
                               -dequantize_flow(stack[:, :, ::-1, 0::2]), atol=1e-5)
    np.testing.assert_array_equal(flip_flow(flipped), stack)


def test_stack_interleaves_x_y_and_clamps_edges():
    flow = np.zeros((9, 2, 2, 2), np.uint8)
    flow[..., 0] = np.arange(9)[:, None, None]
    flow[..., 1] = 100 + np.arange(9)[:, None, None]
    stacks = stack_flow(flow, [0, 4, 9], length=4)
    assert stacks.shape == (3, 2, 2, 8)
    assert stacks[1, 0, 0].tolist() == [2, 102, 3, 103, 4, 104, 5, 105]
    assert stacks[0, 0, 0, 0::2].tolist() == [0, 0, 0, 1]  # clamped at the start
    assert stacks[2, 0, 0, 0::2].tolist() == [7, 8, 8, 8]  # clamped at the end
    assert stack_flow(flow, [4], length=10).shape == (1, 2, 2, 20)


def test_motion_magnitude():
    flow = np.zeros((3, 4, 4, 2), np.float32)
    flow[1, ..., 0], flow[1, ..., 1] = 3, 4
    np.testing.assert_allclose(motion_magnitude(flow), [0, 5, 0])
    np.testing.assert_allclose(motion_magnitude(quantize_flow(flow)), [0, 5, 0], atol=0.2)


def test_stacks_from_video_match_whole_video_flow(tmp_path):
    path = write_video(os.fspath(tmp_path / "square.avi"), moving_square(n=12), bit_rate=4_000_000)
    whole = video_flow(path, method="farneback")
    assert whole.shape == (11, 64, 64, 2) and whole.dtype == np.uint8
    with VideoReader(path) as reader:
        stacks = read_flow_stacks(reader, [0, 6, 11], length=4, method="farneback")
    np.testing.assert_array_equal(stacks, stack_flow(whole, [0, 6, 11], length=4))
    assert dequantize_flow(stacks[1, 26:30, 28:32, 0::2]).mean() == pytest.approx(2, abs=0.5)


def test_single_frame_video_has_zero_motion(tmp_path):
    path = write_video(os.fspath(tmp_path / "still.mp4"), moving_square(n=1))
    with VideoReader(path) as reader:
        stacks = read_flow_stacks(reader, [0], length=3)
    assert stacks.shape == (1, 64, 64, 6)
    assert (stacks == 128).all()


def test_cache_hits_skip_decoding_and_key_tracks_content_and_params(tmp_path, monkeypatch):
    path = write_video(os.fspath(tmp_path / "square.avi"), moving_square(n=6))
    cache = FlowCache(tmp_path / "cache")
    first = video_flow(path, method="farneback", cache=cache)
    assert len(os.listdir(cache.directory)) == 1

    def fail(*args, **kwargs):
        raise AssertionError("decoded despite a cache hit")

    monkeypatch.setattr(flow_module, "VideoReader", fail)
    # a new cache object
    again = video_flow(path, method="farneback", cache=os.fspath(tmp_path / "cache"))
    np.testing.assert_array_equal(first, again)
    copy = tmp_path / "renamed.avi"
    copy.write_bytes(open(path, "rb").read())
    assert cache.key(copy, method="farneback", bound=20.0, short_side=None) == \
        cache.key(path, method="farneback", bound=20.0, short_side=None)
    assert cache.key(path, method="farneback", bound=20.0, short_side=32) != \
        cache.key(path, method="farneback", bound=20.0, short_side=None)
    other = tmp_path / "other.avi"
    other.write_bytes(open(path, "rb").read() + b"\0")
    assert cache.key(other, method="farneback", bound=20.0, short_side=None) != \
        cache.key(path, method="farneback", bound=20.0, short_side=None)
