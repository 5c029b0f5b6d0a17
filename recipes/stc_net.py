"""STC-ResNet vs plain 3D ResNet, TCB/SCB branches and the 2D->3D transfer (Diba et al.).

Diba et al., *Spatio-Temporal Channel Correlation Networks for Action
Classification*: a 3D ResNet with STC blocks (temporal and spatial channel
correlation branches) against the same 3D ResNet without them, trained from
scratch (Table 3); with only the TCB or only the SCB branch (Table 5,
without ``--quick``); and the 2D->3D knowledge transfer (Sec. 3.2, Table
7): the 3D network first learns to tell whether a clip and frames come
from the same moment of a video, against a frozen 2D network, on
unlabelled videos, then is fine-tuned on the labelled training videos.

All networks are :class:`actionzoo.STCNet` ResNet-18 (``--depth``),
narrowed by ``--width`` so that they train on a CPU, with the same clip
settings, trained on the split's training videos and scored on its test
videos (view-averaged). The transfer uses the training videos without
their labels (the paper: 500K unlabelled YouTube-8M videos) and, by
default, a tiny random 2D CNN as teacher (no download): pass ``--teacher
ResNet50`` for an ImageNet teacher (``keras.applications``, weights
downloaded or cached by Keras). The paper's figures are for ResNet-101
(Tables 3 and 5 list no plain ResNet-18; the depth of each figure is in
its row).

On the generated demo dataset (class = motion, one background per group)
clips are temporally centred by default (``--temporal-center``; not in the
paper).

Run::

    python recipes/stc_net.py                     # demo dataset
    python recipes/stc_net.py --quick             # smoke run
    python recipes/stc_net.py --data UCF-101 --split 1 --width 0.25 --epochs 40 \\
        --teacher ResNet50 --output results/stc_net
    actionzoo train stc_net --quick
"""
import _common

from actionzoo.argtypes import positive_int

# Paper figures (%). UCF101 split 1, from scratch: Table 3 (depth in the name),
# Table 5 (STC-ResNet-101 branches); Table 7 (transfer, fine-tuned on UCF101 split 1).
# HMDB51: Table 9, mean over the three splits (Kinetics pre-training).
PAPER = {
    "plain": {"ucf101": (46.7, "3 (3D-ResNet-101)"), "hmdb51": (61.7, "9 (3D-ResNet-101)")},
    "stc": {"ucf101": (42.8, "3 (STC-ResNet-18)"), "hmdb51": (62.6, "9 (STC-ResNet-101)")},
    "tcb": {"ucf101": (47.2, "5 (TCB, ResNet-101)")},
    "scb": {"ucf101": (46.1, "5 (SCB, ResNet-101)")},
    "transfer": {"ucf101": (83.2, "7 (STC-ResNet, Transfer)"),
                 "hmdb51": (66.1, "9 (STC-ResNet-101 transfer)")},
}


def settings(args):
    return dict(_common.clip_settings(args), depth=args.depth, cardinality=1)


def teacher(args, size):
    """The frozen 2D network and its input preprocessing."""
    if args.teacher is None:
        return _common.tiny_cnn(3, size, width=32, seed=args.seed + 100), None
    import keras

    app = getattr(keras.applications, args.teacher)
    module = keras.applications.imagenet_utils
    for name in dir(keras.applications):  # the application's own preprocess_input
        sub = getattr(keras.applications, name)
        if getattr(sub, args.teacher, None) is app and hasattr(sub, "preprocess_input"):
            module = sub
    return (app(include_top=False, weights="imagenet", pooling="avg",
                input_shape=(size, size, 3)), module.preprocess_input)


def main(argv=None):
    from actionzoo import STCNet

    parser = _common.make_parser(__doc__)
    parser.add_argument("--depth", type=int, choices=(18, 34, 50, 101), default=18)
    _common.add_clip_args(parser)
    parser.add_argument("--transfer-epochs", type=positive_int,
                        help="2D->3D correspondence epochs (default: 1 with --quick, else 10)")
    parser.add_argument("--teacher", metavar="NAME", help="keras.applications 2D network with "
                        "ImageNet weights (default: a tiny random CNN)")
    args = parser.parse_args(argv)
    X_train, y_train, X_test, y_test, _ = _common.load_data(args)
    kwargs = settings(args)
    report = _common.Report(
        f"Diba et al.: STC-ResNet-{args.depth} vs 3D ResNet-{args.depth}, and 2D->3D transfer",
        "UCF101 split 1 from scratch (Tables 3, 5) and after transfer (Table 7)"
        if args.dataset == "ucf101" else "HMDB51 Table 9 (3-split mean)", args)

    def row(key, experiment, setting, clf):
        paper, table = PAPER[key].get(args.dataset, (None, None))
        report.add(experiment, setting, clf.score(X_test, y_test), paper=paper, table=table)

    d = args.depth
    runs = [("plain", "from scratch", f"3D ResNet-{d} (no STC)", dict(stc=False)),
            ("stc", "from scratch", f"STC-ResNet-{d} (TCB + SCB)", {})]
    if not args.quick:
        runs += [("tcb", "branches", f"STC-ResNet-{d} TCB only", dict(branches=("temporal",))),
                 ("scb", "branches", f"STC-ResNet-{d} SCB only", dict(branches=("spatial",)))]
    for key, experiment, name, params in runs:
        row(key, experiment, name, STCNet(**kwargs, **params).fit(X_train, y_train))

    net2d, preprocess = teacher(args, kwargs["crop_size"])
    epochs = args.transfer_epochs or (1 if args.quick else 10)
    clf = STCNet(**kwargs).transfer_from_2d(
        net2d, X_train, epochs=epochs, batch_size=min(16, len(X_train)),
        learning_rate=0.05, lr_step_epochs=max(1, epochs // 2),
        teacher_preprocess=None if kwargs["temporal_center"] else preprocess)
    clf.fit(X_train, y_train)
    row("transfer", "2D->3D transfer", f"STC-ResNet-{d}, transferred then fine-tuned", clf)
    report.note(f"Transfer: {epochs} correspondence epochs on the {len(X_train)} training "
                f"videos (labels unused), teacher {args.teacher or 'tiny random CNN'}; "
                f"correspondence accuracy after the last epoch "
                f"{clf.transfer_history_['accuracy'][-1]:.2f}.")
    report.note("Settings: " + ", ".join(f"{k}={v}" for k, v in kwargs.items()
                                         if k != "verbose"))
    return report.finish()


if __name__ == "__main__":
    main()
