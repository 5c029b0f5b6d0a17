"""The demo job (``actionzoo demo``): one quick run on a tiny generated dataset.

Real components throughout: the generator writes real .avi files, every
estimator is fitted and scored on them, the report is read back from disk.
One run only (the command line in a process of its own) to keep this
test within its minute.
"""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from actionzoo.cli import main
from actionzoo.demo import DATASET

MODELS = {
    "CorrelationNet (CorrNet-26)", "CorrelationNet (R2D-26 baseline)", "STCNet (STC-ResNet-18)",
    "STFN", "appearance stream (logistic regression)", "motion stream (logistic regression)",
    "LateFusion (avg)", "LateFusion (max)", "LateFusion (multiply)", "LateFusion (weighted)",
    "CorrNetFusion (sum, Shannon gate)", "CorrNetFusion (correlation only)",
    "MultiStreamGRU (SVM fusion)",
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``actionzoo demo --quick`` without ``--data``, beside the full demo's folder."""
    root = tmp_path_factory.mktemp("demo")
    report_dir = root / "report"
    full = root / "demo-data"
    (full / "Expand").mkdir(parents=True)
    (full / "Expand" / "v_Expand_g01_c01.avi").write_bytes(b"the full demo's video")
    # A process of its own, as a user runs it: nothing the other tests of this
    # worker left in the process (Keras state, warnings filters) reaches it.
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [repo] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from actionzoo.cli import main; "
                               "sys.exit(main(sys.argv[1:]))",
         "demo", "--report-dir", str(report_dir), "--quick", "--quiet", "--seed", "0"],
        cwd=root, env=env, capture_output=True, text=True, timeout=900)
    if run.returncode != 0:
        print(run.stderr[-5000:])  # shown with the failing tests' output
    return run.returncode, run.stdout, root / "demo-data-quick", report_dir


def test_quick_demo_uses_its_own_folder_and_leaves_the_full_demos_alone(demo_run):
    _, _, data, _ = demo_run
    assert data.name == "demo-data-quick"
    full = data.parent / "demo-data"
    assert sorted(p.relative_to(full).as_posix() for p in full.rglob("*")) == [
        "Expand", "Expand/v_Expand_g01_c01.avi"]
    assert (full / "Expand" / "v_Expand_g01_c01.avi").read_bytes() == b"the full demo's video"
    recorded = json.loads((data / "generation.json").read_text())
    assert recorded["num_classes"] == DATASET["quick"]["num_classes"] and recorded["seed"] == 0


def test_demo_refuses_a_folder_generated_with_other_parameters(demo_run, capsys):
    _, _, data, report_dir = demo_run
    code = main(["demo", "--data", str(data), "--report-dir", str(report_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "generated with num_classes=3" in err and "not the requested num_classes=10" in err


def test_quick_demo_generates_the_dataset_and_exits_0(demo_run):
    code, stdout, data, _ = demo_run
    assert code == 0
    assert (data / "ucfTrainTestlist" / "trainlist01.txt").is_file()
    assert len(list(data.glob("*/*.avi"))) == (DATASET["quick"]["num_classes"]
                                                * DATASET["quick"]["groups"]
                                                * DATASET["quick"]["clips_per_group"])
    assert stdout.splitlines()[0].startswith("| model | input | test accuracy")


def test_every_model_has_a_row_with_accuracies_in_0_1(demo_run):
    _, stdout, _, report_dir = demo_run
    report = json.loads((report_dir / "results.json").read_text())
    assert {r["model"] for r in report["rows"]} == MODELS
    for row in report["rows"]:
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["mean_class_accuracy"] <= 1.0
        assert row["fit_seconds"] >= 0
        assert f"| {row['model']} | {row['input']} | {row['accuracy']:.3f} |" in stdout
    assert report["n_test"] == sum(map(sum, report["confusion_matrix"]))
    assert report["best_model"] in MODELS and report["chance"] == pytest.approx(1 / 3)
    assert report["table"] in (report_dir / "results.md").read_text()
    assert report["table"] in stdout
    # a JSON round trip changes nothing
    assert json.loads(json.dumps(report)) == report
    assert set(report["curves"]) >= {"CorrelationNet (CorrNet-26)", "STFN",
                                     "MultiStreamGRU spatial"}


def test_report_shows_a_from_pretrained_prediction_equal_to_the_estimators(demo_run):
    from actionzoo import CorrelationNet

    report_dir = demo_run[3]
    pre = json.loads((report_dir / "results.json").read_text())["pretrained_prediction"]
    clf = CorrelationNet.from_pretrained(pre["weights"], test_clips=1)
    video = demo_run[2].parent / pre["video"]  # the report's path is the demo's, from its folder
    proba = clf.predict_proba(np.asarray([str(video)], dtype=object))[0]
    assert pre["label"] == clf.classes_[proba.argmax()]
    assert pre["probability"] == pytest.approx(proba.max(), abs=1e-4)
    assert f"**{pre['label']}**" in (report_dir / "results.md").read_text()


@pytest.mark.parametrize("name", ["confusion_matrix.png", "training_curves.png"])
def test_figures_are_valid_png_images(demo_run, name):
    path = demo_run[3] / name
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imread(str(path))
    assert image is not None and image.ndim == 3 and min(image.shape[:2]) > 50
    assert image.std() > 0  # not a blank canvas


def test_demo_help_and_usage_errors(capsys):
    assert main(["demo", "--help"]) == 0
    assert "--report-dir" in capsys.readouterr().out
    assert main(["demo", "--seed", "-1", "--report-dir", "unused"]) == 2
    assert "argument --seed: must be an integer >= 0" in capsys.readouterr().err
