"""Spatial transforms on clips (RGB and TSN-quantised flow)."""
import numpy as np
import pytest

from actionzoo.data import (
    CenterCrop,
    Compose,
    MultiScaleCrop,
    RandomHorizontalFlip,
    ResizeShortSide,
    TenCrop,
    ThreeCrop,
    dequantize_flow,
    eval_transform,
    train_transform,
)


def ramp_clip(t=3, h=60, w=80):
    """Pixel value encodes the column, so crops and flips are visible."""
    cols = np.tile(np.arange(w, dtype=np.uint8), (h, 1))
    return np.repeat(np.stack([cols] * t)[..., None], 3, axis=-1)


def test_resize_short_side_keeps_aspect():
    assert ResizeShortSide(30)(ramp_clip(), None).shape == (3, 30, 40, 3)
    assert ResizeShortSide(30)(ramp_clip(h=81, w=61), None).shape == (3, 40, 30, 3)  # odd sizes


def test_multiscale_crop_same_box_on_every_frame_and_allowed_sizes():
    t = MultiScaleCrop(size=32, scales=(1, 0.875, 0.75, 0.66))
    sizes = set()
    for seed in range(40):
        rng = np.random.default_rng(seed)
        top, left, ch, cw = t.draw(60, 80, rng)
        sizes.add((ch, cw))
        assert (top, left) in {(0, 0), (0, 80 - cw), (60 - ch, 0), (60 - ch, 80 - cw),
                               ((60 - ch) // 2, (80 - cw) // 2)}
        out = t(ramp_clip(), np.random.default_rng(seed))
        assert out.shape == (3, 32, 32, 3)
        np.testing.assert_array_equal(out[0], out[2])
    allowed = {int(60 * s) for s in (1, 0.875, 0.75, 0.66)}
    assert all(ch in allowed and cw in allowed for ch, cw in sizes)
    assert any(ch != cw for ch, cw in sizes)  # aspect-ratio jitter


def test_flip_rgb_mirrors_and_flow_negates_x():
    rng = np.random.default_rng(0)
    flipped = RandomHorizontalFlip(p=1.0)(ramp_clip(), rng)
    assert flipped[0, 0, 0, 0] == 79 and flipped[0, 0, -1, 0] == 0
    flow = np.zeros((1, 4, 6, 4), np.uint8)
    flow[..., 0::2] = 200  # rightward motion
    flow[..., 1::2] = 60
    out = RandomHorizontalFlip(p=1.0)(flow, rng, "flow")
    assert (dequantize_flow(out[..., 0::2]) < -10).all()
    np.testing.assert_array_equal(out[..., 1::2], 60)
    assert RandomHorizontalFlip(p=0.0)(ramp_clip(), rng) is not None


def test_identical_seeds_give_identical_geometry_for_rgb_and_flow():
    t = train_transform(32, short_side=40)
    rgb = ramp_clip(h=60, w=80)
    flow = np.ascontiguousarray(ramp_clip(h=60, w=80)[..., :2])
    for seed in range(10):
        a = t(rgb, np.random.default_rng(seed), "rgb")
        b = t(flow, np.random.default_rng(seed), "flow")
        flipped = a[0, 0, 0, 0] > a[0, 0, -1, 0]
        if flipped:
            np.testing.assert_array_equal(b[..., 0], 255 - a[..., 0])
        else:
            np.testing.assert_array_equal(b[..., 0], a[..., 0])
        np.testing.assert_array_equal(b[..., 1], a[..., 1])


def test_multi_view_crops():
    clip = ramp_clip(h=40, w=70)
    three = ThreeCrop(40)(clip, None)
    assert three.shape == (3, 3, 40, 40, 3)
    assert [int(v[0, 0, 0, 0]) for v in three] == [0, 15, 30]
    ten = TenCrop(32)(clip, None)
    assert ten.shape == (10, 3, 32, 32, 3)
    np.testing.assert_array_equal(ten[5], ten[0][:, :, ::-1])
    assert CenterCrop(32)(clip, None)[0, 0, 0, 0] == 19


def test_compose_rules_and_presets():
    with pytest.raises(ValueError, match="must come last"):
        Compose([TenCrop(32), ResizeShortSide(32)])
    assert eval_transform(32, 40, crops=3).num_views == 3
    with pytest.raises(ValueError, match="crops"):
        eval_transform(32, 40, crops=5)
    with pytest.raises(ValueError, match="larger than frames"):
        CenterCrop(100)(ramp_clip(), None)


def test_transforms_and_samplers_compare_copy_and_pickle():
    import copy
    import pickle

    from actionzoo.data import DenseClipSampler

    t = train_transform(112, short_side=128)
    assert pickle.loads(pickle.dumps(t)) == t and copy.deepcopy(t) == t
    assert t != train_transform(112, short_side=128, flip=False)
    s = DenseClipSampler(16, stride=2)
    assert pickle.loads(pickle.dumps(s)) == s and s != DenseClipSampler(16, stride=1)
    assert "stride=2" in repr(s)


def _resize_channels_side_by_side(clip, height, width):
    """Reference: all frames of the clip as channels of one image, resized 4 channels at a time."""
    import cv2

    t, h, w, c = clip.shape
    interp = cv2.INTER_AREA if 4 * height * width < h * w else cv2.INTER_LINEAR
    flat = np.ascontiguousarray(clip.transpose(1, 2, 0, 3).reshape(h, w, t * c))
    parts = [cv2.resize(flat[..., i:i + 4], (width, height), interpolation=interp)
             for i in range(0, t * c, 4)]
    parts = [p[..., None] if p.ndim == 2 else p for p in parts]
    return np.concatenate(parts, axis=-1).reshape(height, width, t, c).transpose(2, 0, 1, 3)


@pytest.mark.parametrize("channels", [1, 3, 4, 20])
def test_resize_clip_frame_by_frame_equals_frames_as_channels(channels):
    """The per-frame path (RGB) gives the pixels of resizing all frames at once."""
    from actionzoo.data.transforms import resize_clip

    rng = np.random.default_rng(channels)
    for _ in range(20):
        h, w = rng.integers(8, 200, 2)
        height, width = rng.integers(4, 150, 2)
        full = rng.integers(0, 256, (4, h + 9, w + 5, channels), dtype=np.uint8)
        crop = full[:, 4:4 + h, 1:1 + w]  # a view, as crops pass it
        out = resize_clip(crop, height, width)
        assert out.shape == (4, height, width, channels) and out.flags.c_contiguous
        np.testing.assert_array_equal(out, _resize_channels_side_by_side(crop, height, width))


def test_flip_of_a_cropped_view_equals_numpy_mirror():
    clip = np.random.default_rng(0).integers(0, 256, (5, 40, 50, 3), dtype=np.uint8)
    for view in (clip, clip[:, 3:30, 7:44], clip[:, ::2]):
        out = RandomHorizontalFlip(p=1.0)(view, np.random.default_rng(0))
        assert out.flags.c_contiguous
        np.testing.assert_array_equal(out, view[:, :, ::-1])
