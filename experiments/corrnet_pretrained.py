"""R(2+1)D-18 from Kinetics-400 weights, with and without CorrNet's correlation blocks.

Our extension of Wang et al., not a claim of the paper: the paper trains
CorrNet from scratch (Table 3: CorrNet-26 above R(2+1)D-26 on Kinetics,
Something-Something v1 and Diving48) and has no ablation on a pretrained
R(2+1)D. The question here: once the backbone already knows motion, do
correlation blocks still help? Both networks start from the same weights,
torchvision's R(2+1)D-18 trained on Kinetics-400 (registry entry
``r2plus1d_18.kinetics400``, converted from the PyTorch checkpoint):

- ``plain``: ``VideoResNetClassifier(weights=...)``;
- ``correlation``: ``VideoResNetClassifier(correlation=True, weights=...)``,
  a correlation-sum block (K=7, D=2, groups of 32 channels) after res2, res3
  and res4 whose restore BN starts at zero, so it starts from exactly the
  plain network's function.

Both are fine-tuned with the same data, steps and schedule (SGD momentum
0.9, cosine decay with one warm-up epoch) on the four direction classes of
the demo generator (``_data.direction_split``: training and test videos
from disjoint groups, backgrounds shared by all classes), new classifier.
Per seed: held-out accuracy, accuracy on the time-reversed test clips (a
network that reads the direction falls below chance there) and the training
loss at a few epochs. The reading's verdict compares the correlation
network's per-seed accuracy with the plain one's (``_report.verdict``).

The weights: by default the registry entry through the weights cache
(``$ACTIONZOO_HOME``; downloaded and converted on first use), or
``--checkpoint PATH``, a torchvision ``r2plus1d_18`` state dict converted
here by ``actionzoo.weights.convert_checkpoint``. When the file can be
neither found nor downloaded the script exits with status 1 and the
library's message naming the file, where to place it and its URL.

``--quick`` trains 16-frame clips (the weights' clip length) at 16 px on
16 / 8 videos for one epoch (two steps per network). The test suite runs it
with ``--checkpoint`` naming a randomly initialised torchvision-format
R(2+1)D-18 state dict, so conversion, loading and fine-tuning run end to end
(its figures say nothing about pretraining; the table names the backbone).
It takes about a minute of CPU time (measured: 55 s), not the 20 s of the
other scripts' quick runs: almost all of it is TensorFlow tracing the training step of two
full-width R(2+1)D-18 networks (31 M parameters), whose width the weights
fix; smaller clips do not shorten it.

Commands::

    python experiments/corrnet_pretrained.py            # 64 px, 160 / 80 videos, 10 epochs
    python experiments/corrnet_pretrained.py --checkpoint r2plus1d_18-91a641e6.pth
    python experiments/corrnet_pretrained.py --quick --checkpoint FILE  # the test suite
    # paper resolution on one GPU (16 frames, 112 px crops, 640 / 320 videos, batch 16;
    # estimated 30-60 min, not measured: no GPU on this machine):
    python experiments/corrnet_pretrained.py --scale paper --device gpu
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments import _data, _report  # noqa: E402
from experiments.correlation_net import PAPER_TABLE3  # noqa: E402

ENTRY = "r2plus1d_18.kinetics400"
VARIANTS = ("plain", "correlation")
NAMES = {"plain": "R(2+1)D-18", "correlation": "R(2+1)D-18 + correlation blocks"}
#: The paper's from-scratch counterpart of each variant (Table 3, L=16).
PAPER_COUNTERPART = {"plain": ("R(2+1)D-26", "r2plus1d"), "correlation": ("CorrNet-26", "corrnet")}

#: Estimator settings per scale; the clip length is the weights' (16 frames).
SCALES = {
    "demo": dict(clip_length=16, frame_stride=3, crop_size=64, short_side=72, flip=False,
                 test_clips=2, batch_size=8, learning_rate=0.01, warmup_epochs=1, epochs=10),
    "quick": dict(clip_length=16, frame_stride=1, crop_size=16, short_side=18, flip=False,
                  test_clips=1, batch_size=8, learning_rate=0.01, warmup_epochs=0, epochs=1),
    "paper": dict(clip_length=16, frame_stride=3, crop_size=112, short_side=128, flip=True,
                  test_clips=5, batch_size=16, learning_rate=0.02, warmup_epochs=1,
                  epochs=10),
}
#: Demo videos per scale (frames, (width, height)) and groups per class.
VIDEO = {"demo": dict(num_frames=48, size=(96, 72)),
         "quick": dict(num_frames=16, size=(48, 36)),
         "paper": dict(num_frames=48, size=(170, 128))}
GROUPS = {"demo": 30, "quick": 3, "paper": 120}


def starting_weights(checkpoint, root):
    """What ``weights=`` the estimators start from; the file must exist before training.

    ``checkpoint`` None: the registry entry, fetched (and converted) into the
    cache now, so a missing file stops the script before any training, with
    the library's message (the file, where to place it, its URL) and how to
    pass the checkpoint by hand. Otherwise the torchvision state dict at
    ``checkpoint`` is converted and saved under ``root`` with the entry's
    file name, so the estimators take the entry's preprocessing and check
    their hyper-parameters against it.
    """
    from actionzoo import weights

    info = weights.pretrained_info(ENTRY)
    if checkpoint is None:
        try:
            weights.download(ENTRY, verbose=0)
        except weights.WeightsError as exc:
            sys.exit(f"corrnet_pretrained: {exc}\nThe weights {ENTRY!r} are converted from "
                     f"{info.source.file} ({info.source.urls[0]}): place that file in "
                     f"{weights.source_dir()}, or pass --checkpoint PATH")
        return ENTRY
    from actionzoo.convert import CheckpointError, ConversionError, save_converted

    try:
        model = weights.convert_checkpoint(checkpoint, info.source.converter,
                                           **info.source.kwargs)
    except (CheckpointError, ConversionError) as exc:
        sys.exit(f"corrnet_pretrained: --checkpoint {checkpoint}: {exc}")
    path = os.path.join(root, info.file)
    save_converted(model, path)
    return path


def estimator(variant, settings, start, seed, verbose=0):
    from actionzoo import VideoResNetClassifier

    return VideoResNetClassifier("r2plus1d_18", correlation=variant == "correlation",
                                 weights=start, random_state=seed, verbose=verbose,
                                 **settings)


def compare(args):
    scale = "quick" if args.quick else args.scale
    settings = dict(SCALES[scale])
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    groups = args.groups or GROUPS[scale]
    backbone = (f"converted from {os.path.basename(args.checkpoint)}" if args.checkpoint
                else f"registry entry {ENTRY}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="actionzoo-corrnet-pretrained-") as root:
        start = starting_weights(args.checkpoint, root)
        X_train, y_train, X_test, y_test = _data.direction_split(root, groups, **VIDEO[scale])
        reversed_test = _data.reversed_videos(X_test)
        videos = f"{len(X_train)} training / {len(X_test)} test videos"
        print(f"{videos}, backbone {backbone}, settings {settings}", flush=True)
        for seed in range(args.seeds):
            for variant in VARIANTS:
                row = _data.scored_fit(estimator(variant, settings, start, seed, args.verbose),
                                       X_train, y_train, X_test, y_test, reversed_test,
                                       variant=variant, seed=seed)
                rows.append(row)
                print(row, flush=True)
    _report.publish(args, "corrnet_pretrained", table(rows, backbone),
                    reading(rows, videos, backbone))


def loss_epochs(n_epochs):
    """The epochs (0-based) whose training loss the table shows: about four, first and last."""
    return sorted({0, n_epochs // 3, (2 * n_epochs) // 3, n_epochs - 1})


def paper_figures(variant):
    name, key = PAPER_COUNTERPART[variant]
    return f"{name} from scratch: " + " / ".join(f"{p:.1f}" for p in PAPER_TABLE3[key])


def table(rows, backbone):
    """One row per variant and seed, then per-variant means; the paper's counterpart beside."""
    return _report.seed_table(
        rows, f"model (backbone: {backbone})", NAMES,
        "paper Table 3 top-1 % (Kinetics / Something v1 / Diving48, L=16)", paper_figures,
        loss_epochs(len(rows[0]["loss"])))


