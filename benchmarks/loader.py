"""Loader benchmark: tf.data pipeline vs a single-threaded PyAV loop, and streaming memory.

Run from the repository root::

    TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python benchmarks/loader.py [--data DIR] [--repeats 2]

1. Throughput: 16-frame clips at 112x112 (DenseClipSampler(16, stride=2),
   train_transform(112, short_side=128)) from the synthetic demo dataset
   (UCF101-like 320x240 MPEG-4 .avi), ``--passes`` times over its 240
   videos (default 3: a pass takes ~1-2 s, so one pipeline start-up --
   iterator, threads, the first chunk -- would weigh on a single pass;
   the loop does the same passes), measured as clips/s for
   (a) ``make_dataset`` decoding in two worker processes
   (``num_workers=2``), with prefetch;
   (b) ``make_dataset`` decoding in tf.data's threads in this process
   (``num_workers=0``);
   (c) a plain ``for`` loop calling the same ``ClipLoader`` one video at a
   time (same decoding, sampling and augmentation, no tf.data), run in a
   fresh child process so no TensorFlow thread competes with it.
   The three are measured in turn ``--repeats`` times; each run also
   prints the CPU time per clip (all processes: the pipeline's workers
   included) and how many cores it got (a loaded machine caps this, and
   with it any speed-up). The 2-thread ceiling is measured before and
   after the runs.
2. Memory: stream enough videos through the pipeline (two worker
   processes) that their decoded frames would need 10x a 1 GiB budget,
   sampling the RSS of the process and its workers every 50 ms; report the
   peak and the growth after warm-up.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import tensorflow as tf  # noqa: E402

from actionzoo.data import (  # noqa: E402
    ClipLoader,
    DenseClipSampler,
    load_ucf101,
    make_dataset,
    make_synthetic_dataset,
    train_transform,
    video_info,
)
from actionzoo.data.workers import decode_pool  # noqa: E402

GIB = 1 << 30
WORKERS = 2


def dataset(root):
    if not os.path.exists(os.path.join(root, "ucfTrainTestlist", "classInd.txt")):
        t = time.perf_counter()
        make_synthetic_dataset(root, verbose=1)
        print(f"generated demo dataset in {time.perf_counter() - t:.1f} s")
    train = load_ucf101(root, split=1, subset="train")
    test = load_ucf101(root, split=1, subset="test")
    return train.paths + test.paths, np.r_[train.labels, test.labels]


def thread_scaling(threads=2, tasks=8):
    """Speed-up of GIL-free OpenCV work on ``threads`` threads: what the machine can give now."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    cv2.setNumThreads(1)
    x = np.random.default_rng(0).random((600, 600), np.float32)

    def work(_):
        for _ in range(15):
            cv2.GaussianBlur(x, (31, 31), 5)

    t = time.perf_counter()
    for i in range(tasks):
        work(i)
    seq = time.perf_counter() - t
    with ThreadPoolExecutor(threads) as ex:
        t = time.perf_counter()
        list(ex.map(work, range(tasks)))
        par = time.perf_counter() - t
    return seq / par


def processes(pids=()):
    """This process and the processes ``pids`` (the pipeline's decoding workers)."""
    return [psutil.Process()] + [psutil.Process(p) for p in pids]


class Timed:
    """Wall time and CPU time (all threads of this process and of ``pids``) of a block.

    ``rate``: clips/s; ``cpu_ms``: CPU milliseconds per clip (the work
    done); ``cores``: CPU seconds per second (how many cores the run got;
    a 2-way parallel loader can only show its speed-up where this is ~2).
    """

    def __init__(self, clips=0, pids=()):
        self.clips = clips
        self.procs = processes(pids)

    def _cpu_seconds(self):
        return sum(sum(p.cpu_times()[:2]) for p in self.procs)

    def __enter__(self):
        self._cpu, self._wall = self._cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = self._cpu_seconds() - self._cpu

    def figures(self):
        return self.clips / self.wall, 1e3 * self.cpu / self.clips, self.cpu / self.wall


def pipeline_rate(paths, labels, sampler, transform, num_workers, batch_size=8):
    ds = make_dataset(paths, labels, ClipLoader(sampler, transform), batch_size=batch_size,
                      shuffle=True, seed=0, num_workers=num_workers)
    with Timed(pids=decode_pool(num_workers).pids if num_workers else ()) as timed:
        for clips, _ in ds:
            timed.clips += int(clips.shape[0])
    return timed.figures()


def loop_rate(paths, sampler, transform):
    loader = ClipLoader(sampler, transform)
    with Timed(len(paths)) as timed:
        for i, path in enumerate(paths):
            loader(path, seed=i)
    return timed.figures()


def loop_rate_fresh_process(data, passes):
    """Run :func:`loop_rate` in a child process, so no TensorFlow thread of ours competes."""
    import subprocess

    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--data", data, "--loop-only",
                          "--passes", str(passes)], check=True, capture_output=True, text=True)
    return tuple(float(v) for v in out.stdout.strip().splitlines()[-1].split())


def describe(figures):
    rate, cpu_ms, cores = figures
    return f"{rate:.1f} clips/s ({cpu_ms:.1f} CPU ms/clip on {cores:.2f} cores)"


