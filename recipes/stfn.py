"""STFN fusion ablations: architecture, fusion operation, direction, segments (Cho & Foroosh).

Cho & Foroosh, *Spatio-Temporal Fusion Networks for Action Recognition*,
first split of UCF101/HMDB51: the two-stream baseline (appearance,
motion, late fusion; Table 5) and STFN with each design choice changed
one at a time from the default (Fig. 4a architecture, average fusion,
bidirectional, 5 segments): architecture 4a/4b/4c (Table 1), fusion
average/maximum/multiplication (Table 2), fusion direction A<->M, A<-M,
A->M (Table 3) and the number of segments 3/5/7/9 (Table 4).

:class:`actionzoo.TwoStreamFeatures` extracts the per-segment appearance
(RGB frame) and motion (10-flow stack) features of every video once per
segment count (cached in ``--cache``); :class:`actionzoo.STFN` is trained
on those of the training videos and scored on the test videos. The
baseline's streams are logistic regressions on segment-averaged features.
The backbones default to tiny random CNNs (no download, CPU friendly; the
paper uses fine-tuned Inception-V3 two-stream networks): ``--backbone
InceptionV3`` uses ImageNet weights (downloaded or cached by Keras) for
both streams. ``--quick`` runs 3 segments, the default and one alternative per
table, and 3 epochs.

Run::

    python recipes/stfn.py                       # demo dataset
    python recipes/stfn.py --quick               # smoke run
    python recipes/stfn.py --data UCF-101 --split 1 --backbone InceptionV3 \\
        --cache features/ --output results/stfn
    python recipes/stfn.py --data hmdb51 --dataset hmdb51 --backbone InceptionV3
    actionzoo train stfn --quick
"""
import _common
import numpy as np

from actionzoo.argtypes import positive_int

# Paper figures (%), first split: {dataset: value}.
TABLE_1 = {"a": {"hmdb51": 70.4, "ucf101": 93.5}, "b": {"hmdb51": 69.6, "ucf101": 93.2},
           "c": {"hmdb51": 69.2, "ucf101": 92.0}}
TABLE_2 = {"avg": {"hmdb51": 70.4, "ucf101": 93.5}, "max": {"hmdb51": 69.5, "ucf101": 92.9},
           "mul": {"hmdb51": 68.3, "ucf101": 92.6}}
TABLE_3 = {"bidirectional": {"hmdb51": 70.4, "ucf101": 93.5},
           "m_to_a": {"hmdb51": 70.3, "ucf101": 93.4},   # A<-M: motion fused into appearance
           "a_to_m": {"hmdb51": 70.1, "ucf101": 93.2}}   # A->M
TABLE_4 = {3: {"hmdb51": 70.3, "ucf101": 93.2}, 5: {"hmdb51": 70.4, "ucf101": 93.5},
           7: {"hmdb51": 70.8, "ucf101": 93.9}, 9: {"hmdb51": 70.5, "ucf101": 93.6}}
TABLE_5 = {"appearance": {"hmdb51": 51.2, "ucf101": 84.8},  # Inception-V3
           "motion": {"hmdb51": 59.2, "ucf101": 88.1},
           "late fusion": {"hmdb51": 62.7, "ucf101": 92.3}}
DIRECTIONS = {"bidirectional": "A<->M", "m_to_a": "A<-M", "a_to_m": "A->M"}
FIGURE_4 = {"a": "Fig. 4a (Res-Inc after fusion)", "b": "Fig. 4b (no Res-Inc after fusion)",
            "c": "Fig. 4c (concatenation)"}


def stfn(args, **params):
    from actionzoo import STFN

    if args.paper_config:  # RMSProp 1e-4 with the plateau schedule, 100 epochs
        return STFN(random_state=args.seed, **params)
    return STFN(optimizer="adam", learning_rate=3e-3, epochs=args.epochs or
                (3 if args.quick else 60), batch_size=16, random_state=args.seed, **params)


def main(argv=None):
    from actionzoo import LateFusion

    parser = _common.add_backbone_args(_common.make_parser(__doc__))
    parser.add_argument("--segments", type=positive_int, nargs="+",
                        help="segment counts of Table 4 (default: 3 5 7 9; 3 with --quick); "
                             "the first 5 among them (else the first) is the default of the "
                             "other tables")
    parser.add_argument("--epochs", type=positive_int,
                        help="STFN epochs (default: 3 quick, else 60)")
    parser.add_argument("--paper-config", action="store_true",
                        help="the paper's RMSProp 1e-4 schedule and 100 epochs")
    args = parser.parse_args(argv)
    X_train, y_train, X_test, y_test, _ = _common.load_data(args)
    segments = args.segments or ([3] if args.quick else [3, 5, 7, 9])
    default = 5 if 5 in segments else segments[0]
    features = {n: _common.two_stream_features(
        args, X_train, X_test, n_segments=n, frame_size=_common.frame_size(args),
        backbone=args.backbone, cache_dir=args.cache) for n in segments}
    report = _common.Report(
        "Cho & Foroosh: STFN design ablations",
        f"{args.dataset.upper()} split 1, Inception-V3 streams (Tables 1-5)"
        + ("" if args.split == 1 else "; this run is on split %d" % args.split), args)

    def row(experiment, setting, measured, table, key):
        report.add(experiment, setting, measured, table=table,
                   paper=table_of[table][key].get(args.dataset))

    table_of = {"1": TABLE_1, "2": TABLE_2, "3": TABLE_3, "4": TABLE_4, "5": TABLE_5}
    F_train, F_test = features[default]
    S_train, S_test = _common.two_stream_scores(F_train, F_test, y_train, X_train, args.seed)
    for stream, name in ((0, "appearance"), (1, "motion")):
        row("two-stream baseline", name, np.mean(S_test[:, stream].argmax(1) == y_test),
            "5", name)
    row("two-stream baseline", "late fusion (avg)",
        LateFusion(method="avg").fit(S_train, y_train).score(S_test, y_test), "5", "late fusion")

    base = stfn(args).fit(F_train, y_train).score(F_test, y_test)
    ablations = [("architecture", "1", "architecture", FIGURE_4),
                 ("fusion operation", "2", "fusion",
                  {"avg": "average", "max": "maximum", "mul": "multiplication"}),
                 ("fusion direction", "3", "direction", DIRECTIONS)]
    for experiment, table, param, names in ablations:
        values = list(names)[:2] if args.quick else list(names)  # the default comes first
        for value in values:
            score = base if value == values[0] else stfn(args, **{param: value}).fit(
                F_train, y_train).score(F_test, y_test)
            row(experiment, names[value], score, table, value)
    for n in segments:
        score = base if n == default else stfn(args).fit(features[n][0], y_train).score(
            features[n][1], y_test)
        row("segments", f"{n} segments", score, "4", n)
    report.note(f"Default STFN: Fig. 4a, average fusion, bidirectional, {default} segments; "
                "each row changes one setting (the default's score is shared by the rows "
                "that equal it). Features: "
                f"{args.backbone or 'tiny random CNNs'}, frame size {_common.frame_size(args)}.")
    return report.finish()


if __name__ == "__main__":
    main()
