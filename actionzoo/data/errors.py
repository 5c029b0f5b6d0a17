"""Errors raised by the data layer and the record of skipped inputs.

Every error names the offending file so that a failure deep inside a
``tf.data`` pipeline can be traced back to the input that caused it.
"""
from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass

__all__ = [
    "DataError", "DecodeError", "FrameCountError", "MissingFileError", "NotAFileError",
    "SkippedItem", "SkipLog", "warn_concealed",
]


class DataError(ValueError):
    """Bad input file (corrupt, empty, truncated, unusable).

    Parameters
    ----------
    path : str
        The offending file.
    reason : str
        Human readable description of what is wrong.

    Examples
    --------
    >>> err = DataError("clip.avi", "contains no video stream")
    >>> print(err)
    clip.avi: contains no video stream
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = str(reason)
        super().__init__(f"{self.path}: {self.reason}")

    def __reduce__(self):  # keep picklable (multiprocessing, tf.data)
        return (type(self), (self.path, self.reason))


class MissingFileError(DataError, FileNotFoundError):
    """The input file does not exist.

    A :class:`DataError` (so a ``ValueError``, like every bad input of the
    data layer) that is also a :class:`FileNotFoundError`.

    Examples
    --------
    >>> err = MissingFileError("clip.avi", "no such file")
    >>> isinstance(err, ValueError), isinstance(err, FileNotFoundError)
    (True, True)
    """


class NotAFileError(DataError, IsADirectoryError):
    """A directory was given where a media file is expected.

    Examples
    --------
    >>> print(NotAFileError("videos/", "is a directory, not a media file"))
    videos/: is a directory, not a media file
    """


class DecodeError(DataError):
    """The file cannot be opened or decoded as audio/video."""


class FrameCountError(DecodeError):
    """Frames were requested beyond the last decodable frame.

    Raised when a container header over-states the number of frames
    (e.g. a truncated download). ``decoded`` is the number of frames that
    could actually be decoded; callers can re-sample with that count.

    Examples
    --------
    >>> err = FrameCountError("clip.avi", requested=40, decoded=31)
    >>> err.decoded
    31
    """

    def __init__(self, path, requested, decoded, reason=None):
        self.requested = int(requested)
        self.decoded = int(decoded)
        super().__init__(
            path,
            reason
            or f"frame {self.requested} requested but only {self.decoded} frames "
            "could be decoded",
        )

    def __reduce__(self):
        return (type(self), (self.path, self.requested, self.decoded, self.reason))


@dataclass(frozen=True)
class SkippedItem:
    """One input skipped under ``on_error="skip"``.

    Attributes
    ----------
    index : int
        Position of the item in the input list.
    path : str
        The file that was skipped.
    error : str
        The error message that caused the skip.
    """

    index: int
    path: str
    error: str


class SkipLog:
    """Thread-safe record of skipped inputs (filled by the loaders).

    Each skip also emits a :class:`UserWarning`, so nothing is dropped
    silently. The same item is recorded once even when a dataset is iterated
    for several epochs.

    Examples
    --------
    >>> log = SkipLog()
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     log.add(3, "bad.avi", "truncated")
    >>> [item.path for item in log]
    ['bad.avi']
    """

    def __init__(self):
        self._items: dict[tuple, SkippedItem] = {}
        self._lock = threading.Lock()

    def add(self, index, path, error):
        """Record a skipped item and warn about it."""
        item = SkippedItem(int(index), str(path), str(error))
        key = (item.index, item.path)
        with self._lock:
            new = key not in self._items
            self._items.setdefault(key, item)
        if new:
            warnings.warn(f"skipping {item.path}: {item.error}", UserWarning, stacklevel=2)

    @property
    def items(self):
        """List of :class:`SkippedItem`, ordered by input index."""
        with self._lock:
            return [self._items[k] for k in sorted(self._items)]

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        with self._lock:
            return len(self._items)

    def __repr__(self):
        return f"SkipLog({self.items!r})"


_concealed_reported: set = set()
_concealed_lock = threading.Lock()


def warn_concealed(path, stream, count):
    """Warn, once per file and stream kind in this process, about skipped packets.

    Decoders skip undecodable packets (see ``docs/data.md``, "Damaged
    files"); this makes the damage visible without repeating the warning
    every epoch.

    Parameters
    ----------
    path : str
        The file.
    stream : {"video", "audio"}
    count : int
        Undecodable packets skipped; nothing happens when 0.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_concealed("doc-example.avi", "audio", 2)
    ...     warn_concealed("doc-example.avi", "audio", 2)
    >>> [str(w.message) for w in caught]
    ['doc-example.avi: skipped 2 undecodable audio packets (decoded around the damage)']
    """
    if count <= 0:
        return
    key = (str(path), stream)
    with _concealed_lock:
        if key in _concealed_reported:
            return
        _concealed_reported.add(key)
    noun = "packet" if count == 1 else "packets"
    warnings.warn(f"{path}: skipped {count} undecodable {stream} {noun} "
                  "(decoded around the damage)", UserWarning, stacklevel=3)
