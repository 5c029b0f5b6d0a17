"""The `actionzoo` command, in-process (main([...])) and as a subprocess for exit codes."""
import json
import os
import re
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


BAD_VALUES = [  # (argv, option, message)
    (["evaluate", "root", "--weights", DEMO, "--limit", "-1"], "--limit", "positive integer"),
    (["evaluate", "root", "--weights", DEMO, "--limit", "0"], "--limit", "positive integer"),
    (["evaluate", "root", "--weights", DEMO, "--clips", "0"], "--clips", "positive integer"),
    (["evaluate", "root", "--weights", DEMO, "--split", "4"], "--split", "invalid choice"),
    (["predict", "v.avi", "--weights", DEMO, "--clips", "0"], "--clips", "positive integer"),
    (["predict", "v.avi", "--weights", DEMO, "--clips", "-3"], "--clips", "positive integer"),
    (["predict", "v.avi", "--weights", DEMO, "--clips", "two"], "--clips", "expects an integer"),
    (["predict", "v.avi", "--weights", DEMO, "--top-k", "0"], "--top-k", "positive integer"),
    (["predict", "v.avi", "--weights", DEMO, "--crops", "2"], "--crops", "invalid choice"),
    (["prepare", "root", "out", "--short-side", "-5"], "--short-side", "integer >= 0"),
    (["prepare", "root", "out", "--videos-per-shard", "0"], "--videos-per-shard",
     "positive integer"),
    (["prepare", "root", "out", "--modalities", "rgb,depth"], "--modalities", "rgb,flow,audio"),
    (["prepare", "root", "out", "--modalities", ","], "--modalities", "rgb,flow,audio"),
    (["demo", "--seed", "-1"], "--seed", "integer >= 0"),
    (["train", "stfn", "--epochs", "0"], "--epochs", "positive integer"),
    (["train", "stfn", "--segments", "3", "-2"], "--segments", "positive integer"),
    (["train", "stfn", "--frame-size", "0"], "--frame-size", "positive integer"),
    (["train", "stfn", "--seed", "-4"], "--seed", "integer >= 0"),
    (["train", "corrnet_fusion", "--segments", "0"], "--segments", "positive integer"),
    (["train", "corrnet_fusion", "--epochs", "-1"], "--epochs", "positive integer"),
    (["train", "correlation_net", "--epochs", "0"], "--epochs", "positive integer"),
    (["train", "correlation_net", "--width", "-0.5"], "--width", "finite number > 0"),
    (["train", "correlation_net", "--width", "nan"], "--width", "finite number > 0"),
    (["train", "stc_net", "--transfer-epochs", "0"], "--transfer-epochs", "positive integer"),
    (["train", "multi_stream_gru", "--units", "0"], "--units", "positive integer"),
    (["train", "multi_stream_gru", "--epochs", "0"], "--epochs", "positive integer"),
    (["train", "quickstart", "--n-train", "0"], "--n-train", "positive integer"),
    (["train", "quickstart", "--n-test", "-1"], "--n-test", "positive integer"),
    (["train", "quickstart", "--n-classes", "0"], "--n-classes", "positive integer"),
    (["train", "quickstart", "--epochs", "0"], "--epochs", "positive integer"),
    (["train", "quickstart", "--seed", "-1"], "--seed", "integer >= 0"),
    (["train", "train_demo_weights", "--batch-size", "0"], "--batch-size", "positive integer"),
    (["train", "train_demo_weights", "--epochs", "-2"], "--epochs", "positive integer"),
    (["train", "train_demo_weights", "--lr", "0"], "--lr", "finite number > 0"),
]


@pytest.mark.parametrize("argv, option, message", BAD_VALUES, ids=" ".join)
def test_bad_option_values_exit_2_with_the_commands_usage(capsys, argv, option, message):
    code, out, err = _run(capsys, *argv)
    command = " ".join(argv[:2] if argv[0] == "train" else argv[:1])
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert lines[0].startswith(f"usage: actionzoo {command} ")
    assert lines[-1].startswith(f"actionzoo {command}: error: argument {option}")
    assert message in lines[-1] and argv[-1] in lines[-1]


