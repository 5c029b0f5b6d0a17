"""Spatial transforms applied identically to every frame of a clip.

A transform is called as ``t(clip, rng, modality)`` where ``clip`` is a
``(T, H, W, C)`` array (RGB frames, or flow stacks with interleaved x/y
channels), ``rng`` a :class:`numpy.random.Generator` and ``modality``
``"rgb"`` or ``"flow"``. It returns ``(T, h, w, C)``, or ``(V, T, h, w, C)``
for multi-view test transforms (:class:`ThreeCrop`, :class:`TenCrop`).
One random draw is made per clip, so all frames get the same crop/flip;
calling a transform on the RGB clip and the flow clip with generators seeded
alike gives them the same geometry. Horizontal flips negate the x
components of flow (``255 - x`` on TSN-quantised flow). Flow is resized and
cropped like an image, as in TSN (displacements are not rescaled).
"""
from __future__ import annotations

import cv2
import numpy as np

from ._params import ParamsEquality
from .flow import flip_flow

__all__ = [
    "Compose", "Resize", "ResizeShortSide", "CenterCrop", "RandomCrop", "MultiScaleCrop",
    "RandomHorizontalFlip", "ThreeCrop", "TenCrop", "resize_clip", "train_transform",
    "eval_transform",
]

_CV_MAX_CHANNELS = 512


def _pair(size):
    if np.isscalar(size):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def resize_clip(clip, height, width):
    """Resize every frame of ``(T, H, W, C)`` to ``(height, width)``.

    Area interpolation when shrinking by more than 2x (anti-aliasing),
    bilinear otherwise.

    Examples
    --------
    >>> resize_clip(np.zeros((2, 10, 20, 3), np.uint8), 5, 10).shape
    (2, 5, 10, 3)
    """
    t, h, w, c = clip.shape
    if (h, w) == (height, width):
        return clip
    area = 4 * height * width < h * w
    interp = cv2.INTER_AREA if area else cv2.INTER_LINEAR
    if c <= 4:  # RGB: frame by frame, no transposed copies (same pixels, ~6x less CPU)
        out = np.empty((t, height, width, c), clip.dtype)
        for i, frame in enumerate(clip):
            resized = cv2.resize(frame, (width, height), interpolation=interp)
            out[i] = resized.reshape(height, width, c)
        return out
    # flow stacks: frames side by side as channels, resized in few calls
    chunk = 4 if area else _CV_MAX_CHANNELS  # OpenCV's area resize takes <= 4 channels
    flat = np.ascontiguousarray(clip.transpose(1, 2, 0, 3).reshape(h, w, t * c))
    parts = [
        cv2.resize(flat[..., i:i + chunk], (width, height), interpolation=interp)
        for i in range(0, t * c, chunk)
    ]
    parts = [p[..., None] if p.ndim == 2 else p for p in parts]
    out = np.concatenate(parts, axis=-1).reshape(height, width, t, c)
    return np.ascontiguousarray(out.transpose(2, 0, 1, 3))


def _crop(clip, top, left, h, w):
    return clip[:, top:top + h, left:left + w]


def _check_fits(clip, h, w, name):
    if clip.shape[1] < h or clip.shape[2] < w:
        raise ValueError(
            f"{name}: crop {h}x{w} larger than frames {clip.shape[1]}x{clip.shape[2]}; "
            "resize first (ResizeShortSide)"
        )


