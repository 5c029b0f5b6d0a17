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
TensorFlow. Each worker has a request pipe, a reply pipe and two output
buffers (:data:`SLOTS`), unnamed files in ``/dev/shm`` that both sides map.
A request is a pickled ``(token, loader, paths, seeds, spec, slot)`` for a
chunk of files; the worker writes the output arrays one after the other
into buffer ``slot`` (growing it when needed) and replies
``("ok", results, nbytes)`` (per file: its arrays' shapes, or the exception
it raised), ``("unknown",)`` when it no longer holds the loader (sent once
per worker and cached under its token), or ``("error", exception)`` when
the loader cannot be used. A reader thread per worker copies each reply's
arrays out of the buffer and only then frees the slot for a new request,
so the frames are copied once between the processes and never pickled.

With two slots a worker always has its next chunk queued while the
pipeline collects the last one: it never waits for the pipeline's threads
(which wait for the GIL). A call takes any free slot, so a chunk is never
held back behind chunks that came after it.

A worker that dies while decoding (e.g. a decoder crash on a corrupt file)
is replaced, its chunks are loaded again one file per request, and only
the file that kills a worker is reported, as a :class:`DataError`, which
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
from collections import OrderedDict, deque
from concurrent.futures import Future
from multiprocessing.connection import Connection

import numpy as np

from .errors import DataError
from .loader import BAD_INPUT_ERRORS, check_outputs, empty_outputs

__all__ = ["SLOTS", "DecodePool", "ProcessLoader", "decode_pool"]

#: Requests a worker can hold at once (its output buffers).
SLOTS = 2
#: Loaders a worker keeps (least recently used ones are dropped and re-sent).
_CACHED_LOADERS = 8
#: Free space /dev/shm needs for the output buffers to go there.
_MIN_SHM_BYTES = 1 << 30
_UNKNOWN = "unknown"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


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
    """A memory map of an output file the worker and the pipeline share (grows on demand)."""

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

    def close(self):
        if self.map is not None:
            self.map.close()
            self.map = None


class _WorkerDied(Exception):
    def __init__(self, code):
        super().__init__(f"signal {-code}" if code < 0 else f"exit code {code}")


def _read_arrays(buffer, results, spec, paths):
    """The chunk's arrays (one row per file) and failures, copied out of ``buffer``."""
    shapes = next((r for r in results if not isinstance(r, BaseException)), None)
    if shapes is None:  # every file failed
        return empty_outputs(spec, len(paths)), dict(enumerate(results))
    arrays = [np.empty((len(paths),) + tuple(shape), dtype)
              for shape, (_, dtype) in zip(shapes, spec.values(), strict=True)]
    failures, offset = {}, 0
    for j, result in enumerate(results):
        if isinstance(result, BaseException):
            failures[j] = result
            continue
        if any(tuple(shape) != a.shape[1:] for a, shape in zip(arrays, result, strict=True)):
            failures[j] = DataError(paths[j], f"output shapes {result} differ from the "
                                              f"chunk's first video's {shapes}")
        for a, shape in zip(arrays, result, strict=True):
            size = math.prod(shape) * a.itemsize
            if j not in failures:  # the one copy of the frames in this process
                _bytes_of(a[j:j + 1])[:] = np.frombuffer(buffer, np.uint8, size, offset)
            offset += size
    return arrays, failures


