"""Parsers for the official UCF101 and HMDB51 split files.

UCF101 ships ``classInd.txt`` (``"1 ApplyEyeMakeup"``), ``trainlist0N.txt``
(``"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"``) and ``testlist0N.txt``
(path only) in ``ucfTrainTestlist/``. HMDB51 ships one file per class and
split, ``<class>_test_split<N>.txt``, whose lines are ``"<video>.avi <m>"``
with ``m`` = 1 for training, 2 for testing and 0 for unused. Labels are
0-based indices into ``classes`` (UCF101: ``classInd`` order; HMDB51:
alphabetical).

:func:`load_folder` reads the plain layout without split files,
``root/<class>/<video>``, with classes in alphabetical order.
"""
from __future__ import annotations

import glob
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import MissingFileError, NotAFileError

__all__ = ["VIDEO_EXTENSIONS", "VideoSplit", "load_folder", "load_hmdb51", "load_ucf101",
           "ucf101_groups"]

#: File extensions :func:`load_folder` treats as videos.
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v")

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
        raise MissingFileError(path, "split file not found")
    with open(path, encoding="utf-8-sig") as fh:
        return [line.strip() for line in fh if line.strip()]


def _find_annotations(root, annotation_dir, default_name, probe, dataset):
    if annotation_dir is not None:
        return os.fspath(annotation_dir)
    for candidate in (os.path.join(root, default_name), root,
                      os.path.join(os.path.dirname(os.path.abspath(root)), default_name)):
        if glob.glob(os.path.join(candidate, probe)):
            return candidate
    hint = ("give the directory of the split files (annotation_dir, command line "
            "--annotation-dir)")
    if _class_folders(root):
        hint = ("it looks like a folder of class folders: read it with load_folder(root) "
                "(command line: --dataset folder), or " + hint)
    raise MissingFileError(
        root, f"no {dataset} split files ({probe}) in it, in {default_name}/ inside it or "
        f"beside it; {hint}")


def _check_present(paths, check_files, dataset):
    if not check_files:
        return
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise MissingFileError(
            missing[0], f"{len(missing)} {dataset} video(s) listed in the split files are "
            f"missing: {shown}")


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
    MissingFileError
        Missing split file or listed videos (all named); for a folder of
        class folders without split files the message points to
        :func:`load_folder`. A ``ValueError`` (and a ``FileNotFoundError``).
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
    ann = _find_annotations(root, annotation_dir, UCF101_ANNOTATION_DIR, "classInd.txt", "UCF101")
    class_file = os.path.join(ann, "classInd.txt")
    classes = []
    for n, line in enumerate(_read_lines(class_file), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(classes) + 1:
            raise ValueError(f"{class_file}:{n}: expected '<index> <ClassName>' in order, "
                             f"got {line!r}")
        classes.append(parts[1])
    # the official lists mix HandstandPushups/HandStandPushups
    by_name = {c.lower(): i for i, c in enumerate(classes)}
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
    ann = _find_annotations(root, annotation_dir, HMDB51_ANNOTATION_DIR, "*_test_split1.txt",
                            "HMDB51")
    files = {}
    for name in os.listdir(ann):
        m = _HMDB_FILE.match(name)
        if m and int(m["split"]) == split:
            files[m["cls"]] = os.path.join(ann, name)
    if not files:
        raise MissingFileError(ann, f"no *_test_split{split}.txt files")
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


def _class_folders(root):
    """Sorted names of the visible sub-folders of ``root`` ([] if it is not a directory)."""
    if not os.path.isdir(root):
        return []
    return sorted(d for d in os.listdir(root)
                  if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))


def _videos_under(folder):
    return [os.path.join(dirpath, f)
            for dirpath, _, files in sorted(os.walk(folder))
            for f in sorted(files) if f.lower().endswith(VIDEO_EXTENSIONS)]


def load_folder(root):
    """Videos and labels of a folder with one sub-folder per class.

    The layout most collections come in, ``root/<class>/<video>`` (videos
    may sit deeper inside a class folder). Classes are the sub-folder names
    in alphabetical order; files are videos by extension
    (:data:`VIDEO_EXTENSIONS`, any case); hidden folders are ignored.

    Parameters
    ----------
    root : str or path-like

    Returns
    -------
    VideoSplit
        All videos, sorted by class then path.

    Warns
    -----
    UserWarning
        For each class folder without videos; it is left out of
        ``classes`` (labels index the classes that have videos).

    Raises
    ------
    MissingFileError
        ``root`` does not exist, or holds no videos in class folders.
    NotAFileError
        ``root`` is a file.

    Examples
    --------
    >>> split = load_folder("my-videos")  # my-videos/jump/a.mp4, my-videos/run/b.avi
    ... # doctest: +SKIP
    >>> split.classes, split.labels.tolist()  # doctest: +SKIP
    (['jump', 'run'], [0, 1])
    """
    root = os.fspath(root)
    if not os.path.exists(root):
        raise MissingFileError(root, "no such directory")
    if not os.path.isdir(root):
        raise NotAFileError(root, "expected a directory of class folders, got a file")
    classes, paths, labels = [], [], []
    for name in _class_folders(root):
        videos = _videos_under(os.path.join(root, name))
        if not videos:
            warnings.warn(f"{os.path.join(root, name)}: class folder without videos "
                          f"({', '.join(VIDEO_EXTENSIONS)}); class {name!r} left out",
                          UserWarning, stacklevel=2)
            continue
        paths.extend(videos)
        labels.extend([len(classes)] * len(videos))
        classes.append(name)
    if not paths:
        raise MissingFileError(root, f"no videos ({', '.join(VIDEO_EXTENSIONS)}) in class "
                                     "sub-folders")
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
