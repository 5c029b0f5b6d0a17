"""MultiStreamGRU: more streams, and the audio stream, help (Tkachenko).

Claim: the spatial, temporal and audio streams together classify better than
fewer streams (Table II, UCF101: the three-stream GRU model 93.1% against 88.0%
for the two-stream (spatial + temporal) fusion of Simonyan & Zisserman; the
paper reports no ablation of its own model without audio).

Ours: the 10-class demo data (3 groups x 4 clips, 40 held-out videos; about
60% of the videos carry a soundtrack, and the three sound classes are the ones
whose soundtrack tells the class), small random backbones, 16-unit GRUs. Per
seed: held-out accuracy with the spatial stream, spatial + temporal, and all
three; and on the held-out sound-class videos that have audio, the accuracy
with and without the audio stream.

    python experiments/multi_stream_gru.py              # demo scale, 3 seeds, CPU: ~50 min a seed
    python experiments/multi_stream_gru.py --quick      # the test suite's smoke run
    python experiments/multi_stream_gru.py --scale paper --device gpu
        # the estimator's default backbones, the paper's (ImageNet InceptionResNetV2
        # frames, downloaded by Keras once; motion CNN on 10-flow stacks; VGGish
        # audio, its weights as in docs/weights.md) at 224 px, 512-unit GRUs;
        # multiply-adds and expected GPU time: the "Running at paper scale"
        # table of docs/reproduction.md (experiments/paper_scale.py)
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from experiments import _report  # noqa: E402

STREAMS = [("spatial",), ("spatial", "temporal"), ("spatial", "temporal", "audio")]
SCALES = {
    "quick": dict(data=dict(num_classes=4, groups=3, clips_per_group=1, num_frames=(20, 30)),
                  width=4, units=4, max_length=8, epochs=1, frame_size=32, paper=False),
    "demo": dict(data=dict(num_classes=10, groups=3, clips_per_group=4, num_frames=(40, 60)),
                 width=16, units=16, max_length=24, epochs=15, frame_size=32, paper=False),
    "paper": dict(data=dict(num_classes=10, groups=3, clips_per_group=4, num_frames=(40, 60),
                            width=320, height=240),
                  width=None, units=512, max_length=24, epochs=15, frame_size=224, paper=True),
}


def estimator(scale, streams, seed, cache_dir):
    from actionzoo import MultiStreamGRU
    from tests.estimators.demo_videos import tiny_audio_backbone, tiny_image_backbone

    if scale["paper"]:
        backbones = {}  # the estimator's defaults are the paper's backbones
    else:
        w = scale["width"]
        backbones = dict(spatial_backbone=tiny_image_backbone(3, width=w), spatial_weights=None,
                         temporal_backbone=tiny_image_backbone(20, width=w),
                         audio_backbone=tiny_audio_backbone(width=w))
    return MultiStreamGRU(streams=streams, frame_size=scale["frame_size"],
                          max_length=scale["max_length"], units=scale["units"],
                          epochs=scale["epochs"], batch_size=16, optimizer="adam",
                          learning_rate=1e-2, dropout=0.0, random_state=seed,
                          cache_dir=cache_dir, **backbones)


def main(argv=None):
    p = _report.parser(__doc__.splitlines()[0])
    p.add_argument("--scale", choices=("demo", "paper"), default="demo",
                   help="demo: small random backbones, 32 px (CPU); paper: the paper's "
                        "backbones at 224 px (GPU)")
    args = _report.parse(p, argv)
    from actionzoo.data.synthetic import SOUND_CLASSES
    from tests.estimators.demo_videos import demo_videos

    scale = SCALES["quick" if args.quick else args.scale]
    rows = []
    with tempfile.TemporaryDirectory(prefix="actionzoo-msgru-") as root:
        paths, labels, has_audio, test = demo_videos(os.path.join(root, "demo"),
                                                     **scale["data"])
        sound = np.isin(labels[test], list(SOUND_CLASSES)) & has_audio[test]
        for seed in range(args.seeds):
            correct = {}
            for streams in STREAMS:
                est = estimator(scale, streams, seed, os.path.join(root, "cache"))
                predicted = est.fit(paths[~test], labels[~test]).predict(paths[test])
                correct[streams] = predicted == labels[test]
            on_sound = [float(correct[s][sound].mean()) if sound.any() else float("nan")
                        for s in (STREAMS[2], STREAMS[1])]  # with audio, without
            rows.append((seed, *(float(correct[s].mean()) for s in STREAMS), *on_sound))
    rows.append(("mean", *(float(np.mean([r[i] for r in rows])) for i in range(1, 6))))
    table = _report.markdown_table(
        ["seed", "spatial", "spatial + temporal", "all three",
         f"sound-class videos with audio ({int(sound.sum())}): with audio", "without audio"],
        rows)
    _report.publish(args, "multi_stream_gru", table,
                    reading(rows[:-1], int(test.sum()), 1 / len(np.unique(labels))))


def reading(seeds, n_test, chance):
    """Verdict on "all three streams beat spatial + temporal" (the paper's comparison).

    :func:`_report.verdict` on the seeds' accuracies with all three streams
    against spatial + temporal (one test video's share of the accuracy counts as
    no difference); then how often the audio stream helped the sound classes.
    """
    three, two = [r[3] for r in seeds], [r[2] for r in seeds]
    word = _report.verdict(three, two, resolution=1 / n_test)
    more = sum(a > b for a, b in zip(three, two, strict=True))
    audio = sum(r[4] > r[5] for r in seeds)
    return (f"{word}: all three streams above spatial + temporal in {more}/{len(seeds)} seeds "
            f"({np.mean(three):.3f} vs {np.mean(two):.3f} held-out accuracy, chance "
            f"{chance:.2f}; paper: 93.1% with three streams vs 88.0% for a two-stream model), "
            f"and the audio stream helps the sound-class videos that have audio in "
            f"{audio}/{len(seeds)}")


if __name__ == "__main__":
    main()
