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



def motion_split(root, groups=30):
    """Four direction classes (MoveLeft/Right/Up/Down), split 1 of the demo layout.

    96x72 videos of 48 frames; ``groups`` groups of 2 clips per class (each group
    has its own background, shared by all classes, so the background says
    nothing about the class): with 30 groups 160 training and 80 test videos from
    disjoint groups. A single frame (or an unordered set of frames) cannot
    tell left from right, so a network blind to temporal order can reach at
    most ~50%; R2D is not such a network (its temporally strided shortcut
    convs and pools pick fixed frames): with 120 groups it reached 0.806 (see
    docs/model_cards/correlation_net.md). Returns ``X_train, y_train,
    X_test, y_test`` (X: path arrays).
    """
    from actionzoo.data import load_ucf101
    make_synthetic_dataset(root, num_classes=4, groups=groups, clips_per_group=2, num_frames=48,
                           width=96, height=72, seed=0, verbose=0)
    train, test = load_ucf101(root, 1, "train"), load_ucf101(root, 1, "test")
    return (np.array(train.paths, dtype=object), train.labels,
            np.array(test.paths, dtype=object), test.labels)


#: Clip settings of the learning-evidence tests (demo motion classes).
EVIDENCE_CLIPS = dict(clip_length=8, frame_stride=6, crop_size=64, short_side=72, flip=False,
                      test_clips=3, width=0.125, batch_size=8, random_state=0)
