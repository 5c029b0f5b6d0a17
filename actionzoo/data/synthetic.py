"""Synthetic demo dataset: motion-defined action classes as real .avi files.

Each video shows randomly coloured, sized and placed shapes (circles,
rectangles, triangles) on a textured background; the *class is the motion*
that all shapes share (direction of translation, rotation sense around the
frame centre, expansion vs contraction, horizontal vs vertical swinging).
Any single frame is compatible with every class, so appearance alone cannot
solve the task. Some classes carry a class-related sound (beeps, tones,
chirps, noise bursts); the others only faint background noise; and a
fraction of the videos has no audio track at all, as in UCF101.

The output follows the UCF101 layout::

    root/
      MoveLeft/v_MoveLeft_g01_c01.avi ...
      ucfTrainTestlist/classInd.txt, trainlist0{1,2,3}.txt, testlist0{1,2,3}.txt

A *group* (``gXX``) shares its background texture across all classes, and
the three splits hold out disjoint groups. The background carries no class
information: were it drawn per (class, group), as the shared scenes of a
UCF101 group are, a network could fit the training set by memorising
backgrounds instead of motion -- a shortcut that fails on held-out groups
and that a dataset of a few hundred clips cannot outweigh. Output is
deterministic for a seed.
"""
from __future__ import annotations

import json
import multiprocessing
import os

import cv2
import numpy as np
from tqdm.auto import tqdm

from .datasets import ucf101_groups
from .encode import write_video
from .errors import DataError

__all__ = [
    "GENERATION_FILE", "SYNTHETIC_CLASSES", "SOUND_CLASSES", "generation_parameters",
    "make_synthetic_dataset", "needs_generation", "render_video",
]

#: File in a generated dataset's folder recording its generation parameters.
GENERATION_FILE = "generation.json"

#: Class names, in ``classInd.txt`` order.
SYNTHETIC_CLASSES = (
    "MoveLeft", "MoveRight", "MoveUp", "MoveDown", "RotateClockwise",
    "RotateAnticlockwise", "Expand", "Contract", "SwingHorizontal", "SwingVertical",
)
#: Classes whose videos carry a class-related sound pattern.
SOUND_CLASSES = {
    "MoveLeft": "beeps", "MoveRight": "tone", "RotateClockwise": "chirp_up",
    "RotateAnticlockwise": "chirp_down", "Expand": "bursts",
}
ANNOTATION_DIR = "ucfTrainTestlist"
AUDIO_RATE = 22050


def _background(width, height, palette_seed):
    """Smooth random texture shared by a group."""
    g = np.random.default_rng(palette_seed)
    base = g.integers(20, 235, 3)
    small = g.integers(-40, 40, (6, 8, 3))
    tex = cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(base + tex, 0, 255).astype(np.uint8)


def _shapes(rng, width, height, count):
    kinds = rng.integers(0, 3, count)
    return [
        {
            "kind": int(k),
            "centre": rng.uniform([0.1 * width, 0.1 * height], [0.9 * width, 0.9 * height]),
            "size": float(rng.uniform(0.06, 0.14) * min(width, height)),
            "angle": float(rng.uniform(0, 2 * np.pi)),
            "colour": tuple(int(c) for c in rng.integers(0, 256, 3)),
        }
        for k in kinds
    ]


def _transform_point(motion, p, t, params, width, height):
    """Position of point ``p`` (at t=0) at frame ``t`` under ``motion``."""
    cx, cy = width / 2.0, height / 2.0
    speed = params["speed"]
    if motion in ("MoveLeft", "MoveRight", "MoveUp", "MoveDown"):
        d = {"MoveLeft": (-1, 0), "MoveRight": (1, 0), "MoveUp": (0, -1),
             "MoveDown": (0, 1)}[motion]
        return p + np.array(d) * speed * t
    if motion in ("RotateClockwise", "RotateAnticlockwise"):
        a = params["omega"] * t * (1 if motion == "RotateClockwise" else -1)  # y axis points down
        c, s = np.cos(a), np.sin(a)
        x, y = p[..., 0] - cx, p[..., 1] - cy
        return np.stack([cx + c * x - s * y, cy + s * x + c * y], -1)
    if motion in ("Expand", "Contract"):
        r = params["rate"] ** (t if motion == "Expand" else -t)
        scale = params["scale0"] * r
        return np.array([cx, cy]) + (p - np.array([cx, cy])) * scale
    amp, freq = params["amplitude"], params["freq"]
    offset = amp * np.sin(2 * np.pi * freq * t + params["phase"])
    d = np.array([1.0, 0.0]) if motion == "SwingHorizontal" else np.array([0.0, 1.0])
    return p + d * offset


