"""Optical flow: computation, TSN quantisation, stacking and a disk cache.

Flow ``t`` is the displacement from frame ``t`` to frame ``t + 1`` (so a
video of ``T`` frames has ``T - 1`` flows), stored as ``(H, W, 2)`` with the
x (horizontal) component first. As in TSN, flow is clipped to
``[-bound, bound]`` (bound 20 px) and quantised linearly to ``uint8``;
``255 - q`` is then the exact negation, which is how horizontal flips
negate the x component. A flow *stack* centred on frame ``c`` holds the
``length`` flows ``c - length // 2 ... c - length // 2 + length - 1``
interleaved as ``x0, y0, x1, y1, ...`` (10 flows -> 20 channels); indices
outside the video are clamped to the first/last flow (edge padding).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading

import cv2
import numpy as np

from .sampling import read_sampled
from .video import VideoReader

__all__ = [
    "FLOW_BOUND", "FLOW_METHODS", "has_tvl1", "compute_flow", "quantize_flow",
    "dequantize_flow", "stack_flow", "flow_indices", "flip_flow", "motion_magnitude",
    "FlowCache", "video_flow", "read_flow_stacks",
]

FLOW_BOUND = 20.0
FLOW_METHODS = ("auto", "tvl1", "farneback")
_CACHE_VERSION = 1


def has_tvl1():
    """Whether OpenCV's TV-L1 (opencv-contrib ``cv2.optflow``) is available.

    Examples
    --------
    >>> isinstance(has_tvl1(), bool)
    True
    """
    return hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")


def _resolve_method(method):
    if method not in FLOW_METHODS:
        raise ValueError(f"method must be one of {FLOW_METHODS}, got {method!r}")
    if method == "auto":
        return "tvl1" if has_tvl1() else "farneback"
    if method == "tvl1" and not has_tvl1():
        raise ImportError(
            "TV-L1 optical flow needs opencv-contrib (package "
            "'opencv-contrib-python-headless'); use method='farneback' or 'auto'"
        )
    return method


def _gray(frames):
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise TypeError(f"frames must be uint8, got {frames.dtype}")
    if frames.ndim == 3:
        return frames
    if frames.ndim == 4 and frames.shape[-1] == 3:
        return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    if frames.ndim == 4 and frames.shape[-1] == 1:
        return frames[..., 0]
    raise ValueError(f"frames must be (T, H, W[, 1|3]), got shape {frames.shape}")


def compute_flow(frames, method="auto"):
    """Dense optical flow between consecutive frames.

    Parameters
    ----------
    frames : numpy.ndarray
        ``uint8`` video ``(T, H, W, 3)`` (RGB) or ``(T, H, W)`` (gray).
    method : {"auto", "tvl1", "farneback"}, default "auto"
        ``"auto"`` uses TV-L1 when opencv-contrib is installed, else
        Farneback.

    Returns
    -------
    numpy.ndarray
        ``float32`` ``(T - 1, H, W, 2)`` displacements in pixels (x, y).

    Examples
    --------
    >>> frames = np.zeros((3, 32, 32, 3), np.uint8)
    >>> compute_flow(frames, method="farneback").shape
    (2, 32, 32, 2)
    """
    method = _resolve_method(method)
    gray = _gray(frames)
    if gray.shape[0] < 2:
        return np.zeros((0,) + gray.shape[1:] + (2,), np.float32)
    if method == "tvl1":
        algo = cv2.optflow.DualTVL1OpticalFlow_create()
        calc = lambda a, b: algo.calc(a, b, None)  # noqa: E731
    else:
        calc = lambda a, b: cv2.calcOpticalFlowFarneback(  # noqa: E731
            a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    flows = [calc(gray[t], gray[t + 1]) for t in range(gray.shape[0] - 1)]
    return np.stack(flows).astype(np.float32)


def quantize_flow(flow, bound=FLOW_BOUND):
    """Clip to ``[-bound, bound]`` and map linearly to ``uint8`` (TSN).

    Examples
    --------
    >>> quantize_flow(np.array([-30.0, -20.0, 0.0, 20.0])).tolist()
    [0, 0, 128, 255]
    """
    flow = np.clip(np.asarray(flow, np.float32), -bound, bound)
    return np.round((flow + bound) * (255.0 / (2 * bound))).astype(np.uint8)


def dequantize_flow(q, bound=FLOW_BOUND):
    """Inverse of :func:`quantize_flow` (up to quantisation error).

    Examples
    --------
    >>> dequantize_flow(np.array([0, 255], np.uint8)).tolist()
    [-20.0, 20.0]
    """
    return np.asarray(q, np.float32) * (2 * bound / 255.0) - bound


def flip_flow(stack):
    """Mirror a quantised flow stack horizontally, negating x components.

    Parameters
    ----------
    stack : numpy.ndarray
        ``uint8`` ``(..., H, W, 2L)`` with x at even channels.

    Examples
    --------
    >>> s = np.zeros((1, 2, 2), np.uint8); s[0, 0] = [10, 50]
    >>> flip_flow(s)[0, 1].tolist()
    [245, 50]
    """
    out = np.array(stack[..., ::-1, :], copy=True)
    out[..., 0::2] = 255 - out[..., 0::2]
    return out


def flow_indices(centers, num_flows, length=10):
    """Flow indices of stacks centred on ``centers`` (edge-clamped).

    Returns
    -------
    numpy.ndarray
        ``int64`` ``(len(centers), length)``.

    Examples
    --------
    >>> flow_indices([0, 5], num_flows=9, length=4).tolist()
    [[0, 0, 0, 1], [3, 4, 5, 6]]
    """
    centers = np.asarray(centers, np.int64).reshape(-1, 1)
    offsets = np.arange(length) - length // 2
    return np.clip(centers + offsets, 0, max(num_flows - 1, 0))


def stack_flow(flow, centers, length=10):
    """Stack flows around ``centers`` as interleaved x/y channels.

    Parameters
    ----------
    flow : numpy.ndarray
        ``(T - 1, H, W, 2)`` flow (quantised or float).
    centers : array-like of int
        Frame indices the stacks are centred on.
    length : int, default 10

    Returns
    -------
    numpy.ndarray
        ``(len(centers), H, W, 2 * length)``, channels ``x0, y0, x1, ...``.
        A video with a single frame has no motion: the stack is zero flow.

    Examples
    --------
    >>> flow = np.zeros((9, 8, 8, 2), np.uint8)
    >>> stack_flow(flow, [4], length=10).shape
    (1, 8, 8, 20)
    """
    flow = np.asarray(flow)
    if flow.shape[0] == 0:
        raise ValueError("cannot stack flow of a video with fewer than 2 frames")
    return _interleave(flow[flow_indices(centers, flow.shape[0], length)])


def _interleave(stacks):
    """(n, L, H, W, 2) -> (n, H, W, 2L) with channels x0, y0, x1, y1, ..."""
    n, L, H, W, _ = stacks.shape
    return np.ascontiguousarray(stacks.transpose(0, 2, 3, 1, 4).reshape(n, H, W, 2 * L))


def motion_magnitude(flow, bound=FLOW_BOUND):
    """Mean displacement length per flow frame (for adaptive sampling).

    Parameters
    ----------
    flow : numpy.ndarray
        ``(N, H, W, 2)``; ``uint8`` input is dequantised first.

    Returns
    -------
    numpy.ndarray
        ``float32`` ``(N,)``.

    Examples
    --------
    >>> f = np.zeros((2, 4, 4, 2), np.float32); f[1, ..., 0] = 3; f[1, ..., 1] = 4
    >>> motion_magnitude(f).tolist()
    [0.0, 5.0]
    """
    flow = np.asarray(flow)
    if flow.dtype == np.uint8:
        flow = dequantize_flow(flow, bound)
    return np.sqrt((flow.astype(np.float32) ** 2).sum(-1)).mean(axis=(1, 2)).astype(np.float32)


class FlowCache:
    """Disk cache of whole-video quantised flow, keyed by content and params.

    The key is the SHA-256 of the file's bytes plus the flow parameters, so
    renaming or copying a video reuses the entry and editing it does not.
    Entries are ``.npy`` files written atomically (safe with parallel
    tf.data workers) and read memory-mapped.

    Parameters
    ----------
    directory : str or path-like
        Created if missing.

    Examples
    --------
    >>> cache = FlowCache("flow-cache")  # doctest: +SKIP
    >>> flow = video_flow("v_Run_g01_c01.avi", cache=cache)  # doctest: +SKIP
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self._digests = {}
        self._lock = threading.Lock()

    def __getstate__(self):  # to decoding worker processes: the directory is the cache
        return {"directory": self.directory}

    def __setstate__(self, state):
        self.directory = state["directory"]
        self._digests = {}
        self._lock = threading.Lock()

    def digest(self, path):
        """SHA-256 of the file content (memoised on path, size and mtime)."""
        st = os.stat(path)
        memo = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
        with self._lock:
            if memo in self._digests:
                return self._digests[memo]
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        with self._lock:
            self._digests[memo] = h.hexdigest()
        return self._digests[memo]

    def key(self, path, **params):
        """Cache key for ``path`` and the flow parameters."""
        blob = json.dumps({"v": _CACHE_VERSION, **params}, sort_keys=True)
        return hashlib.sha256((self.digest(path) + blob).encode()).hexdigest()[:40]

    def entry(self, key):
        """File name of an entry."""
        return os.path.join(self.directory, key + ".npy")

    def load(self, key):
        """Memory-mapped array or ``None`` when absent."""
        name = self.entry(key)
        return np.load(name, mmap_mode="r") if os.path.exists(name) else None

    def save(self, key, array):
        """Write an entry atomically."""
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, np.asarray(array))
        os.replace(tmp, self.entry(key))


