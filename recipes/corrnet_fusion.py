"""CorrNetFusion on two-stream scores of real videos, with the Table IV baselines.

Yudistira & Kurita, *Correlation Net: spatiotemporal multimodal deep
learning for action recognition*: a two-stream network gives per-video RGB
and optical-flow class scores; CorrNet learns from their correlation
matrix and is fused with the streams at test time (Tables I-III), and is
compared with average / max / multiply / CCA fusion of the same streams
(Table IV).

Here the two streams are built from the videos of one split:
:class:`actionzoo.TwoStreamFeatures` extracts per-segment appearance (RGB
frame) and motion (10-flow stack) features, averaged over segments; one
logistic regression per stream turns them into class scores -- out-of-fold
(``cross_val_predict``) on the training videos, so that the fusion learns
from scores like those it sees at test time, and from the stream
classifiers fit on all training videos for the test videos. On these
scores the recipe measures each stream alone, the late-fusion baselines
(:class:`actionzoo.LateFusion` avg / max / multiply / weighted, and CCA),
CorrNet alone and fused with the streams (``fusion="avg"`` = the paper's
avg(s,m)+corr, ``"sum"`` = s+m+corr), and a ``GridSearchCV`` over
CorrNet's fusion settings. The paper's figures (BN-Inception TSN streams,
Tables II-IV) are printed next to the measured ones.

The backbones default to tiny random CNNs (no download, CPU friendly): the
streams are then weak and the figures say how the fusion methods compare
on *these* scores, not what the paper's trained TSN streams reach. Give
``--backbone InceptionV3`` (ImageNet weights, downloaded or cached by
Keras) on real data for stronger streams.

Run::

    python recipes/corrnet_fusion.py                      # demo dataset (generated)
    python recipes/corrnet_fusion.py --quick              # seconds, smoke run
    python recipes/corrnet_fusion.py --data UCF-101 --split 1 --backbone InceptionV3 \\
        --output results/corrnet_fusion
    python recipes/corrnet_fusion.py --data hmdb51 --dataset hmdb51 --backbone InceptionV3
    actionzoo train corrnet_fusion --quick                # same through the CLI
"""
import _common
import numpy as np
from sklearn.model_selection import GridSearchCV

from actionzoo.argtypes import positive_int

# Paper figures (%), Yudistira & Kurita. Tables II/III: per split; Table IV: split 1.
TABLE_II_III = {
    "spatial": {"ucf101": {1: 85.9, 2: 84.9, 3: 84.0}, "hmdb51": {1: 54.3, 2: 50.2, 3: 50.4}},
    "motion": {"ucf101": {1: 87.9, 2: 90.3, 3: 91.0}, "hmdb51": {1: 62.3, 2: 63.5, 3: 64.2}},
    "correlation": {"ucf101": {1: 88.3, 2: 87.6, 3: 87.9}, "hmdb51": {1: 66.6, 2: 65.8, 3: 65.5}},
    "s+m": {"ucf101": {1: 93.5, 2: 94.5, 3: 94.0}, "hmdb51": {1: 69.9, 2: 67.1, 3: 67.1}},
    "avg(s,m)+corr": {"ucf101": {1: 94.2, 2: 94.6, 3: 94.1},
                      "hmdb51": {1: 70.6, 2: 67.9, 3: 67.8}},
    "s+m+corr": {"ucf101": {1: 94.2, 2: 94.7, 3: 94.2}, "hmdb51": {1: 70.6, 2: 67.9, 3: 68.1}},
}
TABLE_IV = {"max": {"ucf101": {1: 91.3}, "hmdb51": {1: 64.8}},
            "multiply": {"ucf101": {1: 93.3}, "hmdb51": {1: 64.9}},
            "CCA": {"ucf101": {1: 93.3}, "hmdb51": {1: 65.6}}}


def corrnet(args):
    from actionzoo import CorrNetFusion

    if args.paper_config:  # 4096-4096, SGD 0.001 momentum 0.9, batch 8, 200 epochs
        return CorrNetFusion(random_state=args.seed, verbose=int(args.verbose))
    units, epochs = ((32, 32), 10) if args.quick else ((256, 256), 40)
    return CorrNetFusion(hidden_units=units, optimizer="adam", learning_rate=3e-3,
                         epochs=args.epochs or epochs, batch_size=16, random_state=args.seed)


