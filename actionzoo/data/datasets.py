"""Parsers for the official UCF101 and HMDB51 split files.

UCF101 ships ``classInd.txt`` (``"1 ApplyEyeMakeup"``), ``trainlist0N.txt``
(``"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"``) and ``testlist0N.txt``
(path only) in ``ucfTrainTestlist/``. HMDB51 ships one file per class and
split, ``<class>_test_split<N>.txt``, whose lines are ``"<video>.avi <m>"``
with ``m`` = 1 for training, 2 for testing and 0 for unused. Labels are
0-based indices into ``classes`` (UCF101: ``classInd`` order; HMDB51:
alphabetical).
"""
from __future__ import annotations

import errno
import glob
import os
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["VideoSplit", "load_ucf101", "load_hmdb51", "ucf101_groups"]

UCF101_ANNOTATION_DIR = "ucfTrainTestlist"
HMDB51_ANNOTATION_DIR = "testTrainMulti_7030_splits"
_SUBSETS = ("train", "test")


@dataclass
class VideoSplit:
    """Videos of one split/subset.

    Attributes
    ----------
    paths : list of str
        Absolute video paths.
    labels : numpy.ndarray
        ``int64`` class indices.
    classes : list of str
        Class names; ``classes[label]`` is the name.
    """

    paths: list
    labels: np.ndarray
    classes: list = field(default_factory=list)

    def __len__(self):
        return len(self.paths)


def _check_args(split, subset):
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    if subset not in _SUBSETS:
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")


