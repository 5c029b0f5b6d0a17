"""Audio from video containers (PyAV) and audio files (tensorflow-io)."""
import os

import numpy as np
import pytest
import soundfile as sf

from actionzoo.data import DecodeError, audio_slice, read_audio, resample_audio
from tests.data.media import CONTAINERS, tone


def dominant_hz(wave, sr):
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return np.fft.rfftfreq(wave.size, 1 / sr)[np.argmax(spectrum)]


@pytest.mark.parametrize("ext", CONTAINERS)
def test_audio_track_of_each_container_is_16k_mono(make_video, ext):
    path = make_video("clip" + ext, n=50, audio=True, freq=440.0)  # 2 s
    wave, has_audio = read_audio(path)
    assert has_audio is True
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(wave.size - 32000) < 0.1 * 16000  # codec padding allowed, 2 s at 16 kHz
    assert dominant_hz(wave[4000:28000], 16000) == pytest.approx(440, abs=5)
    assert 0.2 < np.abs(wave[4000:28000]).max() <= 1.0


@pytest.mark.parametrize("ext", CONTAINERS)
def test_video_without_audio_gives_silence_and_flag(make_video, ext):
    path = make_video("silent" + ext, n=50, audio=False)
    wave, has_audio = read_audio(path)
    assert has_audio is False
    assert wave.size == 32000 and not wave.any()
    window, has_audio = read_audio(path, start=0.5, end=1.0)
    assert window.shape == (8000,) and has_audio is False


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg"])
def test_audio_files_through_tensorflow_io(tmp_path, ext):
    path = os.fspath(tmp_path / ("tone" + ext))
    sf.write(path, tone(1.0, freq=1000.0, sr=44100), 44100)
    wave, has_audio = read_audio(path, sr=16000)
    assert has_audio is True
    assert abs(wave.size - 16000) <= 160
    assert dominant_hz(wave, 16000) == pytest.approx(1000, abs=5)


def test_stereo_file_is_mixed_to_mono(tmp_path):
    path = os.fspath(tmp_path / "stereo.wav")
    left = tone(0.5, freq=500.0, sr=16000)
    sf.write(path, np.stack([left, -left], axis=1), 16000)  # channels cancel
    wave, _ = read_audio(path)
    assert np.abs(wave).max() < 1e-3


def test_window_has_exact_length_and_is_zero_padded(make_video):
    path = make_video("clip.avi", n=25, audio=True)  # 1 s
    wave, has_audio = read_audio(path, start=0.5, end=2.0)
    assert has_audio and wave.shape == (24000,)
    assert np.abs(wave[:4000]).max() > 0.1  # real audio in the first 0.5 s of the window
    assert not wave[12000:].any()  # beyond the track: zeros
    with pytest.raises(ValueError, match="invalid audio window"):
        read_audio(path, start=2.0, end=1.0)


def test_window_matches_slice_of_full_track(make_video):
    path = make_video("clip.mp4", n=50, audio=True)
    full, _ = read_audio(path)
    part, _ = read_audio(path, start=0.25, end=1.25)
    np.testing.assert_array_equal(part, full[4000:20000])
    np.testing.assert_array_equal(audio_slice(full, 16000, 0.25, 1.25), part)


def test_resample_preserves_frequency():
    x = tone(1.0, freq=300.0, sr=44100)
    y = resample_audio(x, 44100, 16000)
    assert y.shape == (16000,) and dominant_hz(y, 16000) == pytest.approx(300, abs=2)


def test_corrupt_audio_file_names_file(tmp_path):
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(DecodeError, match="bad.wav"):
        read_audio(path)


def test_missing_audio_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.flac"):
        read_audio(tmp_path / "missing.flac")
