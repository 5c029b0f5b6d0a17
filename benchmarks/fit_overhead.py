"""Estimator fit per training step vs a plain ``keras.Model.fit``, in one run.

For each case the same network is trained on the same batches twice:
through the estimator's ``fit`` and through ``keras.Model.fit`` of a model
built and compiled the same way (same optimizer, loss and metric) on the
estimator's own batches. The per-step time of each is the difference of an
``epochs=1+N`` and an ``epochs=1`` fit divided by ``N`` epochs' steps, so model
building, tracing and the first epoch drop out; the two are interleaved
``--repeats`` times and the medians compared (goal: ratio <= 1.1).

Cases:

``corrnet_fusion``
    ``CorrNetFusion`` (fc 512-512, 4 classes), 512 two-stream score samples,
    batch 32: small steps, where per-step overhead shows most;
``correlation_net``
    a tiny ``CorrelationNet`` (CorrNet-26, width 0.125, 8x32x32 clips) on
    64 uint8 clips, batch 8: the clip path (augmentation in the batches).

Run::

    python benchmarks/fit_overhead.py [--repeats 3] [--epochs 4]
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def _cases():
    from actionzoo import CorrelationNet, CorrNetFusion
    from actionzoo.data.synthetic_scores import two_stream_scores

    X, y = two_stream_scores(512, n_classes=4, random_state=0)
    fusion = CorrNetFusion(hidden_units=(512, 512), epochs=1, batch_size=32, random_state=0)
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, size=(64, 8, 36, 36, 3), dtype=np.uint8)
    corrnet = CorrelationNet(width=0.125, group_size=8, kernel_size=3, dilation=1,
                             clip_length=8, crop_size=32, short_side=36, test_clips=1,
                             learning_rate=0.01, epochs=1, batch_size=8, random_state=0)
    return {"corrnet_fusion": (fusion, X, y),
            "correlation_net": (corrnet, clips, np.arange(64) % 4)}


def _estimator_seconds(est, X, y, epochs):
    start = time.perf_counter()
    est.set_params(epochs=epochs).fit(X, y)
    return time.perf_counter() - start


def _plain_seconds(est, X, y, epochs):
    """The estimator's network, optimizer and batches through keras.Model.fit."""
    fitted = est.set_params(epochs=epochs)
    inputs = fitted._check_X(X, reset=True)
    y_enc = fitted._encode_labels(y, len(y), reset=True)
    batches = fitted._training_batches(inputs, y_enc, None, 0)
    steps = len(batches) if hasattr(batches, "__len__") else int(batches.cardinality())
    model = fitted._build_model(inputs, len(fitted.classes_))
    model.compile(optimizer=fitted._make_optimizer(steps),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[], metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(batches, epochs=epochs, verbose=0)
    return time.perf_counter() - start


def _steps(est, X):
    return int(np.ceil(len(X) / est.batch_size))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="extra epochs N timed per fit")
    parser.add_argument("--cases", nargs="+", default=["corrnet_fusion", "correlation_net"])
    args = parser.parse_args()
    cases = _cases()
    print(f"{'case':16} {'estimator ms/step':>18} {'Model.fit ms/step':>18} {'ratio':>6}")
    for name in args.cases:
        est, X, y = cases[name]
        per_step = {"estimator": [], "plain": []}
        n = args.epochs * _steps(est, X)
        for _ in range(args.repeats):
            for kind, run in (("estimator", _estimator_seconds), ("plain", _plain_seconds)):
                long = run(est, X, y, 1 + args.epochs)
                short = run(est, X, y, 1)
                per_step[kind].append((long - short) / n * 1e3)
        mine, plain = (statistics.median(per_step[k]) for k in ("estimator", "plain"))
        print(f"{name:16} {mine:18.2f} {plain:18.2f} {mine / plain:6.2f}", flush=True)


if __name__ == "__main__":
    main()
