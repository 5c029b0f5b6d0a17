"""Train the shipped demo weights and record them in the manifest.

Two tiny networks, each trained from scratch on split 1 of the synthetic
demo dataset (:func:`actionzoo.data.make_synthetic_dataset`: 10 motion
classes; the class is the motion, the background is shared by a group
across classes):

- ``corrnet26.demo``: CorrNet-26 (Wang et al.; width x0.125, group size 8);
- ``stc_resnet18.demo``: STC-ResNet-18 (Diba et al.; width x0.125).

Both read 8-frame clips (stride 2) at 48x48, temporally centred. Each is
evaluated on the held-out groups of split 1 with the entry's own test
preprocessing (4 uniform clips, centre crop, softmax averaged over clips),
saved to ``weights/<name>.weights.h5`` and written into
``weights/manifest.json`` with its sha256, size, architecture,
preprocessing, classes and the accuracy it reached.

The preprocessing (temporal centring, std 0.225) is exactly the input of
the clip estimators with ``temporal_center=True``
(:func:`actionzoo.estimators._clip_base.normalize_pixels`), so
``CorrelationNet(weights="corrnet26.demo", ...)`` fine-tunes from what the
weights were trained on.

These are demo weights, not a paper figure: they exist so that
``actionzoo predict`` works offline out of the box.

Run from the repository root::

    python recipes/train_demo_weights.py                   # both, ~15 min each on 2 cores
    python recipes/train_demo_weights.py --name stc_resnet18.demo
    python recipes/train_demo_weights.py --epochs 2        # smoke run

The dataset is generated into ``--data`` (its own folder by default) when
that folder is absent or empty, and reused only when its ``generation.json``
records the same parameters.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np

from actionzoo import models
from actionzoo.argtypes import non_negative_int, positive_float, positive_int
from actionzoo.data import (
    SYNTHETIC_CLASSES,
    ClipLoader,
    DenseClipSampler,
    load_ucf101,
    make_dataset,
    make_synthetic_dataset,
    needs_generation,
    train_transform,
)
from actionzoo.metrics import aggregate_clips, mean_class_accuracy, softmax, top_k_accuracy
from actionzoo.weights import MANIFEST_NAME, SHIPPED_DIR, Preprocessing, PretrainedInfo, sha256sum

DATASET = dict(num_classes=10, groups=6, clips_per_group=4, num_frames=(40, 60),
               width=128, height=96, seed=0)
CLASSES = list(SYNTHETIC_CLASSES[:DATASET["num_classes"]])
# The classes are motions: clips are centred in time (each pixel's clip mean
# removed, so static appearance vanishes), there are no flips (a flip turns
# MoveLeft into MoveRight) and colour channels are permuted per batch. With
# per-(class, group) backgrounds (the generator before this change) a tiny
# net fed raw RGB memorised the training backgrounds (split-1 test top-1 0.0).
# mean 0 / std 0.225 after centring = the clip estimators' temporal_center input.
PREPROCESSING = Preprocessing(clip_length=8, stride=2, input_size=48, short_side=56, num_clips=4,
                              crops=1, mean=(0.0, 0.0, 0.0), std=(0.225, 0.225, 0.225),
                              temporal_center=True)
MODELS = {
    "corrnet26.demo": {
        "architecture": {"builder": "correlation_net", "kwargs": dict(
            depth=26, variant="corrnet", clip_length=8, input_size=48,
            num_classes=len(CLASSES), width=0.125, group_size=8,
            normalize_correlation=False)},
        "description": "Tiny CorrNet-26 (width x0.125, 8x48x48 clips) trained from scratch on "
                       "the synthetic demo dataset (split 1, 10 motion classes). Demo weights, "
                       "not a paper result.",
    },
    "stc_resnet18.demo": {
        "architecture": {"builder": "resnet3d", "kwargs": dict(
            depth=18, cardinality=1, stc=True, reduction=4, clip_length=8, input_size=48,
            num_classes=len(CLASSES), width=0.125)},
        "description": "Tiny STC-ResNet-18 (width x0.125, 8x48x48 clips) trained from scratch "
                       "on the synthetic demo dataset (split 1, 10 motion classes). Demo "
                       "weights, not a paper result.",
    },
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--name", action="append", choices=sorted(MODELS),
                   help="weights to train (repeatable; default: all)")
    p.add_argument("--data", default="demo-data-weights",
                   help="synthetic dataset folder (default: %(default)s)")
    p.add_argument("--out", default=str(SHIPPED_DIR), help="weights folder with manifest.json")
    p.add_argument("--epochs", type=positive_int, default=150)
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=positive_float, default=3e-3)
    p.add_argument("--seed", type=non_negative_int, default=0)
    return p.parse_args(argv)


def evaluate(model, split):
    """Video-level top-1/top-5 and mean class accuracy with the entry's test views."""
    loader = PREPROCESSING.loader()
    views = np.stack([softmax(model.predict_on_batch(PREPROCESSING.normalize(loader(p)["rgb"])))
                      for p in split.paths])
    video_scores = aggregate_clips(views)
    y = np.asarray(split.labels)
    return {"top1": round(top_k_accuracy(y, video_scores, 1), 4),
            "top5": round(top_k_accuracy(y, video_scores, 5), 4),
            "mean_class_accuracy": round(mean_class_accuracy(y, video_scores.argmax(1)), 4),
            "videos": len(y)}