@pytest.mark.parametrize("argv", [["predict", "x.avi", "--weights", DEMO, "--bogus"],
                                  ["weights", "list", "--bogus"], ["demo", "extra"]])
def test_unknown_arguments_show_the_commands_usage(capsys, argv):
    code, _, err = _run(capsys, *argv)
    command = " ".join(argv[:2] if argv[0] == "weights" else argv[:1])
    lines = err.strip().splitlines()
    assert code == 2 and lines[0].startswith(f"usage: actionzoo {command} ")
    assert lines[-1] == f"actionzoo {command}: error: unrecognized arguments: {argv[-1]}"


def test_errors_found_after_parsing_show_the_commands_usage(capsys):
    code, _, err = _run(capsys, "flops", "not_a_model")
    lines = err.strip().splitlines()
    assert code == 2 and lines[0].startswith("usage: actionzoo flops ")
    assert lines[-1].startswith("actionzoo: error: unknown model 'not_a_model'")
    code, _, err = _run(capsys, "train", "no_such_recipe")
    lines = err.strip().splitlines()
    assert code == 2 and lines[0].startswith("usage: actionzoo train ")
    assert "no_such_recipe" in lines[-1]


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


def test_weights_list_has_a_header_and_whole_descriptions(capsys, monkeypatch):
    # The fixed columns take 85 characters with the registry's longest names; the
    # descriptions are wrapped into what the terminal leaves (at least 30).
    monkeypatch.setenv("COLUMNS", "130")
    code, out, _ = _run(capsys, "weights", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["NAME", "BUILDER", "CLASSES", "SIZE", "WHERE",
                                              "DESCRIPTION"]
    column = lines[0].index("DESCRIPTION")
    assert all(len(line) <= 130 for line in lines) and len(lines) > 3
    entries = {}  # name -> description lines
    for line in lines[1:]:
        if line[:column].strip():
            name = line.split()[0]
        entries.setdefault(name, []).append(line[column:])
    assert sorted(entries) == weights.list_pretrained()
    for name, text in entries.items():
        assert " ".join(text) == weights.pretrained_info(name).description  # cut only at spaces


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
    for r, video in zip(results, videos, strict=True):
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


def test_empty_files_and_directories_are_named_as_such(capsys, tmp_path):
    empty = tmp_path / "empty.avi"
    empty.touch()
    code, _, err = _run(capsys, "predict", str(empty), "--weights", DEMO, "-q")
    assert code == 1 and err == f"actionzoo: error: {empty}: empty (0 bytes), not a video\n"
    folder = tmp_path / "clips.avi"
    folder.mkdir()
    code, _, err = _run(capsys, "predict", str(folder), "--weights", DEMO, "-q")
    assert code == 1 and err == f"actionzoo: error: {folder}: a directory, not a video file\n"
    code, _, err = _run(capsys, "predict", str(tmp_path / "gone.avi"), "--weights", DEMO, "-q")
    assert code == 1 and err == f"actionzoo: error: {tmp_path / 'gone.avi'}: no such video file\n"


def test_file_errors_print_as_file_and_reason(capsys, tmp_path):
    # an OSError about a file (here from `train`'s recipe loader) is one "FILE: reason" line
    recipe = tmp_path / "reads_a_missing_file.py"
    recipe.write_text("def main(argv=None):\n    open(__file__ + '.d/x')\n")
    code, _, err = _run(capsys, "train", str(recipe))
    assert code == 1
    assert err == f"actionzoo: error: {recipe}.d/x: No such file or directory\n"


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


def test_evaluate_picture_names_the_accuracy(capsys, dataset, tmp_path, monkeypatch):
    from actionzoo import plots

    figures = []
    monkeypatch.setattr(plots, "save_confusion_matrix",  # the real one, its figure kept
                        lambda *a, _save=plots.save_confusion_matrix, **k: figures.append(
                            _save(*a, **k)) or figures[-1])
    code, out, _ = _run(capsys, "evaluate", dataset["root"], "--weights", DEMO, "--out",
                        str(tmp_path), "--json", "-q")
    result = json.loads(out)
    (figure,) = figures
    assert code == 0 and figure.text("xlabel") == "predicted" and figure.text("ylabel") == "true"
    assert figure.text("title") == (
        f"{DEMO} on {dataset['root']} (3 videos): top-1 accuracy {result['top1']:.3f}, "
        f"top-5 {result['top5']:.3f}, mean class accuracy {result['mean_class_accuracy']:.3f}")
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "confusion_matrix.png")),
                                  figure.image)


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
    code, _, err = _run(capsys, "prepare", str(tmp_path / "nowhere"), str(out_dir))
    assert code == 1 and "nowhere" in err


