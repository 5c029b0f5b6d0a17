"""Decode videos in worker processes (``make_dataset(..., num_workers=N)``).

Decoding threads in one process share the GIL: the per-clip Python work of
a :class:`~actionzoo.data.loader.ClipLoader` (the demuxing loop, sampling,
transform bookkeeping) runs one thread at a time, and on two cores two
threads spent ~11 CPU ms per clip against ~7 for one (see
``docs/performance.md``). A :class:`DecodePool` runs the loader in ``N``
separate Python processes instead, each with its own GIL.

Workers are started with ``python -m actionzoo.data.workers`` (not
``multiprocessing``), so they never re-import the caller's ``__main__``
(scripts need no ``if __name__ == "__main__"`` guard) and do not load
TensorFlow. They talk to the pipeline over two pipes each: the request is
a pickled ``(token, loader, paths, seeds, spec)`` for a chunk of files;
the reply is ``("ok", results)`` (per file: its arrays' shapes, or the
exception it raised) followed by the raw bytes of each output array, read
with ``os.readv`` straight into the rows of the chunk's arrays (no pickling
or intermediate copy of the frames), or ``("error", exception)`` when the loader cannot be used. A loader is sent to a worker once and cached
there under its token.

A worker that dies while decoding (e.g. a decoder crash on a corrupt file)
is replaced, and the file is reported as a :class:`DataError`, which
``on_error="skip"`` skips like any other bad file.
"""
from __future__ import annotations

import atexit
import math
import mmap
import os
import pickle
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
import uuid
from collections import OrderedDict
from multiprocessing.connection import Connection

import numpy as np

from .errors import DataError
from .loader import BAD_INPUT_ERRORS, check_outputs

__all__ = ["DecodePool", "ProcessLoader", "decode_pool"]

#: Loaders a worker keeps (least recently used ones are dropped and re-sent).
_CACHED_LOADERS = 8
#: Free space /dev/shm needs for the output buffers to go there.
_MIN_SHM_BYTES = 1 << 30


def _bytes_of(array):
    """A flat uint8 view of a C-contiguous array."""
    return array.reshape(-1).view(np.uint8)


def _buffer_dir():
    """Where output buffers live: RAM-backed ``/dev/shm`` where it has room
    (Docker gives it 64 MiB by default), else the temporary directory."""
    try:
        st = os.statvfs("/dev/shm")
        if os.access("/dev/shm", os.W_OK) and st.f_bavail * st.f_frsize >= _MIN_SHM_BYTES:
            return "/dev/shm"
    except OSError:
        pass
    return None


class _Buffer:
    """A memory map of the output file a worker and the pipeline share (grows on demand)."""

    def __init__(self, fd):
        self.fd = fd
        self.map = None

    def at_least(self, nbytes):
        """The map, remapped if the file is (or is made) at least ``nbytes`` long."""
        size = os.fstat(self.fd).st_size
        if size < nbytes:
            if hasattr(os, "posix_fallocate"):  # no room: an OSError now, not a SIGBUS later
                os.posix_fallocate(self.fd, 0, nbytes)
            else:
                os.ftruncate(self.fd, nbytes)
            size = nbytes
        if self.map is None or len(self.map) < size:
            if self.map is not None:
                self.map.close()
            self.map = mmap.mmap(self.fd, size)
        return self.map


class _Worker:
    """One decoding process, its two pipes and its output buffer (one thread at a time)."""

    def __init__(self):
        to_worker, self._request_fd = os.pipe()
        self._reply_fd, from_worker = os.pipe()
        self._buffer_file = tempfile.TemporaryFile(dir=_buffer_dir())  # unnamed: nothing to clean up
        self.buffer = _Buffer(self._buffer_file.fileno())
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        fds = (to_worker, from_worker, self.buffer.fd)
        self.process = subprocess.Popen([sys.executable, "-m", __name__, *map(str, fds)],
                                        pass_fds=fds, env=env, stdin=subprocess.DEVNULL)
        os.close(to_worker)
        os.close(from_worker)
        self.requests = Connection(self._request_fd, readable=False)
        self.replies = Connection(self._reply_fd, writable=False)
        self.tokens = set()

    def wait_ready(self):
        try:
            self.replies.recv()
        except EOFError:
            raise RuntimeError(f"a decoding worker process failed to start (exit code "
                               f"{self.process.wait()}); its error is printed above") from None

    def load(self, token, payload, paths, seeds, spec):
        """Run the loader on ``paths`` in the worker; see :meth:`ProcessLoader.load_chunk`."""
        self.requests.send((token, payload if token not in self.tokens else None, paths, seeds, spec))
        reply = self.replies.recv()
        if reply[0] == "unknown":  # the worker dropped this loader from its cache
            self.requests.send((token, payload, paths, seeds, spec))
            reply = self.replies.recv()
        self.tokens.add(token)
        if reply[0] == "error":  # the loader itself could not be used
            raise reply[1]
        _, results, nbytes = reply
        shapes = next((r for r in results if not isinstance(r, BaseException)),
                      [tuple(d or 0 for d in shape) for shape, _ in spec.values()])
        arrays = [np.empty((len(paths),) + tuple(shape), dtype)
                  for shape, (_, dtype) in zip(shapes, spec.values())]
        failures, offset, buffer = {}, 0, self.buffer.at_least(nbytes)
        for j, result in enumerate(results):
            if isinstance(result, BaseException):
                failures[j] = result
                continue
            if any(tuple(shape) != a.shape[1:] for a, shape in zip(arrays, result)):
                failures[j] = DataError(paths[j], f"output shapes {result} differ from the "
                                                  f"chunk's first video's {shapes}")
            for a, shape in zip(arrays, result):
                size = math.prod(shape) * a.itemsize
                if j not in failures:  # the one copy of the frames in this process
                    _bytes_of(a[j:j + 1])[:] = np.frombuffer(buffer, np.uint8, size, offset)
                offset += size
        return arrays, failures

    def close(self, timeout=5):
        self.requests.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.replies.close()
        if self.buffer.map is not None:
            self.buffer.map.close()
        self._buffer_file.close()


