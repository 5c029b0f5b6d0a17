"""tf.data pipelines that stream decoded, sampled and augmented videos.

The dataset holds only file indices; each element is decoded on demand by
a :class:`~actionzoo.data.loader.ClipLoader` running in ``num_parallel_calls``
parallel calls (PyAV and OpenCV release the GIL while decoding, resizing
and computing flow), then batched and prefetched. Memory is therefore
bounded by the prefetch depth, not by the dataset size.
"""
from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from .errors import DataError, SkipLog
from .loader import BAD_INPUT_ERRORS, ClipLoader, check_outputs, empty_outputs

__all__ = ["ON_ERROR", "make_dataset", "check_files", "build_pipeline", "load_each",
           "default_parallel_calls", "usable_cores"]

ON_ERROR = ("raise", "skip")
#: Videos per request to a decoding worker process (at most one batch).
_WORKER_CHUNK = 8


def _as_paths(paths):
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError("paths must be a sequence of file paths, not a single path")
    out = [os.fspath(p) for p in np.asarray(paths, dtype=object).reshape(-1)]
    if not out:
        raise ValueError("paths is empty")
    return out


def _as_labels(labels, n):
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must be 1-D with one label per path ({n}), "
                         f"got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(
            f"labels must be integer class indices, got dtype {labels.dtype}; "
            "encode them first (e.g. sklearn.preprocessing.LabelEncoder)"
        )
    return labels.astype(np.int64)


def check_files(paths, on_error="raise", skip_log=None):
    """Open every video once, up front, to fail fast on bad files.

    Parameters
    ----------
    paths : sequence of str
    on_error : {"raise", "skip"}
    skip_log : SkipLog, optional
        Receives skipped files under ``"skip"``.

    Returns
    -------
    list of int
        Indices of the usable files.

    Raises
    ------
    DataError, OSError
        First bad file, under ``on_error="raise"``.

    Examples
    --------
    >>> ok = check_files(["a.avi", "missing.avi"], on_error="skip")  # doctest: +SKIP
    """
    from .video import VideoReader

    good = []
    log = skip_log if skip_log is not None else SkipLog()
    for i, path in enumerate(_as_paths(paths)):
        try:
            VideoReader(path).close()
            good.append(i)
        except BAD_INPUT_ERRORS as exc:
            if on_error == "raise":
                raise
            log.add(i, path, exc)
    return good