def reading(rows, videos, backbone):
    accuracy = {v: [r["test"] for r in rows if r["variant"] == v] for v in VARIANTS}
    word = _report.verdict(accuracy["correlation"], accuracy["plain"])
    why = {"reproduced": "the correlation blocks raise the fine-tuned accuracy beyond the "
                         "seed-to-seed spread",
           "on par": "the correlation blocks change the fine-tuned accuracy by no more than "
                     "the seed-to-seed spread",
           "not shown": "the correlation blocks lower the fine-tuned accuracy beyond the "
                        "seed-to-seed spread"}[word]
    better = sum(c > p for c, p in zip(accuracy["correlation"], accuracy["plain"],
                                       strict=True))
    return (f"{word}; {why} (mean test accuracy {np.mean(accuracy['correlation']):.3f} with "
            f"the blocks vs {np.mean(accuracy['plain']):.3f} without, higher in "
            f"{better}/{len(accuracy['plain'])} seeds; {videos}, four direction classes, "
            f"chance 0.25; backbone: {backbone}). Our extension: the paper's figures are its "
            f"from-scratch CorrNet-26 and R(2+1)D-26, it has no pretrained-backbone ablation")


def main(argv=None):
    p = _report.parser(__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None,
                   help="torchvision r2plus1d_18 state dict (.pth) to convert and start from "
                        f"(default: the registry entry {ENTRY} through the weights cache)")
    p.add_argument("--scale", choices=("demo", "paper"), default="demo",
                   help="demo: 64 px crops, 160 / 80 videos (CPU); paper: 112 px crops, "
                        "640 / 320 videos, batch 16 (GPU); both 16-frame clips")
    p.add_argument("--groups", type=int, default=None,
                   help="demo groups per class (default 30 at demo scale: 160 training / "
                        "80 test videos; 120 at paper scale; 3 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="override the scale's epochs")
    p.add_argument("--verbose", type=int, default=0, help="estimator verbosity")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _report.parse(p, argv)
    for option in ("groups", "epochs"):
        if getattr(args, option) is not None and getattr(args, option) <= 0:
            p.error(f"--{option} must be positive, got {getattr(args, option)}")
    if args.checkpoint is not None and not os.path.isfile(args.checkpoint):
        p.error(f"--checkpoint {args.checkpoint}: no such file")
    compare(args)


if __name__ == "__main__":
    main()
