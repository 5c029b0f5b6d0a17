"""Plumbing shared by the per-paper recipes (not a recipe itself).

Every recipe takes the same data arguments (``--data``, ``--dataset``,
``--split``, ``--quick``, ``--output``, ``--seed``), loads one split of a
UCF101/HMDB51 folder -- or of the synthetic demo dataset, generated on
first use -- and prints a table that puts the paper's figure next to the
one it measured. :class:`Report` collects the rows and writes
``results.md`` and ``results.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from actionzoo.argtypes import non_negative_int, positive_float, positive_int
from actionzoo.data import make_synthetic_dataset, needs_generation, ucf101_groups
from actionzoo.demo import DATA_DIR, DATASET
from actionzoo.estimators.stream_scores import stream_scores

#: Demo datasets generated when ``--data`` is not given: (folder, settings).
#: The full one is the ``actionzoo demo`` dataset (10 motion classes, 180
#: videos at 80x60; same folder and parameters, so either command reuses the
#: other's); the quick one is a few seconds' worth for smoke runs and tests.
DEMO = {False: (DATA_DIR["full"], DATASET["full"]),
        True: (DATA_DIR["quick"], DATASET["quick"])}


def make_parser(doc):
    """The shared arguments; the recipe adds its own to the returned parser."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", metavar="DIR",
                   help="dataset folder: UCF101/HMDB51 class folders with their split files "
                        f"(default: ./{DEMO[False][0]}, or ./{DEMO[True][0]} with --quick; "
                        "the synthetic demo dataset is generated there if absent)")
    p.add_argument("--dataset", choices=("ucf101", "hmdb51"), default="ucf101",
                   help="split-file layout of --data (default: %(default)s; the demo dataset "
                        "is ucf101) and the paper column shown")
    p.add_argument("--split", type=int, choices=(1, 2, 3), default=1)
    p.add_argument("--annotation-dir", metavar="DIR",
                   help="split files folder (default: found next to --data)")
    p.add_argument("--quick", action="store_true",
                   help="tiny configuration (smoke runs and tests; figures are not meaningful)")
    p.add_argument("--output", metavar="DIR", help="write results.md and results.json here")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("-v", "--verbose", action="store_true", help="progress bars")
    return p


def add_backbone_args(p, default_size=64):
    """``--backbone`` (ImageNet ``keras.applications`` name) and ``--frame-size``."""
    p.add_argument("--backbone", metavar="NAME",
                   help="keras.applications model with ImageNet weights for both streams "
                        "(e.g. InceptionV3; needs the weights downloaded or cached). "
                        "Default: a tiny random CNN (no download; figures then show what "
                        "the fusion learns on untrained features)")
    p.add_argument("--frame-size", type=positive_int,
                   help=f"frame side for the backbones (default: {default_size}, 32 with "
                        "--quick, 224 with --backbone)")
    p.add_argument("--cache", metavar="DIR", help="feature and optical-flow cache folder "
                                                  "(reused across runs and recipes)")
    return p


def add_clip_args(p, width=0.125):
    """Arguments of the clip networks (CorrelationNet, STCNet)."""
    p.add_argument("--width", type=positive_float, default=width,
                   help="channel width multiplier (default: %(default)s)")
    p.add_argument("--epochs", type=positive_int, help="default: 1 with --quick, else 20")
    p.add_argument("--temporal-center", action=argparse.BooleanOptionalAction,
                   help="remove each pixel's clip mean (not in the papers; default: on for "
                        "the generated demo dataset, whose class is the motion and whose "
                        "backgrounds differ per group, off for --data)")
    return p


def clip_settings(args):
    """Clip and training settings shared by the clip networks' recipes."""
    if args.quick:
        clips = dict(clip_length=4, frame_stride=2, crop_size=32, short_side=36, test_clips=2,
                     epochs=args.epochs or 1, batch_size=6, optimizer="sgd",
                     learning_rate=0.01)
    else:
        clips = dict(clip_length=8, frame_stride=4, crop_size=64, short_side=72, test_clips=3,
                     epochs=args.epochs or 20, batch_size=8, optimizer="adam",
                     learning_rate=2e-3, lr_schedule="cosine", warmup_epochs=1)
    center = args.data is None if args.temporal_center is None else args.temporal_center
    return dict(width=args.width, flip=False, temporal_center=center, random_state=args.seed,
                verbose=int(args.verbose), **clips)


