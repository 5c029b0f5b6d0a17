"""What each experiment costs at ``--scale paper``, and its expected time on one GPU.

Nothing here trains, and this machine has no GPU: the table is arithmetic on
multiply-adds counted by :func:`actionzoo.flops.count_flops` on each network
built at the experiment's own paper-scale settings (the ``SCALES`` of its
script, imported), and on an ASSUMED sustained GPU throughput. Per experiment:

- multiply-adds per clip: one forward pass of one sample (a clip, a frame or
  flow stack, a feature sequence) through each network it trains or extracts
  features with;
- FLOPs: 2 per multiply-add; a trained sample costs 3 forward passes (forward
  and backward), an evaluated or feature-extracted one costs 1; summed over
  samples x epochs x models x ``--seeds``;
- expected GPU time (estimate): the FLOPs at ``--tflops`` (assumed sustained
  throughput, default 25 TFLOP/s: about 5% of the dense TF32 tensor-core peak
  of an H100 or H200 SXM, 495 TFLOP/s, and 37% of their 67 TFLOP/s FP32 peak;
  conservative for Keras' 3D convolutions) plus ``--step-ms`` (assumed fixed
  cost of one optimizer step, default 5 ms);
- CPU input time (estimate): the videos the run decodes (whole videos, one
  per training clip and epoch; once per video where the features are cached)
  and the optical-flow frame pairs it computes on the CPU (every consecutive
  pair of each video once, an upper bound), times the per-core seconds of each
  measured on this machine when the script runs (a demo video of that size),
  over ``--workers`` parallel workers (assumed, default 8). Training is
  input-bound when this exceeds the GPU time.

``--seeds`` is the seeds each experiment runs (default 3, as theirs).

Not counted: the scikit-learn classifiers (logistic regressions, the linear
SVM), the 2D teacher's own pre-training and its forward passes in ``stc_net``,
reading the test
clips more than once.

    python experiments/paper_scale.py              # the table, into docs/reproduction.md
    python experiments/paper_scale.py --quick      # the experiments' --quick settings
                                                   # (seconds; to a temporary page)

To cost another experiment, add a function to ``EXPERIMENTS`` that reads its
script's settings and returns a :class:`Cost`.
"""
import dataclasses
import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments import _report  # noqa: E402

#: Seconds of sound in one VGGish example (0.96 s log-mel patches).
AUDIO_EXAMPLE_SECONDS = 0.96
#: Frame rate of the demo generator's videos.
FPS = 25


@dataclasses.dataclass
class Fit:
    """One network's work in one seed: samples trained and evaluated, optimizer steps."""

    network: str
    macs: int
    trained: int = 0
    evaluated: int = 0
    steps: int = 0

    @property
    def flops(self):
        return 2 * self.macs * (3 * self.trained + self.evaluated)


@dataclasses.dataclass
class Cost:
    """An experiment's command, its fits per seed, and the video it reads per seed."""

    command: str
    fits: list
    video: tuple = None  # (width, height, frames) of the videos read
    decoded: int = 0  # video decodes per seed
    flow_pairs: int = 0  # optical-flow frame pairs per run (cached across seeds)


_NETWORKS = {}


def network(key, build):
    """Multiply-adds and output width of the network ``build()`` returns, once per ``key``."""
    if key not in _NETWORKS:
        from actionzoo.flops import count_flops

        model = build()
        _NETWORKS[key] = count_flops(model), int(model.outputs[0].shape[-1])
    return _NETWORKS[key]