def make_dataset(paths, labels=None, loader=None, *, batch_size=8, shuffle=False, seed=None,
                 on_error="raise", skip_log=None, num_parallel_calls=None, num_workers=0,
                 deterministic=True, prefetch=2, drop_remainder=False, repeat=False,
                 return_index=False):
    """Stream videos as a batched ``tf.data.Dataset``.

    Parameters
    ----------
    paths : sequence of str or path-like
        Video files.
    labels : array-like of int, optional
        Class index per path. Without labels the elements are features only.
    loader : ClipLoader
        What each file becomes: the temporal sampler, the spatial transform,
        the modalities, the frame size and the flow and audio settings, e.g.
        ``ClipLoader(DenseClipSampler(16, stride=2), train_transform(112,
        short_side=128), modalities=("rgb", "audio"))``.
    batch_size : int, default 8
    shuffle : bool, default False
        Shuffle file order (re-shuffled every epoch, from ``seed``).
    seed : int, optional
        Makes shuffling, sampling and augmentation repeatable. ``None``
        draws fresh randomness.
    on_error : {"raise", "skip"}, default "raise"
        ``"raise"``: a bad file stops iteration with an error whose message
        names the file (TensorFlow re-raises the loader's ``DataError`` as
        ``tf.errors.InvalidArgumentError``). ``"skip"``: the element is
        dropped, a ``UserWarning`` is emitted and the file is recorded in
        ``skip_log``.
    skip_log : SkipLog, optional
        Where skips are recorded; also available as ``dataset.skip_log``.
    num_parallel_calls : int, optional
        Decoding calls in flight; default: two per usable CPU core (see
        :func:`default_parallel_calls`). (``tf.data.AUTOTUNE`` lets
        tf.data ramp parallelism up by itself, which on short runs and
        small machines often stays below the core count.)
    num_workers : int or "auto", default 0
        ``"auto"``: one worker process per usable core when there are
        several, else threads (the estimators' default: on 2 cores worker
        processes decoded 1.74x as fast as a single-threaded loop, tf.data's
        threads 0.89x, ``benchmarks/loader.py``).
        ``0``: decode in tf.data's threads in this process. ``N > 0``: decode
        in ``N`` worker processes (:mod:`actionzoo.data.workers`; started once
        per Python process and shared by all datasets), which is faster on
        several cores because the loaders' Python work no longer shares one
        GIL; ``-1``: one worker per usable core. Outputs are identical. The
        loader (its sampler and transform) must pickle and be importable (not defined in
        ``__main__``). A worker that crashes on a file is replaced and the file
        reported like any bad file (skipped under ``on_error="skip"``).
    deterministic : bool, default True
        Keep element order (and with ``seed``, exact contents) fixed.
    prefetch : int, default 2
        Batches prepared ahead.
    drop_remainder : bool, default False
    repeat : bool, default False
        Repeat forever (each pass reshuffles and redraws augmentations).
    return_index : bool, default False
        Add the position of each video in ``paths`` as ``"index"`` (useful
        to align predictions when files are skipped).

    Returns
    -------
    tf.data.Dataset
        Elements ``(features, labels)`` (or ``features``). ``features`` is a
        tensor for a single modality (e.g. ``(B, T, H, W, 3)`` ``uint8`` for
        ``"rgb"``) and otherwise a dict with keys ``"rgb"``, ``"flow"``,
        ``"audio"``, ``"has_audio"`` (and ``"index"``). Multi-view samplers
        or transforms add a view axis after the batch axis.

    Raises
    ------
    TypeError
        ``loader`` is not a :class:`~actionzoo.data.loader.ClipLoader`.

    Examples
    --------
    >>> from actionzoo.data import ClipLoader, DenseClipSampler, train_transform
    >>> loader = ClipLoader(DenseClipSampler(16, stride=2), train_transform(112, short_side=128))
    >>> ds = make_dataset(paths, labels, loader,  # doctest: +SKIP
    ...                   batch_size=8, shuffle=True, seed=0)
    >>> clips, y = next(iter(ds))  # doctest: +SKIP
    >>> clips.shape, clips.dtype  # doctest: +SKIP
    (TensorShape([8, 16, 112, 112, 3]), tf.uint8)
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if not isinstance(loader, ClipLoader):
        raise TypeError(
            f"loader must be an actionzoo.data.ClipLoader, got {type(loader).__name__}; "
            "build one with e.g. ClipLoader(DenseClipSampler(16), transform=eval_transform(112), "
            "modalities=(\"rgb\",)) and pass it as make_dataset(paths, labels, loader)"
        )
    paths = _as_paths(paths)
    labels = _as_labels(labels, len(paths))
    spec = loader.output_spec()
    log = skip_log if skip_log is not None else SkipLog()
    num_workers = _as_num_workers(num_workers)
    label_of = (lambda i: -1) if labels is None else (lambda i: labels[i])  # noqa: E731
    if num_workers:
        from .workers import ProcessLoader

        remote = ProcessLoader(loader, num_workers)

        def load(items, seeds):
            rows = [int(i) for i in items]
            arrays, failures = remote.load_chunk([paths[i] for i in rows], seeds)
            return arrays, [label_of(i) for i in rows], {
                j: (paths[rows[j]], exc) for j, exc in failures.items()}
    else:
        load = load_each(lambda index, seed: (loader(paths[int(index)], seed), label_of(int(index)),
                                              paths[int(index)]), spec)

    def describe(index):
        return int(index), paths[int(index)]

    ds = tf.data.Dataset.range(len(paths))
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    return build_pipeline(ds, load, spec, describe=describe,
                          chunk=min(batch_size, _WORKER_CHUNK) if num_workers else 1,
                          batch_size=batch_size, seed=seed, on_error=on_error, log=log,
                          labelled=labels is not None, repeat=repeat,
                          num_parallel_calls=num_parallel_calls, deterministic=deterministic,
                          prefetch=prefetch, drop_remainder=drop_remainder,
                          return_index=return_index)


def load_each(load_one, spec):
    """Turn a one-item ``load_one(item, seed) -> (outputs, label, path)`` into a chunk loader.

    Returns
    -------
    callable
        ``load(items, seeds) -> (arrays, labels, failures)`` as
        :func:`build_pipeline` expects, calling ``load_one`` item by item.
    """
    placeholder = [a[0] for a in empty_outputs(spec)]

    def load(items, seeds):
        rows, labels, failures = [], [], {}
        for j, (item, seed) in enumerate(zip(items, seeds, strict=True)):
            where = None
            try:
                out, label, where = load_one(item, int(seed))
                rows.append(check_outputs(out, spec, where))
                labels.append(label)
            except Exception as exc:  # noqa: BLE001 - build_pipeline applies the policy
                path = getattr(exc, "path", None) or getattr(exc, "filename", None) or where
                failures[j] = (path, exc)
                rows.append(placeholder)
                labels.append(-1)
        arrays = [np.stack([row[k] for row in rows]) for k in range(len(spec))]
        return arrays, labels, failures

    return load


def build_pipeline(items, load, spec, *, describe=None, chunk=1, batch_size=8, seed=None,
                   on_error="raise", log=None, labelled=True, repeat=False,
                   num_parallel_calls=None, deterministic=True, prefetch=2, drop_remainder=False,
                   return_index=False):
    """Shared tail of the file and TFRecord pipelines.

    Parameters
    ----------
    items : tf.data.Dataset
        Scalar items (file indices or serialized records), already shuffled.
    load : callable
        ``load(items, seeds) -> (arrays, labels, failures)`` in Python, for a
        chunk of up to ``chunk`` items: ``arrays`` in ``spec`` order with
        the items on the first axis, a label per item, and ``failures``
        mapping the position of each item that failed to ``(path,
        exception)`` (its rows are ignored). :func:`load_each` builds one
        from a one-item loader.
    spec : dict
        :meth:`ClipLoader.output_spec`.
    describe : callable, optional
        ``describe(item) -> (index, path)`` for the skip log; by default the
        path is the one in ``failures``.
    chunk : int, default 1
        Items per ``load`` call (worker processes take a chunk per request,
        so the per-request cost is shared).

    Returns
    -------
    tf.data.Dataset
        Batched, prefetched; ``dataset.skip_log`` holds skipped items.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    log = log if log is not None else SkipLog()
    keys = list(spec)
    variable = [k for k in keys if None in spec[k][0]]
    if variable and batch_size != 1:
        raise ValueError(f"{variable} have a per-video number of views (sampler with "
                         "num_clips=None); use batch_size=1")
    chunk = 1 if variable else int(chunk)
    dtypes = [tf.as_dtype(spec[k][1]) for k in keys]

    def py_load(chunk_items, chunk_seeds):
        arrays, labels, failures = load(list(chunk_items), list(chunk_seeds))
        ok = np.ones(len(chunk_items), bool)
        for j, (where, exc) in sorted(failures.items()):
            index, where = describe(chunk_items[j]) if describe is not None else (-1, where)
            if not isinstance(exc, BAD_INPUT_ERRORS):  # not a bad-input error: never skipped
                raise RuntimeError(f"{where}: {type(exc).__name__}: {exc}") from exc
            if on_error == "raise":
                if isinstance(exc, DataError):
                    raise exc
                raise DataError(where, f"{type(exc).__name__}: {exc}") from exc
            log.add(index, where, exc)
            ok[j] = False
        labels = np.asarray(labels, np.int64)
        if not ok.all():  # drop the failed rows here: no per-element filter in the graph
            arrays, labels = [a[ok] for a in arrays], labels[ok]
        return (*arrays, labels, np.flatnonzero(ok))

    def tf_load(chunk_items, chunk_seeds):
        results = tf.numpy_function(py_load, [chunk_items, chunk_seeds],
                                    dtypes + [tf.int64, tf.int64], stateful=True)
        features = {k: tf.ensure_shape(r, (None,) + spec[k][0])
                    for k, r in zip(keys, results[:-2], strict=True)}
        if return_index:
            features["index"] = tf.gather(chunk_items, results[-1])
        return features, tf.ensure_shape(results[-2], (None,))

    if repeat:
        items = items.repeat()
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip((items, seeds)).batch(chunk)
    parallel = num_parallel_calls or default_parallel_calls()
    ds = ds.map(tf_load, num_parallel_calls=parallel, deterministic=deterministic)
    single = len(keys) == 1 and not return_index

    def finish(features, label):
        x = features[keys[0]] if single else features
        return (x, label) if labelled else x

    ds = ds.map(finish)  # picks tensors only: inline, no hop through a thread pool
    if chunk == batch_size and on_error == "raise":  # every chunk but the last is a full batch
        if drop_remainder:
            ds = ds.filter(lambda *element: tf.shape(tf.nest.flatten(element)[0])[0] == batch_size)
            ds = ds.map(lambda *element: _with_batch_size(element, batch_size))
    else:  # chunks (shorter where files were skipped) -> batches, in one copy (= unbatch().batch())
        ds = ds.rebatch(batch_size, drop_remainder=drop_remainder)
    ds = ds.prefetch(prefetch)
    ds = ds.with_options(_options(parallel, tune=tf.data.AUTOTUNE in (parallel, prefetch)))
    ds.skip_log = log
    return ds


