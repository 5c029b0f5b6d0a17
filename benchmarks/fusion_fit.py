"""CorrNetFusion training throughput, as a ratio to this machine's matmul rate.

Prints, for batch sizes 8 (the paper's) and 256, the training throughput of
the paper's CorrNetFusion (fc 4096-4096, 101 UCF101 classes, SGD momentum
0.9) in samples/s and achieved GFLOP/s, next to a float32 matmul measured in
the same run on the same machine, so the ratio is comparable across
machines. It also measures the eager vs graph (``tf.function``) cost of the
estimators' eager training (see ``KerasClassifierBase._run_eagerly``), and
the resident-memory growth over repeated fits in both modes.

FLOPs: a multiply-add counts 2 FLOPs; a training step costs 3x the forward
pass (forward, gradient w.r.t. activations, gradient w.r.t. weights).

Run::

    python benchmarks/fusion_fit.py            # ~2-4 minutes on 2 cores
"""
import argparse
import gc
import time

import keras
import numpy as np
import psutil
import tensorflow as tf

from actionzoo import CorrNetFusion
from actionzoo.models import corrnet_fusion_mlp


def matmul_gflops(n=2048, repeats=10):
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.matmul(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        c = tf.matmul(a, b)
    c.numpy()
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9


def forward_macs(n_scores, hidden_units, n_classes):
    widths = [n_scores * n_scores, *hidden_units, n_classes]
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def training_rate(batch_size, n_scores, hidden_units, n_samples, run_eagerly):
    rng = np.random.default_rng(0)
    u = rng.normal(size=(n_samples, n_scores)).astype("float32")
    y = rng.integers(0, n_scores, size=n_samples)
    keras.backend.clear_session()
    model = corrnet_fusion_mlp(n_scores, n_scores, hidden_units)
    model.compile(keras.optimizers.SGD(1e-3, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=run_eagerly)
    model.fit([u, u], y, batch_size=batch_size, epochs=1, verbose=0)  # warm-up/trace
    start = time.perf_counter()
    model.fit([u, u], y, batch_size=batch_size, epochs=2, verbose=0)
    return 2 * n_samples / (time.perf_counter() - start)


def rss_growth(run_eagerly, fits=20):
    """MiB of resident memory added by ``fits`` tiny CorrNetFusion fits."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2, 4)).astype("float32")
    y = rng.integers(0, 4, size=64)
    original = CorrNetFusion._run_eagerly
    CorrNetFusion._run_eagerly = run_eagerly
    try:
        def fit():
            CorrNetFusion(hidden_units=(16,), epochs=1, batch_size=16,
                          random_state=0).fit(X, y)
        for _ in range(3):
            fit()
        gc.collect()
        before = psutil.Process().memory_info().rss
        for _ in range(fits):
            fit()
        gc.collect()
        return (psutil.Process().memory_info().rss - before) / 2**20
    finally:
        CorrNetFusion._run_eagerly = original


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=101)
    parser.add_argument("--samples", type=int, default=512)
    args = parser.parse_args(argv)
    hidden = (4096, 4096)
    flops_per_sample = 3 * 2 * forward_macs(args.classes, hidden, args.classes)
    peak = matmul_gflops()
    print(f"float32 matmul 2048^3 in this run: {peak:.1f} GFLOP/s")
    print(f"CorrNetFusion fc {hidden}, {args.classes} classes: "
          f"{flops_per_sample / 1e6:.1f} MFLOP per training sample")
    print("| batch | mode | samples/s | GFLOP/s | ratio to matmul |")
    print("|---|---|---|---|---|")
    for batch_size in (8, 256):
        n = args.samples if batch_size > 8 else args.samples // 4
        for eager in (False, True):
            rate = training_rate(batch_size, args.classes, hidden, n, eager)
            gflops = rate * flops_per_sample / 1e9
            mode = "eager (estimator default)" if eager else "graph (tf.function)"
            print(f"| {batch_size} | {mode} | {rate:.1f} | {gflops:.1f} | "
                  f"{gflops / peak:.2f} |", flush=True)
    print()
    for eager in (False, True):
        mode = "eager" if eager else "graph"
        print(f"RSS growth over 20 tiny CorrNetFusion fits, {mode}: "
              f"{rss_growth(eager):+.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
