"""VGGish log-mel features, checked against an independent tf.signal pipeline."""
import numpy as np
import pytest
import tensorflow as tf

from actionzoo.data import log_mel_examples, log_mel_spectrogram, mel_matrix, silence_examples
from tests.data.media import tone


def tf_signal_reference(wave):
    """VGGish front end written with tf.signal (HTK mel, DC bin excluded)."""
    stft = tf.signal.stft(tf.constant(wave, tf.float64), frame_length=400, frame_step=160,
                          fft_length=512,
                          window_fn=lambda n, dtype: tf.signal.hann_window(n, periodic=True,
                                                                           dtype=dtype))
    weights = tf.signal.linear_to_mel_weight_matrix(64, 257, 16000, 125.0, 7500.0, dtype=tf.float64)
    return tf.math.log(tf.matmul(tf.abs(stft), weights) + 0.01).numpy()


def test_matches_tf_signal_reference():
    rng = np.random.default_rng(0)
    wave = 0.3 * tone(1.3, freq=700.0, sr=16000) + 0.05 * rng.standard_normal(20800)
    wave = wave.astype(np.float32)
    ours = log_mel_spectrogram(wave)
    ref = tf_signal_reference(wave)
    assert ours.shape == ref.shape == (1 + (20800 - 400) // 160, 64)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_mel_matrix_properties():
    m = mel_matrix()
    assert m.shape == (257, 64)
    assert not m[0].any()  # DC excluded
    freqs = np.linspace(0, 8000, 257)
    assert not m[freqs < 125].any() and not m[freqs > 7500].any()
    assert (m.max(axis=0) > 0.5).all()  # every band has a triangle


def test_tone_peaks_in_the_right_band():
    spec = log_mel_spectrogram(tone(1.0, freq=1000.0, sr=16000))
    band = int(np.argmax(spec.mean(axis=0)))
    centres = np.linspace(1127 * np.log(1 + 125 / 700), 1127 * np.log(1 + 7500 / 700), 66)[1:-1]
    expected = int(np.argmin(np.abs(centres - 1127 * np.log(1 + 1000 / 700))))
    assert abs(band - expected) <= 1


def test_examples_shape_and_silence_padding():
    assert log_mel_examples(np.zeros(16000 * 3)).shape == (3, 96, 64)
    assert log_mel_examples(np.zeros(15599)).shape == (0, 96, 64)  # 96 frames need 15600 samples
    assert log_mel_examples(np.zeros(15600)).shape == (1, 96, 64)
    padded = log_mel_examples(tone(1.0, sr=16000), num_examples=3)
    assert padded.shape == (3, 96, 64)
    np.testing.assert_array_equal(padded[1:], silence_examples(2))
    assert padded[0].max() > np.log(0.01) + 1
    np.testing.assert_allclose(silence_examples(1), np.log(0.01))


def test_resamples_other_rates():
    a = log_mel_examples(tone(2.0, freq=500.0, sr=44100), sr=44100)
    b = log_mel_examples(tone(2.0, freq=500.0, sr=16000), sr=16000)
    assert a.shape == b.shape == (2, 96, 64)
    strong = b > np.log(0.01) + 1  # bands carrying the tone's energy
    assert strong.any()
    np.testing.assert_allclose(a[strong], b[strong], atol=0.05)
    np.testing.assert_allclose(a, b, atol=0.15)  # leakage near the log floor differs slightly


@pytest.mark.parametrize("bad", [np.zeros(10)])
def test_too_short_waveform_has_no_frames(bad):
    assert log_mel_spectrogram(bad).shape == (0, 64)
