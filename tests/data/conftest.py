"""Fixtures writing real encoded media files with PyAV (via actionzoo.data.encode)."""
import os

import numpy as np
import pytest

from actionzoo.data.encode import write_video
from tests.data.media import coded_frames, tone


@pytest.fixture
def make_video(tmp_path):
    """Factory: make_video(name, n=30, audio=True, **write_video kwargs) -> path."""

    def factory(name, n=30, audio=True, fps=25, frames=None, freq=440.0, **kwargs):
        path = os.fspath(tmp_path / name)
        frames = coded_frames(n) if frames is None else frames
        samples = None
        if audio:
            ext = os.path.splitext(name)[1]
            sr = kwargs.get("sample_rate") or (48000 if ext == ".webm" else 22050)
            kwargs["sample_rate"] = sr
            samples = tone(len(frames) / fps, freq=freq, sr=sr)
        kwargs.setdefault("bit_rate", 2_000_000)
        return write_video(path, frames, fps, audio=samples, **kwargs)

    return factory


@pytest.fixture
def videos(make_video):
    """Four short videos, one per container (.avi/.mp4/.webm/.mkv; 30/40/20/25 frames,
    audio in the first and third), and their labels."""
    paths = [
        make_video("a.avi", n=30, audio=True),
        make_video("b.mp4", n=40, audio=False),
        make_video("c.webm", n=20, audio=True),
        make_video("d.mkv", n=25, audio=False),
    ]
    return paths, np.array([0, 1, 2, 1])


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Overrides the suite-wide Keras reset: data tests build no Keras models.

    This saves ~0.5 s per test."""
    yield
