"""Every script in experiments/ runs end to end with --quick and writes its table.

The --quick runs use tiny data and models (seconds of training each); their
tables go to a temporary page, and docs/reproduction.md must stay untouched.
"""
import glob
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the scripts that test a claim; paper_scale.py costs them (its own tests are below)
SCRIPTS = sorted(p for p in glob.glob(os.path.join(ROOT, "experiments", "*.py"))
                 if not os.path.basename(p).startswith("_")
                 and os.path.basename(p) != "paper_scale.py")


def torchvision_r2plus1d_checkpoint(directory):
    """A randomly initialised torchvision R(2+1)D-18 state dict, saved by torch (126 MB)."""
    import torch

    from tests.convert.torch_video_resnet import VideoResNet

    torch.manual_seed(0)
    path = directory / "r2plus1d_18-random.pth"
    torch.save(VideoResNet("r2plus1d_18").state_dict(), path)
    return path


def quick_options(script, directory):
    """Options a script's quick run needs besides --quick --seeds 1 --doc."""
    if os.path.basename(script) == "corrnet_pretrained.py":  # starts from a checkpoint file
        return ["--checkpoint", str(torchvision_r2plus1d_checkpoint(directory))]
    if os.path.basename(script) == "correlation_net.py":  # both correlations, side by side
        return ["--variants", "corrnet", "corrnet_raw"]
    return []


_QUICK_RUNS = {}


@pytest.fixture
def quick_run(tmp_path_factory):
    """Run a script with --quick --seeds 1 once per test session, on a page of its own.

    Returns ``(completed process, page text)``; the page starts with hand-written text.
    """
    def run(script):
        if script not in _QUICK_RUNS:
            directory = tmp_path_factory.mktemp(os.path.basename(script)[:-3])
            page = directory / "reproduction.md"
            page.write_text("# page\n\nhand-written text stays\n")
            done = subprocess.run(
                [sys.executable, script, "--quick", "--seeds", "1", "--doc", str(page)]
                + quick_options(script, directory),
                cwd=directory, capture_output=True, text=True, timeout=600)
            _QUICK_RUNS[script] = done, page.read_text()
        return _QUICK_RUNS[script]
    return run