class _Worker:
    """One decoding process: its pipes, its :data:`SLOTS` output buffers and a reader thread.

    Requests are answered in the order they are sent; the reader thread
    matches each reply to the oldest pending request, copies its arrays out
    and resolves its future.
    """

    def __init__(self, on_free):
        self._on_free = on_free  # called with the slot index once a reply has been read
        self._files = [tempfile.TemporaryFile(dir=_buffer_dir()) for _ in range(SLOTS)]  # unnamed
        self.buffers = [_Buffer(f.fileno()) for f in self._files]
        self._send_lock = threading.Lock()
        self._start()

    def _start(self):
        to_worker, request_fd = os.pipe()
        reply_fd, from_worker = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        fds = (to_worker, from_worker, *(b.fd for b in self.buffers))
        self.process = subprocess.Popen([sys.executable, "-m", __name__, *map(str, fds)],
                                        pass_fds=fds, env=env, stdin=subprocess.DEVNULL)
        os.close(to_worker)
        os.close(from_worker)
        self.requests = Connection(request_fd, readable=False)
        self.replies = Connection(reply_fd, writable=False)
        self.tokens = set()
        self.pending = deque()  # (future, slot, spec, paths) in the order sent
        try:
            self.replies.recv()  # "ready": the worker imported its modules
        except EOFError:
            raise RuntimeError(f"a decoding worker process failed to start (exit code "
                               f"{self.process.wait()}); its error is printed above") from None
        self.reader = threading.Thread(target=self._read, name="actionzoo-decode-reader",
                                       daemon=True)
        self.reader.start()

    def submit(self, slot, token, payload, paths, seeds, spec):
        """Queue a chunk; a future of ``(arrays, failures)``, of ``_UNKNOWN``, or failing."""
        future = Future()
        with self._send_lock:
            if self.process.poll() is not None and not self.pending:
                future.set_exception(_WorkerDied(self.process.returncode))
                return future
            self.pending.append((future, slot, spec, paths))
            try:
                self.requests.send((token, payload if token not in self.tokens else None,
                                    paths, seeds, spec, slot))
                self.tokens.add(token)
            except OSError:  # died: the reader fails the pending futures
                pass
        return future

    def _read(self):
        while True:
            try:
                reply = self.replies.recv()
            except (EOFError, OSError):
                break
            future, slot, spec, paths = self.pending.popleft()
            try:
                if reply[0] == "ok":
                    future.set_result(_read_arrays(self.buffers[slot].at_least(reply[2]),
                                                   reply[1], spec, paths))
                elif reply[0] == _UNKNOWN:
                    with self._send_lock:
                        self.tokens.clear()
                    future.set_result(_UNKNOWN)
                else:
                    future.set_exception(reply[1])
            except Exception as exc:  # noqa: BLE001 - the waiting call re-raises it
                future.set_exception(exc)
            finally:
                self._on_free(self, slot)
        code = self.process.wait()
        with self._send_lock:
            pending, self.pending = list(self.pending), deque()
        for future, slot, _, _ in pending:
            future.set_exception(_WorkerDied(code))
            self._on_free(self, slot)

    def restart(self):
        """Start a new process in place of a dead one (same buffers).

        The old reader has failed every pending request once it exits;
        until the new process is up, :meth:`submit` waits on the send lock.
        """
        self.reader.join()
        with self._send_lock:
            self.requests.close()
            self.replies.close()
            self._start()

    def close(self, timeout=5):
        self.requests.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout)
        self.replies.close()
        for buffer, file in zip(self.buffers, self._files, strict=True):
            buffer.close()
            file.close()


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
        self._free = queue.Queue()  # (worker, slot): a request a worker can take now
        self._lock = threading.Lock()
        self._workers = []
        try:
            for _ in range(self.num_workers):
                self._workers.append(_Worker(self._free_slot))
        except RuntimeError:
            self.close()
            raise
        for slot in range(SLOTS):
            for worker in self._workers:
                self._free.put((worker, slot))

    def _free_slot(self, worker, slot):
        self._free.put((worker, slot))

    def run(self, token, payload, paths, seeds, spec):
        """Load a chunk of files in the first free worker slot.

        A worker that dies is replaced; the chunk is then loaded again one
        file per request, so only the file that kills a worker is reported
        (as a :class:`DataError` in ``failures``).
        """
        worker, slot = self._free.get()
        try:
            result = worker.submit(slot, token, payload, paths, seeds, spec).result()
            if result is _UNKNOWN:  # the worker dropped the loader: send it again
                worker, slot = self._free.get()
                result = worker.submit(slot, token, payload, paths, seeds, spec).result()
        except _WorkerDied as died:
            self._replace(worker)
            if len(paths) == 1:
                return empty_outputs(spec), {0: DataError(
                    paths[0], f"the decoding worker process died ({died}) while loading this file")}
            return self._one_by_one(token, payload, paths, seeds, spec)
        return result

    def _one_by_one(self, token, payload, paths, seeds, spec):
        parts = [self.run(token, payload, [p], [s], spec)
                 for p, s in zip(paths, seeds, strict=True)]
        template = next((part for part, failed in parts if not failed), parts[0][0])
        arrays = [np.empty((len(paths),) + a.shape[1:], a.dtype) for a in template]
        failures = {}
        for j, (part, failed) in enumerate(parts):
            if failed:
                failures[j] = failed[0]
            else:
                for array, row in zip(arrays, part, strict=True):
                    array[j] = row[0]
        return arrays, failures

    def _replace(self, worker):
        with self._lock:  # the first call to notice restarts it; the others find it alive
            if worker.process.poll() is not None:
                worker.restart()

    @property
    def pids(self):
        """Process ids of the current workers."""
        with self._lock:
            return [w.process.pid for w in self._workers]

    def close(self):
        """Stop the workers (each finishes its current chunk first)."""
        with self._lock:
            workers, self._workers = self._workers, []
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
    >>> clips = ClipLoader(DenseClipSampler(8), eval_transform(64, 72))  # doctest: +SKIP
    >>> loader = ProcessLoader(clips, 2)  # doctest: +SKIP
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
        return {key: array[0] for key, array in zip(self.spec, arrays, strict=True)}


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