def update_manifest(out_dir, name, entry):
    path = Path(out_dir) / MANIFEST_NAME
    data = json.loads(path.read_text()) if path.exists() else {"format": 1, "weights": {}}
    data.setdefault("weights", {})[name] = entry
    PretrainedInfo.from_dict(name, entry)  # validate before writing
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def main(argv=None):
    args = parse_args(argv)
    if needs_generation(args.data, **DATASET):
        make_synthetic_dataset(args.data, **DATASET)
    train = load_ucf101(args.data, split=1, subset="train")
    test = load_ucf101(args.data, split=1, subset="test")
    if train.classes != CLASSES:
        sys.exit(f"{args.data}: classes {train.classes} differ from {CLASSES}")
    for name in args.name or sorted(MODELS):
        train_one(name, train, test, args)


def build(name):
    architecture = MODELS[name]["architecture"]
    return getattr(models, architecture["builder"])(**architecture["kwargs"])


def train_one(name, train, test, args):
    keras.utils.set_random_seed(args.seed)
    model = build(name)
    steps = -(-len(train) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=steps * args.epochs)
    model.compile(keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    loader = ClipLoader(
        DenseClipSampler(PREPROCESSING.clip_length, stride=PREPROCESSING.stride),
        train_transform(PREPROCESSING.input_size, PREPROCESSING.short_side, flip=False))
    ds = make_dataset(train.paths, train.labels, loader,
                      batch_size=args.batch_size, shuffle=True, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    start = time.time()
    for epoch in range(args.epochs):
        model.reset_metrics()  # train_on_batch accumulates them across calls
        losses, accs = [], []
        for clips, y in ds:
            clips = clips.numpy()[..., rng.permutation(3)]
            loss, acc = model.train_on_batch(PREPROCESSING.normalize(clips), y.numpy())
            losses.append(loss)
            accs.append(acc)
        print(f"{name} epoch {epoch + 1}/{args.epochs}: loss {losses[-1]:.3f} "
              f"train clip acc {accs[-1]:.3f} ({time.time() - start:.0f} s)", flush=True)

    metrics = evaluate(model, test)
    print(f"{name} split-1 test videos: {metrics}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    file = f"{name}.weights.h5"
    shipped = build(name)  # uncompiled: no optimizer state in the file
    shipped.set_weights(model.get_weights())
    shipped.save_weights(out / file)
    entry = {
        "file": file, "urls": [], "sha256": sha256sum(out / file),
        "size": (out / file).stat().st_size,
        "architecture": MODELS[name]["architecture"], "preprocessing": vars_of(PREPROCESSING),
        "classes": CLASSES, "license": "Apache-2.0", "recipe": "recipes/train_demo_weights.py",
        "description": MODELS[name]["description"],
        "metrics": {"dataset": "synthetic demo, split 1 test (held-out groups)",
                    "epochs": args.epochs, "seed": args.seed,
                    "train_seconds": round(time.time() - start), **metrics},
    }
    print(f"wrote {out / file} ({entry['size']} bytes) and {update_manifest(out, name, entry)}",
          flush=True)


def vars_of(prep):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(prep).items()}


if __name__ == "__main__":
    main()
