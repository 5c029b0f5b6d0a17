"""The `actionzoo` command, in-process (main([...])) and as a subprocess for exit codes."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from actionzoo import weights
from actionzoo.cli import main
from actionzoo.data import make_synthetic_dataset
from actionzoo.flops import count_flops, count_params
from actionzoo.metrics import softmax
from actionzoo.models import resnet3d

pytestmark = pytest.mark.timeout(600)

DEMO = "corrnet26.demo"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Synthetic demo videos (3 classes x 3 groups) in the UCF101 layout."""
    root = tmp_path_factory.mktemp("cli-data") / "demo"
    return make_synthetic_dataset(root, num_classes=3, groups=3, clips_per_group=1, num_frames=20,
                                  width=64, height=48, n_jobs=1, verbose=0)


@pytest.fixture(autouse=True)
def _isolated_home(actionzoo_home, monkeypatch):
    monkeypatch.setenv("ACTIONZOO_OFFLINE", "1")  # the CLI tests never use the network
    for var in ("ACTIONZOO_WEIGHTS_URL", "ACTIONZOO_MANIFEST"):
        monkeypatch.delenv(var, raising=False)


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_everywhere(capsys):
    for argv in ([], ["weights"], ["weights", "list"], ["weights", "download"],
                 ["weights", "verify"], ["flops"], ["predict"], ["evaluate"], ["prepare"]):
        code, out, _ = _run(capsys, *argv, "--help")
        assert code == 0 and out.startswith("usage: actionzoo"), argv


def test_usage_errors_exit_2(capsys):
    assert _run(capsys, "nosuchcommand")[0] == 2
    code, _, err = _run(capsys, "predict", "x.avi")
    assert code == 2 and "--weights" in err
    code, _, err = _run(capsys, "predict", "x.avi", "--weights", DEMO, "--top-k", "0")
    assert code == 2 and "--top-k" in err
    code, _, err = _run(capsys, "flops", "correlation_net", "--arg", "depth")
    assert code == 2 and "KEY=VALUE" in err


def test_weights_list_and_verify(capsys):
    code, out, _ = _run(capsys, "weights", "list")
    assert code == 0 and DEMO in out and "shipped" in out
    code, out, _ = _run(capsys, "weights", "list", "corrnet*", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == [DEMO]
    assert rows[0]["size"] == os.path.getsize(weights.SHIPPED_DIR / f"{DEMO}.weights.h5")
    code, out, _ = _run(capsys, "weights", "verify", DEMO)
    assert code == 0 and weights.pretrained_info(DEMO).sha256 in out
    code, out, _ = _run(capsys, "weights", "download", DEMO, "-q")
    assert code == 0 and out.strip() == f"{DEMO}: {weights.SHIPPED_DIR / (DEMO + '.weights.h5')}"


def test_weights_errors_are_one_line(capsys, tmp_path):
    code, out, err = _run(capsys, "weights", "verify", "nope.demo")
    assert code == 1 and err.startswith("actionzoo: error:") and "nope.demo" in err
    assert len(err.strip().splitlines()) == 1
    bad = tmp_path / f"{DEMO}.weights.h5"
    bad.write_bytes(b"not weights")
    code, _, err = _run(capsys, "weights", "verify", str(bad))
    assert code == 1 and str(bad) in err and "size" in err


def test_flops_of_a_builder_and_a_registry_model(capsys):
    code, out, _ = _run(capsys, "flops", "resnet3d", "--arg", "depth=18", "--arg", "clip_length=4",
                        "--arg", "input_size=32", "--arg", "num_classes=5", "--arg", "width=0.25",
                        "--json")
    result = json.loads(out)
    model = resnet3d(depth=18, clip_length=4, input_size=32, num_classes=5, width=0.25)
    assert code == 0
    assert result["multiply_adds"] == count_flops(model) and result["params"] == count_params(model)
    assert result["input_shape"] == [[4, 32, 32, 3]]
    code, out, _ = _run(capsys, "flops", DEMO)
    assert code == 0 and "multiply-adds:" in out and "8x48x48x3" in out
    code, _, err = _run(capsys, "flops", "resnet3d", "--arg", "bogus=1")
    assert code == 2 and "bogus" in err
    code, _, err = _run(capsys, "flops", "not_a_model")
    assert code == 2 and "correlation_net" in err


def test_flops_reproduces_paper_table3_corrnet26(capsys):
    code, out, _ = _run(capsys, "flops", "correlation_net", "--arg", "depth=26", "--arg",
                        "clip_length=16", "--arg", "input_size=224", "--arg", "num_classes=400",
                        "--json")
    assert code == 0  # paper Table 3: 37.4 GFLOPs; tests/test_flops.py allows 5 %
    assert json.loads(out)["multiply_adds"] / 1e9 == pytest.approx(37.4, rel=0.05)


def test_predict_matches_the_model_and_sums_to_one(capsys, dataset):
    videos = [os.path.join(dataset["root"], p) for p in dataset["paths"][:2]]
    code, out, _ = _run(capsys, "predict", *videos, "--weights", DEMO, "--json", "--top-k", "10",
                        "-q")
    assert code == 0
    results = json.loads(out)
    info = weights.pretrained_info(DEMO)
    assert [r["video"] for r in results] == videos
    model = weights.load_pretrained(DEMO)
    loader = info.preprocessing.loader()
    for r, video in zip(results, videos):
        probs = [p["probability"] for p in r["predictions"]]
        assert sorted(probs, reverse=True) == probs
        assert sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert sorted(p["label"] for p in r["predictions"]) == sorted(info.classes)
        views = info.preprocessing.normalize(loader(video)["rgb"])
        expected = softmax(model.predict(views, verbose=0)).mean(0)
        best = int(expected.argmax())
        assert r["predictions"][0]["label"] == info.classes[best]
        assert probs[0] == pytest.approx(expected[best], abs=1e-4)
    code, out, _ = _run(capsys, "predict", videos[0], "--weights", DEMO, "-q")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0] == videos[0] and len(lines) == 6  # top-5 by default


