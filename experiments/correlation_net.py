"""CorrNet-26 vs R2D-26 vs R(2+1)D-26 (Wang et al., Table 3) on the demo motion classes.

Two measurements:

``overflow``
    Why CorrNet's inference-mode outputs overflowed after a few SGD steps at
    lr 0.1: a tiny model (the test suite's configuration, 4x32x32 clips,
    batch 2, N(0, 1) input) is trained three steps; per variant the table
    gives the growth of the conv kernels' norms and the largest activation
    at each correlation output and at the logits, with batch statistics
    (training mode) and with BN's moving statistics (inference mode).

``compare``
    The model card's learning comparison: four direction classes of the
    synthetic demo generator (MoveLeft/Right/Up/Down, split 1, training and
    test videos from disjoint groups, backgrounds shared by all classes),
    raw RGB, the CorrelationNet estimator at the settings of the
    learning-evidence tests, per variant and seed: test accuracy, accuracy on
    the time-reversed test clips, and the training loss by epoch. CorrNet is
    run with the normalised correlation (the default) and with the raw dot
    product (``corrnet_raw``). The paper's Table 3 (16 frames) is printed
    beside ours.

Commands::

    python experiments/correlation_net.py overflow
    python experiments/correlation_net.py compare --groups 30 --seeds 0
    python experiments/correlation_net.py compare --quick      # seconds; the test suite
    # paper resolution on one GPU (16 frames, 112x112 crops, full width, K=7, D=2,
    # g=32, the paper's SGD); not run here, no GPU on this machine:
    python experiments/correlation_net.py compare --scale paper --device gpu --groups 120

``--device cpu`` hides the GPUs from TensorFlow; ``--device gpu`` requires one.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VARIANTS = ("corrnet", "corrnet_raw", "r2d", "r2plus1d")

#: Paper Table 3, top-1 (%) at L=16: Kinetics, Something-Something v1, Diving48.
PAPER_TABLE3 = {"r2d": (67.8, 15.8, 17.5), "r2plus1d": (69.9, 35.4, 22.7),
                "corrnet": (73.4, 38.5, 27.0)}

#: Estimator settings per scale. "demo" is the learning-evidence tests' setting
#: (tests/estimators/test_correlation_net_estimator.py, EVIDENCE).
SCALES = {
    "demo": dict(clip_length=8, frame_stride=6, crop_size=64, short_side=72, flip=False,
                 test_clips=3, width=0.125, batch_size=8, group_size=4, kernel_size=5,
                 dilation=1, optimizer="adam", learning_rate=2e-3, warmup_epochs=1,
                 epochs=20),
    "quick": dict(clip_length=4, frame_stride=2, crop_size=32, short_side=36, flip=False,
                  test_clips=1, width=0.125, batch_size=8, group_size=8, kernel_size=3,
                  dilation=1, optimizer="adam", learning_rate=2e-3, warmup_epochs=0,
                  epochs=1),
    "paper": dict(clip_length=16, frame_stride=2, crop_size=112, short_side=128, flip=True,
                  test_clips=10, width=1.0, batch_size=16, group_size=32, kernel_size=7,
                  dilation=2, optimizer="sgd", learning_rate=0.1, warmup_epochs=4,
                  epochs=40),
}
#: Demo videos per scale: frames and frame size of the generator.
VIDEO = {"demo": dict(num_frames=48, width=96, height=72),
         "quick": dict(num_frames=12, width=48, height=36),
         "paper": dict(num_frames=48, width=170, height=128)}


def select_device(device):
    """Make TensorFlow use the CPU only, or check that a GPU is there."""
    import tensorflow as tf

    if device == "cpu":
        tf.config.set_visible_devices([], "GPU")
    elif device == "gpu" and not tf.config.list_physical_devices("GPU"):
        sys.exit("--device gpu: TensorFlow sees no GPU")


def motion_videos(root, groups, num_frames, width, height):
    """Split 1 of the demo generator's four direction classes (paths and labels)."""
    from actionzoo.data import load_ucf101, make_synthetic_dataset

    make_synthetic_dataset(root, num_classes=4, groups=groups, clips_per_group=2,
                           num_frames=num_frames, width=width, height=height, seed=0,
                           verbose=0)
    train, test = load_ucf101(root, 1, "train"), load_ucf101(root, 1, "test")
    return (np.array(train.paths, dtype=object), np.asarray(train.labels),
            np.array(test.paths, dtype=object), np.asarray(test.labels))


def estimator(variant, settings, seed, verbose=0):
    from actionzoo import CorrelationNet

    kwargs = dict(settings, random_state=seed, verbose=verbose)
    if variant == "corrnet_raw":
        return CorrelationNet(variant="corrnet", normalize_correlation=False, **kwargs)
    return CorrelationNet(variant=variant, **kwargs)


