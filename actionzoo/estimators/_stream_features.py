"""Per-video stream features (RGB frames, optical-flow stacks, audio) with a disk cache.

Shared by :class:`actionzoo.TwoStreamFeatures` (STFN's appearance and motion
sequences) and :class:`actionzoo.MultiStreamGRU` (spatial, temporal and
audio sequences). A :class:`StreamExtractor` turns a video file and frame
indices into one feature vector per index:

``"rgb"``
    the frame, short side resized to ``frame_size`` and centre-cropped
    square, through a 2-D image backbone (global-pooled);
``"flow"``
    the ``flow_length``-flow stack centred on the frame (quantised TSN
    flow, ``2 * flow_length`` channels scaled to [-1, 1]) through a 2-D
    backbone (or the paper's motion CNN);
``"audio"``
    VGGish embeddings of the 0.96 s log-mel examples of the soundtrack
    (silence when the video has no audio track).

Features are cached per video under ``cache_dir`` keyed by the SHA-256 of
the file's bytes and the extractor's configuration (backbone identity --
name, weights and seed, or the hash of a given model's weights -- frame size,
flow length and method), so renamed copies hit the cache and edited files
or other backbones do not.
"""
import hashlib
import json
import os
import tempfile

import joblib
import keras
import numpy as np

from actionzoo.data import (
    CenterCrop,
    FlowCache,
    ResizeShortSide,
    VideoReader,
    log_mel_examples,
    motion_magnitude,
    read_audio,
    read_flow_stacks,
    video_flow,
)
from actionzoo.estimators._training import seeded
from actionzoo.models import (
    backbone_preprocess,
    frame_embedding_model,
    load_vggish_checkpoint,
    motion_cnn,
    vggish,
)

_CACHE_VERSION = 1


def _weights_identity(weights):
    """JSON-able identity of a weights argument (a file is identified by content)."""
    if weights is None or weights == "imagenet":
        return weights
    path = os.fspath(weights)
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise FileNotFoundError(f"backbone weights file not found: {path!r}")
    target = path if os.path.exists(path) else path + ".index"
    st = os.stat(target)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime": st.st_mtime_ns}


def build_backbone(kind, spec, weights, frame_size, flow_length, seed):
    """Build the feature model of one stream.

    Parameters
    ----------
    kind : {"rgb", "flow", "audio"}
    spec : str or keras.Model
        ``keras.applications`` name (rgb, flow), ``"motion_cnn"`` (flow),
        ``"vggish"`` (audio), or any Keras model taking the stream's input
        (4-D outputs are global-pooled).
    weights : None, "imagenet" or path
        "imagenet" for named image backbones (never a silent random
        fallback: offline it raises :class:`WeightsUnavailableError` saying
        where to place the file); a ``.weights.h5`` file for the motion CNN;
        a TF checkpoint prefix or ``.npz`` for VGGish.
    frame_size, flow_length : int
    seed : int
        Seeds random initialisation (weights=None), so features repeat.

    Returns
    -------
    model : keras.Model
    identity : dict
        What the cache key records about this backbone.
    """
    channels = {"rgb": 3, "flow": 2 * int(flow_length)}.get(kind)
    if isinstance(spec, keras.Model):
        if weights is not None:
            raise ValueError(f"{kind} backbone is a keras.Model, which brings its own "
                             f"weights: leave its weights at None, got {weights!r}")
        model = spec if kind == "audio" else frame_embedding_model(spec)
        identity = {"model": spec.name, "weights": joblib.hash(
            [np.asarray(w) for w in spec.get_weights()])}
        return model, identity
    if not isinstance(spec, str):
        raise TypeError(f"{kind} backbone must be a name or a keras.Model, got "
                        f"{type(spec).__name__}")
    identity = {"name": spec, "weights": _weights_identity(weights)}
    if weights is None:
        identity["seed"] = int(seed)
    with seeded(int(seed)):  # a repeatable random initialisation, global state kept
        return _named_backbone(kind, spec, weights, frame_size, channels), identity


