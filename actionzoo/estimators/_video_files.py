"""Bad video files, found before training: all reported at once, or skipped."""
import warnings

import numpy as np

from actionzoo.data.probe import probe_videos


def readable_videos(owner, paths, on_error):
    """Indices of the readable videos of ``paths`` and the skipped ones.

    Every file is probed first (:func:`actionzoo.data.probe.probe_videos`).
    ``on_error="raise"``: one ``ValueError`` lists every unreadable file.
    ``on_error="skip"``: they are left out with one warning and returned as
    ``[(path, reason), ...]`` (the estimator's ``skipped_``); all of them
    bad is still an error.

    Returns
    -------
    keep : ndarray of int
    skipped : list of (str, str)
    """
    bad = probe_videos(paths)
    if not bad:
        return np.arange(len(paths)), []
    shown = "; ".join(f"X[{i}] {p!r}: {reason}" for i, p, reason in bad[:20])
    more = f"; and {len(bad) - 20} more" if len(bad) > 20 else ""
    summary = f"{len(bad)} of {len(paths)} video files cannot be read: {shown}{more}"
    if on_error == "raise" or len(bad) == len(paths):
        hint = "" if on_error == "skip" else " (or pass on_error='skip' to train without them)"
        raise ValueError(f"{owner}: {summary}. Fix or remove them{hint}")
    warnings.warn(f"{owner}: skipping {summary}", UserWarning, stacklevel=3)
    keep = np.setdiff1d(np.arange(len(paths)), [i for i, _, _ in bad])
    return keep, [(p, reason) for _, p, reason in bad]


def check_readable(owner, paths):
    """Raise one ``ValueError`` listing every unreadable video of ``paths``."""
    readable_videos(owner, paths, "raise")
