"""Synthetic videos whose class is how an appearance event and a motion event are arranged in time.

A mechanism benchmark for two-stream fusion: each stream alone -- and so any
fusion of per-stream class scores -- is at chance by construction, while a
model that fuses the two feature *sequences* segment by segment can succeed.

Design
------
A video has ``n_segments`` (K) segments of ``segment_frames`` (L) frames each,
K * L frames in all. Every frame shows a full-frame, smooth random luminance
texture (periodic, drawn per video) and nothing else, except for two events:

* the **appearance event**, in segment ``a``: a disc of an *isoluminant*
  colour -- the texture's pixels inside it get a chroma offset orthogonal to
  the luma weights (0.299, 0.587, 0.114), so the grey image is unchanged --
  present for the whole segment (all L frames) and absent otherwise. The
  disc's place, radius and hue are drawn per video.
* the **motion event**, in segment ``m``: the texture translates coherently by
  an integer number of pixels per frame (``speed``, in one of eight directions
  drawn per video; wrapped around, so no edge or seam appears) between the
  frames of segment ``m``, and stands still otherwise.

The class is ``c = (m - a) mod K`` for ``c`` in ``1 .. K-1`` (class ``Lag{c}``:
the motion event ``c`` segments after the appearance event, cyclically). Per
class the appearance segment ``a`` is balanced over ``0 .. K-1`` (each value
equally often, ``groups * clips_per_group`` divisible by K; within one of
every residue otherwise) and independent of the class, and ``m = a + c mod
K``, so ``a`` and ``m`` are each uniform over the segments *whatever the
class*. The two events never share a segment (``c != 0``), so neither
occludes or alters the other.

Why each stream alone is at chance
----------------------------------
* **RGB frames carry nothing of the motion.** A frame of the moving texture
  is the same texture shifted by whole pixels (no interpolation blur, no
  seam: the texture is periodic), and the video is encoded losslessly
  (FFV1), so no codec artefact of motion-compensated prediction marks the
  frames of segment ``m``. The appearance frames therefore depend on ``a``
  (and on per-video nuisances) only, and ``a`` has the same distribution in
  every class.
* **Optical flow carries nothing of the appearance event.** The disc is
  static, and isoluminant: the flow is computed on the grey image
  (``0.299 R + 0.587 G + 0.114 B``), which the disc leaves unchanged up to
  rounding -- its onset and offset at the segment boundaries included, so no
  flow stack sees it wherever it is centred. The flow depends on ``m`` only
  (and on the drawn direction), and ``m`` is uniform in every class.

So the distribution of one stream's input is the same for every class: the
best classifier of one stream, even given its whole sequence, predicts the
class prior -- chance, ``1 / (K - 1)``. A score-level fusion
(:class:`actionzoo.LateFusion` avg/weighted, :class:`actionzoo.CorrNetFusion`)
sees only the two per-stream class scores; each is a function of one
stream, whose optimal value is the same for every video, so the fused
prediction is at chance too (a finite-sample classifier's scores differ from
the prior by noise that does not generalise). The class is a function of the
*joint* timing ``(a, m)``: a model that aligns the two feature sequences
segment by segment and relates them over time can read it off.

For the motion to stay inside its own segment's flow stacks, sample each
segment's centre frame with stacks shorter than the segment
(``flow_length <= segment_frames - 2``); a stack that straddles a boundary
sees part of the neighbouring segment's motion, which tells only ``m`` again.

The output follows the UCF101 layout of :func:`make_synthetic_dataset`
(``Lag1/v_Lag1_g01_c01.avi``, ``ucfTrainTestlist/`` with three splits over
disjoint groups) and records its parameters in ``generation.json``.
"""
from __future__ import annotations

import os

import numpy as np

from .encode import write_video
from .synthetic import (
    _check_recorded,
    _run_jobs,
    _write_record,
    _write_splits,
)

__all__ = ["ARRANGEMENT_KIND", "arrangement_parameters", "make_arrangement_dataset",
           "render_arrangement"]

#: The ``kind`` recorded in a generated folder's ``generation.json``.
ARRANGEMENT_KIND = "event_arrangement"

_LUMA = np.array([0.299, 0.587, 0.114])
_DEFAULTS = dict(kind=ARRANGEMENT_KIND, n_segments=5, segment_frames=12, groups=15,
                 clips_per_group=4, width=64, height=64, fps=25, speed=None, seed=0)
_DIRECTIONS = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy])

