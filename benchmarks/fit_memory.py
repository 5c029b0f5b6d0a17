"""Resident memory over repeated estimator fits in one process.

Six fits (by default) of the same estimator in one process, as a grid search
does, with the resident set size (RSS) after each fit and ``gc.collect()``:

``corrnet``
    a tiny ``CorrelationNet`` (CorrNet-26, width 0.125, 8-frame 32 px clips,
    64 clips in uint8 arrays, batch 8: 8 traced steps per epoch);
``stfn``
    an ``STFN`` on synthetic feature sequences (a feature estimator);
``grid``
    ``GridSearchCV`` over the tiny ``CorrelationNet`` (3 candidates x 2 folds
    = the six fits).

Each case runs in a fresh process twice: ``after`` is the estimators as they
are; ``before`` turns off the release of the traced graphs'
custom-gradient registry entries (``_training._CUSTOM_GRADIENT_LEAK``), the
one leak found (tensorflow/tensorflow#27492). The growth per fit is the mean
RSS step after the first fit, and after the second (the second fit added a
one-off ~100 MiB in both modes, which later fits did not repeat).

Run::

    python benchmarks/fit_memory.py                 # all cases, ~10 min on 2 cores
    python benchmarks/fit_memory.py --cases corrnet --epochs 2
"""
import argparse
import json
import subprocess
import sys

CASES = ("corrnet", "stfn", "grid")


def _rss_mib():
    import psutil
    return psutil.Process().memory_info().rss / 2**20


def _corrnet(epochs):
    import numpy as np

    from actionzoo import CorrelationNet
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(64, 8, 36, 36, 3), dtype=np.uint8)
    y = np.arange(64) % 4
    est = CorrelationNet(width=0.125, group_size=8, kernel_size=3, dilation=1, clip_length=8,
                         crop_size=32, short_side=36, test_clips=1, learning_rate=0.01,
                         epochs=epochs, batch_size=8, random_state=0)
    return est, X, y


def _stfn(epochs):
    import numpy as np

    from actionzoo import STFN
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 2, 3, 32)).astype("float32")  # (n, streams, segments, d)
    y = np.arange(96) % 4
    return STFN(optimizer="adam", learning_rate=1e-2, epochs=epochs, batch_size=8,
                random_state=0), X, y


def child(case, mode, fits, epochs):
    import gc

    from actionzoo.estimators import _training
    if mode == "before":
        _training._CUSTOM_GRADIENT_LEAK = False
    rss = []
    if case == "grid":
        from sklearn.model_selection import GridSearchCV
        est, X, y = _corrnet(epochs)
        search = GridSearchCV(est, {"learning_rate": [0.01, 0.005, 0.002]}, cv=2, refit=False)
        # one fit per fold and candidate; RSS after each through a scorer hook
        def scorer(fitted, X_, y_):
            gc.collect()
            rss.append(_rss_mib())
            return 0.0
        search.set_params(scoring=scorer).fit(X, y)
    else:
        est, X, y = (_corrnet if case == "corrnet" else _stfn)(epochs)
        for _ in range(fits):
            est.fit(X, y)
            gc.collect()
            rss.append(_rss_mib())
    print(json.dumps(rss))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--fits", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.fits, args.epochs)
        return
    print(f"{args.fits} fits per case, {args.epochs} epochs each; RSS MiB after each fit")
    print(f"{'case':8} {'mode':7} {'RSS after each fit':48} {'growth/fit':>11} "
          f"{'from fit 2':>11}")
    for case in args.cases:
        for mode in ("before", "after"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", case, mode, "--fits", str(args.fits),
                 "--epochs", str(args.epochs)], capture_output=True, text=True, check=True)
            rss = json.loads(out.stdout.strip().splitlines()[-1])
            growth = (rss[-1] - rss[0]) / max(len(rss) - 1, 1)
            steady = (rss[-1] - rss[1]) / max(len(rss) - 2, 1)
            trace = " ".join(f"{r:.0f}" for r in rss)
            print(f"{case:8} {mode:7} {trace:48} {growth:+7.1f} MiB {steady:+7.1f} MiB",
                  flush=True)


if __name__ == "__main__":
    main()
