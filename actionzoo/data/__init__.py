"""Data layer: decoding, sampling, transforms and tf.data pipelines.

Everything the models eat comes through here, from real encoded files:

* decoding -- :func:`read_video`, :func:`video_info`, :class:`VideoReader`
  (PyAV), :func:`read_audio` (PyAV / tensorflow-io), :func:`log_mel_examples`
  (VGGish), :func:`compute_flow`, :func:`video_flow` (OpenCV, TSN
  quantisation, disk cache);
* sampling -- :class:`SegmentSampler`, :class:`DenseClipSampler`,
  :class:`UniformClipSampler`, :class:`AdaptiveSampler`, :func:`audio_window`,
  :func:`read_sampled` (the one frame-count path: recount and resample when a
  header over-states the length);
* transforms -- :func:`train_transform`, :func:`eval_transform` and the
  building blocks in :mod:`actionzoo.data.transforms`;
* pipelines -- :func:`make_dataset` (tf.data), :class:`ClipLoader`,
  :func:`prepare` / :func:`make_record_dataset` (TFRecord cache);
* datasets -- :func:`load_ucf101`, :func:`load_hmdb51`, :func:`load_folder`
  (one sub-folder per class), :func:`ucf101_groups`,
  :func:`make_synthetic_dataset` (recording its parameters; see
  :func:`needs_generation`), :func:`make_arrangement_dataset` (the
  two-stream fusion mechanism benchmark).

The TensorFlow parts (:mod:`.pipeline`, :mod:`.records`) are imported on
first use (PEP 562), so decoding worker processes
(:mod:`actionzoo.data.workers`) and ``import actionzoo.data`` do not load
TensorFlow.
"""
import importlib

from .audio import (
    AUDIO_FILE_EXTENSIONS,
    DEFAULT_SAMPLE_RATE,
    audio_slice,
    read_audio,
    resample_audio,
)
from .datasets import (
    VIDEO_EXTENSIONS,
    VideoSplit,
    load_folder,
    load_hmdb51,
    load_ucf101,
    ucf101_groups,
)
from .encode import write_video
from .errors import (
    DataError,
    DecodeError,
    FrameCountError,
    MissingFileError,
    NotAFileError,
    SkipLog,
    SkippedItem,
)
from .flow import (
    FLOW_BOUND,
    FlowCache,
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
from .loader import MODALITIES, ClipLoader
from .logmel import (
    log_mel_examples,
    log_mel_spectrogram,
    mel_matrix,
    silence_examples,
    spectrogram_examples,
)
from .sampling import (
    AdaptiveSampler,
    DenseClipSampler,
    SegmentSampler,
    UniformClipSampler,
    audio_window,
    read_sampled,
)
from .synthetic import SYNTHETIC_CLASSES, make_synthetic_dataset, needs_generation
from .synthetic_arrangement import make_arrangement_dataset, render_arrangement
from .transforms import (
    CenterCrop,
    Compose,
    MultiScaleCrop,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    ResizeShortSide,
    TenCrop,
    ThreeCrop,
    eval_transform,
    train_transform,
)
from .video import VideoInfo, VideoReader, read_video, video_info

#: Names provided by the TensorFlow modules, imported when first used.
_LAZY = {
    "check_files": "pipeline", "make_dataset": "pipeline",
    "RecordVideo": "records", "make_record_dataset": "records", "prepare": "records",
}

__all__ = [
    "AUDIO_FILE_EXTENSIONS", "DEFAULT_SAMPLE_RATE", "FLOW_BOUND", "MODALITIES",
    "AdaptiveSampler", "CenterCrop", "ClipLoader", "Compose", "DataError", "DecodeError",
    "DenseClipSampler", "FlowCache", "FrameCountError", "MissingFileError", "MultiScaleCrop",
    "NotAFileError", "RandomCrop",
    "RandomHorizontalFlip", "Resize", "ResizeShortSide", "SegmentSampler", "SkipLog",
    "SkippedItem", "TenCrop", "ThreeCrop", "UniformClipSampler", "VideoInfo", "VideoReader",
    "audio_slice", "audio_window", "check_files", "compute_flow", "dequantize_flow",
    "eval_transform", "flip_flow", "has_tvl1", "log_mel_examples", "log_mel_spectrogram",
    "make_dataset", "mel_matrix", "motion_magnitude", "quantize_flow", "read_audio",
    "read_flow_stacks", "read_sampled", "read_video", "resample_audio", "silence_examples",
    "stack_flow",
    "train_transform", "video_flow", "video_info",
    "VIDEO_EXTENSIONS", "VideoSplit", "load_folder", "load_ucf101", "load_hmdb51", "ucf101_groups",
    "write_video",
    "SYNTHETIC_CLASSES", "make_synthetic_dataset", "needs_generation",
    "make_arrangement_dataset", "render_arrangement",
    "RecordVideo", "make_record_dataset", "prepare", "spectrogram_examples",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