def load_average():
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


class RSSMonitor(threading.Thread):
    """Samples the summed RSS of this process and ``pids`` every ``interval`` s."""

    def __init__(self, pids=(), interval=0.05):
        super().__init__(daemon=True)
        self.procs = processes(pids)
        self.samples = []
        self.interval = interval
        self.stop = threading.Event()

    def rss(self):
        return sum(p.memory_info().rss for p in self.procs)

    def run(self):
        while not self.stop.is_set():
            self.samples.append((time.perf_counter(), self.rss()))
            time.sleep(self.interval)


def memory_stream(paths, labels, sampler, transform):
    info = video_info(paths[0])
    per_video = info.num_frames * info.height * info.width * 3
    fit = GIB // per_video
    n = int(10 * fit)
    reps = -(-n // len(paths))
    stream_paths = (list(paths) * reps)[:n]
    stream_labels = np.resize(labels, n)
    ds = make_dataset(stream_paths, stream_labels, ClipLoader(sampler, transform), batch_size=8,
                      num_workers=WORKERS)
    monitor = RSSMonitor(decode_pool(WORKERS).pids)
    before = monitor.rss()
    monitor.start()
    count, t = 0, time.perf_counter()
    for clips, _ in ds:
        count += int(clips.shape[0])
    elapsed = time.perf_counter() - t
    monitor.stop.set()
    monitor.join()
    rss = np.array([s[1] for s in monitor.samples])
    warm = rss[len(rss) // 10:]
    return {
        "rss_before_MiB": before / 2**20, "videos": count, "decoded_bytes_per_video": per_video,
        "videos_fitting_1GiB": int(fit),
        "decoded_total_GiB": count * per_video / GIB, "seconds": elapsed,
        "peak_rss_MiB": rss.max() / 2**20, "rss_after_warmup_MiB": warm[0] / 2**20,
        "rss_end_MiB": rss[-1] / 2**20,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data",
                        default=os.path.join(tempfile.gettempdir(), "actionzoo-demo-data"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--passes", type=int, default=3,
                        help="passes over the demo videos per measurement (both sides)")
    parser.add_argument("--loop-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    videos, video_labels = dataset(args.data)
    paths, labels = videos * args.passes, np.tile(video_labels, args.passes)
    sampler = DenseClipSampler(16, stride=2, mode="train")
    transform = train_transform(112, short_side=128)
    import cv2

    cv2.setNumThreads(1)  # both sides single-threaded per video: parallelism only across videos
    if args.loop_only:
        print(*loop_rate(paths, sampler, transform))
        return
    print(f"videos: {len(videos)} x {args.passes} passes  cpus: {os.cpu_count()}  "
          f"load average: {load_average()}")
    print(f"calibration: GIL-free OpenCV work on 2 threads runs {thread_scaling():.2f}x faster "
          "than on 1 (the ceiling for any 2-way parallel loader on this machine right now)")
    for workers in (WORKERS, 0):  # warm-up (worker start, graph tracing, caches)
        pipeline_rate(paths[:16], labels[:16], sampler, transform, workers)
    runs = {"loop": [], "processes": [], "threads": []}
    for r in range(args.repeats):
        runs["processes"].append(pipeline_rate(paths, labels, sampler, transform, WORKERS))
        runs["threads"].append(pipeline_rate(paths, labels, sampler, transform, 0))
        runs["loop"].append(loop_rate_fresh_process(args.data, args.passes))
        print(f"run {r + 1}: single-threaded loop {describe(runs['loop'][-1])}")
        for name in ("processes", "threads"):
            print(f"       tf.data pipeline, {name:9s} {describe(runs[name][-1])}, "
                  f"speed-up {runs[name][-1][0] / runs['loop'][-1][0]:.2f}x")
        print(f"       (load average {load_average()})")
    rates = {name: np.array([f[0] for f in figures]) for name, figures in runs.items()}
    print(f"calibration after the runs: {thread_scaling():.2f}x on 2 threads "
          f"(load average {load_average()})")
    print(f"median: loop {np.median(rates['loop']):.1f} clips/s")
    for name in ("processes", "threads"):
        ratios = rates[name] / rates["loop"]
        print(f"  pipeline ({name}, num_workers={WORKERS if name == 'processes' else 0}) "
              f"{np.median(rates[name]):.1f} clips/s, "
              f"paired speed-up median {np.median(ratios):.2f}x, "
              f"min {ratios.min():.2f}x (target >= 1.8x)")
    if not args.skip_memory:
        mem = memory_stream(videos, video_labels, sampler, transform)
        print("memory: streamed {videos} videos ({decoded_total_GiB:.1f} GiB of decoded frames, "
              "{videos_fitting_1GiB} fit in 1 GiB) in {seconds:.0f} s; RSS of the process and its "
              f"{WORKERS} workers before {{rss_before_MiB:.0f}} MiB "
              "(TensorFlow loaded), peak {peak_rss_MiB:.0f} MiB, "
              "after warm-up {rss_after_warmup_MiB:.0f} MiB, "
              "at end {rss_end_MiB:.0f} MiB".format(**mem))


if __name__ == "__main__":
    tf.get_logger().setLevel("ERROR")
    main()
