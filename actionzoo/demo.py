"""The demo job: every estimator, small, on the synthetic demo dataset, with a report.

:func:`run_demo` generates the demo dataset (:func:`actionzoo.data.make_synthetic_dataset`,
UCF101 layout) unless the folder already holds split files, takes split 1
(training and test videos from disjoint groups), trains small versions of
the five estimators and the late-fusion baselines, and writes a report:

- ``CorrelationNet`` (CorrNet-26) and its R2D-26 baseline, and ``STCNet``
  (STC-ResNet-18), on RGB clips of the video files;
- ``TwoStreamFeatures`` (appearance and motion features of the ImageNet
  EfficientNet-Lite0, converted offline from the installed checkpoint
  package -- no download) -> ``STFN``;
- the two streams on their own (logistic regression per stream) and their
  fusion as in Yudistira & Kurita, Table IV: ``LateFusion`` avg / max /
  multiply / weighted and ``CorrNetFusion`` on the per-stream class scores
  (out-of-fold scores on the training videos, so the fusion learns from
  scores like those it meets at test time);
- ``MultiStreamGRU`` on the spatial, temporal (optical flow) and audio
  streams with its linear-SVM fusion;
- one prediction of the shipped CorrNet-26 demo weights through
  ``from_pretrained`` (fitted at once, no training) on the first test video.

The report folder receives ``results.md`` (the table), ``results.json``,
``confusion_matrix.png`` (the most accurate model) and
``training_curves.png`` (training loss per epoch of the Keras models).
Accuracies are measured on the test split once, with configurations fixed
in this module; nothing is tuned on the test videos. The networks are tiny
and trained for a few epochs on a few hundred short, low-resolution clips, so
their figures say that the pipeline runs end to end, not what the
architectures reach on UCF101 -- expect several near chance.

Examples
--------
>>> from actionzoo.demo import run_demo
>>> report = run_demo("demo-data", "demo-report")  # doctest: +SKIP
>>> sorted(report)  # doctest: +SKIP
['best_model', 'chance', 'classes', 'config', 'confusion_matrix', ...]

From the shell: ``actionzoo demo --data demo-data --report-dir demo-report``
(``make demo``).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np

__all__ = ["CONFIG", "DATASET", "DATA_DIR", "run_demo", "format_table"]

#: Demo dataset settings (``make_synthetic_dataset`` arguments) of the full
#: and the quick (test) configuration.
DATASET = {
    "full": dict(num_classes=10, groups=6, clips_per_group=3, num_frames=(32, 48), width=80,
                 height=60),
    "quick": dict(num_classes=3, groups=3, clips_per_group=2, num_frames=16, width=48,
                  height=36),
}

#: Default dataset folder of each configuration: each its own, so that a
#: quick run never reuses (or is reused for) the full demo's videos.
DATA_DIR = {"full": "demo-data", "quick": "demo-data-quick"}

#: Model settings of the full configuration. Clip nets see temporally
#: centred clips (the per-pixel clip mean removed): the classes are defined
#: by motion only.
_FULL = dict(
    clips=dict(clip_length=8, frame_stride=4, crop_size=48, short_side=56, flip=False,
               test_clips=2, width=0.125, optimizer="adam", learning_rate=2e-3,
               lr_schedule="cosine", warmup_epochs=1, epochs=6, batch_size=8,
               temporal_center=True),
    correlation=dict(depth=26, group_size=4, kernel_size=5, dilation=1),
    stc=dict(depth=18, cardinality=1),
    streams=dict(frame_size=48, flow_length=10, width=32, n_segments=5),
    stfn=dict(optimizer="adam", learning_rate=1e-2, epochs=10, batch_size=16),
    corrnet_fusion=dict(hidden_units=(128, 128), optimizer="adam", learning_rate=3e-3,
                        epochs=30, batch_size=16),
    gru=dict(units=16, max_length=24, dropout=0.0, optimizer="adam", learning_rate=1e-2,
             epochs=10, batch_size=16),
    cv_folds=4,
)
#: What the quick (test) configuration changes: one or two epochs, tiny widths.
_QUICK = dict(
    clips=dict(clip_length=4, frame_stride=2, crop_size=32, short_side=36, test_clips=1,
               lr_schedule="constant", warmup_epochs=0, epochs=1, batch_size=6),
    correlation=dict(group_size=8, kernel_size=3),
    streams=dict(frame_size=32, flow_length=4, width=8, n_segments=3),
    stfn=dict(epochs=2, batch_size=12),
    corrnet_fusion=dict(hidden_units=(16, 16), epochs=2, batch_size=12),
    gru=dict(units=4, max_length=8, epochs=2, batch_size=12),
    cv_folds=2,
)
#: Model settings of the ``"full"`` and ``"quick"`` configurations.
CONFIG = {"full": _FULL,
          "quick": {key: ({**value, **_QUICK.get(key, {})} if isinstance(value, dict)
                          else _QUICK.get(key, value)) for key, value in _FULL.items()}}

_SPLIT_FILE = os.path.join("ucfTrainTestlist", "trainlist01.txt")
#: Registry weights whose from_pretrained prediction the report shows.
PRETRAINED_DEMO = "corrnet26.demo"


# -- data ---------------------------------------------------------------------------
def _dataset(data_dir, mode, seed, verbose):
    from actionzoo.data import load_ucf101, make_synthetic_dataset, needs_generation
    from actionzoo.data.synthetic import GENERATION_FILE

    user_dataset = (data_dir != DATA_DIR[mode]
                    and os.path.isfile(os.path.join(data_dir, _SPLIT_FILE))
                    and not os.path.isfile(os.path.join(data_dir, GENERATION_FILE)))
    generated = not user_dataset and needs_generation(data_dir, seed=seed, **DATASET[mode])
    if generated:
        _say(verbose, f"Generating the demo dataset in {data_dir} ...")
        make_synthetic_dataset(data_dir, seed=seed, verbose=verbose, **DATASET[mode])
    train = load_ucf101(data_dir, split=1, subset="train")
    test = load_ucf101(data_dir, split=1, subset="test")
    return train, test, generated


# -- tiny random backbones (no download) -------------------------------------------------
# Each ends in a (parameter-free at initialisation, and never trained)
# LayerNormalization: random features of flow stacks are ~15x smaller than
# those of RGB frames (std 0.034 vs 0.54 on the demo training videos), which
# drowns the motion stream in STFN's element-wise fusion. Chosen on the
# training videos only (grouped 2/4-fold CV): motion-stream logistic
# regression 0.81 -> 0.86, STFN 0.25 -> 0.57 (one fold).
def _image_backbone(size, channels, width, seed, name):
    import keras

    init = [keras.initializers.HeNormal(seed=seed + i) for i in range(3)]
    return keras.Sequential([
        keras.Input((size, size, channels)),
        keras.layers.Conv2D(width, 5, strides=2, activation="relu", kernel_initializer=init[0]),
        keras.layers.Conv2D(width, 3, strides=2, activation="relu", kernel_initializer=init[1]),
        keras.layers.Conv2D(width, 3, strides=2, activation="relu", kernel_initializer=init[2]),
        keras.layers.GlobalAveragePooling2D(), keras.layers.LayerNormalization(),
    ], name=name)


def _audio_backbone(width, seed):
    import keras

    return keras.Sequential([
        keras.Input((96, 64)), keras.layers.AveragePooling1D(8), keras.layers.Flatten(),
        keras.layers.Dense(width, activation="relu",
                           kernel_initializer=keras.initializers.HeNormal(seed=seed)),
        keras.layers.LayerNormalization(),
    ], name="tiny_audio")


# -- the job ------------------------------------------------------------------------------
class _Run:
    """Collects rows, training curves and predictions while the models are fitted."""

    def __init__(self, y_test, verbose):
        self.y_test = np.asarray(y_test)
        self.verbose = verbose
        self.rows, self.curves, self.predictions = [], {}, {}

    def add(self, model, inputs, predicted, fit_seconds, note=""):
        from actionzoo.metrics import mean_class_accuracy

        predicted = np.asarray(predicted, np.int64)
        row = {"model": model, "input": inputs,
               "accuracy": float(np.mean(predicted == self.y_test)),
               "mean_class_accuracy": mean_class_accuracy(self.y_test, predicted),
               "fit_seconds": round(float(fit_seconds), 1), "note": note}
        self.rows.append(row)
        self.predictions[model] = predicted
        _say(self.verbose, f"  {model}: test accuracy {row['accuracy']:.3f} "
                           f"(fit {row['fit_seconds']:.0f} s)")
        return row

    def fit_and_score(self, name, inputs, estimator, X_train, y_train, X_test, curve=True):
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        if curve:
            self.curves[name] = list(estimator.history_.get("loss", []))
        return self.add(name, inputs, estimator.predict(X_test), seconds)


def _clip_models(run, cfg, train, test, seed, verbose):
    from actionzoo import CorrelationNet, STCNet

    X_train, X_test = np.asarray(train.paths, object), np.asarray(test.paths, object)
    common = dict(cfg["clips"], random_state=seed, verbose=verbose)
    for name, variant in (("CorrelationNet (CorrNet-26)", "corrnet"),
                          ("CorrelationNet (R2D-26 baseline)", "r2d")):
        run.fit_and_score(name, "RGB clips", CorrelationNet(variant=variant,
                                                            **cfg["correlation"], **common),
                          X_train, train.labels, X_test)
    run.fit_and_score("STCNet (STC-ResNet-18)", "RGB clips", STCNet(**cfg["stc"], **common),
                      X_train, train.labels, X_test)


def _two_stream_models(run, cfg, train, test, seed, cache_dir, verbose):
    from sklearn.model_selection import GroupKFold

    from actionzoo import STFN, CorrNetFusion, LateFusion, TwoStreamFeatures
    from actionzoo.data import ucf101_groups
    from actionzoo.estimators.stream_scores import stream_scores

    s = cfg["streams"]
    # The ImageNet EfficientNet-Lite0 of the installed checkpoint package (converted offline)
    # for both streams: the appearance stream as it is, the motion stream from its RGB
    # kernel averaged over the flow channels (TSN cross-modality initialisation); both 1280-d,
    # as STFN's element-wise fusion needs.
    features = TwoStreamFeatures(
        n_segments=s["n_segments"], frame_size=s["frame_size"], flow_length=s["flow_length"],
        appearance_backbone="efficientnet_lite0", motion_backbone="efficientnet_lite0",
        backbone_weights="imagenet", cache_dir=cache_dir, random_state=seed, verbose=verbose)
    start = time.perf_counter()
    F_train = features.fit_transform(train.paths)  # a random frame per segment
    F_test = features.transform(test.paths)  # segment centres
    feature_seconds = time.perf_counter() - start
    _say(verbose, f"  two-stream features: {feature_seconds:.0f} s")

    run.fit_and_score("STFN", "appearance + motion features",
                      STFN(**cfg["stfn"], random_state=seed, verbose=verbose),
                      F_train, train.labels, F_test)

    # Per-stream classifiers (the "two-stream network" whose scores are fused):
    # segment-averaged features -> logistic regression, out-of-fold over groups.
    y_train, groups = train.labels, ucf101_groups(train.paths)
    folds = GroupKFold(min(cfg["cv_folds"], len(np.unique(groups))))
    scores_train, scores_test = [], []
    for j, stream in enumerate(("appearance", "motion")):
        start = time.perf_counter()
        oof, scores = stream_scores(F_train[:, j].mean(1), F_test[:, j].mean(1), y_train, folds,
                                    groups)
        run.add(f"{stream} stream (logistic regression)", f"{stream} features",
                np.unique(y_train)[scores.argmax(1)], time.perf_counter() - start)
        scores_train.append(oof)
        scores_test.append(scores)
    S_train, S_test = np.stack(scores_train, 1), np.stack(scores_test, 1)

    for method in ("avg", "max", "multiply", "weighted"):
        run.fit_and_score(f"LateFusion ({method})", "two-stream scores", LateFusion(method=method),
                          S_train, y_train, S_test, curve=False)
    corrnet = CorrNetFusion(**cfg["corrnet_fusion"], random_state=seed, verbose=verbose)
    run.fit_and_score("CorrNetFusion (sum, Shannon gate)", "two-stream scores", corrnet,
                      S_train, y_train, S_test)
    corrnet.set_params(fusion="none")  # test-time only: the paper's "correlation" row
    run.add("CorrNetFusion (correlation only)", "two-stream scores", corrnet.predict(S_test),
            run.rows[-1]["fit_seconds"], note="same fit as the row above")
    return feature_seconds


def _multi_stream_gru(run, cfg, train, test, seed, cache_dir, verbose):
    from actionzoo import MultiStreamGRU

    s = cfg["streams"]
    est = MultiStreamGRU(
        streams=("spatial", "temporal", "audio"),
        spatial_backbone=_image_backbone(s["frame_size"], 3, s["width"], seed + 20, "spatial"),
        spatial_weights=None,
        temporal_backbone=_image_backbone(s["frame_size"], 2 * s["flow_length"], s["width"],
                                          seed + 30, "temporal"),
        audio_backbone=_audio_backbone(s["width"], seed + 40), frame_size=s["frame_size"],
        flow_length=s["flow_length"], cache_dir=cache_dir, random_state=seed, verbose=verbose,
        **cfg["gru"])
    start = time.perf_counter()
    est.fit(train.paths, train.labels)
    seconds = time.perf_counter() - start
    for stream, history in est.histories_.items():
        run.curves[f"MultiStreamGRU {stream}"] = list(history.get("loss", []))
    run.add("MultiStreamGRU (SVM fusion)", "RGB + flow + audio", est.predict(test.paths), seconds,
            note="fit time includes feature extraction")


def run_demo(data_dir=None, report_dir="demo-report", *, quick=False, seed=0, verbose=1):
    """Train small versions of all estimators on the demo dataset and write a report.

    Parameters
    ----------
    data_dir : str or path-like, optional
        Dataset folder in the UCF101 layout; default :data:`DATA_DIR`
        (``demo-data``, or ``demo-data-quick`` with ``quick``). An absent or
        empty folder receives the synthetic demo dataset (:data:`DATASET`,
        generated with ``seed``); a folder generated before is used only if
        its ``generation.json`` records the same parameters, otherwise the
        demo stops naming both parameter sets. A dataset of your own (split
        files, no ``generation.json``) given here is used as is.
    report_dir : str or path-like, default="demo-report"
        Receives ``results.md``, ``results.json``, ``confusion_matrix.png``
        and ``training_curves.png`` (created; files are overwritten).
    quick : bool, default=False
        A tiny configuration (one or two epochs, tiny widths and, when it
        generates the dataset, 3 classes of 16-frame 48x36 videos) that
        checks the job runs; its figures mean nothing.
    seed : int, default=0
        Seeds the dataset generator and every estimator.
    verbose : int, default=1
        1: progress messages and bars on stderr; 0: silent (the table is
        still returned and written).

    Returns
    -------
    dict
        What ``results.json`` holds: ``rows`` (model, input, accuracy,
        mean_class_accuracy, fit_seconds, note), ``best_model``,
        ``confusion_matrix``, ``classes``, ``chance``, ``n_train``,
        ``n_test``, ``curves``, ``config``, ``wall_seconds`` and ``table``
        (the markdown table).

    Examples
    --------
    >>> report = run_demo("demo-data", "demo-report", verbose=0)  # doctest: +SKIP
    >>> print(report["table"])  # doctest: +SKIP
    | model | input | test accuracy | mean class accuracy | fit s |
    ...
    """
    from sklearn.metrics import confusion_matrix

    from actionzoo.plots import save_confusion_matrix, save_curves

    start = time.perf_counter()
    mode = "quick" if quick else "full"
    cfg = CONFIG[mode]
    data_dir = DATA_DIR[mode] if data_dir is None else os.fspath(data_dir)
    report_dir = os.fspath(report_dir)
    train, test, generated = _dataset(data_dir, mode, seed, verbose)
    if not len(train) or not len(test):
        raise ValueError(f"{data_dir}: split 1 has {len(train)} training and {len(test)} test "
                         "videos; the demo needs both")
    classes = list(train.classes)
    _say(verbose, f"Split 1 of {data_dir}: {len(classes)} classes, {len(train)} training and "
                  f"{len(test)} test videos (disjoint groups); chance {1 / len(classes):.3f}")
    run = _Run(test.labels, verbose)
    pretrained = _pretrained_prediction(test, cfg, verbose)
    with tempfile.TemporaryDirectory(prefix="actionzoo-demo-") as cache_dir:
        _clip_models(run, cfg, train, test, seed, verbose)
        feature_seconds = _two_stream_models(run, cfg, train, test, seed, cache_dir, verbose)
        _multi_stream_gru(run, cfg, train, test, seed, cache_dir, verbose)

    best = max(run.rows, key=lambda r: (r["accuracy"], r["mean_class_accuracy"]))
    cm = confusion_matrix(test.labels, run.predictions[best["model"]],
                          labels=np.arange(len(classes)))
    os.makedirs(report_dir, exist_ok=True)
    save_confusion_matrix(cm, classes, os.path.join(report_dir, "confusion_matrix.png"),
                          title=f"{best['model']}: test split 1 "
                                f"(accuracy {best['accuracy']:.3f})")
    save_curves(run.curves, os.path.join(report_dir, "training_curves.png"),
                title="Training loss (cross-entropy) per epoch")
    report = {
        "rows": run.rows, "best_model": best["model"], "confusion_matrix": cm.tolist(),
        "classes": classes, "chance": 1 / len(classes), "n_train": len(train),
        "n_test": len(test), "data_dir": data_dir, "dataset_generated": generated,
        "feature_seconds": round(feature_seconds, 1), "curves": run.curves,
        "pretrained_prediction": pretrained,
        "config": {"mode": mode, "seed": seed, "dataset": DATASET[mode], "models": cfg},
    }
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    report["table"] = format_table(run.rows)
    with open(os.path.join(report_dir, "results.md"), "w") as fh:
        fh.write(_markdown(report))
    with open(os.path.join(report_dir, "results.json"), "w") as fh:
        json.dump(report, fh, indent=2, default=_jsonable)
    return report


def _pretrained_prediction(test, cfg, verbose):
    """The shipped CorrNet-26 demo weights, fitted at once, on the first test video."""
    from actionzoo.estimators.pretrained import from_pretrained

    name = PRETRAINED_DEMO
    estimator = from_pretrained(name, test_clips=cfg["clips"]["test_clips"])
    video = os.fspath(test.paths[0])
    proba = estimator.predict_proba(np.asarray([video], dtype=object))[0]
    best = int(proba.argmax())
    result = {"weights": name, "video": video, "label": str(estimator.classes_[best]),
              "probability": round(float(proba[best]), 4),
              "true_label": str(test.classes[test.labels[0]])}
    _say(verbose, f"  {name}.from_pretrained: {os.path.basename(video)} -> {result['label']} "
                  f"({result['probability']:.2f}; true {result['true_label']})")
    return result


def format_table(rows):
    """The results table (markdown) of :func:`run_demo` rows."""
    lines = ["| model | input | test accuracy | mean class accuracy | fit s |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['input']} | {r['accuracy']:.3f} | "
                     f"{r['mean_class_accuracy']:.3f} | {r['fit_seconds']:.1f} |")
    return "\n".join(lines)


def _markdown(report):
    pre = report["pretrained_prediction"]
    return (
        f"# actionzoo demo: test accuracy on split 1 of the demo dataset\n\n"
        f"{len(report['classes'])} motion-defined classes, {report['n_train']} training and "
        f"{report['n_test']} test videos from disjoint groups; chance "
        f"{report['chance']:.3f}. Tiny networks and a few epochs (the two-stream "
        f"features come from the ImageNet EfficientNet-Lite0): these figures show the "
        f"pipeline end to end, not the papers' accuracies.\n\n{report['table']}\n\n"
        f"Two-stream features (shared by STFN, the stream and fusion rows): "
        f"{report['feature_seconds']:.1f} s, not included above. Fusion inputs are "
        f"out-of-fold (grouped) stream scores on the training videos.\n"
        f"Best: {report['best_model']} (confusion_matrix.png). Training loss per epoch: "
        f"training_curves.png. Wall time {report['wall_seconds']:.0f} s.\n\n"
        f"Pretrained, no training: `from_pretrained(\"{pre['weights']}\")` (the shipped "
        f"CorrNet-26 demo weights) labels {os.path.basename(pre['video'])} "
        f"**{pre['label']}** (probability {pre['probability']:.3f}; true class "
        f"{pre['true_label']}).\n")


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _say(verbose, message):
    if verbose:
        print(message, file=sys.stderr, flush=True)