def compare(args):
    from actionzoo.data import read_video

    settings = dict(SCALES[args.scale])
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    if args.width is not None:
        settings["width"] = args.width
    rows = []
    with tempfile.TemporaryDirectory() as root:
        X_train, y_train, X_test, y_test = motion_videos(root, args.groups, **VIDEO[args.scale])
        reversed_test = np.stack([read_video(path)[::-1] for path in X_test])
        print(f"{len(X_train)} training / {len(X_test)} test videos, settings {settings}",
              flush=True)
        for seed in args.seeds:
            for variant in args.variants:
                start = time.perf_counter()
                clf = estimator(variant, settings, seed, args.verbose).fit(X_train, y_train)
                row = dict(variant=variant, seed=seed, test=clf.score(X_test, y_test),
                           reversed=clf.score(reversed_test, y_test),
                           loss=clf.history_["loss"], seconds=time.perf_counter() - start)
                rows.append(row)
                print(format_row(row), flush=True)
    print_table(rows)
    return rows


def format_row(row):
    epochs = range(0, len(row["loss"]), 4)
    loss = " / ".join(f"{row['loss'][e]:.2f}" for e in epochs)
    return (f"{row['variant']:<12} seed {row['seed']}  test {row['test']:.3f}  "
            f"time-reversed {row['reversed']:.3f}  loss at epochs "
            f"{', '.join(str(e + 1) for e in epochs)}: {loss}  ({row['seconds']:.0f} s)")


def print_table(rows):
    print("\n| variant | paper Kinetics / Something / Diving48 (L=16) | ours: test acc. "
          "(seeds) | time-reversed | final training loss |")
    print("|---|---|---|---|---|")
    for variant in dict.fromkeys(row["variant"] for row in rows):
        mine = [row for row in rows if row["variant"] == variant]
        paper = PAPER_TABLE3.get(variant.replace("_raw", ""))
        paper = " / ".join(f"{p:.1f}" for p in paper) if paper else "-"
        if variant == "corrnet_raw":
            paper = "- (raw dot product; paper's is " + paper + ")"
        accs = ", ".join(f"{row['test']:.3f}" for row in mine)
        rev = ", ".join(f"{row['reversed']:.3f}" for row in mine)
        loss = ", ".join(f"{row['loss'][-1]:.2f}" for row in mine)
        print(f"| {variant} | {paper} | {accs} | {rev} | {loss} |")


def overflow(args):
    import keras

    from actionzoo.models.correlation_net import correlation_net

    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 32, 32, 3)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2])
    configs = {"r2d": dict(variant="r2d"),
               "corrnet_raw": dict(variant="corrnet", normalize_correlation=False),
               "corrnet": dict(variant="corrnet")}
    print("| variant | conv kernel norm growth, median / max | layer | max |a| "
          "training mode | max |a| inference mode |")
    print("|---|---|---|---|---|")
    for name, kwargs in configs.items():
        keras.utils.set_random_seed(0)
        model = correlation_net(26, clip_length=4, input_size=32, num_classes=3, width=0.125,
                                group_size=8, kernel_size=3, dilation=1, **kwargs)
        kernels = [w for w in model.weights if w.path.endswith("_conv/kernel")]
        before = [np.linalg.norm(w) for w in kernels]
        model.compile(keras.optimizers.SGD(0.1, momentum=0.9),
                      keras.losses.SparseCategoricalCrossentropy(True))
        model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
        growth = np.array([np.linalg.norm(w) for w in kernels]) / before
        layers = [n for n in ("conv1_relu", "res2_block2_out", "corr2_correlation",
                              "corr2_out", "corr3_correlation", "corr4_correlation",
                              "res5_block2_out", "logits") if n in
                  [layer.name for layer in model.layers]]
        probe = keras.Model(model.input, [model.get_layer(n).output for n in layers])
        train = probe(x[:2], training=True)
        infer = probe(x[:2], training=False)
        for i, (layer, a, b) in enumerate(zip(layers, train, infer, strict=True)):
            lead = (f"{name} | {np.median(growth):.0f}x / {growth.max():.0f}x" if i == 0
                    else " | ")
            print(f"| {lead} | {layer} | {largest(a):.3g} | {largest(b):.3g} |")


def largest(a):
    a = np.abs(np.asarray(a, dtype=np.float64))
    return np.inf if not np.isfinite(a).all() else a.max()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("overflow", "compare"))
    parser.add_argument("--quick", action="store_true",
                        help="compare: 3 groups, 1 epoch, 4x32x32 clips (seconds)")
    parser.add_argument("--scale", choices=sorted(SCALES), default="demo")
    parser.add_argument("--groups", type=int, default=30,
                        help="demo groups (30: 160 training / 80 test videos; 120: 640 / 320)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--width", type=float, default=None)
    parser.add_argument("--verbose", type=int, default=0, help="estimator verbosity")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    args = parser.parse_args(argv)
    if args.quick:
        args.scale, args.groups = "quick", 3
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    select_device(args.device)
    return overflow(args) if args.what == "overflow" else compare(args)


if __name__ == "__main__":
    main()
