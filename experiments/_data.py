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



def reversed_videos(paths):
    """The videos at ``paths`` played backwards, as one uint8 array ``(n, T, H, W, 3)``."""
    from actionzoo.data import read_video

    return np.stack([read_video(path)[::-1] for path in paths])


def scored_fit(clf, X_train, y_train, X_test, y_test, reversed_test, **row):
    """Fit ``clf`` and return ``row`` with its test and time-reversed test accuracy,
    its training loss per epoch and the seconds the fit and scoring took."""
    import time

    start = time.perf_counter()
    clf.fit(X_train, y_train)
    return dict(row, test=clf.score(X_test, y_test), reversed=clf.score(reversed_test, y_test),
                loss=clf.history_["loss"], seconds=time.perf_counter() - start)