def video_flow(path, *, method="auto", bound=FLOW_BOUND, short_side=None, cache=None):
    """Quantised flow of a whole video, optionally cached on disk.

    Parameters
    ----------
    path : str or path-like
        Video file.
    method : {"auto", "tvl1", "farneback"}
    bound : float, default 20
    short_side : int, optional
        Compute at this resolution (shorter side).
    cache : FlowCache or str, optional
        Cache (or its directory); a second call returns the stored flow
        without decoding.

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(T - 1, H, W, 2)``.

    Examples
    --------
    >>> flow = video_flow("v_Run_g01_c01.avi", short_side=128, cache="flow-cache")  # doctest: +SKIP
    >>> flow.dtype, flow.shape[-1]  # doctest: +SKIP
    (dtype('uint8'), 2)
    """
    path = os.fspath(path)
    method = _resolve_method(method)
    if cache is not None and not isinstance(cache, FlowCache):
        cache = FlowCache(cache)
    key = None
    if cache is not None:
        key = cache.key(path, method=method, bound=float(bound), short_side=short_side)
        hit = cache.load(key)
        if hit is not None:
            return hit
    with VideoReader(path) as reader:
        frames = reader.read(short_side=short_side)
    flow = quantize_flow(compute_flow(frames, method), bound)
    if cache is not None:
        cache.save(key, flow)
    return flow