def _load_chunk(loader, paths, seeds, spec):
    """Per file: its arrays' shapes or the (picklable) exception; and all arrays in order."""
    results, outputs = [], []
    for path, seed in zip(paths, seeds, strict=True):
        try:
            arrays = check_outputs(loader(path, seed), spec, path)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the pipeline
            if not isinstance(exc, BAD_INPUT_ERRORS):
                exc = RuntimeError(f"{type(exc).__name__}: {exc}\n(in the decoding worker:\n"
                                   f"{traceback.format_exc()})")
            results.append(_portable(exc, path))
            continue
        results.append([a.shape for a in arrays])
        outputs.extend(np.ascontiguousarray(a) for a in arrays)
    return results, outputs


def _keep_freed_memory():
    """Make glibc keep freed frame buffers for reuse instead of unmapping them.

    glibc serves the multi-megabyte buffers of decoding from fresh ``mmap``
    pages (the kernel zeroes every page again) and trims freed heap memory
    back to the kernel, until its adaptive thresholds grow. Importing
    TensorFlow grows them in the pipeline's process; a worker without it
    spent 7.2-7.4 CPU ms per 16-frame 112 px clip against 6.4-6.6 with
    these settings or with TensorFlow imported (same loop, 3 runs each).
    A worker's memory then stays at its peak working set.
    """
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest allowed value
        libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):  # not glibc
        pass


def _serve(request_fd, reply_fd, *buffer_fds):
    """Worker loop: load chunks of files until the pipeline closes the request pipe."""
    import cv2

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the pipeline's to handle
    cv2.setNumThreads(1)  # parallelism is across workers
    _keep_freed_memory()
    requests = Connection(request_fd, writable=False)
    replies = Connection(reply_fd, readable=False)
    buffers = [_Buffer(fd) for fd in buffer_fds]
    loaders = OrderedDict()
    replies.send(("ready", os.getpid()))
    while True:
        try:
            token, payload, paths, seeds, spec, slot = requests.recv()
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
            replies.send((_UNKNOWN,))
            continue
        loaders.move_to_end(token)
        results, outputs = _load_chunk(loaders[token], paths, seeds, spec)
        nbytes = sum(a.nbytes for a in outputs)
        try:
            view, offset = buffers[slot].at_least(nbytes), 0
        except OSError as exc:
            replies.send(("error", RuntimeError(
                f"the decoding worker cannot grow its output buffer to {nbytes / 2**20:.0f} MiB "
                f"({exc}); free space in /dev/shm or the temporary directory, or use smaller "
                "batches")))
            continue
        for a in outputs:
            np.frombuffer(view, np.uint8, a.nbytes, offset)[:] = _bytes_of(a)
            offset += a.nbytes
        replies.send(("ok", results, nbytes))


if __name__ == "__main__":
    _serve(*map(int, sys.argv[1:]))