def frame_size(args, default=64):
    """``--frame-size``, else 224 for an ImageNet backbone, 32 quick, ``default`` otherwise."""
    if args.frame_size:
        return args.frame_size
    return 224 if args.backbone else 32 if args.quick else default


def demo_root(args):
    """``--data``, or the default demo folder (generated when absent or empty).

    A default folder generated with other parameters, or holding other
    files, stops the recipe with a message naming both parameter sets.
    """
    if args.data is not None:
        if not os.path.isdir(args.data):
            raise FileNotFoundError(f"{args.data}: no such dataset folder (omit --data to use "
                                    "the generated demo dataset)")
        return args.data
    folder, settings = DEMO[args.quick]
    if needs_generation(folder, seed=0, **settings):
        print(f"generating the synthetic demo dataset in {folder}/ ...", file=sys.stderr)
        make_synthetic_dataset(folder, seed=0, verbose=int(args.verbose), **settings)
    return folder


def load_data(args):
    """Train and test videos of the chosen split: ``(X_train, y_train, X_test, y_test, classes)``.

    X are 1-D object arrays of video paths, y integer labels.
    """
    from actionzoo.data import load_hmdb51, load_ucf101

    if args.data is None and args.dataset != "ucf101":
        raise ValueError("the generated demo dataset is in the UCF101 layout: give --data "
                         "with --dataset hmdb51")
    root = demo_root(args)
    loader = load_ucf101 if args.dataset == "ucf101" else load_hmdb51
    train, test = (loader(root, split=args.split, subset=s, annotation_dir=args.annotation_dir)
                   for s in ("train", "test"))
    print(f"{root}: {args.dataset} split {args.split}, {len(train)} train / {len(test)} test "
          f"videos, {len(train.classes)} classes", file=sys.stderr)
    return (np.array(train.paths, dtype=object), np.asarray(train.labels),
            np.array(test.paths, dtype=object), np.asarray(test.labels), list(train.classes))


def tiny_cnn(channels, size, width=16, seed=0):
    """A random two-layer 2-D CNN, frame ``(size, size, channels)`` -> ``width`` features.

    Stands in for ImageNet backbones where no weights can be downloaded.
    """
    import keras

    init = keras.initializers.GlorotUniform
    frames = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(width, 5, strides=2, activation="relu",
                            kernel_initializer=init(seed))(frames)
    x = keras.layers.Conv2D(width, 3, strides=2, activation="relu",
                            kernel_initializer=init(seed + 1))(x)
    return keras.Model(frames, keras.layers.GlobalAveragePooling2D()(x))


def two_stream_features(args, X_train, X_test, *, n_segments, frame_size, backbone,
                        cache_dir=None):
    """Appearance/motion features ``(n, 2, n_segments, d)`` of train and test videos.

    ``backbone``: a ``keras.applications`` name used with ImageNet weights,
    or ``None`` for :func:`tiny_cnn` (random, offline).
    """
    from actionzoo import TwoStreamFeatures

    if backbone is None:
        appearance, motion, weights = (tiny_cnn(3, frame_size, seed=args.seed),
                                       tiny_cnn(20, frame_size, seed=args.seed + 10), None)
    else:
        appearance, motion, weights = backbone, backbone, "imagenet"
    features = TwoStreamFeatures(n_segments=n_segments, appearance_backbone=appearance,
                                 motion_backbone=motion, backbone_weights=weights,
                                 frame_size=frame_size, cache_dir=cache_dir,
                                 random_state=args.seed, verbose=int(args.verbose))
    train = features.fit_transform(X_train)
    return train, features.transform(X_test)


def two_stream_scores(features_train, features_test, y_train, paths_train, seed):
    """Two-stream class scores ``(n, 2, C)`` from features ``(n, 2, segments, d)``.

    Per stream, :func:`actionzoo.estimators.stream_scores.stream_scores` on the segment-averaged
    features (log-probabilities; out-of-fold on the training videos, with
    folds that keep UCF101 groups together).
    """
    cv, groups = folds(paths_train, y_train, 5, seed)
    train, test = zip(*(stream_scores(features_train[:, s].mean(1), features_test[:, s].mean(1),
                                      y_train, cv, groups) for s in (0, 1)), strict=True)
    return np.stack(train, 1), np.stack(test, 1)