class Compose:
    """Apply transforms in order; only the last may produce several views.

    Examples
    --------
    >>> t = Compose([ResizeShortSide(64), CenterCrop(56)])
    >>> t(np.zeros((4, 120, 160, 3), np.uint8), np.random.default_rng(0)).shape
    (4, 56, 56, 3)
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms[:-1]:
            if getattr(t, "num_views", 1) != 1:
                raise ValueError(f"{t!r} produces several views and must come last")

    @property
    def num_views(self):
        return getattr(self.transforms[-1], "num_views", 1) if self.transforms else 1

    def __call__(self, clip, rng, modality="rgb"):
        for t in self.transforms:
            clip = t(clip, rng, modality)
        return clip

    def __repr__(self):
        return f"Compose({self.transforms!r})"

    def __eq__(self, other):
        return type(self) is type(other) and self.transforms == other.transforms

    def __hash__(self):
        return hash(repr(self))


class _Spatial(ParamsEquality):
    num_views = 1


class Resize(_Spatial):
    """Resize to a fixed ``(height, width)`` (aspect ratio not kept).

    Examples
    --------
    >>> Resize((32, 48))(np.zeros((1, 10, 10, 3), np.uint8), None).shape
    (1, 32, 48, 3)
    """

    def __init__(self, size):
        self.size = _pair(size)

    def __call__(self, clip, rng, modality="rgb"):
        return resize_clip(clip, *self.size)


class ResizeShortSide(_Spatial):
    """Resize so the shorter side equals ``size`` (aspect ratio kept).

    Examples
    --------
    >>> ResizeShortSide(128)(np.zeros((1, 240, 320, 3), np.uint8), None).shape
    (1, 128, 171, 3)
    """

    def __init__(self, size):
        self.size = int(size)

    def __call__(self, clip, rng, modality="rgb"):
        h, w = clip.shape[1:3]
        scale = self.size / min(h, w)
        return resize_clip(clip, max(1, int(round(h * scale))), max(1, int(round(w * scale))))


class CenterCrop(_Spatial):
    """Central ``size`` crop.

    Examples
    --------
    >>> CenterCrop(112)(np.zeros((2, 128, 171, 3), np.uint8), None).shape
    (2, 112, 112, 3)
    """

    def __init__(self, size):
        self.size = _pair(size)

    def __call__(self, clip, rng, modality="rgb"):
        h, w = self.size
        _check_fits(clip, h, w, "CenterCrop")
        top, left = (clip.shape[1] - h) // 2, (clip.shape[2] - w) // 2
        return _crop(clip, top, left, h, w)


class RandomCrop(_Spatial):
    """Crop of ``size`` at a random position (same for all frames).

    Examples
    --------
    >>> RandomCrop(112)(np.zeros((2, 128, 171, 3), np.uint8), np.random.default_rng(0)).shape
    (2, 112, 112, 3)
    """

    def __init__(self, size):
        self.size = _pair(size)

    def __call__(self, clip, rng, modality="rgb"):
        h, w = self.size
        _check_fits(clip, h, w, "RandomCrop")
        top = int(rng.integers(clip.shape[1] - h + 1))
        left = int(rng.integers(clip.shape[2] - w + 1))
        return _crop(clip, top, left, h, w)


class MultiScaleCrop(_Spatial):
    """TSN multi-scale corner cropping.

    Crop width and height are drawn independently from
    ``scales * min(H, W)`` (pairs at most ``max_distort`` scale steps apart,
    so the aspect ratio varies too), placed at one of the four corners or
    the centre (``fix_crop=True``) or anywhere, then resized to ``size``.
    The default scales are 256, 224, 192, 168 relative to a 256 short side.

    Parameters
    ----------
    size : int or (int, int), default 224
    scales : sequence of float, default (1, .875, .75, .66)
    max_distort : int, default 1
    fix_crop : bool, default True

    Examples
    --------
    >>> t = MultiScaleCrop(112)
    >>> t(np.zeros((4, 128, 171, 3), np.uint8), np.random.default_rng(0)).shape
    (4, 112, 112, 3)
    """

    def __init__(self, size=224, scales=(1.0, 0.875, 0.75, 0.66), max_distort=1, fix_crop=True):
        self.size = _pair(size)
        self.scales = tuple(float(s) for s in scales)
        self.max_distort = int(max_distort)
        self.fix_crop = bool(fix_crop)

    def draw(self, height, width, rng):
        """Random crop box ``(top, left, h, w)`` for frames of that size."""
        base = min(height, width)
        sizes = [int(base * s) for s in self.scales]
        pairs = [(ch, cw) for i, ch in enumerate(sizes) for j, cw in enumerate(sizes)
                 if abs(i - j) <= self.max_distort]
        ch, cw = pairs[int(rng.integers(len(pairs)))]
        ch, cw = min(ch, height), min(cw, width)
        if self.fix_crop:
            dy, dx = height - ch, width - cw
            positions = [(0, 0), (0, dx), (dy, 0), (dy, dx), (dy // 2, dx // 2)]
            top, left = positions[int(rng.integers(len(positions)))]
        else:
            top = int(rng.integers(height - ch + 1))
            left = int(rng.integers(width - cw + 1))
        return top, left, ch, cw

    def __call__(self, clip, rng, modality="rgb"):
        top, left, ch, cw = self.draw(clip.shape[1], clip.shape[2], rng)
        return resize_clip(_crop(clip, top, left, ch, cw), *self.size)


def _hflip(clip, modality):
    if modality == "flow":
        return flip_flow(clip)
    return clip[..., ::-1, :]


def _mirrored(clip, modality):
    """Contiguous mirror image of ``clip``.

    RGB frames go through ``cv2.flip`` one by one: copying NumPy's
    reversed-stride view of 3-byte pixels is ~25x slower.
    """
    if modality != "flow" and clip.ndim == 4 and clip.shape[-1] == 3 and clip.dtype == np.uint8:
        out = np.empty(clip.shape, clip.dtype)
        for i, frame in enumerate(clip):
            cv2.flip(frame, 1, dst=out[i])
        return out
    return np.ascontiguousarray(_hflip(clip, modality))


class RandomHorizontalFlip(_Spatial):
    """Mirror the clip with probability ``p``; flow x components are negated.

    Examples
    --------
    >>> flow = np.zeros((1, 1, 2, 2), np.uint8); flow[0, 0, 0] = [200, 60]
    >>> RandomHorizontalFlip(p=1.0)(flow, np.random.default_rng(0), "flow")[0, 0, 1].tolist()
    [55, 60]
    """

    def __init__(self, p=0.5):
        self.p = float(p)

    def __call__(self, clip, rng, modality="rgb"):
        if rng.random() < self.p:
            return _mirrored(clip, modality)
        return clip


class ThreeCrop(_Spatial):
    """Three ``size`` crops along the longer side (start, centre, end).

    Returns ``(3, T, h, w, C)``.

    Examples
    --------
    >>> ThreeCrop(112)(np.zeros((2, 112, 150, 3), np.uint8), None).shape
    (3, 2, 112, 112, 3)
    """

    num_views = 3

    def __init__(self, size):
        self.size = _pair(size)

    def __call__(self, clip, rng, modality="rgb"):
        h, w = self.size
        _check_fits(clip, h, w, "ThreeCrop")
        H, W = clip.shape[1:3]
        if W >= H:
            boxes = [((H - h) // 2, x) for x in (0, (W - w) // 2, W - w)]
        else:
            boxes = [(y, (W - w) // 2) for y in (0, (H - h) // 2, H - h)]
        return np.stack([_crop(clip, top, left, h, w) for top, left in boxes])


class TenCrop(_Spatial):
    """Four corners + centre, and their mirror images (``(10, T, h, w, C)``).

    Examples
    --------
    >>> TenCrop(112)(np.zeros((2, 128, 171, 3), np.uint8), None).shape
    (10, 2, 112, 112, 3)
    """

    num_views = 10

    def __init__(self, size):
        self.size = _pair(size)

    def __call__(self, clip, rng, modality="rgb"):
        h, w = self.size
        _check_fits(clip, h, w, "TenCrop")
        H, W = clip.shape[1:3]
        boxes = [(0, 0), (0, W - w), (H - h, 0), (H - h, W - w), ((H - h) // 2, (W - w) // 2)]
        crops = [_crop(clip, top, left, h, w) for top, left in boxes]
        crops += [_hflip(c, modality) for c in crops]
        return np.stack(crops)


def train_transform(size=224, short_side=256, flip=True):
    """Standard training augmentation: short-side resize, multi-scale crop, flip.

    Examples
    --------
    >>> t = train_transform(112, short_side=128)
    >>> t(np.zeros((4, 240, 320, 3), np.uint8), np.random.default_rng(0)).shape
    (4, 112, 112, 3)
    """
    steps = [ResizeShortSide(short_side), MultiScaleCrop(size)]
    if flip:
        steps.append(RandomHorizontalFlip())
    return Compose(steps)


def eval_transform(size=224, short_side=256, crops=1):
    """Test views: resize the short side, then 1 (centre), 3 or 10 crops.

    Examples
    --------
    >>> eval_transform(112, 128, crops=10).num_views
    10
    """
    views = {1: CenterCrop, 3: ThreeCrop, 10: TenCrop}
    if crops not in views:
        raise ValueError(f"crops must be 1, 3 or 10, got {crops!r}")
    return Compose([ResizeShortSide(short_side), views[crops](size)])
