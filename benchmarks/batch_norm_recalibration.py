"""The CorrelationNet docstring example with and without the BatchNorm
recalibration of ``train_model``.

The example (8 random 6x36x36 uint8 videos, width 0.125, one epoch of batch
4: 2 SGD steps at lr 0.1) is fitted twice in one process with the same
seed: ``keras`` keeps the moving statistics Keras trained (the staleness rule
is switched off for that fit), ``recalibrated`` is the estimator as it is.
Each row gives the largest |logit| of the fitted model in inference mode on
the example's 8 videos (every test view, as ``predict_proba`` computes
them), whether ``predict_proba`` is finite, the fit's wall time, and
the wall time of the recalibration alone (timed around the call).

Run::

    python benchmarks/batch_norm_recalibration.py
"""
import time

import numpy as np

import actionzoo.estimators._training as training
from actionzoo import CorrelationNet


def _fit(rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    X = rng.integers(0, 256, size=(8, 6, 36, 36, 3), dtype=np.uint8)
    y = np.array([0, 1] * 4)
    clf = CorrelationNet(width=0.125, group_size=8, kernel_size=3, dilation=1,
                         clip_length=4, crop_size=32, short_side=36, test_clips=2,
                         epochs=1, batch_size=4, random_state=0)
    start = time.perf_counter()
    clf.fit(X, y)
    return clf, X, time.perf_counter() - start


def _row(name, clf, X, fit_s, recalibration_s):
    logits = clf._view_outputs(clf.model_, X)
    try:
        finite = bool(np.isfinite(clf.predict_proba(X)).all())
    except training.NonFiniteError:
        finite = False
    peak = float(np.abs(logits).max())  # NaN when any logit is NaN
    print(f"| {name} | {peak:.3g} | {finite} | {fit_s:.1f} | {recalibration_s} |")


def main():
    timed = []
    recalibrate = training.recalibrate_batch_norm

    def timed_recalibration(model, data, **kwargs):
        start = time.perf_counter()
        count = recalibrate(model, data, **kwargs)
        timed.append(time.perf_counter() - start)
        return count

    print("| statistics | max abs logit | predict_proba finite | fit s | recalibration s |")
    print("|---|---|---|---|---|")
    _fit()  # warm-up: the first fit in a process also pays TensorFlow's start
    stale = training.statistics_are_stale
    training.statistics_are_stale = lambda layers, steps: False
    try:
        clf, X, fit_s = _fit()
    finally:
        training.statistics_are_stale = stale
    _row("keras", clf, X, fit_s, "-")
    training.recalibrate_batch_norm = timed_recalibration
    try:
        clf, X, fit_s = _fit()
    finally:
        training.recalibrate_batch_norm = recalibrate
    _row("recalibrated", clf, X, fit_s, f"{timed[-1]:.2f}")


if __name__ == "__main__":
    main()