def folds(paths, y, n, seed):
    """Cross-validation ``(cv, groups)`` over training videos: at most ``n`` folds.

    UCF101 groups share scenes and actors, so their videos stay in one fold
    (``GroupKFold``, as for unseen videos); without group names, stratified folds.
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    groups = ucf101_groups(paths)
    if groups is None:
        return StratifiedKFold(min(n, min_class_count(y)), shuffle=True,
                               random_state=seed), None
    return GroupKFold(min(n, len(np.unique(groups)))), groups


def min_class_count(y):
    """Videos of the rarest class present in ``y`` (integer labels)."""
    counts = np.bincount(np.asarray(y))
    return int(counts[counts > 0].min())


class Report:
    """Rows of "paper figure vs measured figure", printed and written.

    Parameters
    ----------
    title : str
        What was run (paper, experiment).
    paper_source : str
        Which paper table/dataset/split the ``paper`` column comes from.
    args : argparse.Namespace
        The recipe's arguments (recorded; ``args.output`` is where files go).
    """

    def __init__(self, title, paper_source, args):
        self.title, self.paper_source, self.args = title, paper_source, args
        self.rows = []
        self.notes = []
        self.start = time.time()

    def add(self, experiment, setting, measured, paper=None, table=None, metric="top-1"):
        """One row; ``measured`` is a fraction in [0, 1], ``paper`` a percentage or None."""
        measured = float(measured)
        self.rows.append({"experiment": experiment, "setting": setting, "metric": metric,
                          "paper_table": table, "paper": paper, "measured": measured})
        print(f"  {experiment} / {setting}: {metric} {100 * measured:.1f}"
              + (f" (paper {paper})" if paper is not None else ""), file=sys.stderr)

    def note(self, text):
        self.notes.append(text)

    def markdown(self):
        a = self.args
        lines = [f"# {self.title}", "",
                 f"Data: `{a.data or DEMO[a.quick][0]}` ({a.dataset} split {a.split}"
                 f"{', quick configuration' if a.quick else ''}), seed {a.seed}. "
                 f"Paper column: {self.paper_source}. Measured: on this data, "
                 "test split, in %.", "",
                 "| experiment | setting | metric | paper table | paper (%) | measured (%) |",
                 "|---|---|---|---|---|---|"]
        for r in self.rows:
            paper = "-" if r["paper"] is None else f"{r['paper']:.1f}"
            lines.append(f"| {r['experiment']} | {r['setting']} | {r['metric']} | "
                         f"{r['paper_table'] or '-'} | {paper} | {100 * r['measured']:.1f} |")
        lines += [""] + [f"- {n}" for n in self.notes]
        lines.append(f"- Wall time: {time.time() - self.start:.0f} s")
        return "\n".join(lines) + "\n"

    def finish(self):
        """Print the table; write ``results.md``/``results.json`` to ``--output``."""
        text = self.markdown()
        print(text)
        if self.args.output:
            os.makedirs(self.args.output, exist_ok=True)
            with open(os.path.join(self.args.output, "results.md"), "w") as fh:
                fh.write(text)
            record = {"title": self.title, "paper_source": self.paper_source,
                      "arguments": {k: v for k, v in vars(self.args).items()
                                    if isinstance(v, (str, int, float, bool, type(None)))},
                      "rows": self.rows, "notes": self.notes,
                      "wall_time_s": round(time.time() - self.start, 1)}
            with open(os.path.join(self.args.output, "results.json"), "w") as fh:
                json.dump(record, fh, indent=2)
            print(f"wrote {self.args.output}/results.md and results.json", file=sys.stderr)
        return self.rows


def paper_figure(figures, dataset, split=1):
    """``figures[dataset][split]`` (or ``figures[dataset]`` when not per split), else None."""
    value = figures.get(dataset)
    if isinstance(value, dict):
        value = value.get(split)
    return value