def read_flow_stacks(reader, centers, length=10, *, method="auto", bound=FLOW_BOUND,
                     short_side=None, cache=None):
    """Quantised flow stacks centred on ``centers`` of an open video.

    Without a cache only the frames the stacks need are decoded; with a
    cache the whole video's flow is computed once and reused.

    Parameters
    ----------
    reader : VideoReader
        Open video (``reader.info.num_frames`` frames).
    centers : array-like of int
        Frame indices.
    length : int, default 10
        Flows per stack (``2 * length`` channels).

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(len(centers), H, W, 2 * length)``.

    Examples
    --------
    >>> with VideoReader("v_Run_g01_c01.avi") as r:  # doctest: +SKIP
    ...     stacks = read_flow_stacks(r, [12, 37], length=10, short_side=128)
    >>> stacks.shape  # doctest: +SKIP
    (2, 128, 171, 20)
    """
    centers = np.asarray(centers, np.int64).reshape(-1)
    num_frames = reader.info.num_frames
    height, width = reader.output_size(short_side)
    if num_frames < 2:  # a still image has no motion
        return np.full((centers.size, height, width, 2 * length), quantize_flow(0.0, bound),
                       np.uint8)
    if cache is not None:
        flow = video_flow(reader.path, method=method, bound=bound, short_side=short_side,
                          cache=cache)
        return stack_flow(flow, centers, length)
    def read_pairs(idx):
        needed = np.unique(idx)
        frame_ids = np.unique(np.concatenate([needed, needed + 1]))
        return needed, frame_ids, reader.read(frame_ids, short_side=short_side)

    idx, (needed, frame_ids, frames) = read_sampled(
        reader, lambda: flow_indices(centers, reader.info.num_frames - 1, length), read_pairs)
    position = {int(f): i for i, f in enumerate(frame_ids)}
    pairs_a = frames[[position[int(t)] for t in needed]]
    pairs_b = frames[[position[int(t) + 1] for t in needed]]
    method = _resolve_method(method)
    flows = np.stack([compute_flow(np.stack([a, b]), method)[0]
                      for a, b in zip(pairs_a, pairs_b, strict=True)])
    lookup = {int(t): i for i, t in enumerate(needed)}
    q = quantize_flow(flows, bound)
    return _interleave(q[np.vectorize(lookup.get)(idx)])
