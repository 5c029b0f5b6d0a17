"""TFRecord cache: decode once with :func:`prepare`, read many times.

Each video becomes one ``tf.train.SequenceExample``:

* context: ``path`` (bytes), ``label`` (int64, -1 if unlabelled), ``fps``
  (float), ``num_frames``, ``height``, ``width``, ``has_audio`` (int64);
* feature lists (only for the prepared modalities):
  ``rgb`` -- one JPEG per frame; ``flow_x``/``flow_y`` -- one grayscale
  JPEG per flow frame holding the TSN-quantised component (as TSN stores
  flow); ``log_mel`` -- one 64-float VGGish spectrogram row per 10 ms.

:func:`make_record_dataset` reads the shards with ``interleave`` and feeds
the records through the same :class:`~actionzoo.data.loader.ClipLoader`
(sampling, transforms, flow stacks, audio windows) as the file pipeline.
"""
from __future__ import annotations

import glob
import json
import os

import cv2
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from .audio import DEFAULT_SAMPLE_RATE, read_audio
from .errors import DataError, FrameCountError, MissingFileError, SkipLog
from .flow import FLOW_BOUND, compute_flow, quantize_flow, stack_flow
from .loader import BAD_INPUT_ERRORS, ClipLoader
from .logmel import log_mel_spectrogram
from .pipeline import _as_labels, _as_paths, build_pipeline, load_each
from .video import VideoInfo, VideoReader, scaled_size

__all__ = ["prepare", "RecordVideo", "make_record_dataset"]

MANIFEST = "manifest.json"


def _bytes_list(values):
    return tf.train.FeatureList(feature=[tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
                                         for v in values])


def _jpeg(image, quality):
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def _encode_video(path, label, modalities, short_side, quality, flow_method, flow_bound):
    with VideoReader(path) as reader:
        frames = reader.read(short_side=short_side)
        fps = reader.info.fps
    ctx = {
        "path": tf.train.Feature(bytes_list=tf.train.BytesList(value=[os.fspath(path).encode()])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "fps": tf.train.Feature(float_list=tf.train.FloatList(value=[fps])),
        "num_frames": tf.train.Feature(int64_list=tf.train.Int64List(value=[len(frames)])),
        "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[frames.shape[1]])),
        "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[frames.shape[2]])),
    }
    lists = {}
    if "rgb" in modalities:
        lists["rgb"] = _bytes_list([_jpeg(f[..., ::-1], quality) for f in frames])
    if "flow" in modalities:
        flow = quantize_flow(compute_flow(frames, flow_method), flow_bound)
        lists["flow_x"] = _bytes_list([_jpeg(f[..., 0], quality) for f in flow])
        lists["flow_y"] = _bytes_list([_jpeg(f[..., 1], quality) for f in flow])
    has_audio = False
    if "audio" in modalities:
        wave, has_audio = read_audio(path, DEFAULT_SAMPLE_RATE)
        spec = log_mel_spectrogram(wave, DEFAULT_SAMPLE_RATE)
        lists["log_mel"] = tf.train.FeatureList(
            feature=[tf.train.Feature(float_list=tf.train.FloatList(value=row)) for row in spec])
    ctx["has_audio"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(has_audio)]))
    example = tf.train.SequenceExample(
        context=tf.train.Features(feature=ctx),
        feature_lists=tf.train.FeatureLists(feature_list=lists))
    return example.SerializeToString()