def _named_backbone(kind, spec, weights, frame_size, channels):
    """The backbone called ``spec`` for a stream of ``kind`` (see :func:`build_backbone`)."""
    if kind == "audio":
        if spec.lower() != "vggish":
            raise ValueError(f"audio backbone must be 'vggish' or a keras.Model, got {spec!r}")
        if weights == "imagenet":
            raise ValueError("VGGish has AudioSet, not ImageNet, weights: pass the path of "
                             "vggish_model.ckpt, its .weights.h5 conversion or an .npz, or None")
        model = vggish()
        if weights is not None:
            if os.fspath(weights).endswith(".npz"):
                from actionzoo.models import set_vggish_weights
                with np.load(weights) as tensors:
                    set_vggish_weights(model, dict(tensors))
            elif os.fspath(weights).endswith(".weights.h5"):  # actionzoo weights convert-vggish
                model.load_weights(weights)
            else:
                load_vggish_checkpoint(model, weights)
        return model
    if kind == "flow" and spec.lower() == "motion_cnn":
        if weights == "imagenet":
            raise ValueError("the motion CNN is trained on optical flow (paper Sec. IV-C) "
                             "and has no ImageNet weights: pass a .weights.h5 file of a "
                             "trained motion CNN, or None")
        model = motion_cnn(input_shape=(frame_size, frame_size, channels))
        if weights is not None:
            model.load_weights(os.fspath(weights))
        return model
    model = frame_embedding_model(spec, weights=weights, input_shape=(frame_size, frame_size),
                                  channels=channels)
    return model


def preprocess_for(kind, spec):
    """Input scaling of a stream's backbone: a named RGB backbone's own
    ``preprocess_input``; [-1, 1] for given models and flow; log-mel as is."""
    if kind == "audio":
        return _identity
    if kind == "rgb" and isinstance(spec, str):
        return backbone_preprocess(spec)
    return _scale_to_unit


def _scale_to_unit(x):
    """uint8-range images or quantised flow -> [-1, 1] (128 = zero flow)."""
    return np.asarray(x, np.float32) / 127.5 - 1.0


def _identity(x):
    return np.asarray(x, np.float32)