def _with_batch_size(element, batch_size):
    """``element`` (the arguments of a map function) with a static batch dimension."""
    fixed = tf.nest.map_structure(lambda t: tf.ensure_shape(t, (batch_size,) + tuple(t.shape[1:])),
                                  element)
    return fixed[0] if len(fixed) == 1 else fixed


def _as_num_workers(num_workers):
    if num_workers == "auto":
        cores = usable_cores()
        return cores if cores > 1 else 0
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) \
            or num_workers < -1:
        raise ValueError(f"num_workers must be 'auto' or an int >= 0 (or -1: one per core), "
                         f"got {num_workers!r}")
    return usable_cores() if num_workers == -1 else int(num_workers)


def usable_cores():
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_parallel_calls():
    """Decoding calls in flight by default: two per usable core.

    With one per core the cores stay busy only while every clip takes as
    long as the others: in deterministic order a finished clip waits for
    the slower one ahead of it, and tf.data starts no new call while
    ``num_parallel_calls`` results are in flight or waiting, so a core
    idles. A second call per core keeps it fed; the cost is a few more
    half-decoded videos in memory.
    """
    return 2 * usable_cores()


def _options(parallel, tune=False):
    """A private thread pool with a thread for every decoder, plus two; no autotuning.

    Each decoding call occupies a pool thread for its whole duration (the
    Python loader runs inside ``tf.numpy_function``). In the shared
    inter-op pool, which has one thread per core, the decoders would queue
    behind each other and behind TensorFlow's own ops (a model training
    from the same process included), so fewer than ``num_parallel_calls``
    run at once.

    Autotuning stays off unless asked for (``tune``: an ``AUTOTUNE``
    parallelism or prefetch): with fixed settings it has nothing to tune,
    and deleting an iterator -- at the end of every epoch -- then waited
    for its tuning thread, 0.7-2.5 s in about one run in three on 2 cores
    (measured in ``benchmarks/loader.py`` runs as a pipeline that sometimes
    ran at half speed).
    """
    if parallel == tf.data.AUTOTUNE:  # tf.data tunes up to the pool size
        parallel = default_parallel_calls()
    options = tf.data.Options()
    options.threading.private_threadpool_size = int(parallel) + 2
    options.autotune.enabled = bool(tune)
    return options
