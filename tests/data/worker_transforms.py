"""Transforms for the worker-process tests (importable, so workers can unpickle them)."""
import os
import signal


class CrashOn:
    """Identity transform that kills its process (like a decoder segfault) on frames of
    ``marker`` height: the test gives one video that height."""

    def __init__(self, marker):
        self.marker = marker

    def __call__(self, clip, rng, modality):
        if clip.shape[-3] == self.marker:
            os.kill(os.getpid(), signal.SIGKILL)
        return clip