def _read_lines(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(errno.ENOENT, "split file not found", path)
    with open(path, encoding="utf-8-sig") as fh:
        return [line.strip() for line in fh if line.strip()]


def _find_annotations(root, annotation_dir, default_name, probe):
    if annotation_dir is not None:
        return os.fspath(annotation_dir)
    for candidate in (os.path.join(root, default_name), root,
                      os.path.join(os.path.dirname(os.path.abspath(root)), default_name)):
        if glob.glob(os.path.join(candidate, probe)):
            return candidate
    raise FileNotFoundError(
        errno.ENOENT,
        f"no split files ({probe}) in {root}, {os.path.join(root, default_name)} or its "
        "sibling; pass annotation_dir=",
        root,
    )


def _check_present(paths, check_files, dataset):
    if not check_files:
        return
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise FileNotFoundError(
            errno.ENOENT, f"{len(missing)} {dataset} video(s) listed in the split files are "
            f"missing: {shown}", missing[0])


def load_ucf101(root, split=1, subset="train", *, annotation_dir=None, check_files=True):
    """Videos and labels of a UCF101 split.

    Parameters
    ----------
    root : str or path-like
        Directory holding the class folders (``UCF-101/``).
    split : {1, 2, 3}, default 1
    subset : {"train", "test"}, default "train"
    annotation_dir : str, optional
        Directory with ``classInd.txt`` etc. Default: ``root/ucfTrainTestlist``,
        ``root`` itself, or ``ucfTrainTestlist`` next to ``root``.
    check_files : bool, default True
        Raise if a listed video does not exist.

    Returns
    -------
    VideoSplit

    Raises
    ------
    FileNotFoundError
        Missing split file or listed videos (all named).
    ValueError
        Malformed lines or unknown classes (file and line named).

    Examples
    --------
    >>> train = load_ucf101("UCF-101", split=1, subset="train")  # doctest: +SKIP
    >>> len(train), train.classes[:2]  # doctest: +SKIP
    (9537, ['ApplyEyeMakeup', 'ApplyLipstick'])
    """
    _check_args(split, subset)
    root = os.fspath(root)
    ann = _find_annotations(root, annotation_dir, UCF101_ANNOTATION_DIR, "classInd.txt")
    class_file = os.path.join(ann, "classInd.txt")
    classes = []
    for n, line in enumerate(_read_lines(class_file), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(classes) + 1:
            raise ValueError(f"{class_file}:{n}: expected '<index> <ClassName>' in order, got {line!r}")
        classes.append(parts[1])
    by_name = {c.lower(): i for i, c in enumerate(classes)}  # official lists mix HandstandPushups/HandStandPushups
    list_file = os.path.join(ann, f"{subset}list{split:02d}.txt")
    paths, labels = [], []
    for n, line in enumerate(_read_lines(list_file), 1):
        parts = line.replace("\\", "/").split()
        rel = parts[0]
        folder = rel.split("/")[0] if "/" in rel else None
        if len(parts) == 2:
            if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(classes):
                raise ValueError(f"{list_file}:{n}: bad class index in {line!r}")
            label = int(parts[1]) - 1
        elif len(parts) == 1 and folder is not None and folder.lower() in by_name:
            label = by_name[folder.lower()]
        else:
            raise ValueError(f"{list_file}:{n}: cannot determine the class of {line!r}")
        paths.append(os.path.join(root, rel))
        labels.append(label)
    _check_present(paths, check_files, "UCF101")
    return VideoSplit(paths, np.asarray(labels, np.int64), classes)


_HMDB_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>[123])\.txt$")


def load_hmdb51(root, split=1, subset="train", *, annotation_dir=None, check_files=True):
    """Videos and labels of an HMDB51 split.

    Parameters
    ----------
    root : str or path-like
        Directory with one folder per class holding the ``.avi`` files.
    split : {1, 2, 3}, default 1
    subset : {"train", "test"}, default "train"
        Marker 1 (train) or 2 (test); videos marked 0 are unused.
    annotation_dir : str, optional
        Directory of ``<class>_test_split<N>.txt``. Default:
        ``root/testTrainMulti_7030_splits``, ``root``, or that folder next
        to ``root``.
    check_files : bool, default True

    Returns
    -------
    VideoSplit
        Classes in alphabetical order.

    Examples
    --------
    >>> test = load_hmdb51("hmdb51", split=2, subset="test")  # doctest: +SKIP
    >>> len(test.classes)  # doctest: +SKIP
    51
    """
    _check_args(split, subset)
    root = os.fspath(root)
    ann = _find_annotations(root, annotation_dir, HMDB51_ANNOTATION_DIR, "*_test_split1.txt")
    files = {}
    for name in os.listdir(ann):
        m = _HMDB_FILE.match(name)
        if m and int(m["split"]) == split:
            files[m["cls"]] = os.path.join(ann, name)
    if not files:
        raise FileNotFoundError(errno.ENOENT, f"no *_test_split{split}.txt files", ann)
    classes = sorted(files)
    wanted = "1" if subset == "train" else "2"
    paths, labels = [], []
    for label, cls in enumerate(classes):
        for n, line in enumerate(_read_lines(files[cls]), 1):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise ValueError(f"{files[cls]}:{n}: expected '<video> <0|1|2>', got {line!r}")
            if parts[1] == wanted:
                paths.append(os.path.join(root, cls, parts[0]))
                labels.append(label)
    _check_present(paths, check_files, "HMDB51")
    return VideoSplit(paths, np.asarray(labels, np.int64), classes)


_GROUP = re.compile(r"_g(\d+)_c\d+\.\w+$")


def ucf101_groups(paths):
    """UCF101 group numbers of video files (``v_Class_g08_c01.avi`` -> 8), or None.

    Videos of a group share scenes and actors, so cross-validation should
    keep a group in one fold. None when any file name lacks the
    ``_gXX_cYY`` pattern (e.g. HMDB51 or a custom folder).

    Examples
    --------
    >>> ucf101_groups(["a/v_Jump_g08_c01.avi", "v_Run_g12_c03.avi"]).tolist()
    [8, 12]
    >>> ucf101_groups(["clip.mp4"]) is None
    True
    """
    found = [_GROUP.search(os.path.basename(os.fspath(p))) for p in paths]
    if not all(found):
        return None
    return np.array([int(m.group(1)) for m in found])
