"""Check a list of video files before a long job reads them.

:func:`probe_videos` opens every file once (the container header and its
first decodable frame, as :class:`~actionzoo.data.VideoReader` does) in
parallel threads (PyAV releases the GIL while it parses and decodes) and
returns every failure, so a caller can report all bad files at once instead
of stopping at the first one mid-epoch.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from .loader import BAD_INPUT_ERRORS

__all__ = ["probe_videos"]


def _probe_one(path):
    from .video import VideoReader

    try:
        VideoReader(path).close()
    except BAD_INPUT_ERRORS as exc:
        return getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return None


def probe_videos(paths, *, threads=None):
    """Open every video of ``paths``; return the ones that cannot be read.

    Parameters
    ----------
    paths : sequence of str or path-like
    threads : int, optional
        Files opened at once; default: two per usable core.

    Returns
    -------
    list of (int, str, str)
        ``(index, path, reason)`` of every unreadable file (missing, not a
        regular file, corrupt, no video stream, no decodable frame), in
        input order; empty when all are readable.

    Examples
    --------
    >>> probe_videos(["missing.avi"])
    [(0, 'missing.avi', 'media file not found')]
    """
    from .pipeline import default_parallel_calls

    paths = [os.fspath(p) for p in paths]
    workers = max(1, min(len(paths), threads or default_parallel_calls()))
    with ThreadPoolExecutor(workers) as pool:
        reasons = list(pool.map(_probe_one, paths))
    return [(i, p, r) for i, (p, r) in enumerate(zip(paths, reasons, strict=True))
            if r is not None]
