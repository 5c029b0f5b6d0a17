"""Tiny real demo videos for the clip estimators' tests (CorrelationNet, STCNet)."""
import os

import numpy as np

from actionzoo.data import make_synthetic_dataset, read_video


def demo_videos(root, *, num_classes=3, groups=3, clips_per_group=2, num_frames=12,
                width=48, height=36, seed=0):
    """Write a small synthetic dataset; return ``paths, labels, frames``.

    ``frames`` is the same videos decoded into one uint8 array
    ``(n, num_frames, height, width, 3)`` (the estimators' 5-D X form).
    """
    info = make_synthetic_dataset(root, num_classes=num_classes, groups=groups,
                                  clips_per_group=clips_per_group, num_frames=num_frames,
                                  width=width, height=height, seed=seed, n_jobs=1, verbose=0)
    paths = np.array([os.path.join(info["root"], p) for p in info["paths"]], dtype=object)
    labels = np.asarray(info["labels"])
    frames = np.stack([read_video(p) for p in paths])
    return paths, labels, frames

