"""Load one video into model-ready arrays (the per-element work of a pipeline).

:class:`ClipLoader` ties decoding, sampling, flow, audio and transforms
together for a single file. It is plain Python/NumPy, so the same object
serves the tf.data pipeline (:func:`actionzoo.data.make_dataset`), the
TFRecord writer and a single-threaded loop.
"""
from __future__ import annotations

import os

import av
import cv2
import numpy as np

from .audio import DEFAULT_SAMPLE_RATE, audio_slice, read_audio
from .errors import DataError
from .flow import (
    FLOW_BOUND,
    FlowCache,
    compute_flow,
    motion_magnitude,
    read_flow_stacks,
    video_flow,
)
from .logmel import EXAMPLE_FRAMES, NUM_MEL_BANDS, log_mel_examples, spectrogram_examples
from .sampling import audio_window, read_sampled
from .transforms import Compose, ResizeShortSide, resize_clip
from .video import VideoReader

__all__ = ["MODALITIES", "BAD_INPUT_ERRORS", "ClipLoader", "check_outputs", "empty_outputs"]

#: Modalities a loader can produce.
MODALITIES = ("rgb", "flow", "audio")
#: Exceptions that mean "bad input file" (skipped under ``on_error="skip"``).
BAD_INPUT_ERRORS = (DataError, OSError, ValueError, cv2.error, av.error.FFmpegError)


def check_outputs(out, spec, where):
    """The arrays of ``out`` in ``spec`` order, cast to the spec's dtypes.

    Parameters
    ----------
    out : dict
        What a loader returned.
    spec : dict
        :meth:`ClipLoader.output_spec` (``None`` in a shape matches any length).
    where : str
        The file, named in the error.

    Returns
    -------
    list of numpy.ndarray

    Raises
    ------
    DataError
        An array's shape differs from the spec.

    Examples
    --------
    >>> import numpy as np
    >>> spec = {"rgb": ((2, 4, 4, 3), "uint8")}
    >>> [a.shape for a in check_outputs({"rgb": np.zeros((2, 4, 4, 3))}, spec, "a.avi")]
    [(2, 4, 4, 3)]
    """
    arrays = []
    for key, (shape, dtype) in spec.items():
        a = np.asarray(out[key], dtype=dtype)
        if len(a.shape) != len(shape) or any(
                e is not None and e != d for e, d in zip(shape, a.shape, strict=True)):
            raise DataError(where, f"{key} has shape {a.shape}, expected {shape}")
        arrays.append(a)
    return arrays


def empty_outputs(spec, n=1):
    """Zero arrays of ``n`` rows in ``spec`` order (a ``None`` length becomes 0): the
    placeholder rows of files that failed to load.

    Examples
    --------
    >>> [a.shape for a in empty_outputs({"rgb": ((None, 4, 4, 3), "uint8")}, 2)]
    [(2, 0, 4, 4, 3)]
    """
    return [np.zeros((n,) + tuple(d or 0 for d in shape), dtype) for shape, dtype in spec.values()]


def _seeded(seed, *keys):
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *keys])