def _isoluminant_basis():
    """Two orthonormal RGB directions that leave the luma unchanged."""
    w = _LUMA / np.linalg.norm(_LUMA)
    e1 = np.cross(w, [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(w, e1)

def _texture(rng, height, width):
    """Smooth periodic luminance texture in [80, 176] (low-pass filtered white noise)."""
    noise = np.fft.fft2(rng.normal(size=(height, width)))
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :]
    cutoff = 1.0 / 6.0  # features of about 6 pixels, which optical flow tracks
    smooth = np.real(np.fft.ifft2(noise * np.exp(-(fx ** 2 + fy ** 2) / (2 * cutoff ** 2))))
    smooth = (smooth - smooth.mean()) / (smooth.std() + 1e-12)
    return 128.0 + 24.0 * np.clip(smooth, -2.0, 2.0)

def render_arrangement(n_segments, segment_frames, appearance_segment, motion_segment, rng, *,
                       width=64, height=64, speed=None):
    """Render one video: an isoluminant disc in one segment, coherent motion in another.

    Parameters
    ----------
    n_segments : int
        Segments K (>= 2).
    segment_frames : int
        Frames L per segment (>= 2); the video has K * L frames.
    appearance_segment, motion_segment : int
        Segments ``a`` and ``m`` in ``0 .. K-1`` of the two events (different).
    rng : numpy.random.Generator
        Draws the texture, the disc (place, radius, hue) and the motion direction.
    width, height : int, default 64
    speed : int, optional
        Pixels per frame of the motion (default ``max(1, min(width, height) // 32)``).

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(K * L, height, width, 3)`` RGB.

    Examples
    --------
    >>> frames = render_arrangement(4, 6, 0, 2, np.random.default_rng(0), width=32, height=32)
    >>> frames.shape
    (24, 32, 32, 3)
    >>> grey = frames @ np.array([0.299, 0.587, 0.114])
    >>> bool(np.abs(grey[0] - grey[6]).max() < 1.5)  # the disc leaves the grey image as it is
    True
    """
    K, L = _check_layout(n_segments, segment_frames, width, height)
    for name, value in (("appearance_segment", appearance_segment),
                        ("motion_segment", motion_segment)):
        if not 0 <= value < K:
            raise ValueError(f"{name} must be in 0..{K - 1}, got {value}")
    if appearance_segment == motion_segment:
        raise ValueError("the appearance and the motion event must be in different segments, "
                         f"both are in segment {appearance_segment}")
    speed = _speed(speed, width, height)
    texture = _texture(rng, height, width)
    centre = rng.uniform(0.3, 0.7, 2) * (width, height)
    radius = rng.uniform(0.2, 0.3) * min(width, height)
    hue = rng.uniform(0.0, 2.0 * np.pi)
    step = _DIRECTIONS[rng.integers(len(_DIRECTIONS))] * speed
    e1, e2 = _isoluminant_basis()
    chroma = 40.0 * (np.cos(hue) * e1 + np.sin(hue) * e2)
    yy, xx = np.mgrid[:height, :width]
    disc = ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius ** 2)[..., None]
    frames = np.empty((K * L, height, width, 3), np.uint8)
    for t in range(K * L):
        moved = int(np.clip(t - motion_segment * L, 0, L - 1))  # frames moved so far
        dx, dy = step * moved
        image = np.repeat(np.roll(texture, (dy, dx), axis=(0, 1))[..., None], 3, axis=-1)
        if t // L == appearance_segment:
            image = image + disc * chroma
        frames[t] = np.clip(np.round(image), 0, 255)
    return frames

def arrangement_parameters(**params):
    """The complete, JSON-ready parameter set of :func:`make_arrangement_dataset`.

    Missing parameters take the defaults. Two folders generated with equal
    parameter sets hold the same files.

    Examples
    --------
    >>> p = arrangement_parameters(n_segments=4)
    >>> p["kind"], p["n_segments"], p["segment_frames"]
    ('event_arrangement', 4, 12)
    """
    unknown = sorted(set(params) - set(_DEFAULTS))
    if unknown:
        raise TypeError(f"unknown event-arrangement generation parameters: {', '.join(unknown)}")
    out = {**_DEFAULTS, **params}
    if out["kind"] != ARRANGEMENT_KIND:
        raise TypeError(f"not an event-arrangement record (kind={out['kind']!r})")
    for key in ("n_segments", "segment_frames", "groups", "clips_per_group", "width", "height",
                "fps", "seed"):
        out[key] = int(out[key])
    out["speed"] = None if out["speed"] is None else int(out["speed"])
    return out