def prepare(paths, labels, output_dir, *, modalities=("rgb",), short_side=128, videos_per_shard=64,
            jpeg_quality=90, flow_method="auto", flow_bound=FLOW_BOUND, on_error="raise",
            skip_log=None, verbose=1):
    """Decode videos once into sharded TFRecord files of SequenceExamples.

    Parameters
    ----------
    paths : sequence of str
        Video files.
    labels : array-like of int, optional
        Class indices (stored; ``-1`` when ``None``).
    output_dir : str or path-like
        Receives ``shard-00000-of-000NN.tfrecord`` files and ``manifest.json``.
    modalities : sequence of {"rgb", "flow", "audio"}, default ("rgb",)
    short_side : int, optional, default 128
        Frames (and flow) are stored at this short side; ``None`` keeps
        the native size.
    videos_per_shard : int, default 64
    jpeg_quality : int, default 90
    flow_method : {"auto", "tvl1", "farneback"}
    flow_bound : float, default 20
    on_error : {"raise", "skip"}, default "raise"
        Bad files raise (naming the file) or are skipped with a warning and
        recorded in ``skip_log`` and in the manifest.
    skip_log : SkipLog, optional
    verbose : int, default 1
        Progress bar when > 0.

    Returns
    -------
    list of str
        Shard files written.

    Examples
    --------
    >>> shards = prepare(paths, labels, "cache/ucf101-train",
    ...                  modalities=("rgb", "flow"))  # doctest: +SKIP
    >>> ds = make_record_dataset(shards, DenseClipSampler(16),
    ...                          train_transform(112, 128))  # doctest: +SKIP
    """
    paths = _as_paths(paths)
    labels = _as_labels(labels, len(paths))
    labels = labels if labels is not None else np.full(len(paths), -1, np.int64)
    modalities = (modalities,) if isinstance(modalities, str) else tuple(modalities)
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    log = skip_log if skip_log is not None else SkipLog()
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    n_shards = max(1, -(-len(paths) // int(videos_per_shard)))
    shards = [os.path.join(output_dir, f"shard-{i:05d}-of-{n_shards:05d}.tfrecord")
              for i in range(n_shards)]
    written = 0
    bar = tqdm(total=len(paths), desc="prepare", unit="video", disable=verbose <= 0)
    for s, shard in enumerate(shards):
        with tf.io.TFRecordWriter(shard) as writer:
            for i in range(s * videos_per_shard, min((s + 1) * videos_per_shard, len(paths))):
                try:
                    writer.write(_encode_video(paths[i], labels[i], modalities, short_side,
                                               jpeg_quality, flow_method, flow_bound))
                    written += 1
                except BAD_INPUT_ERRORS as exc:
                    if on_error == "raise":
                        raise
                    log.add(i, paths[i], exc)
                bar.update()
    bar.close()
    manifest = {
        "shards": [os.path.basename(s) for s in shards], "videos": written,
        "modalities": list(modalities), "short_side": short_side, "flow_bound": flow_bound,
        "skipped": [{"index": it.index, "path": it.path, "error": it.error} for it in log],
    }
    with open(os.path.join(output_dir, MANIFEST), "w") as fh:
        json.dump(manifest, fh, indent=1)
    return shards


class RecordVideo:
    """A parsed SequenceExample, readable like a :class:`VideoReader`.

    Parameters
    ----------
    serialized : bytes
        One record written by :func:`prepare`.
    flow_bound : float, default 20
    """

    def __init__(self, serialized, flow_bound=FLOW_BOUND):
        ex = tf.train.SequenceExample.FromString(serialized)
        ctx, lists = ex.context.feature, ex.feature_lists.feature_list
        self.path = ctx["path"].bytes_list.value[0].decode()
        self.label = int(ctx["label"].int64_list.value[0])
        n = int(ctx["num_frames"].int64_list.value[0])
        h, w = int(ctx["height"].int64_list.value[0]), int(ctx["width"].int64_list.value[0])
        fps = float(ctx["fps"].float_list.value[0])
        self.info = VideoInfo(self.path, n, fps, n / fps, w, h, "jpeg",
                              bool(ctx["has_audio"].int64_list.value[0]), "decoded")
        self.has_audio = self.info.has_audio
        self._lists = lists
        self.flow_bound = flow_bound
        self.log_mel = None
        if "log_mel" in lists:
            rows = [f.float_list.value for f in lists["log_mel"].feature]
            self.log_mel = np.asarray(rows, np.float32).reshape(-1, 64)

    def _images(self, key, indices, flags):
        feats = self._lists[key].feature
        return [cv2.imdecode(np.frombuffer(feats[int(i)].bytes_list.value[0], np.uint8), flags)
                for i in indices]

    def output_size(self, short_side=None):
        return scaled_size(self.info.height, self.info.width, short_side)

    def read(self, indices, short_side=None):
        """Decode stored JPEG frames (RGB ``uint8``)."""
        if "rgb" not in self._lists:
            raise DataError(self.path, "record holds no RGB frames (prepare with 'rgb')")
        idx = np.asarray(indices).reshape(-1)
        if idx.size and idx.max() >= self.info.num_frames:
            raise FrameCountError(self.path, int(idx.max()), self.info.num_frames)
        frames = np.stack([f[..., ::-1] for f in self._images("rgb", idx, cv2.IMREAD_COLOR)])
        h, w = self.output_size(short_side)
        if frames.shape[1:3] != (h, w):
            frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
        return frames

    def count_frames(self):
        return self.info.num_frames

    def flow_stacks(self, centers, length):
        """Stored flow stacked around ``centers`` (see :func:`stack_flow`)."""
        if "flow_x" not in self._lists:
            raise DataError(self.path, "record holds no flow (prepare with 'flow')")
        n = len(self._lists["flow_x"].feature)
        if n == 0:
            h, w = self.info.height, self.info.width
            return np.full((len(centers), h, w, 2 * length), quantize_flow(0.0, self.flow_bound),
                           np.uint8)
        offsets = np.arange(length) - length // 2
        needed = np.unique(np.clip(np.asarray(centers)[:, None] + offsets, 0, n - 1))
        flow = np.zeros((n,) + (self.info.height, self.info.width, 2), np.uint8)
        for comp, key in enumerate(("flow_x", "flow_y")):
            for i, img in zip(needed, self._images(key, needed, cv2.IMREAD_GRAYSCALE), strict=True):
                flow[i, ..., comp] = img
        return stack_flow(flow, centers, length)


def make_record_dataset(files, sampler, transform=None, modalities=("rgb",), *, batch_size=8,
                        shuffle=False, seed=None, shuffle_buffer=256, on_error="raise",
                        skip_log=None, num_parallel_calls=None, deterministic=True, prefetch=2,
                        drop_remainder=False, repeat=False, **loader_kwargs):
    """Stream batches from TFRecord shards written by :func:`prepare`.

    Parameters
    ----------
    files : str or sequence of str
        Shard files, a glob pattern, or the ``prepare`` output directory.
    sampler, transform, modalities, **loader_kwargs
        The :class:`~actionzoo.data.ClipLoader` built for the records
        (``frame_size``, ``short_side``, ``flow_length``, ...).
    batch_size, seed, on_error, ...
        As in :func:`~actionzoo.data.make_dataset`. Shards are read with
        ``interleave``; ``shuffle`` shuffles shard order, interleaves up to
        four shards and shuffles a buffer of ``shuffle_buffer`` records.
        Without ``shuffle`` records come in the order they were prepared.

    Returns
    -------
    tf.data.Dataset
        ``(features, label)`` elements as :func:`make_dataset` produces.

    Examples
    --------
    >>> ds = make_record_dataset("cache/ucf101-train", DenseClipSampler(16),  # doctest: +SKIP
    ...                          train_transform(112, 128), batch_size=8, shuffle=True, seed=0)
    """
    where = "the given file list"
    if isinstance(files, (str, os.PathLike)):
        where = files = os.fspath(files)
        pattern = os.path.join(files, "*.tfrecord") if os.path.isdir(files) else files
        files = sorted(glob.glob(pattern))
    files = list(files)
    if not files:
        raise MissingFileError(where, "no TFRecord shards found")
    loader = ClipLoader(sampler, transform, modalities, **loader_kwargs)
    log = skip_log if skip_log is not None else SkipLog()
    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    # without shuffling, keep the prepared order (predictions line up with paths)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=min(4, len(files)) if shuffle else 1,
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def load_record(serialized, element_seed):
        record = RecordVideo(serialized, loader.flow_bound)
        out = loader.load(record, element_seed)
        return out, record.label, record.path

    spec = loader.output_spec()
    return build_pipeline(ds, load_each(load_record, spec), spec, batch_size=batch_size, seed=seed,
                          on_error=on_error, log=log, labelled=True, repeat=repeat,
                          num_parallel_calls=num_parallel_calls, deterministic=deterministic,
                          prefetch=prefetch, drop_remainder=drop_remainder)