class DecodePool:
    """``num_workers`` decoding processes shared by every dataset that asks for them.

    Get one with :func:`decode_pool`; call it through a :class:`ProcessLoader`.

    Parameters
    ----------
    num_workers : int
        Processes to start (they start at once, in parallel).

    Examples
    --------
    >>> pool = DecodePool(2)  # doctest: +SKIP
    >>> pool.close()  # doctest: +SKIP
    """

    def __init__(self, num_workers):
        if int(num_workers) < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        self.num_workers = int(num_workers)
        self._idle = queue.Queue()
        self._lock = threading.Lock()
        self._all = [_Worker() for _ in range(self.num_workers)]
        try:
            for worker in self._all:
                worker.wait_ready()
        except RuntimeError:
            self.close()
            raise
        for worker in self._all:
            self._idle.put(worker)

    def run(self, token, payload, paths, seeds, spec):
        """Load a chunk of files in the next idle worker (blocks while all are busy).

        A worker that dies is replaced; the chunk is then loaded again one
        file per request, so only the file that kills a worker is reported
        (as a :class:`DataError` in ``failures``).
        """
        worker = self._idle.get()
        try:
            return worker.load(token, payload, paths, seeds, spec)
        except (EOFError, OSError) as exc:
            if worker.process.poll() is None and not isinstance(exc, EOFError):
                raise
            code = worker.process.wait()
            worker = self._replace(worker)
        finally:
            self._idle.put(worker)
        if len(paths) == 1:
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            zeros = [np.zeros((1,) + tuple(d or 0 for d in shape), dtype) for shape, dtype in spec.values()]
            return zeros, {0: DataError(paths[0], f"the decoding worker process died ({how}) "
                                                  "while loading this file")}
        parts = [self.run(token, payload, [p], [s], spec) for p, s in zip(paths, seeds)]
        template = next((part for part, failed in parts if not failed), parts[0][0])
        arrays = [np.empty((len(paths),) + a.shape[1:], a.dtype) for a in template]
        failures = {}
        for j, (part, failed) in enumerate(parts):
            if failed:
                failures[j] = failed[0]
            else:
                for array, row in zip(arrays, part):
                    array[j] = row[0]
        return arrays, failures

    def _replace(self, dead):
        dead.close(timeout=0)
        worker = _Worker()
        worker.wait_ready()
        with self._lock:
            self._all[self._all.index(dead)] = worker
        return worker

    @property
    def pids(self):
        """Process ids of the current workers."""
        with self._lock:
            return [w.process.pid for w in self._all]

    def close(self):
        """Stop the workers (each finishes its current file first)."""
        with self._lock:
            workers, self._all = self._all, []
        for worker in workers:
            worker.close()


_POOLS: dict[int, DecodePool] = {}
_POOLS_LOCK = threading.Lock()


def decode_pool(num_workers):
    """The process-wide :class:`DecodePool` of ``num_workers`` workers (started on first use).

    Datasets share it, so building many datasets (one per ``fit`` or
    ``predict``) does not start new processes. The pools stop at exit.

    Examples
    --------
    >>> pool = decode_pool(2)  # doctest: +SKIP
    >>> decode_pool(2) is pool  # doctest: +SKIP
    True
    """
    with _POOLS_LOCK:
        pool = _POOLS.get(int(num_workers))
        if pool is None:
            pool = _POOLS[int(num_workers)] = DecodePool(num_workers)
        return pool


@atexit.register
def _close_pools():
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.close()