def _outline(shape):
    c, r, a = shape["centre"], shape["size"], shape["angle"]
    if shape["kind"] == 0:  # circle as a 20-gon (so it scales/rotates with the scene)
        n, radius = 20, r
    elif shape["kind"] == 1:  # square
        n, radius = 4, r * 1.2
    else:  # triangle
        n, radius = 3, r * 1.3
    angles = a + np.arange(n) * 2 * np.pi / n
    return c + radius * np.stack([np.cos(angles), np.sin(angles)], -1)


def _motion_params(rng, motion, fps):
    return {
        "speed": rng.uniform(1.5, 4.0),
        "omega": np.deg2rad(rng.uniform(2.0, 5.0)),
        "rate": rng.uniform(1.015, 1.03),
        "scale0": rng.uniform(0.5, 0.7) if motion == "Expand" else rng.uniform(1.4, 1.8),
        "amplitude": rng.uniform(15, 35),
        "freq": rng.uniform(0.8, 1.6) / fps,
        "phase": rng.uniform(0, 2 * np.pi),
    }


def render_video(motion, num_frames, rng, *, width=320, height=240, fps=25, palette_seed=0,
                 num_shapes=(3, 6)):
    """Render the frames of one synthetic video.

    Parameters
    ----------
    motion : str
        One of :data:`SYNTHETIC_CLASSES`.
    num_frames : int
    rng : numpy.random.Generator
        Draws shapes and motion parameters.
    width, height, fps : int
    palette_seed : int
        Seed of the background (shared by a group, across classes).
    num_shapes : (int, int)
        Inclusive range of the number of shapes.

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(num_frames, height, width, 3)`` RGB.

    Examples
    --------
    >>> frames = render_video("MoveLeft", 4, np.random.default_rng(0), width=64, height=48)
    >>> frames.shape
    (4, 48, 64, 3)
    """
    if motion not in SYNTHETIC_CLASSES:
        raise ValueError(f"unknown motion {motion!r}; choose from {SYNTHETIC_CLASSES}")
    background = _background(width, height, palette_seed)
    shapes = _shapes(rng, width, height, int(rng.integers(num_shapes[0], num_shapes[1] + 1)))
    params = _motion_params(rng, motion, fps)
    outlines = [_outline(s) for s in shapes]
    period = np.array([width * 1.3, height * 1.3])
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        img = background.copy()
        for shape, pts in zip(shapes, outlines, strict=True):
            moved = _transform_point(motion, pts, t, params, width, height)
            if motion.startswith("Move"):  # wrap around so shapes never leave for good
                centre = moved.mean(0)
                margin = 0.15 * np.array([width, height])
                wrapped = np.mod(centre + margin, period) - margin
                moved = moved + (wrapped - centre)
            cv2.fillPoly(img, [np.round(moved * 16).astype(np.int32)], shape["colour"],
                         lineType=cv2.LINE_AA, shift=4)
        frames[t] = img
    return frames


def _sound(kind, duration, rng, sr=AUDIO_RATE):
    t = np.arange(int(round(duration * sr))) / sr
    noise = rng.normal(0, 0.01, t.size)
    jitter = rng.uniform(0.95, 1.05)
    amp = rng.uniform(0.2, 0.4)
    if kind == "beeps":
        signal = np.sin(2 * np.pi * 440 * jitter * t) * ((t * 4) % 1 < 0.5)
    elif kind == "tone":
        signal = np.sin(2 * np.pi * 880 * jitter * t)
    elif kind in ("chirp_up", "chirp_down"):
        f0, f1 = (300, 1500) if kind == "chirp_up" else (1500, 300)
        phase = (t % 0.5) / 0.5
        freq = (f0 + (f1 - f0) * phase) * jitter
        signal = np.sin(2 * np.pi * np.cumsum(freq) / sr)
    elif kind == "bursts":
        signal = rng.normal(0, 0.7, t.size) * ((t * 3) % 1 < 0.2)
    else:
        signal = np.zeros_like(t)
    return np.clip(amp * signal + noise, -1, 1).astype(np.float32)


def _split_groups(n_groups, split):
    groups = np.arange(1, n_groups + 1)
    lo, hi = (split - 1) * n_groups // 3, split * n_groups // 3
    return set(groups[lo:hi].tolist())