def test_predict_with_the_shipped_stc_weights(capsys, dataset):
    name = "stc_resnet18.demo"
    video = os.path.join(dataset["root"], dataset["paths"][0])
    code, out, _ = _run(capsys, "predict", video, "--weights", name, "--json", "--top-k", "10",
                        "-q")
    assert code == 0
    (result,) = json.loads(out)
    info = weights.pretrained_info(name)
    views = info.preprocessing.normalize(info.preprocessing.loader()(video)["rgb"])
    expected = softmax(weights.load_pretrained(name).predict(views, verbose=0)).mean(0)
    got = {p["label"]: p["probability"] for p in result["predictions"]}
    np.testing.assert_allclose([got[c] for c in info.classes], expected, atol=1e-4)


def test_predict_errors(capsys, tmp_path):
    code, _, err = _run(capsys, "predict", str(tmp_path / "missing.avi"), "--weights", DEMO, "-q")
    assert code == 1 and "missing.avi" in err and len(err.strip().splitlines()) == 1
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"\0" * 1000)
    code, _, err = _run(capsys, "predict", str(broken), "--weights", DEMO, "-q")
    assert code == 1 and "broken.avi" in err
    code, _, err = _run(capsys, "predict", str(broken), "--weights", "nope.x", "-q")
    assert code == 1 and "nope.x" in err


def test_evaluate_writes_metrics_and_confusion_png(capsys, dataset, tmp_path):
    out_dir = tmp_path / "eval"
    code, out, _ = _run(capsys, "evaluate", dataset["root"], "--weights", DEMO, "--out",
                        str(out_dir), "--json", "-q")
    assert code == 0
    result = json.loads(out)
    assert result == json.loads((out_dir / "metrics.json").read_text())
    cm = np.array(result["confusion_matrix"])
    assert result["videos"] == 3 == cm.sum()  # split 1 holds out one group per class
    assert result["top1"] == pytest.approx(np.trace(cm) / cm.sum())
    assert result["top1"] <= result["top5"]
    recalls = [cm[c, c] / cm[c].sum() for c in range(cm.shape[0]) if cm[c].sum()]
    assert result["mean_class_accuracy"] == pytest.approx(np.mean(recalls))
    image = cv2.imread(str(out_dir / "confusion_matrix.png"))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100


def test_evaluate_rejects_unknown_classes(capsys, tmp_path):
    (tmp_path / "Juggling").mkdir()
    (tmp_path / "Juggling" / "a.avi").write_bytes(b"x")
    code, _, err = _run(capsys, "evaluate", str(tmp_path), "--dataset", "folder",
                        "--weights", DEMO, "-q")
    assert code == 1 and "Juggling" in err


def test_prepare_writes_shards(capsys, dataset, tmp_path):
    out_dir = tmp_path / "records"
    code, out, _ = _run(capsys, "prepare", dataset["root"], str(out_dir), "--subset", "train",
                        "--short-side", "32", "-q")
    assert code == 0
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["videos"] == 6 and manifest["modalities"] == ["rgb"]  # 2 train groups x 3
    assert all((out_dir / s).stat().st_size > 0 for s in manifest["shards"])
    assert json.loads((out_dir / "classes.json").read_text()) == dataset["classes"]
    code, _, err = _run(capsys, "prepare", dataset["root"], str(out_dir), "--modalities", "rgb,depth")
    assert code == 2 and "depth" in err
    code, _, err = _run(capsys, "prepare", str(tmp_path / "nowhere"), str(out_dir))
    assert code == 1 and "nowhere" in err


def test_folder_dataset_layout(capsys, dataset, tmp_path):
    out_dir = tmp_path / "records"
    code, out, _ = _run(capsys, "prepare", dataset["root"], str(out_dir), "--dataset", "folder",
                        "--short-side", "32", "-q")
    assert code == 0 and "wrote 9 videos" in out


def _subprocess(*argv):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "actionzoo.cli", *argv], capture_output=True,
                          text=True, timeout=300, env=env)


def test_exit_codes_as_a_subprocess(tmp_path):
    # each run imports TensorFlow (~10 s on a loaded 2-core machine); exit 0 is covered in-process
    usage = _subprocess("weights", "frobnicate")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    error = _subprocess("weights", "verify", str(tmp_path / "missing.h5"))
    assert error.returncode == 1 and "Traceback" not in error.stderr
    assert error.stderr.strip().splitlines()[-1].startswith("actionzoo: error:")
