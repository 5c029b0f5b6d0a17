"""Training step of CorrNet-26 vs R(2+1)D-26 at 16x112x112, in one run.

One step = forward, backward and an SGD (momentum 0.9) update of the full
network (``keras.Model.train_on_batch``, traced once before timing), for
batch ``--batch`` clips of 16 frames at 112x112, 400 classes. The two
networks alternate within every repeat (load from other processes hits them
alike) and the medians are compared: goal CorrNet-26 / R(2+1)D-26 <= 1.10
(the paper's FLOP ratio is 1.04). The correlation op is the layer's default
implementation on this device.

Run::

    python benchmarks/train_step.py [--repeats 5] [--batch 2]
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main():
    from actionzoo.models.correlation_net import correlation_net

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(args.batch, 16, 112, 112, 3)).astype("float32")
    y = rng.integers(0, 400, size=args.batch)
    models = {}
    for variant in ("r2plus1d", "corrnet"):
        keras.utils.set_random_seed(0)
        model = correlation_net(26, variant, clip_length=16, input_size=112, num_classes=400)
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(x, y)  # trace
        model.train_on_batch(x, y)
        models[variant] = model
    times = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    devices = ", ".join(d.device_type for d in tf.config.list_logical_devices())
    print(f"TensorFlow {tf.__version__} on {devices}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; batch {args.batch}, 16x112x112, {args.repeats} repeats")
    for name, t in median.items():
        print(f"  {name:10s} train step {t * 1e3:9.1f} ms")
    print(f"  CorrNet-26 / R(2+1)D-26 training-step ratio: "
          f"{median['corrnet'] / median['r2plus1d']:.3f} (goal <= 1.10)")


if __name__ == "__main__":
    main()