def make_synthetic_dataset(root, *, num_classes=10, groups=6, clips_per_group=4,
                           num_frames=(40, 60), width=320, height=240, fps=25,
                           audio_fraction=0.6, seed=0, n_jobs=None, verbose=1):
    """Write the synthetic demo dataset in the UCF101 layout.

    Parameters
    ----------
    root : str or path-like
        Output directory (created).
    num_classes : int, default 10
        First ``num_classes`` of :data:`SYNTHETIC_CLASSES`.
    groups : int, default 6
        Groups per class (``gXX``); split ``k`` tests on the k-th third.
    clips_per_group : int, default 4
        Clips per group (``cYY``).
    num_frames : int or (int, int), default (40, 60)
        Frames per video (inclusive range drawn per video).
    width, height, fps : int, default 320, 240, 25
    audio_fraction : float, default 0.6
        Probability that a video has an audio track.
    seed : int, default 0
    n_jobs : int, optional
        Worker processes (default: number of CPUs, at most 4). The output
        does not depend on it.
    verbose : int, default 1
        Progress bar when > 0.

    Returns
    -------
    dict
        ``root``, ``classes``, ``paths`` (relative), ``labels``,
        ``has_audio`` of every written video.

    Raises
    ------
    DataError
        ``root`` holds a dataset generated with other parameters (its
        :data:`GENERATION_FILE`); both parameter sets are named.

    Notes
    -----
    The parameters (:func:`generation_parameters`) are written to
    ``root/generation.json`` once every video is written, so a folder
    knows what it holds and an interrupted generation is recognisable
    (see :func:`needs_generation`).

    Examples
    --------
    >>> info = make_synthetic_dataset("demo-data", num_classes=4, groups=3,  # doctest: +SKIP
    ...                               clips_per_group=2, num_frames=16,
    ...                               width=64, height=48, verbose=0)
    >>> len(info["paths"])  # doctest: +SKIP
    24
    """
    if not 1 <= num_classes <= len(SYNTHETIC_CLASSES):
        raise ValueError(f"num_classes must be in 1..{len(SYNTHETIC_CLASSES)}")
    if groups < 3:
        raise ValueError("groups must be >= 3 (three splits hold out disjoint groups)")
    params = generation_parameters(
        num_classes=num_classes, groups=groups, clips_per_group=clips_per_group,
        num_frames=num_frames, width=width, height=height, fps=fps,
        audio_fraction=audio_fraction, seed=seed)
    root = os.fspath(root)
    _check_recorded(root, params)
    lo, hi = params["num_frames"]
    classes = list(SYNTHETIC_CLASSES[:num_classes])
    jobs = [(root, classes, c, g, k, seed, lo, hi, width, height, fps, audio_fraction)
            for c in range(num_classes) for g in range(1, groups + 1)
            for k in range(1, clips_per_group + 1)]
    for name in classes:
        os.makedirs(os.path.join(root, name), exist_ok=True)
    results = _run_jobs(_make_one, jobs, n_jobs, verbose)
    records = {"root": root, "classes": classes, "paths": [], "labels": [], "has_audio": []}
    for rel, label, has_audio in results:
        records["paths"].append(rel)
        records["labels"].append(label)
        records["has_audio"].append(has_audio)
    _write_splits(root, classes, records, groups)
    _write_record(root, params)
    return records


def _run_jobs(make_one, jobs, n_jobs, verbose):
    """``[make_one(job) for job in jobs]`` in ``n_jobs`` worker processes (default:
    the number of CPUs, at most 4), in order, with a progress bar when ``verbose > 0``."""
    n_jobs = min(os.cpu_count() or 1, 4) if n_jobs is None else int(n_jobs)
    bar = tqdm(total=len(jobs), desc="synthetic videos", disable=verbose <= 0, unit="video")
    results = []
    if n_jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
            for result in pool.imap(make_one, jobs, chunksize=4):
                results.append(result)
                bar.update()
    else:
        for job in jobs:
            results.append(make_one(job))
            bar.update()
    bar.close()
    return results


def _write_record(root, params):
    """Write ``params`` to ``root``'s :data:`GENERATION_FILE` (once every video is written)."""
    with open(os.path.join(root, GENERATION_FILE), "w") as fh:
        json.dump(params, fh, indent=2)
        fh.write("\n")


_DEFAULTS = dict(num_classes=10, groups=6, clips_per_group=4, num_frames=(40, 60), width=320,
                 height=240, fps=25, audio_fraction=0.6, seed=0)


