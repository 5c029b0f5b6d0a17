"""Forward time of STC-ResNet-18 vs ResNet-18 (Hara et al. 3D ResNet) in one run.

Prints the median and minimum forward time of each network on the same random clips,
the time overhead ratio, and next to it the multiply-add ("FLOP") and
parameter ratios from ``actionzoo.flops``. The two models are timed in
alternation (ABBA order) so background load affects both alike; on a busy
machine the minimum is the steadier estimate.

    python benchmarks/stc.py                     # 16x112x112, batch 1
    python benchmarks/stc.py --batch-size 8 --repeats 20
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from actionzoo.flops import count_flops, count_params  # noqa: E402
from actionzoo.models.resnet3d import resnet3d  # noqa: E402


def _forward_fn(model):
    @tf.function(reduce_retracing=True)
    def forward(x):
        return model(x, training=False)
    return forward


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=18)
    parser.add_argument("--clip-length", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--reduction", type=int, default=4)
    args = parser.parse_args(argv)

    kwargs = {"depth": args.depth, "clip_length": args.clip_length, "input_size": args.size,
              "num_classes": 400, "reduction": args.reduction}
    models = {"plain": resnet3d(stc=False, **kwargs), "stc": resnet3d(stc=True, **kwargs)}
    clips = np.random.default_rng(0).normal(
        size=(args.batch_size, args.clip_length, args.size, args.size, 3)).astype("float32")
    clips = tf.constant(clips)
    forwards = {k: _forward_fn(m) for k, m in models.items()}
    for f in forwards.values():  # trace and warm up
        f(clips).numpy()
    times = {k: [] for k in models}
    for i in range(args.repeats):
        for k in (("plain", "stc") if i % 2 == 0 else ("stc", "plain")):  # ABBA order
            f = forwards[k]
            start = time.perf_counter()
            f(clips).numpy()
            times[k].append(time.perf_counter() - start)

    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    flops = {k: count_flops(m) for k, m in models.items()}
    params = {k: count_params(m, trainable_only=True) for k, m in models.items()}
    print(f"ResNet-{args.depth} vs STC-ResNet-{args.depth} (r={args.reduction}), "
          f"input {args.batch_size}x{args.clip_length}x{args.size}x{args.size}x3, "
          f"{args.repeats} forward passes each (median / min), {os.cpu_count()} CPUs")
    for k, name in (("plain", f"ResNet-{args.depth}"), ("stc", f"STC-ResNet-{args.depth}")):
        print(f"  {name:<16} {med[k] * 1e3:8.1f} / {best[k] * 1e3:6.1f} ms   "
              f"{flops[k] / 1e9:7.3f} GFLOPs/clip   "
              f"{params[k] / 1e6:7.2f} M params")
    print(f"  overhead ratio   time {med['stc'] / med['plain']:.3f} / "
          f"{best['stc'] / best['plain']:.3f}   "
          f"FLOPs {flops['stc'] / flops['plain']:.4f}   "
          f"params {params['stc'] / params['plain']:.3f}")


if __name__ == "__main__":
    main()