class ClipLoader:
    """Decode, sample and transform one video.

    Parameters
    ----------
    sampler : Sampler
        Temporal sampler (:mod:`actionzoo.data.sampling`).
    transform : callable, optional
        Spatial transform (:mod:`actionzoo.data.transforms`); applied to the
        RGB clip and the flow clip with identical random draws.
    modalities : sequence of {"rgb", "flow", "audio"}, default ("rgb",)
    frame_size : int or (int, int), optional
        Output frame size. Defaults to what ``transform`` produces; frames
        that come out of the transform at another size (odd-sized inputs)
        are resized to it, so every element has the same shape.
    short_side : int, optional
        Decode at this short side. Defaults to the size of a leading
        :class:`ResizeShortSide` in ``transform`` (done in the decoder's
        scaler, which is faster than resizing afterwards).
    flow_length : int, default 10
        Flows per stack (``2 * flow_length`` channels per sampled frame).
    flow_method : {"auto", "tvl1", "farneback"}, default "auto"
    flow_bound : float, default 20
    flow_cache : str or FlowCache, optional
        Cache whole-video flow on disk (also used for adaptive sampling).
    audio_examples : int, default 1
        VGGish examples per view (silence-padded).
    audio_span : {"clip", "video"}, default "clip"
        ``"clip"``: audio window centred on each view's frames
        (:func:`~actionzoo.data.sampling.audio_window`); ``"video"``: the
        whole track from the start.
    motion_short_side : int, default 64
        Resolution of the flow used for the motion profile of
        motion-adaptive samplers.

    Examples
    --------
    >>> from actionzoo.data import DenseClipSampler, train_transform
    >>> loader = ClipLoader(DenseClipSampler(16, stride=2),
    ...                     train_transform(112, short_side=128),
    ...                     modalities=("rgb", "audio"))
    >>> out = loader("v_Run_g01_c01.avi", seed=0)  # doctest: +SKIP
    >>> out["rgb"].shape, out["audio"].shape, out["has_audio"]  # doctest: +SKIP
    ((16, 112, 112, 3), (1, 96, 64), True)
    """

    def __init__(self, sampler, transform=None, modalities=("rgb",), *, frame_size=None,
                 short_side=None, flow_length=10, flow_method="auto", flow_bound=FLOW_BOUND,
                 flow_cache=None, audio_examples=1, audio_span="clip",
                 sample_rate=DEFAULT_SAMPLE_RATE, motion_short_side=64):
        modalities = (modalities,) if isinstance(modalities, str) else tuple(modalities)
        unknown = [m for m in modalities if m not in MODALITIES]
        if unknown or not modalities or len(set(modalities)) != len(modalities):
            raise ValueError(f"modalities must be distinct values from {MODALITIES}, "
                             f"got {modalities!r}")
        if audio_span not in ("clip", "video"):
            raise ValueError(f"audio_span must be 'clip' or 'video', got {audio_span!r}")
        self.sampler = sampler
        self.transform = transform
        self.modalities = modalities
        self.flow_length = int(flow_length)
        self.flow_method = flow_method
        self.flow_bound = float(flow_bound)
        if flow_cache is not None and not isinstance(flow_cache, FlowCache):
            flow_cache = FlowCache(flow_cache)
        self.flow_cache = flow_cache
        self.audio_examples = int(audio_examples)
        self.audio_span = audio_span
        self.sample_rate = int(sample_rate)
        self.motion_short_side = motion_short_side
        if short_side is None and isinstance(transform, Compose) and transform.transforms \
                and isinstance(transform.transforms[0], ResizeShortSide):
            short_side = transform.transforms[0].size
        self.short_side = short_side
        self.frame_size = self._infer_frame_size(frame_size)

    # -- shapes ------------------------------------------------------------
    @property
    def needs_frames(self):
        return "rgb" in self.modalities or "flow" in self.modalities

    @property
    def num_views(self):
        """Views per video: sampler views x transform views (None: varies per video)."""
        if self.sampler.num_views is None:
            return None
        return self.sampler.num_views * getattr(self.transform, "num_views", 1)

    def _infer_frame_size(self, frame_size):
        if not self.needs_frames:
            return None
        if frame_size is not None:
            if np.isscalar(frame_size):
                return (int(frame_size), int(frame_size))
            return tuple(map(int, frame_size))
        if self.transform is None:
            raise ValueError("frame_size is required when no transform fixes the frame size")
        probe = np.zeros((1, 240, 320, 3), np.uint8)
        shape = self.transform(probe, np.random.default_rng(0), "rgb").shape
        return int(shape[-3]), int(shape[-2])

    def output_spec(self):
        """Shape (without batch axis) and dtype of every output array.

        A leading view axis is present unless there is exactly one view; its
        length is ``None`` when the sampler's number of views depends on the
        video (non-overlapping clips). Audio views follow the sampler views
        (crops share audio).

        Examples
        --------
        >>> from actionzoo.data import SegmentSampler, eval_transform
        >>> ClipLoader(SegmentSampler(5, mode="test"), eval_transform(112, 128)).output_spec()
        {'rgb': ((5, 112, 112, 3), 'uint8')}
        """
        v = () if self.num_views == 1 else (self.num_views,)
        t = (self.sampler.length,)
        spec = {}
        if "rgb" in self.modalities:
            spec["rgb"] = (v + t + self.frame_size + (3,), "uint8")
        if "flow" in self.modalities:
            spec["flow"] = (v + t + self.frame_size + (2 * self.flow_length,), "uint8")
        if "audio" in self.modalities:
            one_view = self.sampler.num_views == 1 or self.audio_span == "video"
            s = () if one_view else (self.sampler.num_views,)
            spec["audio"] = (s + (self.audio_examples, EXAMPLE_FRAMES, NUM_MEL_BANDS), "float32")
            spec["has_audio"] = ((), "bool")
        return spec

    # -- loading -------------------------------------------------------------
    def _motion(self, reader):
        if self.flow_cache is not None:
            flow = video_flow(reader.path, method=self.flow_method, bound=self.flow_bound,
                              short_side=self.motion_short_side, cache=self.flow_cache)
            return motion_magnitude(flow, self.flow_bound)
        frames = reader.read(short_side=self.motion_short_side)
        return motion_magnitude(compute_flow(frames, self.flow_method))

    def sample_indices(self, reader, seed=0):
        """Sample frame indices for the reader's current frame count (see ``read_sampled``)."""
        motion = self._motion(reader) if self.sampler.requires_motion else None
        num_frames = reader.info.num_frames
        if motion is not None:
            num_frames = min(num_frames, motion.size + 1)
        return self.sampler.sample(num_frames, _seeded(seed, 0), motion)

    def _views(self, clips, seed, modality):
        """Transform each sampler view; returns (V, T, h, w, C)."""
        out = []
        for s, clip in enumerate(clips):
            if self.transform is not None:
                clip = self.transform(clip, _seeded(seed, 1, s), modality)
            clip = clip if clip.ndim == 5 else clip[None]
            h, w = self.frame_size
            out.extend(resize_clip(c, h, w) for c in clip)
        return np.stack(out)

    @staticmethod
    def _squeeze(x, views):
        return x[0] if views == 1 else x

    def __call__(self, path, seed=0):
        """Load ``path``; returns a dict of arrays matching :meth:`output_spec`.

        Parameters
        ----------
        path : str or path-like
        seed : int, default 0
            Seed for sampling and augmentation of this element.

        Returns
        -------
        dict
            ``"rgb"``, ``"flow"``, ``"audio"``, ``"has_audio"`` as requested,
            plus ``"indices"``: the sampled frame indices ``(views, length)``.
        """
        with VideoReader(os.fspath(path)) as reader:
            return self.load(reader, seed)

    def load(self, source, seed=0):
        """Load from an open source (a :class:`VideoReader` or a parsed record).

        Sources may provide stored flow (``flow_stacks(centers, length)``)
        and a stored log-mel spectrogram (``log_mel``, ``has_audio``);
        otherwise flow is computed and audio decoded from ``source.path``.
        """
        if self.needs_frames:
            indices, out = read_sampled(source, lambda: self.sample_indices(source, seed),
                                        lambda idx: self._frames(source, idx, seed))
        else:
            indices, out = self.sample_indices(source, seed), {}
        out["indices"] = indices
        if "audio" in self.modalities:
            out.update(self._audio(source, indices))
        return out

    def _frames(self, source, indices, seed):
        out = {}
        views, length = indices.shape
        if "rgb" in self.modalities:
            frames = source.read(indices.reshape(-1), short_side=self.short_side)
            clips = frames.reshape((views, length) + frames.shape[1:])
            out["rgb"] = self._squeeze(self._views(clips, seed, "rgb"), self.num_views)
        if "flow" in self.modalities:
            if hasattr(source, "flow_stacks"):
                stacks = source.flow_stacks(indices.reshape(-1), self.flow_length)
            else:
                stacks = read_flow_stacks(source, indices.reshape(-1), self.flow_length,
                                          method=self.flow_method, bound=self.flow_bound,
                                          short_side=self.short_side, cache=self.flow_cache)
            clips = stacks.reshape((views, length) + stacks.shape[1:])
            out["flow"] = self._squeeze(self._views(clips, seed, "flow"), self.num_views)
        return out

    def _audio(self, source, indices):
        n, fps = self.audio_examples, source.info.fps
        stored = getattr(source, "log_mel", None)
        if stored is not None:
            has_audio = source.has_audio
            cut = lambda start, end: spectrogram_examples(stored, start, n)  # noqa: E731
        else:
            track, has_audio = read_audio(source.path, self.sample_rate)
            cut = lambda start, end: log_mel_examples(  # noqa: E731
                audio_slice(track, self.sample_rate, start, end), self.sample_rate, num_examples=n)
        if self.audio_span == "video":
            end = None if stored is not None else len(track) / self.sample_rate
            return {"audio": cut(0.0, end), "has_audio": np.bool_(has_audio)}
        examples = [cut(*audio_window(view, fps, num_examples=n)) for view in indices]
        return {"audio": self._squeeze(np.stack(examples), self.sampler.num_views),
                "has_audio": np.bool_(has_audio)}
