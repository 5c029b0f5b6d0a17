"""CorrNetFusion training throughput, as a ratio to this machine's matmul rate.

Prints, for batch sizes 8 (the paper's) and 256, the training throughput of
the paper's CorrNetFusion (fc 4096-4096, 101 UCF101 classes, SGD momentum
0.9) in samples/s and achieved GFLOP/s, next to a float32 matmul measured in
the same run on the same machine, so the ratio is comparable across
machines. (Memory over repeated fits: ``benchmarks/fit_memory.py``.)

FLOPs: a multiply-add counts 2 FLOPs; a training step costs 3x the forward
pass (forward, gradient w.r.t. activations, gradient w.r.t. weights).

Run::

    python benchmarks/fusion_fit.py            # ~2-4 minutes on 2 cores
"""
import argparse
import time

import keras
import numpy as np
import tensorflow as tf

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
    return sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))


def training_rate(batch_size, n_scores, hidden_units, n_samples):
    rng = np.random.default_rng(0)
    u = rng.normal(size=(n_samples, n_scores)).astype("float32")
    y = rng.integers(0, n_scores, size=n_samples)
    model = corrnet_fusion_mlp(n_scores, n_scores, hidden_units)
    model.compile(keras.optimizers.SGD(1e-3, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit([u, u], y, batch_size=batch_size, epochs=1, verbose=0)  # warm-up/trace
    start = time.perf_counter()
    model.fit([u, u], y, batch_size=batch_size, epochs=2, verbose=0)
    return 2 * n_samples / (time.perf_counter() - start)


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
        rate = training_rate(batch_size, args.classes, hidden, n)
        gflops = rate * flops_per_sample / 1e9
        print(f"| {batch_size} | graph (tf.function) | {rate:.1f} | {gflops:.1f} | "
              f"{gflops / peak:.2f} |", flush=True)


if __name__ == "__main__":
    main()
