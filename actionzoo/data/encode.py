"""Write real encoded video files with PyAV (for the demo dataset and tests).

Codec defaults follow the container: ``.avi`` MPEG-4 Part 2 video with MP3
audio (as UCF101/HMDB51), ``.mp4`` H.264 + AAC, ``.mkv`` H.264 + FLAC,
``.webm`` VP8 + Opus.
"""
from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

__all__ = ["CONTAINER_CODECS", "write_video"]

#: Default (video codec, audio codec, audio sample rate) per extension.
CONTAINER_CODECS = {
    ".avi": ("mpeg4", "libmp3lame", 22050),
    ".mp4": ("libx264", "aac", 22050),
    ".mkv": ("libx264", "flac", 22050),
    ".webm": ("libvpx", "libopus", 48000),
}


def write_video(path, frames, fps=25, *, codec=None, pix_fmt="yuv420p", bit_rate=None,
                gop_size=None, max_b_frames=None, audio=None, sample_rate=None, audio_codec=None):
    """Encode ``frames`` (and optionally a mono audio track) to ``path``.

    Parameters
    ----------
    path : str or path-like
        Output file; the extension picks the container and default codecs.
    frames : array-like or iterable
        ``uint8`` RGB frames ``(H, W, 3)`` (or gray ``(H, W)``), as an array
        ``(T, H, W, 3)`` or any iterable (written as they come).
    fps : int, default 25
    codec : str, optional
        Video codec (default from :data:`CONTAINER_CODECS`).
    pix_fmt : str, default "yuv420p"
        Encoder pixel format (``"gray"`` with ``codec="ffv1"`` for grayscale).
    bit_rate : int, optional
        Video bit rate in bit/s (codec default otherwise).
    gop_size, max_b_frames : int, optional
        Key frame interval and B-frames (codec defaults otherwise).
    audio : array-like, optional
        Mono ``float32`` samples in ``[-1, 1]``; ``None`` writes no audio
        stream at all.
    sample_rate : int, optional
        Audio sample rate (default from :data:`CONTAINER_CODECS`).
    audio_codec : str, optional

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> frames = np.zeros((10, 48, 64, 3), np.uint8)
    >>> write_video("clip.avi", frames, audio=np.zeros(8820, np.float32))  # doctest: +SKIP
    'clip.avi'
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    default_v, default_a, default_sr = CONTAINER_CODECS.get(ext, ("mpeg4", "aac", 22050))
    container = av.open(path, "w")
    try:
        stream = None
        count = 0
        for frame in frames:
            frame = np.asarray(frame, np.uint8)
            if stream is None:
                stream = container.add_stream(codec or default_v,
                                              rate=Fraction(fps).limit_denominator(1001))
                stream.width, stream.height = frame.shape[1], frame.shape[0]
                stream.pix_fmt = pix_fmt
                stream.codec_context.thread_count = 1  # deterministic output
                if bit_rate:
                    stream.bit_rate = int(bit_rate)
                if gop_size:
                    stream.codec_context.gop_size = int(gop_size)
                if max_b_frames is not None:
                    stream.codec_context.max_b_frames = int(max_b_frames)
                astream = None
                if audio is not None:
                    rate = int(sample_rate or default_sr)
                    astream = container.add_stream(audio_codec or default_a, rate=rate)
                    astream.layout = "mono"
            fmt = "gray" if frame.ndim == 2 else "rgb24"
            vf = av.VideoFrame.from_ndarray(frame, format=fmt)
            vf.pts = count
            count += 1
            for packet in stream.encode(vf):
                container.mux(packet)
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in stream.encode():
            container.mux(packet)
        if astream is not None:
            _encode_audio(container, astream, np.asarray(audio, np.float32).reshape(-1))
    finally:
        container.close()
    return path


def _encode_audio(container, stream, samples):
    # Encoders with priming delay (MP3, AAC) emit negative timestamps; AVI
    # would shift *every* stream to compensate, leaving a gap in the video
    # timestamps. Start the audio at 0 instead.
    shift = None

    def mux(packets):
        nonlocal shift
        for packet in packets:
            if packet.pts is not None:
                if shift is None:
                    shift = max(-packet.pts, 0)
                packet.pts += shift
                packet.dts = None if packet.dts is None else packet.dts + shift
            container.mux(packet)

    rate = stream.codec_context.sample_rate
    size = stream.codec_context.frame_size or 1024
    fmt = stream.codec_context.format.name
    for start in range(0, samples.size, size):
        chunk = samples[start:start + size]
        if fmt in ("s16", "s16p"):
            data = (np.clip(chunk, -1, 1) * 32767).astype(np.int16)
        elif fmt in ("s32", "s32p"):
            data = (np.clip(chunk, -1, 1) * 2147483647).astype(np.int32)
        else:
            data = chunk.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[None]), format=fmt,
                                           layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        mux(stream.encode(frame))
    mux(stream.encode())
