"""Data the video experiments train on, built from the library's demo generator."""
import numpy as np


def direction_split(root, groups=30, size=(96, 72), num_frames=48):
    """The four direction classes of the demo data (MoveLeft/Right/Up/Down), split 1.

    ``groups`` groups of 2 clips per class; every group has its own background,
    shared by all four classes, so only the motion tells the class. With 30
    groups: 160 training and 80 test videos from disjoint groups. Returns
    ``X_train, y_train, X_test, y_test`` (X: arrays of paths).
    """
    from actionzoo.data import load_ucf101, make_synthetic_dataset

    make_synthetic_dataset(root, num_classes=4, groups=groups, clips_per_group=2,
                           num_frames=num_frames, width=size[0], height=size[1], seed=0,
                           verbose=0)
    train, test = load_ucf101(root, 1, "train"), load_ucf101(root, 1, "test")
    return (np.array(train.paths, dtype=object), train.labels,
            np.array(test.paths, dtype=object), test.labels)