def split(videos_per_group, groups):
    """Training and test videos of split 1 (the test set is the first third of the groups)."""
    test = videos_per_group * (groups // 3)
    return videos_per_group * groups - test, test


def stc_net(quick):
    from actionzoo.models.resnet3d import resnet3d
    from experiments import stc_net as script

    scale = script.SCALES["quick" if quick else "paper"]
    m = scale["model"]
    train, test = split(4 * 2, scale["data"]["groups"])
    budgets, transfer = scale["budgets"], scale["transfer"]["epochs"]
    fits = []
    for stc, name in ((True, "STC-ResNet-18"), (False, "ResNet-18")):
        size, _ = network(("resnet3d", stc, m["clip_length"], m["crop_size"], m["width"]),
                          lambda stc=stc: resnet3d(depth=18, cardinality=1, stc=stc,
                                                   clip_length=m["clip_length"],
                                                   input_size=m["crop_size"], num_classes=4,
                                                   width=m["width"]))
        # STC: from scratch and after the transfer, one fit per fine-tuning budget;
        # no STC: the longest budget only
        for epochs in ([*budgets, *budgets] if stc else [max(budgets)]):
            fits.append(Fit(name, size, train * epochs, test * m["test_clips"],
                            math.ceil(train / m["batch_size"]) * epochs))
        if stc:  # the frame/clip correspondence pre-training (batch 16), student side; the
            # script runs it once for all seeds, counted here in every seed (an upper bound)
            fits.append(Fit(name + " (transfer)", size, train * transfer, 0,
                            math.ceil(train / 16) * transfer))
    width, height = scale["data"]["size"]
    epochs = 2 * sum(budgets) + max(budgets) + transfer
    return Cost("python experiments/stc_net.py --scale paper --device gpu", fits,
                (width, height, scale["data"]["num_frames"]),
                train * epochs + (2 * len(budgets) + 1) * test)


def correlation_net(quick):
    from actionzoo.models.correlation_net import correlation_net as build
    from experiments import correlation_net as script

    name = "quick" if quick else "paper"
    s, video = script.SCALES[name], script.VIDEO[name]
    groups = 3 if quick else 120  # the script's --quick default; the paper command's --groups
    train, test = split(4 * 2, groups)
    fits = []
    for variant in script.DEFAULT_VARIANTS:
        base = variant.replace("_raw", "")  # the raw correlation has the same multiply-adds
        size, _ = network(
            ("correlation_net", base, s["clip_length"], s["crop_size"], s["width"]),
            lambda base=base: build(26, variant=base, clip_length=s["clip_length"],
                                    input_size=s["crop_size"], num_classes=4,
                                    kernel_size=s["kernel_size"], dilation=s["dilation"],
                                    group_size=s["group_size"], width=s["width"]))
        fits.append(Fit(script.NAMES[variant], size, train * s["epochs"],
                        2 * test * s["test_clips"],  # test clips, then played backwards
                        math.ceil(train / s["batch_size"]) * s["epochs"]))
    decoded = len(script.DEFAULT_VARIANTS) * (train * s["epochs"] + test) + test
    return Cost("python experiments/correlation_net.py "
                "--scale paper --device gpu --groups 120",
                fits, (*video["size"], video["num_frames"]), decoded)


def backbones(scale, specs):
    """Each stream's backbone as the estimators build it: ``{kind: (multiply-adds, width)}``."""
    from actionzoo.estimators._stream_features import build_backbone

    return {kind: network(("backbone", kind, spec if isinstance(spec, str) else id(spec),
                           scale["frame_size"]),
                          lambda kind=kind, spec=spec: build_backbone(
                              kind, spec, None, scale["frame_size"], 10, 0)[0])
            for kind, spec in specs}


def videos_of(data):
    """Training and test videos of the demo data the stream experiments write."""
    per_group = data.get("num_classes", 10) * data.get("clips_per_group", 4)
    return split(per_group, data["groups"])


def frames_of(data):
    frames = data["num_frames"]
    return max(frames) if isinstance(frames, tuple) else frames


def stfn(quick):
    from actionzoo.flops import count_params
    from actionzoo.models import stfn as build
    from experiments import stfn as script
    from tests.estimators.demo_videos import tiny_image_backbone

    s = script.SCALES["quick" if quick else "paper"]
    if s["backbone"] is None:
        specs = [("rgb", tiny_image_backbone(3, width=s["width"], normalize=True)),
                 ("flow", tiny_image_backbone(20, width=s["width"], normalize=True))]
    else:
        specs = [("rgb", s["backbone"]), ("flow", s["backbone"])]
    streams = backbones(s, specs)
    train, test = videos_of(s["data"])
    fits = [Fit(f"{name} backbone", streams[kind][0], 0, (train + test) * s["n_segments"])
            for kind, name in (("rgb", "appearance"), ("flow", "motion"))]
    # STFN's own layers have no multiply-add rule; as every weight multiplies at most
    # once per segment, the parameters times the segments bound its multiply-adds
    model = build(s["n_segments"], streams["rgb"][1], s["data"].get("num_classes", 10))
    fits.append(Fit("STFN (at most)", count_params(model) * s["n_segments"],
                    train * s["epochs"], test, math.ceil(train / 8) * s["epochs"]))
    data = s["data"]
    return Cost("python experiments/stfn.py --scale paper --device gpu", fits,
                (data.get("width", 64), data.get("height", 48), frames_of(data)), 0,
                (train + test) * (frames_of(data) - 1))


def multi_stream_gru(quick):
    from actionzoo.models import sequence_classifier
    from experiments import multi_stream_gru as script
    from tests.estimators.demo_videos import tiny_audio_backbone, tiny_image_backbone

    s = script.SCALES["quick" if quick else "paper"]
    if s["paper"]:  # the estimator's defaults
        specs = [("rgb", "InceptionResNetV2"), ("flow", "motion_cnn"), ("audio", "vggish")]
    else:
        specs = [("rgb", tiny_image_backbone(3, width=s["width"])),
                 ("flow", tiny_image_backbone(20, width=s["width"])),
                 ("audio", tiny_audio_backbone(width=s["width"]))]
    streams = backbones(s, specs)
    train, test = videos_of(s["data"])
    frames = frames_of(s["data"])
    sounds = math.ceil(frames / FPS / AUDIO_EXAMPLE_SECONDS)
    lengths = {"rgb": s["max_length"], "flow": s["max_length"], "audio": sounds}
    names = {"rgb": "spatial", "flow": "temporal", "audio": "audio"}
    fits = [Fit(f"{names[kind]} backbone", streams[kind][0], 0, (train + test) * lengths[kind])
            for kind in lengths]
    n_classes = s["data"]["num_classes"]
    for kind in lengths:  # per seed, one sequence classifier per stream of each stream set
        count = sum(names[kind] in streams_set for streams_set in script.STREAMS)
        dim = streams[kind][1]
        size, _ = network(("gru", dim, lengths[kind], s["units"]),
                          lambda dim=dim, kind=kind: sequence_classifier(
                              dim, n_classes, units=s["units"], max_length=lengths[kind],
                              mask_value=None))  # masking changes no multiply-add
        fits += [Fit(f"{names[kind]} GRU", size, train * s["epochs"], train + test,
                     math.ceil(train / 16) * s["epochs"])] * count
    data = s["data"]
    return Cost("python experiments/multi_stream_gru.py --scale paper --device gpu", fits,
                (data.get("width", 64), data.get("height", 48), frames), 0,
                (train + test) * (frames - 1))


def corrnet_fusion(quick):
    from actionzoo.models.corrnet_fusion import corrnet_fusion_mlp
    from experiments import corrnet_fusion as script

    samples, epochs = script.QUICK if quick else (script.PAPER_SAMPLES, script.EPOCHS)
    size, _ = network(("corrnet_fusion", script.CLASSES, script.HIDDEN),
                      lambda: corrnet_fusion_mlp(script.CLASSES, script.CLASSES,
                                                 hidden_units=script.HIDDEN))
    fit = Fit("CorrNetFusion MLP", size, samples * epochs, 2 * samples,
              math.ceil(samples / script.BATCH) * epochs)
    return Cost(f"python experiments/corrnet_fusion.py --device gpu --samples {samples}",
                [fit] * len(script.PEAK))


#: Experiment name -> its cost function (the script's settings at paper or quick scale).
EXPERIMENTS = {"stc_net": stc_net, "correlation_net": correlation_net, "stfn": stfn,
               "multi_stream_gru": multi_stream_gru, "corrnet_fusion": corrnet_fusion}


def input_seconds(costs, quick):
    """Per-core seconds to decode one video of each size, and (seconds, size) of one flow
    pair (``None`` when no experiment computes flow)."""
    import numpy as np

    from actionzoo.data import SYNTHETIC_CLASSES, compute_flow, read_video, write_video
    from actionzoo.data.synthetic import render_video

    decode = {}
    flow = None
    with tempfile.TemporaryDirectory(prefix="actionzoo-scale-") as root:
        for cost in costs.values():
            if cost.video is None or cost.video in decode:
                continue
            width, height, frames = cost.video
            path = os.path.join(root, f"{width}x{height}x{frames}.avi")  # as the demo data
            write_video(path, render_video(SYNTHETIC_CLASSES[0], frames,
                                           np.random.default_rng(0), width=width,
                                           height=height, fps=FPS), FPS)
            video = read_video(path)  # once untimed: the decoder's first-use costs
            decode[cost.video] = fastest(lambda path=path: read_video(path), 1 if quick else 3)
            if cost.flow_pairs and flow is None:
                frames = video[:2 if quick else 4]
                seconds = fastest(lambda frames=frames: compute_flow(frames), 1)
                flow = seconds / (len(frames) - 1), (width, height)
    return decode, flow


def fastest(work, repeats):
    """The shortest of ``repeats`` timings of ``work()`` in seconds (the least disturbed
    by the other processes of a shared machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def multiply_adds(count):
    """A count with its G / M / k prefix, three significant digits."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= scale:
            return f"{count / scale:.3g} {prefix}"
    return str(count)


def duration(seconds):
    """Seconds as s, min or h, to about two significant digits."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        minutes = seconds / 60
        return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"
    return f"{seconds / 3600:.1f} h"


def table(costs, seeds, decode, flow, args):
    rows = []
    for name, cost in costs.items():
        per_clip = "; ".join(f"{n} {multiply_adds(m)}" for n, m in
                             dict.fromkeys((f.network, f.macs) for f in cost.fits))
        flops = seeds * sum(f.flops for f in cost.fits)
        steps = seeds * sum(f.steps for f in cost.fits)
        gpu = flops / (args.tflops * 1e12) + steps * args.step_ms / 1e3
        if cost.video is None:
            cpu = "- (no video)"
        else:
            work = seeds * cost.decoded * decode[cost.video] + cost.flow_pairs * (
                flow[0] if flow else 0.0)
            cpu = duration(work / args.workers)
        rows.append((name, f"`{cost.command}`", per_clip, f"{flops:.3g}", f"{steps:,}",
                     duration(gpu), cpu))
    return _report.markdown_table(
        ["experiment", "command", "multiply-adds per clip (forward)",
         f"FLOPs, {seeds} seed(s)", "optimizer steps",
         f"expected GPU time at {args.tflops:g} TFLOP/s + {args.step_ms:g} ms a step "
         "(estimate)", f"CPU input time at {args.workers} workers (estimate)"], rows)


def main(argv=None):
    p = _report.parser(__doc__.splitlines()[0])
    p.add_argument("--tflops", type=float, default=25.0,
                   help="assumed sustained GPU throughput in TFLOP/s (default 25: about 5%% "
                        "of an H100/H200 SXM's 495 TFLOP/s dense TF32 peak); an assumption, "
                        "not a measurement")
    p.add_argument("--step-ms", type=float, default=5.0,
                   help="assumed fixed cost of one optimizer step on the GPU (default 5 ms)")
    p.add_argument("--workers", type=int, default=8,
                   help="assumed parallel decode workers on the GPU host (default 8)")
    p.add_argument("--experiments", nargs="+", choices=sorted(EXPERIMENTS),
                   default=list(EXPERIMENTS))
    args = _report.parse(p, argv)
    for option in ("tflops", "step_ms", "workers"):
        if getattr(args, option) <= 0:
            p.error(f"--{option.replace('_', '-')} must be positive")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    costs = {name: EXPERIMENTS[name](args.quick) for name in args.experiments}
    if args.quick:  # the table then costs the experiments' own --quick runs
        for name, cost in costs.items():
            cost.command = f"python experiments/{name}.py --quick"
    decode, flow = input_seconds(costs, args.quick)
    timings = "; ".join(f"decoding a {w}x{h} video of {n} frames {s * 1e3:.0f} ms"
                        for (w, h, n), s in decode.items())
    if flow is not None:
        timings += (f"; optical flow {flow[0] * 1e3:.0f} ms a frame pair at "
                    f"{flow[1][0]}x{flow[1][1]} (the library's default method)")
    note = (f"estimates, not measurements (nothing here ran on a GPU). GPU time: the FLOPs "
            f"at an assumed sustained {args.tflops:g} TFLOP/s plus an assumed "
            f"{args.step_ms:g} ms per optimizer step; CPU input time: per-core timings "
            f"measured on the machine that wrote this table ({timings}) over an assumed "
            f"{args.workers} workers")
    _report.publish(args, "paper_scale", table(costs, args.seeds, decode, flow, args), note,
                    label="Assumptions")


if __name__ == "__main__":
    main()
