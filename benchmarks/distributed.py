"""Training beyond one process, measured on this machine.

1. Training throughput (samples/s) of a small CorrelationNet in one process
   and with ``distribution="multi_worker_mirrored"`` over two worker
   processes on 127.0.0.1 (same global batch, same data). The first epoch
   (model building, collective setup) is left out; the figure is samples
   per second over the remaining epochs, as seen by worker 0.
2. Wall time of a ``GridSearchCV`` over CorrNetFusion fusion settings
   (4 candidates x 5 folds = 20 fits), ``n_jobs=1`` against joblib's Dask
   backend on a ``LocalCluster`` of two single-threaded worker processes,
   and the workers' resident memory after each of several repeated
   searches (flat = memory released between fits).

Run::

    python benchmarks/distributed.py                # both parts
    python benchmarks/distributed.py --part fit     # or --part search

On a machine with several hosts the same worker code runs with each host's
``TF_CONFIG``; see docs/distributed.md.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

# This file is named like the dask.distributed package: keep its folder off
# the import path so that ``import distributed`` finds the package.
sys.path[:] = [p for p in sys.path
               if os.path.abspath(p or os.curdir) != os.path.dirname(os.path.abspath(__file__))]

import numpy as np  # noqa: E402

FIT = dict(width=0.125, group_size=8, kernel_size=3, dilation=1, clip_length=8, crop_size=48,
           short_side=56, test_clips=1, lr_schedule="constant", learning_rate=0.01,
           batch_size=8, random_state=0)


def clips(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(n, 10, 56, 56, 3), dtype=np.uint8),
            np.arange(n) % 2)


def timed_fit(n, epochs, distribution=None):
    """Fit; return the time of every epoch (s)."""
    import keras

    from actionzoo import CorrelationNet

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    times = []
    X, y = clips(n)
    CorrelationNet(epochs=epochs, distribution=distribution, callbacks=[Clock()],
                   **FIT).fit(X, y)
    return times


def samples_per_second(n, times):
    return n / float(np.mean(times[1:]))


def worker_main(args):
    times = timed_fit(args.samples, args.epochs, distribution="multi_worker_mirrored")
    with open(args.out, "w") as f:
        json.dump(times, f)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def two_worker_times(n, epochs, tmp):
    ports = free_ports(2)
    procs, outs = [], []
    for index in range(2):
        out = os.path.join(tmp, f"times-{index}.json")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=json.dumps({
            "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
            "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", "--samples", str(n), "--epochs", str(epochs),
             "--out", out], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        outs.append(out)
    try:
        for p in procs:
            if p.wait(timeout=1800) != 0:
                raise RuntimeError("a worker failed")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    with open(outs[0]) as f:
        return json.load(f)


def fit_part(args):
    import tempfile
    one = timed_fit(args.samples, args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        two = two_worker_times(args.samples, args.epochs, tmp)
    a, b = samples_per_second(args.samples, one), samples_per_second(args.samples, two)
    print(f"CorrelationNet (width 0.125, 8x48x48 clips, global batch 8), {args.samples} "
          f"samples x {args.epochs} epochs, first epoch excluded")
    print(f"  one process:            {a:7.2f} samples/s  (epochs {np.round(one, 2).tolist()})")
    print(f"  two MWMS workers:       {b:7.2f} samples/s  (epochs {np.round(two, 2).tolist()})")
    print(f"  speed-up: {b / a:.2f}x")


def search_part(args):
    import distributed
    import joblib
    import psutil
    from sklearn.model_selection import GridSearchCV

    from actionzoo import CorrNetFusion

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=args.search_samples)
    X = rng.normal(size=(len(y), 2, 3)) + 3 * np.eye(3)[y][:, None, :]
    grid = {"fusion": ["sum", "avg"], "entropy_threshold": [None, 1.0]}
    estimator = CorrNetFusion(hidden_units=(64, 64), epochs=3, batch_size=8, random_state=0)

    def search():
        return GridSearchCV(estimator, grid, cv=5, refit=False).fit(X, y)

    start = time.perf_counter()
    search()
    serial = time.perf_counter() - start

    def rss():
        return psutil.Process().memory_info().rss / 2**20

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, joblib.parallel_backend("dask"):
        walls, memory = [], [sorted(client.run(rss).values())]
        for _ in range(args.searches):
            start = time.perf_counter()
            search()
            walls.append(time.perf_counter() - start)
            memory.append(sorted(client.run(rss).values()))
    print(f"GridSearchCV, CorrNetFusion fc 64-64, 3 epochs, {len(y)} samples, "
          "4 candidates x 5 folds")
    print(f"  n_jobs=1:                  {serial:7.1f} s")
    print(f"  Dask, 2 worker processes:  {' / '.join(f'{w:.1f}' for w in walls)} s "
          f"(the first includes loading TensorFlow in the workers)")
    print(f"  speed-up (best Dask run):  {serial / min(walls):.2f}x")
    print("  worker RSS (MiB) at start and after each search: "
          + "; ".join("/".join(f"{m:.0f}" for m in row) for row in memory))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["fit", "search", "all"], default="all")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--search-samples", type=int, default=80)
    parser.add_argument("--searches", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args)
    print(f"load average at start: {os.getloadavg()}")
    if args.part in ("fit", "all"):
        fit_part(args)
    if args.part in ("search", "all"):
        search_part(args)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
