"""Audio loading: tracks inside video containers and standalone audio files.

Audio tracks of video containers are decoded with PyAV; standalone
``.wav``/``.flac``/``.ogg`` files with tensorflow-io (``tfio.audio``). Both
are mixed down to mono (mean of the channels) and resampled with one
polyphase resampler, so the two paths give the same waveform for the same
signal. A video without an audio track is normal (about half of UCF101):
it yields silence of the video's length and ``has_audio=False``.

Damaged audio tracks follow the decoding policy of :mod:`.video`: packets
the decoder rejects are skipped and counted (a warning names the file once),
the samples around them are kept, and a track is an error only when it
holds packets and none of them decodes.
"""
from __future__ import annotations

import math
import os

import av
import numpy as np
from scipy.signal import resample_poly

from .errors import DecodeError, warn_concealed
from .video import _open_container, check_media_file, decode_concealed

__all__ = [
    "AUDIO_FILE_EXTENSIONS", "DEFAULT_SAMPLE_RATE", "audio_slice", "read_audio", "resample_audio",
]

#: Files read with tensorflow-io instead of PyAV.
AUDIO_FILE_EXTENSIONS = (".wav", ".flac", ".ogg")
#: VGGish sample rate.
DEFAULT_SAMPLE_RATE = 16000


def resample_audio(waveform, orig_sr, sr=DEFAULT_SAMPLE_RATE):
    """Resample a mono waveform with a polyphase (Kaiser) filter.

    Parameters
    ----------
    waveform : array-like, shape (n,)
        Mono signal.
    orig_sr, sr : int
        Source and target sample rates in Hz.

    Returns
    -------
    numpy.ndarray
        ``float32`` waveform of length ``ceil(n * sr / orig_sr)``.

    Examples
    --------
    >>> resample_audio(np.zeros(44100), 44100, 16000).shape
    (16000,)
    """
    waveform = np.asarray(waveform, dtype=np.float32).reshape(-1)
    orig_sr, sr = int(orig_sr), int(sr)
    if orig_sr == sr or waveform.size == 0:
        return waveform.astype(np.float32, copy=True)
    g = math.gcd(orig_sr, sr)
    return resample_poly(waveform, sr // g, orig_sr // g).astype(np.float32)


def _read_container_audio(path):
    """Return (mono float32 samples, rate, has_audio, duration_seconds)."""
    container = _open_container(path)
    try:
        duration = container.duration / av.time_base if container.duration else 0.0
        if not container.streams.audio:
            if container.streams.video:
                stream = container.streams.video[0]
                if stream.frames and stream.average_rate:
                    duration = stream.frames / float(stream.average_rate)
            return np.zeros(0, np.float32), None, False, duration
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp")
        chunks, skipped = [], set()
        rate = stream.rate
        for frame in decode_concealed(container, stream, skipped):
            for out in resampler.resample(frame):
                rate = out.sample_rate
                chunks.append(out.to_ndarray().mean(axis=0))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().mean(axis=0))
        if skipped and not chunks:
            raise DecodeError(path, f"audio stream has no decodable packet "
                                    f"({len(skipped)} undecodable packets skipped)")
        warn_concealed(path, "audio", len(skipped))
        samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
        return samples, rate, samples.size > 0, duration
    finally:
        container.close()


def _read_audio_file(path):
    """Standalone audio file through tensorflow-io; (mono float32, rate)."""
    check_media_file(path)
    import tensorflow as tf
    import tensorflow_io as tfio

    try:
        audio = tfio.audio.AudioIOTensor(path)
        samples = audio.to_tensor().numpy()
        rate = int(audio.rate.numpy())
        dtype = audio.dtype
    except (tf.errors.OpError, ValueError, RuntimeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DecodeError(path, f"cannot decode audio file ({message})") from None
    if dtype.is_integer:
        samples = samples.astype(np.float32) / float(np.iinfo(dtype.as_numpy_dtype).max + 1)
    samples = samples.astype(np.float32).reshape(samples.shape[0], -1).mean(axis=1)
    return samples, rate


def read_audio(path, sr=DEFAULT_SAMPLE_RATE, *, start=0.0, end=None):
    """Read audio as a mono ``float32`` waveform at ``sr`` Hz.

    Parameters
    ----------
    path : str or path-like
        A video container (its first audio track is used) or a ``.wav``,
        ``.flac`` or ``.ogg`` file.
    sr : int, default 16000
        Output sample rate.
    start, end : float, optional
        Time window in seconds. With ``end`` given the result has exactly
        ``round((end - start) * sr)`` samples, zero-padded where the track
        is shorter than the window.

    Returns
    -------
    waveform : numpy.ndarray
        ``float32`` samples in ``[-1, 1]``, shape ``(n,)``.
    has_audio : bool
        ``False`` when the container has no (decodable) audio track; the
        waveform is then silence covering the video (or the window).

    Raises
    ------
    DecodeError
        Empty or unreadable container, or an audio track none of whose
        packets decodes (single undecodable packets are skipped).
    MissingFileError
        Missing file.

    Examples
    --------
    >>> wave, has_audio = read_audio("v_Run_g01_c01.avi")  # doctest: +SKIP
    >>> wave.dtype, has_audio  # doctest: +SKIP
    (dtype('float32'), True)
    >>> wave, has_audio = read_audio("silent.avi", start=0.5, end=1.5)  # doctest: +SKIP
    >>> wave.shape, has_audio, float(abs(wave).max())  # doctest: +SKIP
    ((16000,), False, 0.0)
    """
    path = os.fspath(path)
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"{path}: invalid audio window start={start}, end={end}")
    if path.lower().endswith(AUDIO_FILE_EXTENSIONS):
        samples, rate = _read_audio_file(path)
        has_audio, duration = True, samples.size / rate
    else:
        samples, rate, has_audio, duration = _read_container_audio(path)
    if has_audio:
        waveform = resample_audio(samples, rate, sr)
    else:
        waveform = np.zeros(int(round(duration * sr)), np.float32)
    return audio_slice(waveform, sr, start, end), has_audio


def audio_slice(waveform, sr, start=0.0, end=None):
    """Samples of ``waveform`` between ``start`` and ``end`` seconds.

    With ``end`` the result has exactly ``round((end - start) * sr)``
    samples, zero-padded past the end of the waveform.

    Examples
    --------
    >>> audio_slice(np.ones(10, np.float32), sr=10, start=0.5, end=1.5).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    first = int(round(start * sr))
    if end is None:
        return waveform[first:]
    length = int(round((end - start) * sr))
    out = np.zeros(length, np.float32)
    piece = waveform[first:first + length]
    out[: piece.size] = piece
    return out