def test_every_paper_claim_has_a_script():
    names = {os.path.basename(p) for p in SCRIPTS}
    assert {"corrnet_fusion.py", "multi_stream_gru.py", "stc_net.py", "stfn.py"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_quick_run_writes_its_table_between_markers(script, quick_run):
    doc = os.path.join(ROOT, "docs", "reproduction.md")
    before = open(doc).read()
    run, text = quick_run(script)
    assert run.returncode == 0, run.stderr[-3000:]
    assert text.startswith("# page\n\nhand-written text stays\n")
    blocks = re.findall(r"<!-- results:(\w+) start -->\n(.*?)\n<!-- results:\1 end -->", text,
                        re.S)
    assert len(blocks) == 1, text
    key, block = blocks[0]
    assert key == os.path.basename(script)[:-3], "the section is named after the script"
    assert f"<!-- results:{key} start -->" in before, f"docs/reproduction.md has no {key} section"
    assert re.search(r"^\|.*\|\n\|(---\|)+\n(\|.*\|\n)+", block, re.M), block
    accuracies = [float(v) for v in re.findall(r"\| (0\.\d{3}|1\.000)(?= )", block)]
    assert accuracies and all(0.0 <= a <= 1.0 for a in accuracies)
    assert f"`python experiments/{os.path.basename(script)} --quick --seeds 1" in block
    assert "1 seed(s)" in block and "commit " in block
    assert re.search(r"^Reading: (reproduced|on par|not shown)[:;] \S", block, re.M), \
        "the reading starts with the verdict computed from the numbers"
    assert open(doc).read() == before, "a --quick run must not touch docs/reproduction.md"


def test_quick_defaults_to_a_temporary_page_and_seeds_must_be_positive(tmp_path):
    sys.path.insert(0, ROOT)
    from experiments import _report

    args = _report.parse(_report.parser("x"), ["--quick"])
    assert args.doc != os.path.join(ROOT, "docs", "reproduction.md") and args.seeds == 3
    with pytest.raises(SystemExit):
        _report.parse(_report.parser("x"), ["--seeds", "0"])
    page = tmp_path / "p.md"
    _report.write_block(str(page), "k", "first")
    _report.write_block(str(page), "k", "second")
    assert page.read_text() == "<!-- results:k start -->\nsecond\n<!-- results:k end -->\n"


def test_verdict_weighs_the_difference_against_the_seed_spread():
    sys.path.insert(0, ROOT)
    from experiments._report import verdict

    assert verdict([0.80, 0.82, 0.81], [0.70, 0.71, 0.69]) == "reproduced"
    assert verdict([0.70, 0.71, 0.69], [0.80, 0.82, 0.81]) == "not shown"
    # a gap smaller than the seeds' spread, or than the resolution, is no difference
    assert verdict([0.60, 0.90, 0.75], [0.70, 0.72, 0.71]) == "on par"
    assert verdict([0.81], 0.80, resolution=1 / 40) == "on par"
    assert verdict([0.85], 0.80, resolution=1 / 40) == "reproduced"
    # ahead on average by more than the spread, but behind in most seeds
    assert verdict([0.9, 0.9, 0.699, 0.699, 0.699], 0.7) == "on par"


def test_correlation_net_puts_the_paper_beside_ours_for_each_variant(quick_run):
    run, block = quick_run(os.path.join(ROOT, "experiments", "correlation_net.py"))
    assert run.returncode == 0, run.stderr[-3000:]
    # paper Table 3 (L=16), seed, test and time-reversed accuracy, loss at epoch 1, seconds
    figures = r" \| 0 \| (?:0\.\d{3}|1\.000) \| (?:0\.\d{3}|1\.000) \| (\d+\.\d{2}) \| \d+ \|"
    corrnet = re.search(r"\| CorrNet-26 \| 73\.4 / 38\.5 / 27\.0" + figures, block)
    raw = re.search(r"\| CorrNet-26, raw correlation \| - \(raw dot product; paper's is "
                    r"73\.4 / 38\.5 / 27\.0\)" + figures, block)
    assert corrnet and raw, block
    assert all(0 < float(m.group(1)) < 100 for m in (corrnet, raw)), "a finite training loss"
    assert "16 training / 8 test videos; chance 0.25" in block
    assert "Reading: not shown: this run has no CorrNet-26 (normalised) and baseline" in block


def test_verdict_compares_the_mean_difference_with_the_seed_to_seed_spread():
    sys.path.insert(0, ROOT)
    from experiments import _report, correlation_net

    assert _report.verdict([0.9, 0.8], [0.5, 0.6]) == "reproduced"
    assert _report.verdict([0.5, 0.6], [0.9, 0.8]) == "not shown"
    assert _report.verdict([0.5, 0.7], [0.6, 0.6]) == "on par"  # no mean difference
    assert _report.verdict([0.31], [0.30]) == "reproduced"  # one seed: no spread
    rows = [dict(variant=v, seed=s, test=a) for v, accs in
            (("corrnet", (0.9, 0.8)), ("r2plus1d", (0.5, 0.6)), ("r2d", (0.85, 0.82)))
            for s, a in enumerate(accs)]
    assert correlation_net.claim_verdict(rows).startswith("on par; ")
    rows[-1]["test"] = rows[-2]["test"] = 0.3
    assert correlation_net.claim_verdict(rows).startswith("reproduced; ")
    rows[0]["test"] = rows[1]["test"] = 0.1
    assert correlation_net.claim_verdict(rows).startswith("not shown; ")
    assert correlation_net.claim_verdict(rows[:2]).startswith("not shown: ")


def test_corrnet_pretrained_without_the_weights_offline_names_the_file_and_url(tmp_path):
    page = tmp_path / "reproduction.md"
    script = os.path.join(ROOT, "experiments", "corrnet_pretrained.py")
    env = dict(os.environ, ACTIONZOO_OFFLINE="1", ACTIONZOO_HOME=str(tmp_path / "home"))
    run = subprocess.run([sys.executable, script, "--seeds", "1", "--doc", str(page)], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stderr[-3000:]
    message = run.stderr.strip().splitlines()
    assert message[-2].startswith("corrnet_pretrained: ACTIONZOO_OFFLINE is set"), message
    assert "https://download.pytorch.org/models/r2plus1d_18-91a641e6.pth" in message[-2]
    place = f"place that file in {tmp_path / 'home' / 'sources'}, or pass --checkpoint PATH"
    assert "r2plus1d_18-91a641e6.pth" in message[-1] and place in message[-1], message
    assert not page.exists(), "nothing is written without the weights"


def test_corrnet_pretrained_rejects_a_file_that_is_no_checkpoint(tmp_path):
    bad = tmp_path / "r2plus1d_18.pth"
    bad.write_bytes(b"not a checkpoint")
    script = os.path.join(ROOT, "experiments", "corrnet_pretrained.py")
    run = subprocess.run([sys.executable, script, "--quick", "--seeds", "1", "--checkpoint",
                          str(bad), "--doc", str(tmp_path / "page.md")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1
    assert f"corrnet_pretrained: --checkpoint {bad}: " in run.stderr, run.stderr[-3000:]
    assert "Traceback" not in run.stderr


def test_corrnet_pretrained_table_and_reading():
    """Paper's from-scratch counterpart beside each variant, means, and the verdict word."""
    sys.path.insert(0, ROOT)
    from experiments import corrnet_pretrained

    rows = [dict(variant=v, seed=s, test=a, reversed=0.1, loss=[1.4, 1.0, 0.7, 0.5, 0.3],
                 seconds=12.0)
            for s, (plain, corr) in enumerate(((0.80, 0.90), (0.70, 0.85)))
            for v, a in (("plain", plain), ("correlation", corr))]
    table = corrnet_pretrained.table(rows, "registry entry r2plus1d_18.kinetics400")
    assert "| model (backbone: registry entry r2plus1d_18.kinetics400) |" in table
    assert "training loss, epochs 1 / 2 / 4 / 5 |" in table
    assert ("| R(2+1)D-18 + correlation blocks | CorrNet-26 from scratch: 73.4 / 38.5 / 27.0 | "
            "1 | 0.850 | 0.100 | 1.40 / 1.00 / 0.50 / 0.30 | 12 |") in table
    assert ("| R(2+1)D-18 | R(2+1)D-26 from scratch: 69.9 / 35.4 / 22.7 | mean | 0.750 | "
            "0.100 |  |  |") in table
    reading = corrnet_pretrained.reading(rows, "16 training / 8 test videos", "x")
    assert reading.startswith("reproduced; the correlation blocks raise"), reading
    assert "0.875 with the blocks vs 0.750 without, higher in 2/2 seeds" in reading
    assert "it has no pretrained-backbone ablation" in reading
    for row in rows:
        row["test"] = 0.5
    assert corrnet_pretrained.reading(rows, "", "x").startswith("on par; ")


def test_correlation_net_overflow_measurement():
    """The raw correlation overflows in inference mode after three lr-0.1 steps; the
    normalised one stays at its filter's scale (the table the model card quotes)."""
    sys.path.insert(0, ROOT)
    from experiments import correlation_net

    rows = correlation_net.overflow()
    inference = {(variant, layer): b for variant, _, layer, _, b in rows}
    assert inference[("corrnet_raw", "corr2_correlation")] > 1e6
    assert inference[("corrnet_raw", "corr4_correlation")] == float("inf")
    assert all(inference[("corrnet", f"corr{s}_correlation")] < 10 for s in (2, 3, 4))
    assert {variant for variant, *_ in rows} == {"r2d", "corrnet_raw", "corrnet"}


def test_paper_scale_costs_a_fit_from_the_scripts_settings():
    sys.path.insert(0, ROOT)
    from actionzoo.flops import count_flops
    from actionzoo.models.corrnet_fusion import corrnet_fusion_mlp
    from experiments import corrnet_fusion, paper_scale

    macs = count_flops(corrnet_fusion_mlp(4, 4, hidden_units=(64, 64)))
    assert macs == 4 * 4 + 16 * 64 + 64 * 64 + 64 * 4  # outer product, then the MLP
    cost = paper_scale.corrnet_fusion(quick=False)
    samples, epochs = corrnet_fusion.PAPER_SAMPLES, corrnet_fusion.EPOCHS
    assert len(cost.fits) == 2 and cost.video is None  # the two score regimes, no video
    fit = cost.fits[0]
    assert (fit.macs, fit.trained, fit.evaluated, fit.steps) == (
        macs, samples * epochs, 2 * samples, -(-samples // 32) * epochs)
    # 2 FLOPs a multiply-add; training 3 forward passes, evaluation 1
    assert fit.flops == 2 * macs * (3 * samples * epochs + 2 * samples)


def test_paper_scale_counts_each_scripts_own_backbones():
    sys.path.insert(0, ROOT)
    from actionzoo.flops import count_flops
    from actionzoo.models import frame_embedding_model
    from experiments import multi_stream_gru, paper_scale
    from tests.estimators.demo_videos import tiny_image_backbone

    paper_scale.stfn(quick=True)  # its tiny backbones are another width
    cost = paper_scale.multi_stream_gru(quick=True)
    width = multi_stream_gru.SCALES["quick"]["width"]
    spatial = count_flops(frame_embedding_model(tiny_image_backbone(3, width=width)))
    assert cost.fits[0].network == "spatial backbone" and cost.fits[0].macs == spatial
    # the three stream sets train the spatial GRU three times, temporal twice, audio once
    gru = [f.network for f in cost.fits if f.network.endswith("GRU")]
    assert gru == ["spatial GRU"] * 3 + ["temporal GRU"] * 2 + ["audio GRU"]


def test_paper_scale_quick_table_has_every_experiment(tmp_path):
    sys.path.insert(0, ROOT)
    from experiments import paper_scale

    page = tmp_path / "reproduction.md"
    paper_scale.main(["--quick", "--seeds", "2", "--doc", str(page), "--tflops", "1e-6",
                      "--step-ms", "1000", "--workers", "1"])
    block = page.read_text()
    rows = re.findall(r"^\| (\w+) \| `python experiments/(\w+)\.py --quick` \| (.+?) \| "
                      r"([\d.e+]+) \| ([\d,]+) \| ([\d.]+) (s|min|h) \| (.+?) \|$", block, re.M)
    assert [r[0] for r in rows] == list(paper_scale.EXPERIMENTS), block
    for name, script, _, flops, steps, time_, unit, cpu in rows:
        assert script == name
        seconds = float(time_) * {"s": 1, "min": 60, "h": 3600}[unit]
        # at 1 MFLOP/s and a second a step, the time is the FLOPs in millions plus the steps
        expected = float(flops) / 1e6 + int(steps.replace(",", ""))
        assert abs(seconds - expected) <= 0.06 * expected, (name, seconds, expected)
        assert (cpu == "- (no video)") == (name == "corrnet_fusion")
    assert "Assumptions: estimates, not measurements" in block and "2 seed(s)" in block
    doc = open(os.path.join(ROOT, "docs", "reproduction.md")).read()
    assert "<!-- results:paper_scale start -->" in doc


def test_stc_net_teacher_is_the_imagenet_efficientnet_with_the_registry_preprocessing():
    """The knowledge-transfer experiment's 2D teacher is the converted ImageNet network,
    without its classifier, and its input scaling is the registry entry's."""
    sys.path.insert(0, ROOT)
    from actionzoo import weights
    from actionzoo.models.efficientnet_lite import efficientnet_lite0
    from experiments import stc_net

    teacher, preprocess = stc_net.imagenet_teacher(32)
    imagenet = efficientnet_lite0(weights="imagenet", input_shape=(32, 32, 3))
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 3, 32, 32, 3)).astype("float32")
    frames = preprocess(pixels)
    # the registry's Preprocessing of the ImageNet entry: (x - 127) / 128
    assert preprocess.__self__ == weights.pretrained_info(stc_net.TEACHER).preprocessing
    np.testing.assert_allclose(frames, (pixels - 127.0) / 128.0, rtol=1e-6, atol=1e-6)
    images = frames.reshape(6, 32, 32, 3)
    features = np.asarray(teacher(images))
    assert features.shape == (6, 1280) and np.abs(features).max() > 0
    pooled = keras.Model(imagenet.input, imagenet.get_layer("avg_pool").output)
    np.testing.assert_allclose(features, np.asarray(pooled(images)), rtol=1e-5, atol=1e-5)
    # the ImageNet classifier on the teacher's features gives the network's logits
    head = imagenet.get_layer("predictions")
    np.testing.assert_allclose(np.asarray(head(features)), np.asarray(imagenet(images)),
                               rtol=1e-4, atol=1e-4)
