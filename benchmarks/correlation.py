"""Speed of the Correlation layer and of CorrNet-26 vs R(2+1)D-26, in one run.

Prints, at (1, 16, 56, 56, 64), K=7, D=2, g=32:

- the forward and forward+backward (grads w.r.t. input and kernel) time of
  each implementation: the C++ op (the layer's default on CPU), the XLA
  ``jit_compile`` graph, and the naive unfused ``tf.function`` graph;
- their achieved GFLOP/s and its ratio to a float32 matmul timed in the same
  run (target: >= 20% for the layer);
- the forward wall-time ratio CorrNet-26 / R(2+1)D-26 at 16x112x112
  (target <= 1.10; the paper's FLOP ratio is 1.04).

FLOPs are counted as for the matmul (2*M*N*K): a multiply-add is 2 FLOPs, the
correlation's multiply-adds are Wang et al.'s Table 1 count ``C*K*K*L*H*W``,
and forward+backward is counted as 3x forward. Timings are medians of
interleaved repeats (the implementations alternate, so load from other
processes hits them alike); on a shared machine compare the ratios, not the
absolute numbers.

    python benchmarks/correlation.py [--repeats 20] [--no-network] [--no-layer]
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from actionzoo.layers import _correlation_op  # noqa: E402
from actionzoo.layers.correlation import correlation_ops, correlation_xla  # noqa: E402

SHAPE, K, D, G_SIZE = (1, 16, 56, 56, 64), 7, 2, 32


def _median_times(fns, repeats):
    """Median seconds per call of each fn, calls interleaved, after a warm-up."""
    for fn in fns.values():
        fn()
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _sync(result):
    """Nothing to wait for: TensorFlow runs CPU ops synchronously in eager
    mode and in ``tf.function`` calls. (Copying outputs to NumPy here would
    add a memcpy of each result to every timing.)"""
    return result


def layer_benchmark(repeats):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=SHAPE).astype("float32"))
    kernel = tf.constant(rng.normal(size=(SHAPE[1], K, K, SHAPE[4])).astype("float32"))
    n = 2048
    a = tf.constant(rng.normal(size=(n, n)).astype("float32"))
    b = tf.constant(rng.normal(size=(n, n)).astype("float32"))
    matmul = tf.function(lambda: tf.matmul(a, b))

    impls = {
        "xla": lambda x, w: correlation_xla(x, w, K, D, G_SIZE),
        "naive tf.function": tf.function(lambda x, w: correlation_ops(x, w, K, D, G_SIZE)),
    }
    if _correlation_op.available():
        impls = {"c++ op": tf.function(
            lambda x, w: _correlation_op.correlation(x, w, K, D, G_SIZE)), **impls}
    else:
        print("C++ op unavailable (see the log); benchmarking the others")

    def fwd_bwd(fn):
        @tf.function
        def step(x, w):
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                out = fn(x, w)
            return tape.gradient(out, [x, w], output_gradients=out)
        return step

    fns = {"matmul": lambda: _sync(matmul())}
    for name, fn in impls.items():
        fns[f"{name} fwd"] = (lambda fn=fn: _sync(fn(x, kernel)))
        step = fwd_bwd(fn)
        fns[f"{name} fwd+bwd"] = (lambda step=step: _sync(step(x, kernel)))
    times = _median_times(fns, repeats)

    matmul_rate = 2 * n ** 3 / times["matmul"] / 1e9
    fwd_flops = 2 * SHAPE[4] * K * K * np.prod(SHAPE[1:4])
    print(f"float32 matmul {n}x{n}x{n}: {times['matmul'] * 1e3:8.2f} ms "
          f"{matmul_rate:8.1f} GFLOP/s")
    print(f"Correlation {SHAPE}, K={K}, D={D}, g={G_SIZE}: "
          f"{fwd_flops / 1e9:.3f} GFLOP forward (2 x C*K*K*L*H*W)")
    for name in fns:
        if name == "matmul":
            continue
        flops = fwd_flops * (3 if name.endswith("fwd+bwd") else 1)
        rate = flops / times[name] / 1e9
        print(f"  {name:26s} {times[name] * 1e3:9.2f} ms {rate:8.2f} GFLOP/s "
              f"{100 * rate / matmul_rate:6.1f}% of matmul")


def network_benchmark(repeats):
    from actionzoo.models.correlation_net import correlation_net

    x = tf.constant(np.random.default_rng(1).uniform(
        size=(1, 16, 112, 112, 3)).astype("float32"))
    fns = {}
    for variant in ("r2plus1d", "corrnet"):
        model = correlation_net(26, variant, clip_length=16, input_size=112)
        forward = tf.function(lambda x, model=model: model(x, training=False))
        fns[variant] = (lambda forward=forward: _sync(forward(x)))
    times = _median_times(fns, repeats)
    print("Forward, batch 1, 16x112x112:")
    for name, t in times.items():
        print(f"  {name:10s} {t * 1e3:9.1f} ms")
    print(f"  CorrNet-26 / R(2+1)D-26 wall-time ratio: "
          f"{times['corrnet'] / times['r2plus1d']:.3f} (paper FLOP ratio 1.04)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-network", action="store_true")
    parser.add_argument("--no-layer", action="store_true")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.no_layer:
        layer_benchmark(args.repeats)
    if not args.no_network:
        network_benchmark(max(3, args.repeats // 2))


if __name__ == "__main__":
    main()