def test_folder_dataset_layout(capsys, dataset, tmp_path):
    out_dir = tmp_path / "records"
    code, out, _ = _run(capsys, "prepare", dataset["root"], str(out_dir), "--dataset", "folder",
                        "--short-side", "32", "-q")
    assert code == 0 and "wrote 9 videos" in out


def _subprocess(*argv, **env):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | env
    return subprocess.run([sys.executable, "-m", "actionzoo.cli", *argv], capture_output=True,
                          text=True, timeout=300, env=env)


#: The prefix of TensorFlow's C++ log lines ("2024-01-01 10:00:00.000000: E external/...").
TF_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] ", re.MULTILINE)


def test_tensorflow_log_lines_are_off_by_default_and_back_with_v(dataset):
    video = os.path.join(dataset["root"], dataset["paths"][0])
    quiet = _subprocess("predict", video, "--weights", DEMO, "-q")
    assert quiet.returncode == 0 and quiet.stdout.startswith(video)
    for line in ("Unable to register", "factory", "rendezvous", "OUT_OF_RANGE"):
        assert line not in quiet.stderr
    assert not TF_LOG_LINE.search(quiet.stderr), quiet.stderr
    verbose = _subprocess("-v", "flops", DEMO)
    assert verbose.returncode == 0 and TF_LOG_LINE.search(verbose.stderr)


@pytest.mark.parametrize("argv, user, level", [
    (["weights", "list"], None, "3"), (["-v", "weights", "list"], None, "0"),
    (["weights", "list"], "1", "1"), (["-v", "weights", "list"], "2", "2")])
def test_tensorflow_log_level_set_unless_the_user_set_it(capsys, monkeypatch, argv, user, level):
    if user is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", user)
    assert _run(capsys, *argv)[0] == 0
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == level


def test_python_warnings_are_one_line_each(capsys, tmp_path):
    recipe = tmp_path / "warns.py"
    recipe.write_text("import warnings\n\ndef main(argv=None):\n"
                      "    warnings.warn('clip.avi: 3 undecodable packets\\n  skipped')\n"
                      "    warnings.warn('old option', DeprecationWarning)\n"
                      "    return 0\n")
    code, _, err = _run(capsys, "train", str(recipe))
    assert code == 0
    assert err.splitlines() == ["actionzoo: warning: clip.avi: 3 undecodable packets skipped",
                                "actionzoo: warning: DeprecationWarning: old option"]
    with pytest.warns(DeprecationWarning, match="old option"), \
            pytest.warns(UserWarning, match="clip.avi: 3 undecodable packets\n  skipped"):
        assert _run(capsys, "-v", "train", str(recipe))[0] == 0  # Python's own display


def test_exit_codes_as_a_subprocess(tmp_path):
    # each run imports TensorFlow (~10 s on a loaded 2-core machine); exit 0 is covered in-process
    usage = _subprocess("weights", "frobnicate")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    error = _subprocess("weights", "verify", str(tmp_path / "missing.h5"))
    assert error.returncode == 1 and "Traceback" not in error.stderr
    assert error.stderr.strip().splitlines()[-1].startswith("actionzoo: error:")
