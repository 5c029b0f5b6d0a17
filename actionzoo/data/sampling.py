"""Temporal sampling: which frames of a video a model sees.

Every sampler maps a frame count to an ``int64`` index array of shape
``(num_views, length)``: ``num_views`` test views (clips or TSN offsets)
of ``length`` frames each. Training samplers draw from a
:class:`numpy.random.Generator`, so the same seed gives the same frames.

Short videos (fewer frames than a clip spans) are handled by a documented
policy, never by an error unless asked: ``short="loop"`` wraps around to the
start (the clip repeats the video), ``short="pad"`` repeats the last frame,
``short="error"`` raises.

Container headers can over-state the frame count (a truncated download, a
Matroska duration rounded up). Every consumer of sampled frames -- the
:class:`~actionzoo.data.ClipLoader`, optical-flow stacks, the feature
estimators and through them the command line -- samples and reads through
:func:`read_sampled`, which recounts by decoding and resamples once.
"""
from __future__ import annotations

import numpy as np

from ._params import ParamsEquality
from .errors import FrameCountError
from .logmel import EXAMPLE_FRAMES, HOP_SECONDS, WINDOW_SECONDS

__all__ = [
    "Sampler", "SegmentSampler", "DenseClipSampler", "UniformClipSampler",
    "AdaptiveSampler", "audio_window", "as_rng", "read_sampled",
]

_MODES = ("train", "test")
_SHORT = ("loop", "pad", "error")


