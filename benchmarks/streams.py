"""Per-stream feature extraction and recurrent training throughput on the demo dataset.

Writes a small synthetic demo dataset (real encoded .avi files with audio
tracks), then times, without any cache:

* feature extraction of each MultiStreamGRU stream in videos/s -- spatial
  (frame backbone), temporal (flow stacks through the motion network) and
  audio (VGGish on log-mel) -- including decoding, the optical flow that the
  adaptive sampler needs and the backbone forward passes;
* training of the per-stream recurrent classifier (two stacked BiGRU by
  default) in sequences/s over one epoch, eager and compiled (the
  estimators always train compiled).

Backbones run with random weights (the figures do not depend on the values).

    python benchmarks/streams.py                          # paper networks, 160 px
    python benchmarks/streams.py --spatial MobileNetV2 --size 112 --units 128
"""
import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from actionzoo import MultiStreamGRU  # noqa: E402
from actionzoo.data import make_synthetic_dataset  # noqa: E402
from actionzoo.estimators.multi_stream_gru import pad_sequences  # noqa: E402
from actionzoo.models import sequence_classifier  # noqa: E402


def extraction(paths, stream, args):
    est = MultiStreamGRU(streams=(stream,), spatial_backbone=args.spatial, spatial_weights=None,
                         temporal_backbone=args.temporal, frame_size=args.size,
                         max_length=args.max_length, flow_method=args.flow_method)
    est._build_backbones(0)
    est._sequences(paths[:1])  # warm-up: first calls build the backend kernels
    start = time.perf_counter()
    sequences = est._sequences(paths)[stream]
    elapsed = time.perf_counter() - start
    return len(paths) / elapsed, sequences


def training(sequences, n_classes, args, eager):
    x = pad_sequences(sequences, sequences[0].shape[-1])
    y = np.arange(len(x)) % n_classes
    keras.utils.set_random_seed(0)
    model = sequence_classifier(x.shape[-1], n_classes, units=args.units, layers=args.layers)
    model.compile(optimizer=keras.optimizers.SGD(1e-2, momentum=0.9, nesterov=True),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=eager)
    model.fit(x, y, batch_size=args.batch_size, epochs=1, verbose=0)  # warm-up / trace
    start = time.perf_counter()
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    return args.epochs * len(x) / (time.perf_counter() - start), x.shape


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--clips", type=int, default=2, help="clips per group (3 groups)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--size", type=int, default=160, help="backbone input side")
    parser.add_argument("--spatial", default="InceptionResNetV2")
    parser.add_argument("--temporal", default="motion_cnn")
    parser.add_argument("--flow-method", default="auto")
    parser.add_argument("--max-length", type=int, default=180)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--streams", default="spatial,temporal,audio")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as root:
        info = make_synthetic_dataset(root, num_classes=args.classes, groups=3,
                                      clips_per_group=args.clips, width=args.width,
                                      height=args.height, verbose=0)
        paths = np.array([os.path.join(root, p) for p in info["paths"]], dtype=object)
        frames = [int(n) for n in (40, 60)]
        print(f"demo dataset: {len(paths)} videos {args.width}x{args.height}, {frames[0]}-"
              f"{frames[1]} frames at 25 fps, {sum(info['has_audio'])} with audio; "
              f"backbone input {args.size}px; {os.cpu_count()} CPUs")
        print(f"{'stream':10s} {'backbone':18s} {'extract videos/s':>17s} {'seq shape':>16s} "
              f"{'GRU train seq/s eager':>22s} {'compiled':>9s}")
        for stream in args.streams.split(","):
            backbone = {"spatial": args.spatial, "temporal": args.temporal,
                        "audio": "vggish"}[stream]
            rate, sequences = extraction(paths, stream, args)
            eager, shape = training(sequences, args.classes, args, eager=True)
            compiled, _ = training(sequences, args.classes, args, eager=False)
            print(f"{stream:10s} {backbone:18s} {rate:17.2f} {str(shape):>16s} "
                  f"{eager:22.1f} {compiled:9.1f}", flush=True)


if __name__ == "__main__":
    main()