def main(argv=None):
    from quickstart import CCAFusion  # the CCA baseline of the quickstart

    from actionzoo import LateFusion

    parser = _common.add_backbone_args(_common.make_parser(__doc__))
    parser.add_argument("--segments", type=positive_int, default=3, help="segments per video")
    parser.add_argument("--epochs", type=positive_int,
                        help="CorrNetFusion epochs (default: 10 quick, 40 otherwise)")
    parser.add_argument("--paper-config", action="store_true",
                        help="the paper's 4096-4096 MLP, SGD, 200 epochs (slow)")
    args = parser.parse_args(argv)
    X_train, y_train, X_test, y_test, classes = _common.load_data(args)
    f_train, f_test = _common.two_stream_features(
        args, X_train, X_test, n_segments=args.segments, frame_size=_common.frame_size(args),
        backbone=args.backbone, cache_dir=args.cache)
    S_train, S_test = _common.two_stream_scores(f_train, f_test, y_train, X_train, args.seed)

    report = _common.Report(
        "Yudistira & Kurita: CorrNet fusion of two-stream scores vs late fusion",
        f"Tables II/III ({args.dataset.upper()} split {args.split}) and Table IV (split 1 "
        "only), BN-Inception TSN streams", args)

    def paper(name, table):
        return _common.paper_figure(table[name], args.dataset, args.split)

    def row(experiment, setting, measured, name=None, table=None, label=None):
        report.add(experiment, setting, measured, table=label,
                   paper=None if name is None else paper(name, table))

    for stream, name in ((0, "spatial"), (1, "motion")):
        acc = np.mean(S_test[:, stream].argmax(1) == y_test)
        row("single stream", name, acc, name, TABLE_II_III, "II/III")
    row("late fusion", "avg (s+m)",
        LateFusion(method="avg").fit(S_train, y_train).score(S_test, y_test),
        "s+m", TABLE_II_III, "II/III, IV ava")
    for method in ("max", "multiply"):
        row("late fusion", method,
            LateFusion(method=method).fit(S_train, y_train).score(S_test, y_test),
            method, TABLE_IV, "IV")
    row("late fusion", "weighted (learned w)",
        LateFusion(method="weighted").fit(S_train, y_train).score(S_test, y_test))
    n_cca = min(len(classes), 8)
    row("late fusion", "CCA", CCAFusion(n_components=n_cca).fit(S_train, y_train)
        .score(S_test, y_test), "CCA", TABLE_IV, "IV")

    model = corrnet(args).fit(S_train, y_train)
    for fusion, name in (("none", "correlation"), ("avg", "avg(s,m)+corr"),
                         ("sum", "s+m+corr")):
        model.set_params(fusion=fusion)  # test-time only: no refit
        row("CorrNet", f"fusion={fusion} ({name})", model.score(S_test, y_test),
            name, TABLE_II_III, "II/III" + (", IV" if fusion == "sum" else ""))

    # Each candidate refits (GridSearchCV always does), although fusion and the
    # entropy gate act at test time only: keep the grid small.
    grid = ({"fusion": ["sum", "avg"]} if args.quick else
            {"fusion": ["sum", "avg"], "entropy_threshold": [1.0, None]})
    cv, groups = _common.folds(X_train, y_train, 2 if args.quick else 3, args.seed)
    search = GridSearchCV(corrnet(args), grid, cv=cv).fit(S_train, y_train, groups=groups)
    best = ", ".join(f"{k}={v}" for k, v in search.best_params_.items())
    row("CorrNet", f"GridSearchCV best ({best})", search.score(S_test, y_test))
    report.note(f"Streams: {'tiny random CNNs' if not args.backbone else args.backbone} on "
                f"{args.segments} segments, logistic regression per stream (out-of-fold "
                "scores on the training videos). CCA uses "
                f"{n_cca} components. Grid: {grid}, {cv.get_n_splits()} folds"
                f"{' over UCF101 groups' if groups is not None else ''}.")
    return report.finish()


if __name__ == "__main__":
    main()