class ProcessLoader:
    """A :class:`~actionzoo.data.loader.ClipLoader` that runs in a :class:`DecodePool`.

    Called like the loader, it returns the arrays of the loader's
    :meth:`~actionzoo.data.loader.ClipLoader.output_spec` (not
    ``"indices"``), with the same values the loader gives in this process.

    Parameters
    ----------
    loader : ClipLoader
        Must pickle, and its sampler and transform classes must be
        importable in a fresh interpreter (not defined in ``__main__``).
    num_workers : int

    Raises
    ------
    TypeError
        The loader cannot be pickled (e.g. a lambda in its transform).

    Examples
    --------
    >>> from actionzoo.data import ClipLoader, DenseClipSampler, eval_transform
    >>> loader = ProcessLoader(ClipLoader(DenseClipSampler(8), eval_transform(64, 72)), 2)  # doctest: +SKIP
    >>> loader("v_Run_g01_c01.avi", seed=0)["rgb"].shape  # doctest: +SKIP
    (8, 64, 64, 3)
    """

    def __init__(self, loader, num_workers):
        try:
            self.payload = pickle.dumps(loader, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise TypeError(f"num_workers > 0 needs a loader that pickles (sampler, transform, "
                            f"flow cache), but: {exc}; use num_workers=0") from exc
        self.spec = loader.output_spec()
        self.token = uuid.uuid4().hex
        self.pool = decode_pool(num_workers)

    def load_chunk(self, paths, seeds):
        """Load several files in one worker request.

        Parameters
        ----------
        paths : list of str
        seeds : list of int

        Returns
        -------
        arrays : list of numpy.ndarray
            In ``output_spec`` order, one row per path (the rows of failed
            paths hold no data).
        failures : dict
            Position in ``paths`` -> the exception its loading raised.
        """
        return self.pool.run(self.token, self.payload, [os.fspath(p) for p in paths],
                             [int(s) for s in seeds], self.spec)

    def __call__(self, path, seed=0):
        """Load one file: a dict of the spec's arrays, or raise its error."""
        arrays, failures = self.load_chunk([path], [seed])
        if failures:
            raise failures[0]
        return {key: array[0] for key, array in zip(self.spec, arrays)}


# -- the worker side ---------------------------------------------------------------
def _portable(exc, path):
    """``exc`` if it survives pickling, else a :class:`DataError`/``RuntimeError`` with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any failure means: send a plain copy
        if isinstance(exc, BAD_INPUT_ERRORS):
            return DataError(path, f"{type(exc).__name__}: {exc}")
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _serve(request_fd, reply_fd, buffer_fd):
    """Worker loop: load chunks of files until the pipeline closes the request pipe."""
    import cv2

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the pipeline's to handle
    cv2.setNumThreads(1)  # parallelism is across workers
    requests = Connection(request_fd, writable=False)
    replies = Connection(reply_fd, readable=False)
    buffer = _Buffer(buffer_fd)
    loaders = OrderedDict()
    replies.send(("ready", os.getpid()))
    while True:
        try:
            token, payload, paths, seeds, spec = requests.recv()
        except EOFError:
            return
        if payload is not None:
            try:
                loaders[token] = pickle.loads(payload)
            except Exception as exc:  # noqa: BLE001 - reported to the pipeline
                replies.send(("error", RuntimeError(
                    f"a decoding worker cannot load the dataset's loader ({type(exc).__name__}: "
                    f"{exc}); define samplers and transforms in an importable module, or use "
                    "num_workers=0")))
                continue
            while len(loaders) > _CACHED_LOADERS:
                loaders.popitem(last=False)
        if token not in loaders:
            replies.send(("unknown",))
            continue
        loaders.move_to_end(token)
        results, outputs = [], []
        for path, seed in zip(paths, seeds):
            try:
                arrays = check_outputs(loaders[token](path, seed), spec, path)
            except Exception as exc:  # noqa: BLE001 - every failure goes back to the pipeline
                if not isinstance(exc, BAD_INPUT_ERRORS):
                    exc = RuntimeError(f"{type(exc).__name__}: {exc}\n(in the decoding worker:\n"
                                       f"{traceback.format_exc()})")
                results.append(_portable(exc, path))
                continue
            results.append([a.shape for a in arrays])
            outputs.extend(arrays)
        nbytes = sum(a.nbytes for a in outputs)
        try:
            view, offset = buffer.at_least(nbytes), 0
        except OSError as exc:
            replies.send(("error", RuntimeError(
                f"the decoding worker cannot grow its output buffer to {nbytes / 2**20:.0f} MiB "
                f"({exc}); free space in /dev/shm or the temporary directory, or use smaller "
                "batches")))
            continue
        for a in outputs:
            np.frombuffer(view, np.uint8, a.nbytes, offset)[:] = _bytes_of(np.ascontiguousarray(a))
            offset += a.nbytes
        replies.send(("ok", results, nbytes))


if __name__ == "__main__":
    _serve(*map(int, sys.argv[1:4]))
