"""MultiStreamGRU: spatial, optical-flow and audio BiGRU embeddings, SVM fusion, anomalies.

Tkachenko, *Video classification using multistream 2D CNN + RNN with
adaptive sampling*: each stream (2-D CNN frame features, motion CNN on
stacked optical flow, VGGish on the soundtrack) trains two stacked
bidirectional GRUs; the video embeddings of the streams are concatenated
and classified by a linear SVM (Table II: 93.1% on UCF101; Table I: the
spatial stream alone, 78.34% with softmax, 79.40% with the SVM). Sec. VII
proposes an autoencoder on the embeddings for anomaly detection (no figure
reported).

:class:`actionzoo.MultiStreamGRU` is trained on the split's training
videos and scored on its test videos: with the SVM on all three streams'
embeddings (its own ``predict``) and with a linear SVM on each stream's
embedding alone. For the anomaly detector a second MultiStreamGRU is
trained without the last class (held out: it never reaches the
embedding network), :class:`actionzoo.EmbeddingAnomalyDetector` learns
the training embeddings of the other classes, and the test videos of the
held-out class are the anomalies: the ROC AUC of its scores is reported.

The backbones default to tiny random CNNs (no download, CPU friendly; the
paper uses ImageNet InceptionResNetV2, a motion CNN trained on flow and
AudioSet VGGish): ``--backbone InceptionResNetV2`` uses ImageNet weights
for the spatial stream, ``--vggish FILE`` converted VGGish weights for the
audio stream (``actionzoo weights convert-vggish``). The GRUs are narrow
(``--units``) and without dropout by default (with the paper's 0.5 the
tiny GRUs stayed at chance on the demo data; ``--paper-config`` restores
512 units, dropout 0.5, SGD and 100 epochs).

Run::

    python recipes/multi_stream_gru.py                    # demo dataset
    python recipes/multi_stream_gru.py --quick            # smoke run
    python recipes/multi_stream_gru.py --data UCF-101 --split 1 \\
        --backbone InceptionResNetV2 --vggish vggish.weights.h5 --cache features/ \\
        --output results/multi_stream_gru
    actionzoo train multi_stream_gru --quick
"""
import _common
import numpy as np

from actionzoo.argtypes import positive_int

STREAMS = ("spatial", "temporal", "audio")
# Paper figures (%), UCF101 top-1 (Tables I and II; split not stated). No HMDB51 figures.
PAPER = {"all": ({"ucf101": 93.1}, "II"), "spatial": ({"ucf101": 79.40}, "I (S. BiGRU + SVM)")}


def tiny_audio(seed):
    """A random dense layer over a 96x64 log-mel example (stands in for VGGish)."""
    import keras

    examples = keras.Input((96, 64))
    x = keras.layers.Flatten()(keras.layers.AveragePooling1D(8)(examples))
    return keras.Model(examples, keras.layers.Dense(
        16, kernel_initializer=keras.initializers.GlorotUniform(seed))(x))


def model(args, size):
    from actionzoo import MultiStreamGRU

    spatial = (dict(spatial_backbone=args.backbone, spatial_weights="imagenet") if args.backbone
               else dict(spatial_backbone=_common.tiny_cnn(3, size, seed=args.seed),
                         spatial_weights=None))
    audio = (dict(audio_backbone="vggish", audio_weights=args.vggish) if args.vggish
             else dict(audio_backbone=tiny_audio(args.seed + 20)))
    if args.paper_config:
        training = dict(units=512, dropout=0.5, max_length=180, epochs=100)
    else:
        training = dict(units=args.units or (4 if args.quick else 32), dropout=0.0,
                        max_length=12 if args.quick else 40, optimizer="adam",
                        learning_rate=1e-2 if args.quick else 3e-3,
                        epochs=args.epochs or (2 if args.quick else 30), batch_size=8)
    return MultiStreamGRU(temporal_backbone=_common.tiny_cnn(20, size, seed=args.seed + 10),
                          frame_size=size, cache_dir=args.cache, random_state=args.seed,
                          verbose=int(args.verbose), **spatial, **audio, **training)


def main(argv=None):
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score

    from actionzoo import EmbeddingAnomalyDetector

    parser = _common.add_backbone_args(_common.make_parser(__doc__))
    parser.add_argument("--vggish", metavar="FILE", help="VGGish weights (.weights.h5 from "
                        "`actionzoo weights convert-vggish`, or .npz) for the audio stream")
    parser.add_argument("--units", type=positive_int, help="GRU units (default: 4 quick, else 32)")
    parser.add_argument("--epochs", type=positive_int, help="default: 2 quick, else 30")
    parser.add_argument("--paper-config", action="store_true",
                        help="512-unit BiGRUs, dropout 0.5, SGD, 100 epochs (slow)")
    args = parser.parse_args(argv)
    X_train, y_train, X_test, y_test, classes = _common.load_data(args)
    size = _common.frame_size(args)
    report = _common.Report(
        "Tkachenko: multi-stream BiGRU embeddings, SVM fusion and anomaly detection",
        "UCF101 top-1, Tables I and II (no HMDB51 or anomaly figures in the paper)", args)

    def row(experiment, setting, measured, key=None, metric="top-1"):
        paper, table = PAPER.get(key, ({}, None))
        report.add(experiment, setting, measured, paper=paper.get(args.dataset), table=table,
                   metric=metric)

    est = model(args, size).fit(X_train, y_train)
    E_train, E_test = est.transform(X_train), est.transform(X_test)
    start = 0
    for stream in STREAMS:
        width = est.embedding_dims_[stream]
        part = slice(start, start + width)
        start += width
        svm = clone(est.fusion).fit(E_train[:, part], y_train)
        row("single stream + SVM", f"{stream} BiGRU embedding",
            np.mean(svm.predict(E_test[:, part]) == y_test), stream)
    row("multi-stream + SVM", " + ".join(STREAMS), est.score(X_test, y_test), "all")

    held_out = len(classes) - 1
    normal = y_train != held_out
    embedder = model(args, size).fit(X_train[normal], y_train[normal])
    detector = EmbeddingAnomalyDetector(
        encoding_dim=4 if args.quick else 16, hidden_units=(32,), learning_rate=1e-2,
        epochs=20 if args.quick else 100, batch_size=32, random_state=args.seed)
    detector.fit(embedder.transform(X_train[normal]))
    scores = detector.score_samples(embedder.transform(X_test))
    auc = roc_auc_score(y_test != held_out, scores)  # higher score = more normal
    row("anomaly detection", f"autoencoder on embeddings, '{classes[held_out]}' held out", auc,
        metric="ROC AUC")
    report.note(f"Anomalies: the {int(np.sum(y_test == held_out))} test videos of the held-out "
                f"class among {len(y_test)}; the embedding network and the autoencoder never "
                "saw that class. Backbones: "
                f"{args.backbone or 'tiny random CNN'} (spatial), tiny random CNN (flow), "
                f"{'VGGish ' + args.vggish if args.vggish else 'tiny random dense'} (audio).")
    return report.finish()


if __name__ == "__main__":
    main()
