"""VGGish log-mel spectrogram examples.

Re-implements the VGGish input pipeline (``vggish_input.waveform_to_examples``
of the AudioSet release) in NumPy so that features match the published
VGGish weights: 16 kHz mono, 25 ms periodic Hann window (400 samples),
10 ms hop (160 samples), 512-point FFT magnitude, 64 mel bands between
125 and 7500 Hz on the HTK mel scale (DC bin excluded), ``log(mel + 0.01)``,
framed into non-overlapping examples of 96 frames (0.96 s).
"""
from __future__ import annotations

import numpy as np

from .audio import DEFAULT_SAMPLE_RATE, resample_audio

__all__ = [
    "LOG_OFFSET", "NUM_MEL_BANDS", "EXAMPLE_FRAMES",
    "mel_matrix", "log_mel_spectrogram", "log_mel_examples", "silence_examples",
    "spectrogram_examples",
]

WINDOW_SECONDS = 0.025
HOP_SECONDS = 0.010
FFT_LENGTH = 512
NUM_MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96


def _hz_to_mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_matrix(num_bands=NUM_MEL_BANDS, num_bins=FFT_LENGTH // 2 + 1,
               sample_rate=DEFAULT_SAMPLE_RATE, lower_hz=MEL_MIN_HZ, upper_hz=MEL_MAX_HZ):
    """HTK mel filterbank as used by VGGish.

    Triangles are linear in mel, unnormalised, and the DC bin is zero.

    Parameters
    ----------
    num_bands : int, default 64
    num_bins : int, default 257
        Number of rFFT bins (``fft_length // 2 + 1``).
    sample_rate : int, default 16000
    lower_hz, upper_hz : float, default 125 and 7500

    Returns
    -------
    numpy.ndarray
        ``(num_bins, num_bands)`` ``float64`` weights.

    Examples
    --------
    >>> m = mel_matrix()
    >>> m.shape, float(m[0].max())
    ((257, 64), 0.0)
    """
    bins_mel = _hz_to_mel(np.linspace(0.0, sample_rate / 2.0, num_bins))
    edges = np.linspace(_hz_to_mel(lower_hz), _hz_to_mel(upper_hz), num_bands + 2)
    weights = np.empty((num_bins, num_bands))
    for i in range(num_bands):
        lower, centre, upper = edges[i:i + 3]
        rising = (bins_mel - lower) / (centre - lower)
        falling = (upper - bins_mel) / (upper - centre)
        weights[:, i] = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


def log_mel_spectrogram(waveform, sr=DEFAULT_SAMPLE_RATE):
    """VGGish log-mel spectrogram of a mono waveform.

    Parameters
    ----------
    waveform : array-like, shape (n,)
        Mono samples in ``[-1, 1]``.
    sr : int, default 16000
        Sample rate of ``waveform``; resampled to 16 kHz if different.

    Returns
    -------
    numpy.ndarray
        ``float32`` array ``(n_frames, 64)`` with
        ``n_frames = 1 + (n - 400) // 160`` (0 when shorter than 25 ms).

    Examples
    --------
    >>> spec = log_mel_spectrogram(np.zeros(16000))
    >>> spec.shape, round(float(spec.max()), 4)
    ((98, 64), -4.6052)
    """
    x = np.asarray(waveform, dtype=np.float64).reshape(-1)
    if int(sr) != DEFAULT_SAMPLE_RATE:
        x = resample_audio(x, sr, DEFAULT_SAMPLE_RATE).astype(np.float64)
    window_length = int(round(DEFAULT_SAMPLE_RATE * WINDOW_SECONDS))
    hop = int(round(DEFAULT_SAMPLE_RATE * HOP_SECONDS))
    n_frames = 0 if x.size < window_length else 1 + (x.size - window_length) // hop
    if n_frames == 0:
        return np.zeros((0, NUM_MEL_BANDS), np.float32)
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(n_frames, window_length), strides=(x.strides[0] * hop, x.strides[0]),
        writeable=False,
    )
    periodic_hann = 0.5 - 0.5 * np.cos(2 * np.pi / window_length * np.arange(window_length))
    magnitude = np.abs(np.fft.rfft(frames * periodic_hann, FFT_LENGTH))
    mel = magnitude @ mel_matrix()
    return np.log(mel + LOG_OFFSET).astype(np.float32)


def log_mel_examples(waveform, sr=DEFAULT_SAMPLE_RATE, *, num_examples=None):
    """Non-overlapping 96x64 VGGish input examples.

    Parameters
    ----------
    waveform : array-like, shape (n,)
        Mono samples.
    sr : int, default 16000
        Sample rate of ``waveform``.
    num_examples : int, optional
        Return exactly this many examples: missing ones are filled with
        silence (``log(0.01)``), extra ones are dropped from the end. By
        default every complete 0.96 s example is returned (an incomplete
        tail is dropped, as in VGGish).

    Returns
    -------
    numpy.ndarray
        ``float32`` array ``(n_examples, 96, 64)``.

    Examples
    --------
    >>> log_mel_examples(np.zeros(16000 * 3)).shape
    (3, 96, 64)
    >>> log_mel_examples(np.zeros(100), num_examples=2).shape
    (2, 96, 64)
    """
    spec = log_mel_spectrogram(waveform, sr)
    count = spec.shape[0] // EXAMPLE_FRAMES
    examples = spec[: count * EXAMPLE_FRAMES].reshape(count, EXAMPLE_FRAMES, NUM_MEL_BANDS)
    if num_examples is None:
        return examples
    if count >= num_examples:
        return examples[:num_examples]
    pad = silence_examples(num_examples - count)
    return np.concatenate([examples, pad])


def silence_examples(n):
    """``n`` log-mel examples of digital silence (all ``log(0.01)``).

    Examples
    --------
    >>> silence_examples(1).shape
    (1, 96, 64)
    """
    return np.full((int(n), EXAMPLE_FRAMES, NUM_MEL_BANDS), np.log(LOG_OFFSET), np.float32)


def spectrogram_examples(spectrogram, start=0.0, num_examples=1):
    """Cut examples from a precomputed log-mel spectrogram (e.g. a TFRecord).

    Frame ``k`` of a VGGish spectrogram starts at ``k * 10 ms``; the examples
    start at the frame nearest to ``start`` seconds and are silence-padded
    past the end.

    Parameters
    ----------
    spectrogram : numpy.ndarray
        ``(n_frames, 64)`` from :func:`log_mel_spectrogram`.
    start : float
        Seconds.
    num_examples : int

    Returns
    -------
    numpy.ndarray
        ``(num_examples, 96, 64)``.

    Examples
    --------
    >>> spec = log_mel_spectrogram(np.zeros(16000 * 2))
    >>> spectrogram_examples(spec, start=0.5, num_examples=2).shape
    (2, 96, 64)
    """
    first = int(round(start / HOP_SECONDS))
    need = num_examples * EXAMPLE_FRAMES
    out = np.full((need, NUM_MEL_BANDS), np.log(LOG_OFFSET), np.float32)
    piece = np.asarray(spectrogram, np.float32)[first:first + need]
    out[: len(piece)] = piece
    return out.reshape(num_examples, EXAMPLE_FRAMES, NUM_MEL_BANDS)
