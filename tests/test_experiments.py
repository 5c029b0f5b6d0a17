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
SCRIPTS = sorted(p for p in glob.glob(os.path.join(ROOT, "experiments", "*.py"))
                 if not os.path.basename(p).startswith("_"))


def test_every_paper_claim_has_a_script():
    names = {os.path.basename(p) for p in SCRIPTS}
    assert {"corrnet_fusion.py", "multi_stream_gru.py", "stc_net.py", "stfn.py"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_quick_run_writes_its_table_between_markers(script, tmp_path):
    page = tmp_path / "reproduction.md"
    page.write_text("# page\n\nhand-written text stays\n")
    doc = os.path.join(ROOT, "docs", "reproduction.md")
    before = open(doc).read()
    run = subprocess.run([sys.executable, script, "--quick", "--seeds", "1", "--doc", str(page)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    text = page.read_text()
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


def test_correlation_net_puts_the_paper_beside_ours_for_each_variant(tmp_path):
    page = tmp_path / "reproduction.md"
    script = os.path.join(ROOT, "experiments", "correlation_net.py")
    run = subprocess.run([sys.executable, script, "--quick", "--seeds", "1", "--doc", str(page),
                          "--variants", "corrnet", "corrnet_raw"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    block = page.read_text()
    # paper Table 3 (L=16), seed, test and time-reversed accuracy, loss at epoch 1, seconds
    figures = r" \| 0 \| (?:0\.\d{3}|1\.000) \| (?:0\.\d{3}|1\.000) \| (\d+\.\d{2}) \| \d+ \|"
    corrnet = re.search(r"\| CorrNet-26 \| 73\.4 / 38\.5 / 27\.0" + figures, block)
    raw = re.search(r"\| CorrNet-26, raw correlation \| - \(raw dot product; paper's is "
                    r"73\.4 / 38\.5 / 27\.0\)" + figures, block)
    assert corrnet and raw, block
    assert all(0 < float(m.group(1)) < 100 for m in (corrnet, raw)), "a finite training loss"
    assert "16 training / 8 test videos; chance 0.25" in block


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