def make_arrangement_dataset(root, *, n_segments=5, segment_frames=12, groups=15,
                             clips_per_group=4, width=64, height=64, fps=25, speed=None, seed=0,
                             n_jobs=None, verbose=1):
    """Write the event-arrangement dataset (see the module's design) in the UCF101 layout.

    Parameters
    ----------
    root : str or path-like
        Output directory (created).
    n_segments : int, default 5
        Segments K per video (>= 3); the classes are ``Lag1 .. Lag{K-1}``.
    segment_frames : int, default 12
        Frames L per segment (>= 2).
    groups : int, default 15
        Groups per class (``gXX``, >= 3); split ``k`` tests on the k-th third.
    clips_per_group : int, default 4
        Clips per group (``cYY``).
    width, height, fps : int, default 64, 64, 25
    speed : int, optional
        Pixels per frame of the motion event (default ``max(1, min(width,
        height) // 32)``).
    seed : int, default 0
    n_jobs : int, optional
        Worker processes (default: number of CPUs, at most 4); the output does
        not depend on it.
    verbose : int, default 1
        Progress bar when > 0.

    Returns
    -------
    dict
        ``root``, ``classes``, and per written video ``paths`` (relative),
        ``labels`` (``c - 1`` for class ``Lag{c}``), ``appearance_segment``
        and ``motion_segment``.

    Raises
    ------
    ValueError
        A parameter out of range (named).
    DataError
        ``root`` holds a dataset generated with other parameters (its
        ``generation.json``); both parameter sets are named.

    Examples
    --------
    >>> info = make_arrangement_dataset("arrangement-data", n_segments=4,  # doctest: +SKIP
    ...                                 groups=3, clips_per_group=4, verbose=0)
    >>> info["classes"], len(info["paths"])  # doctest: +SKIP
    (['Lag1', 'Lag2', 'Lag3'], 36)
    """
    K, L = _check_layout(n_segments, segment_frames, width, height)
    if K < 3:
        raise ValueError(f"n_segments must be >= 3 (classes are the lags 1..n_segments-1, "
                         f"at least two), got {n_segments}")
    if groups < 3:
        raise ValueError(f"groups must be >= 3 (three splits hold out disjoint groups), "
                         f"got {groups}")
    if clips_per_group < 1:
        raise ValueError(f"clips_per_group must be >= 1, got {clips_per_group}")
    if fps < 1:
        raise ValueError(f"fps must be >= 1, got {fps}")
    _speed(speed, width, height)
    params = arrangement_parameters(
        n_segments=K, segment_frames=L, groups=groups, clips_per_group=clips_per_group,
        width=width, height=height, fps=fps, speed=speed, seed=seed)
    root = os.fspath(root)
    _check_recorded(root, params, arrangement_parameters)
    classes = [f"Lag{c}" for c in range(1, K)]
    jobs = []
    for label, name in enumerate(classes):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        # the appearance segment, balanced over the segments within the class, in random order
        appearance = np.random.default_rng([seed, label]).permutation(
            np.resize(np.arange(K), groups * clips_per_group))
        for i, a in enumerate(appearance):
            g, k = divmod(i, clips_per_group)
            jobs.append((root, name, label, g + 1, k + 1, int(a), params))
    results = _run_jobs(_make_one, jobs, n_jobs, verbose)
    records = {"root": root, "classes": classes, "paths": [], "labels": [],
               "appearance_segment": [], "motion_segment": []}
    for rel, label, a, m in results:
        for key, value in zip(("paths", "labels", "appearance_segment", "motion_segment"),
                              (rel, label, a, m), strict=True):
            records[key].append(value)
    _write_splits(root, classes, records, groups)
    _write_record(root, params)
    return records

def _check_layout(n_segments, segment_frames, width, height):
    if n_segments < 2:
        raise ValueError(f"n_segments must be >= 2, got {n_segments}")
    if segment_frames < 2:
        raise ValueError(f"segment_frames must be >= 2 (the motion event moves between the "
                         f"frames of one segment), got {segment_frames}")
    if min(width, height) < 8:
        raise ValueError(f"width and height must be >= 8 pixels, got {width}x{height}")
    return int(n_segments), int(segment_frames)

def _speed(speed, width, height):
    if speed is None:
        return max(1, min(width, height) // 32)
    if speed < 1 or speed != int(speed):
        raise ValueError(f"speed must be a positive whole number of pixels per frame, got "
                         f"{speed!r}")
    return int(speed)

def _make_one(job):
    """Render and encode one video (runs in a worker process)."""
    root, name, label, g, k, a, params = job
    K = params["n_segments"]
    m = (a + label + 1) % K
    rel = f"{name}/v_{name}_g{g:02d}_c{k:02d}.avi"
    rng = np.random.default_rng([params["seed"], label, g, k])
    frames = render_arrangement(K, params["segment_frames"], a, m, rng, width=params["width"],
                                height=params["height"], speed=params["speed"])
    # lossless: a lossy codec's motion-compensated prediction would mark the moving frames
    write_video(os.path.join(root, rel), frames, params["fps"], codec="ffv1")
    return rel, label, a, m