def generation_parameters(**params):
    """The complete, JSON-ready parameter set of :func:`make_synthetic_dataset`.

    Missing parameters take the generator's defaults; ``num_frames`` becomes
    ``[lo, hi]``. Two folders generated with equal parameter sets hold the
    same files, byte for byte.

    Examples
    --------
    >>> p = generation_parameters(num_classes=3, num_frames=16)
    >>> p["num_classes"], p["num_frames"], p["seed"]
    (3, [16, 16], 0)
    """
    unknown = sorted(set(params) - set(_DEFAULTS))
    if unknown:
        raise TypeError(f"unknown generation parameters: {', '.join(unknown)}")
    out = {**_DEFAULTS, **params}
    frames = out["num_frames"]
    lo, hi = (frames, frames) if np.isscalar(frames) else frames
    out["num_frames"] = [int(lo), int(hi)]
    for key in ("num_classes", "groups", "clips_per_group", "width", "height", "fps", "seed"):
        out[key] = int(out[key])
    out["audio_fraction"] = float(out["audio_fraction"])
    return out


def _format(params):
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _recorded(root, normalize=None):
    """The parameters ``root``'s :data:`GENERATION_FILE` records (None without one), through
    ``normalize`` (default :func:`generation_parameters`)."""
    normalize = generation_parameters if normalize is None else normalize
    path = os.path.join(root, GENERATION_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as fh:
            return normalize(**json.load(fh))
    except (ValueError, TypeError) as err:
        raise DataError(path, f"unreadable generation record ({err})") from None


def _check_recorded(root, params, normalize=None):
    recorded = _recorded(root, normalize)
    if recorded is not None and recorded != params:
        raise DataError(root, f"holds a synthetic dataset generated with {_format(recorded)}, "
                              f"not the requested {_format(params)}; use another folder or "
                              "delete this one")


def needs_generation(root, **params):
    """Whether the synthetic dataset with ``params`` must be generated into ``root``.

    The demo, the recipes and ``--quick`` runs call this before using their
    dataset folder, so that a folder generated with other parameters is never
    mistaken for theirs.

    Parameters
    ----------
    root : str or path-like
    **params
        :func:`make_synthetic_dataset` parameters (defaults filled in).

    Returns
    -------
    bool
        True when ``root`` is absent or empty; False when its
        :data:`GENERATION_FILE` records these parameters.

    Raises
    ------
    DataError
        ``root`` records other parameters (both sets named), or holds files
        without a generation record (another dataset, or an interrupted
        generation).

    Examples
    --------
    >>> needs_generation("no-such-folder", num_classes=3)
    True
    """
    root = os.fspath(root)
    params = generation_parameters(**params)
    if not os.path.isdir(root) or not os.listdir(root):
        return True
    _check_recorded(root, params)
    if _recorded(root) is None:
        raise DataError(root, f"holds files but no {GENERATION_FILE}: not a synthetic dataset "
                              f"generated with {_format(params)} (another dataset, or an "
                              "interrupted generation); use another folder or delete this one")
    return False


def _make_one(job):
    """Render and encode one video (runs in a worker process)."""
    root, classes, c, g, k, seed, lo, hi, width, height, fps, audio_fraction = job
    name = classes[c]
    rel = f"{name}/v_{name}_g{g:02d}_c{k:02d}.avi"
    rng = np.random.default_rng([seed, c, g, k])
    n = int(rng.integers(lo, hi + 1))
    frames = render_video(name, n, rng, width=width, height=height, fps=fps,
                          palette_seed=seed * 1000 + g * 31)
    has_audio = bool(rng.random() < audio_fraction)
    audio = _sound(SOUND_CLASSES.get(name), n / fps, rng) if has_audio else None
    write_video(os.path.join(root, rel), frames, fps, audio=audio, sample_rate=AUDIO_RATE)
    return rel, c, has_audio


def _write_splits(root, classes, records, groups):
    ann = os.path.join(root, ANNOTATION_DIR)
    os.makedirs(ann, exist_ok=True)
    with open(os.path.join(ann, "classInd.txt"), "w") as fh:
        fh.writelines(f"{i + 1} {name}\n" for i, name in enumerate(classes))
    video_groups = ucf101_groups(records["paths"])
    for split in (1, 2, 3):
        test_groups = _split_groups(groups, split)
        with open(os.path.join(ann, f"trainlist{split:02d}.txt"), "w") as train, \
                open(os.path.join(ann, f"testlist{split:02d}.txt"), "w") as test:
            for rel, label, group in zip(records["paths"], records["labels"], video_groups,
                                         strict=True):
                if group in test_groups:
                    test.write(f"{rel}\n")
                else:
                    train.write(f"{rel} {label + 1}\n")