def as_rng(rng=None):
    """Turn ``None``, an int seed or a Generator into a Generator.

    Examples
    --------
    >>> as_rng(0).integers(100) == as_rng(0).integers(100)
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _check_positive(**values):
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


class Sampler(ParamsEquality):
    """Base class. Subclasses implement :meth:`_sample`.

    Attributes
    ----------
    num_views : int or None
        Views per video (1 in training; ``None`` when it depends on the
        video's length).
    length : int
        Frames per view.
    requires_motion : bool
        Whether :meth:`sample` needs a per-frame motion profile.
    """

    requires_motion = False
    mode = "test"

    def sample(self, num_frames, rng=None, motion=None):
        """Frame indices for a video of ``num_frames`` frames.

        Parameters
        ----------
        num_frames : int
            Frames in the video (>= 1).
        rng : numpy.random.Generator or int, optional
            Randomness for training mode.
        motion : array-like, optional
            Mean flow magnitude per frame transition (only for samplers with
            ``requires_motion``).

        Returns
        -------
        numpy.ndarray
            ``int64`` ``(num_views, length)`` with values in
            ``[0, num_frames)``.
        """
        num_frames = int(num_frames)
        if num_frames < 1:
            raise ValueError(f"cannot sample from a video with {num_frames} frames")
        out = np.asarray(self._sample(num_frames, as_rng(rng), motion), np.int64)
        return out.reshape(-1 if self.num_views is None else self.num_views, self.length)


class SegmentSampler(Sampler):
    """TSN sparse sampling: one frame from each of ``num_segments`` segments.

    The video is split into equal segments; training picks a random frame
    in each, testing takes the segment centre. With ``test_views > 1``
    testing returns that many sequences at offsets ``(v + 0.5) / test_views``
    within the segments (STFN: 5 segments x 5 sequences). Videos with fewer
    frames than segments repeat frames.

    Parameters
    ----------
    num_segments : int, default 3
    mode : {"train", "test"}, default "train"
    test_views : int, default 1

    Examples
    --------
    >>> SegmentSampler(4, mode="test").sample(40).tolist()
    [[5, 15, 25, 35]]
    >>> SegmentSampler(3, mode="test", test_views=2).sample(30).tolist()
    [[2, 12, 22], [7, 17, 27]]
    """

    def __init__(self, num_segments=3, mode="train", test_views=1):
        _check_positive(num_segments=num_segments, test_views=test_views)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        self.num_segments = int(num_segments)
        self.mode = mode
        self.test_views = int(test_views)

    @property
    def num_views(self):
        return 1 if self.mode == "train" else self.test_views

    @property
    def length(self):
        return self.num_segments

    def _sample(self, n, rng, motion):
        k = self.num_segments
        edges = np.arange(k + 1) * n / k
        starts, sizes = edges[:-1], np.diff(edges)
        if self.mode == "train":
            offsets = rng.random(k)[None]
        else:
            offsets = ((np.arange(self.num_views) + 0.5) / self.num_views)[:, None]
        return np.minimum(np.floor(starts + offsets * sizes), n - 1)


def _apply_short_policy(idx, n, short, span, name):
    if idx.max() < n:
        return idx
    if short == "loop":
        return idx % n
    if short == "pad":
        return np.minimum(idx, n - 1)
    raise ValueError(f"video has {n} frames but {name} spans {span} frames (short='error')")


class DenseClipSampler(Sampler):
    """One clip of ``clip_length`` frames taken every ``stride`` frames.

    Training draws the start uniformly (temporal jittering); testing takes
    the centred clip.

    Parameters
    ----------
    clip_length : int, default 16
    stride : int, default 1
    mode : {"train", "test"}, default "train"
    short : {"loop", "pad", "error"}, default "loop"
        Policy for videos shorter than ``(clip_length - 1) * stride + 1``.

    Examples
    --------
    >>> DenseClipSampler(4, stride=2, mode="test").sample(20).tolist()
    [[6, 8, 10, 12]]
    >>> DenseClipSampler(4, mode="test", short="loop").sample(3).tolist()
    [[0, 1, 2, 0]]
    """

    num_views = 1

    def __init__(self, clip_length=16, stride=1, mode="train", short="loop"):
        _check_positive(clip_length=clip_length, stride=stride)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if short not in _SHORT:
            raise ValueError(f"short must be one of {_SHORT}, got {short!r}")
        self.clip_length = int(clip_length)
        self.stride = int(stride)
        self.mode = mode
        self.short = short

    @property
    def length(self):
        return self.clip_length

    @property
    def span(self):
        """Frames covered by one clip."""
        return (self.clip_length - 1) * self.stride + 1

    def _sample(self, n, rng, motion):
        room = max(n - self.span, 0)
        start = rng.integers(room + 1) if self.mode == "train" else room // 2
        idx = start + np.arange(self.clip_length) * self.stride
        return _apply_short_policy(idx, n, self.short, self.span, "a clip")[None]


class UniformClipSampler(Sampler):
    """Test clips spread uniformly over the video.

    With ``num_clips=n`` clip starts are evenly spaced from the first to the
    last possible start, as in the 10-clip testing of CorrNet/R(2+1)D. With
    ``num_clips=None`` the video is cut into consecutive non-overlapping
    clips (STC testing; at least one clip), so the number of views depends
    on the video's length.

    Parameters
    ----------
    clip_length : int, default 16
    stride : int, default 1
    num_clips : int or None, default 10
    short : {"loop", "pad", "error"}, default "loop"

    Examples
    --------
    >>> UniformClipSampler(2, num_clips=3).sample(11).tolist()
    [[0, 1], [4, 5], [9, 10]]
    >>> UniformClipSampler(4, num_clips=None).sample(11).tolist()
    [[0, 1, 2, 3], [4, 5, 6, 7]]
    """

    mode = "test"

    def __init__(self, clip_length=16, stride=1, num_clips=10, short="loop"):
        _check_positive(clip_length=clip_length, stride=stride)
        if num_clips is not None:
            _check_positive(num_clips=num_clips)
        if short not in _SHORT:
            raise ValueError(f"short must be one of {_SHORT}, got {short!r}")
        self.clip_length = int(clip_length)
        self.stride = int(stride)
        self.num_clips = None if num_clips is None else int(num_clips)
        self.short = short

    @property
    def num_views(self):
        return self.num_clips

    @property
    def length(self):
        return self.clip_length

    @property
    def span(self):
        return (self.clip_length - 1) * self.stride + 1

    def _sample(self, n, rng, motion):
        room = max(n - self.span, 0)
        if self.num_clips is None:
            step = self.clip_length * self.stride
            starts = np.arange(room // step + 1) * step
        elif self.num_clips == 1:
            starts = np.array([room // 2])
        else:
            starts = np.round(np.linspace(0, room, self.num_clips)).astype(np.int64)
        idx = starts[:, None] + np.arange(self.clip_length)[None] * self.stride
        return _apply_short_policy(idx, n, self.short, self.span, "a clip")


class AdaptiveSampler(Sampler):
    """Motion-adaptive sampling (Tkachenko, MultiStreamGRU, Sec. IV-F).

    The video is split into ``num_segments`` equal segments; each gets a
    share of the ``num_samples`` frames proportional to its mean optical
    flow magnitude (largest-remainder rounding; a small floor keeps static
    segments from being starved entirely when ``min_per_segment > 0``).
    Within a segment frames are evenly spaced (test) or drawn at random
    (train). Indices are returned in temporal order.

    Parameters
    ----------
    num_samples : int, default 32
        Sequence length.
    num_segments : int, default 8
    mode : {"train", "test"}, default "test"
    min_per_segment : int, default 0

    Examples
    --------
    >>> motion = np.r_[np.zeros(50), np.ones(49)]  # still first half, motion after
    >>> s = AdaptiveSampler(num_samples=8, num_segments=2)
    >>> s.sample(100, motion=motion).tolist()
    [[53, 59, 65, 71, 78, 84, 90, 96]]
    """

    requires_motion = True
    num_views = 1

    def __init__(self, num_samples=32, num_segments=8, mode="test", min_per_segment=0):
        _check_positive(num_samples=num_samples, num_segments=num_segments)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if min_per_segment * num_segments > num_samples:
            raise ValueError("min_per_segment * num_segments exceeds num_samples")
        self.num_samples = int(num_samples)
        self.num_segments = int(num_segments)
        self.mode = mode
        self.min_per_segment = int(min_per_segment)

    @property
    def length(self):
        return self.num_samples

    def allocate(self, segment_motion):
        """Samples per segment, proportional to ``segment_motion``.

        Examples
        --------
        >>> AdaptiveSampler(10, 3).allocate([1.0, 3.0, 1.0]).tolist()
        [2, 6, 2]
        """
        m = np.maximum(np.asarray(segment_motion, np.float64), 0)
        free = self.num_samples - self.min_per_segment * m.size
        weights = m / m.sum() if m.sum() > 0 else np.full(m.size, 1.0 / m.size)
        share = weights * free
        counts = np.floor(share).astype(np.int64)
        remainder = free - counts.sum()
        order = np.argsort(-(share - counts), kind="stable")
        counts[order[:remainder]] += 1
        return counts + self.min_per_segment

    def _sample(self, n, rng, motion):
        if motion is None:
            raise ValueError("AdaptiveSampler needs the per-frame motion profile (motion=...)")
        motion = np.asarray(motion, np.float64).reshape(-1)
        per_frame = np.zeros(n)
        per_frame[: min(n, motion.size)] = motion[:n]
        edges = np.floor(np.arange(self.num_segments + 1) * n / self.num_segments).astype(np.int64)
        bounds = list(zip(edges[:-1], edges[1:], strict=True))
        seg_motion = [per_frame[a:b].mean() if b > a else 0.0 for a, b in bounds]
        out = []
        for (a, b), count in zip(bounds, self.allocate(seg_motion), strict=True):
            if count == 0:
                continue
            size = max(b - a, 1)
            if self.mode == "train":
                picks = np.sort(rng.integers(0, size, count))
            else:
                picks = np.floor((np.arange(count) + 0.5) * size / count)
            out.append(np.minimum(a + picks, n - 1))
        return np.concatenate(out)


def audio_window(indices, fps, num_examples=None):
    """Time span (seconds) of the audio that goes with sampled frames.

    The span runs from the first sampled frame to the end of the last one,
    ``[min / fps, (max + 1) / fps)``. With ``num_examples`` it is widened
    (or narrowed) around the same centre to exactly cover that many VGGish
    examples (``0.96 * n + 0.015`` s), shifted right if it would start
    before 0.

    Parameters
    ----------
    indices : array-like of int
        Sampled frame indices.
    fps : float
    num_examples : int, optional

    Returns
    -------
    (float, float)
        ``start, end`` in seconds.

    Examples
    --------
    >>> audio_window([25, 30, 49], fps=25.0)
    (1.0, 2.0)
    >>> start, end = audio_window([25, 49], fps=25.0, num_examples=1)
    >>> round(start, 4), round(end, 4)
    (1.0125, 1.9875)
    """
    idx = np.asarray(indices).reshape(-1)
    start, end = float(idx.min()) / fps, float(idx.max() + 1) / fps
    if num_examples is None:
        return start, end
    length = num_examples * EXAMPLE_FRAMES * HOP_SECONDS + (WINDOW_SECONDS - HOP_SECONDS)
    centre = (start + end) / 2.0
    start = max(centre - length / 2.0, 0.0)
    return start, start + length


def read_sampled(source, sample, read):
    """Sample frame indices of ``source`` and read them, recounting once if needed.

    The one frame-count path of the package: when the header over-stated
    the length and a sampled index lies past the last decodable frame,
    ``read`` raises :class:`~actionzoo.data.FrameCountError`; the frames
    are then counted by decoding (``source.count_frames()``, which updates
    ``source.info.num_frames``) and ``sample`` is called again for the real
    count. A second failure, or a file without any decodable frame, is
    raised.

    Parameters
    ----------
    source : VideoReader or RecordVideo
        Open video with ``info.num_frames`` and ``count_frames()``.
    sample : callable
        ``sample()`` returns frame indices for ``source.info.num_frames``.
    read : callable
        ``read(indices)`` decodes what the caller needs (frames, flow
        stacks, features) for those indices.

    Returns
    -------
    indices, result
        The indices finally used and ``read(indices)``.

    Examples
    --------
    >>> from actionzoo.data import VideoReader
    >>> with VideoReader("short.mkv") as reader:  # doctest: +SKIP
    ...     indices, frames = read_sampled(
    ...         reader, lambda: SegmentSampler(3, mode="test").sample(reader.info.num_frames),
    ...         lambda idx: reader.read(idx.reshape(-1)))
    """
    indices = sample()
    try:
        return indices, read(indices)
    except FrameCountError as err:
        if err.decoded < 1:
            raise
        source.count_frames()
    indices = sample()
    return indices, read(indices)