class FeatureStore:
    """Per-video feature rows keyed by frame (or example) index, on disk.

    One ``.npz`` per (file content, configuration) holding ``indices`` and
    ``features``; missing indices are computed and merged, and the entry is
    rewritten atomically. Without a directory nothing is kept.
    """

    def __init__(self, directory):
        self.directory = None if directory is None else os.fspath(directory)
        self._digests = FlowCache(os.path.join(self.directory, "flow")) \
            if self.directory is not None else None

    @property
    def flow_cache(self):
        return self._digests

    def _entry(self, path, config):
        blob = json.dumps({"v": _CACHE_VERSION, **config}, sort_keys=True, default=str)
        key = hashlib.sha256((self._digests.digest(path) + blob).encode()).hexdigest()[:40]
        return os.path.join(self.directory, key + ".npz")

    def get(self, path, config, indices, compute):
        """Rows for ``indices`` (any order, repeats allowed); ``compute(missing)``
        returns the rows of the sorted unique ``missing`` indices."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        wanted = np.unique(indices)
        if self.directory is None:
            rows = np.asarray(compute(wanted), np.float32)
            return rows[np.searchsorted(wanted, indices)]
        entry = self._entry(path, config)
        known_idx = np.zeros(0, np.int64)
        known = None
        if os.path.exists(entry):
            with np.load(entry) as data:
                known_idx, known = data["indices"], data["features"]
        missing = np.setdiff1d(wanted, known_idx)
        if missing.size:
            new = np.asarray(compute(missing), np.float32)
            all_idx = np.concatenate([known_idx, missing])
            all_rows = new if known is None else np.concatenate([known, new])
            order = np.argsort(all_idx)
            known_idx, known = all_idx[order], all_rows[order]
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, indices=known_idx, features=known)
            os.replace(tmp, entry)
        return known[np.searchsorted(known_idx, indices)]


class StreamExtractor:
    """Feature rows of one stream for frames of video files.

    Parameters
    ----------
    kind : {"rgb", "flow", "audio"}
    model : keras.Model
        Built by :func:`build_backbone`.
    preprocess : callable
        From :func:`preprocess_for`.
    identity : dict
        The backbone identity of :func:`build_backbone` (part of the cache key).
    frame_size : int
        Square input side of the image backbones (short-side resize, centre crop).
    flow_length : int
        Flows per stack (paper: 10).
    flow_method : {"auto", "tvl1", "farneback"}
    cache_dir : path or None
        Directory of the feature (and whole-video flow) cache.
    batch_size : int
        Frames per backbone call.
    """

    def __init__(self, kind, model, preprocess, identity, *, frame_size, flow_length=10,
                 flow_method="auto", cache_dir=None, batch_size=32):
        if kind not in ("rgb", "flow", "audio"):
            raise ValueError(f"unknown stream kind {kind!r}")
        self.kind = kind
        self.frame_size = int(frame_size)
        self.flow_length = int(flow_length)
        self.flow_method = flow_method
        self.batch_size = int(batch_size)
        self.model, self.preprocess = model, preprocess
        self.store = FeatureStore(cache_dir)
        self.config = {"kind": kind, "backbone": identity}
        if kind != "audio":
            self.config.update(frame_size=self.frame_size)
        if kind == "flow":
            self.config.update(flow_length=self.flow_length, flow_method=flow_method)
        self._crop = [ResizeShortSide(self.frame_size), CenterCrop(self.frame_size)]

    @property
    def dim(self):
        return int(self.model.outputs[0].shape[-1])

    def _embed(self, inputs):
        out = []
        for start in range(0, len(inputs), self.batch_size):
            batch = self.preprocess(inputs[start:start + self.batch_size])
            out.append(keras.ops.convert_to_numpy(self.model(batch, training=False)))
        return np.concatenate(out).reshape(len(inputs), -1)

    def _square(self, clip):
        for transform in self._crop:
            clip = transform(clip, None, "flow" if self.kind == "flow" else "rgb")
        return clip

    def frame_features(self, path, indices):
        """``(len(indices), dim)`` features of the frames (rgb) or the flow
        stacks centred on them (flow)."""
        def compute(missing):
            with VideoReader(path) as reader:
                if self.kind == "rgb":
                    clip = reader.read(missing, short_side=self.frame_size)
                else:
                    clip = read_flow_stacks(reader, missing, self.flow_length,
                                            method=self.flow_method,
                                            short_side=self.frame_size,
                                            cache=self.store.flow_cache)
            return self._embed(self._square(clip))
        return self.store.get(path, self.config, indices, compute)

    def audio_features(self, path, max_seconds):
        """``(n_examples, dim)`` VGGish features of the first ``max_seconds``
        (at least one example; a video without audio gives silence)."""
        with VideoReader(path) as reader:
            duration = reader.info.duration
        end = min(duration, float(max_seconds))
        wave, _ = read_audio(path, start=0.0, end=end)
        count = max(1, len(log_mel_examples(wave)))
        config = dict(self.config, max_seconds=float(max_seconds))

        def compute(missing):
            return self._embed(log_mel_examples(wave, num_examples=count)[missing])
        return self.store.get(path, config, np.arange(count), compute)


def motion_profile(path, *, frame_size, flow_method="auto", flow_cache=None):
    """Mean flow magnitude of each frame transition (adaptive sampling input)."""
    flow = video_flow(path, method=flow_method, short_side=frame_size, cache=flow_cache)
    return motion_magnitude(flow)


def check_video_paths(estimator, X):
    """X as a 1-D object array of video file paths (clear errors otherwise).

    Whether the files can be read is checked by
    :mod:`actionzoo.estimators._video_files`, all at once.
    """
    name = type(estimator).__name__
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} expects a sequence of video file paths, got a single "
                        f"path {X!r}: wrap it in a list")
    try:
        paths = np.asarray(X, dtype=object)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} expects a 1-D sequence of video file paths: {err}") from err
    if paths.ndim == 2 and paths.shape[1] == 1:
        paths = paths[:, 0]
    if paths.ndim != 1:
        raise ValueError(f"{name} expects a 1-D sequence of video file paths, got an "
                         f"array of shape {paths.shape}")
    if len(paths) == 0:
        raise ValueError(f"{name}: no videos given (0 samples)")
    out = []
    for i, p in enumerate(paths):
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"{name}: item {i} is not a video path but "
                            f"{type(p).__name__} {p!r}")
        out.append(os.fspath(p))
    return np.asarray(out, dtype=object)


def progress(items, verbose, description):
    """``items`` wrapped in a tqdm bar when ``verbose``."""
    if not verbose:
        return items
    from tqdm.auto import tqdm
    return tqdm(items, desc=description, unit="video", leave=False)
