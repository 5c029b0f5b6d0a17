"""The per-paper recipes (recipes/*.py) in their --quick configuration, and `actionzoo train`.

One tiny demo dataset (3 classes, 18 videos of 16 frames at 48x36) and one
feature cache serve every recipe. The figures of a quick run mean nothing;
the tests check that each recipe runs end to end and writes its table: the
paper's figures next to measured values in [0, 1].
"""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from actionzoo._shipped import shipped_dir
from actionzoo.cli import available_recipes, recipes_dir
from actionzoo.cli import main as cli_main
from actionzoo.data import make_synthetic_dataset

pytestmark = pytest.mark.timeout(900)

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
PAPER_RECIPES = ("corrnet_fusion", "correlation_net", "stc_net", "stfn", "multi_stream_gru")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The quick demo dataset (the recipes' own --quick default) and a shared cache folder."""
    root = tmp_path_factory.mktemp("recipes") / "demo"
    sys.path.insert(0, str(RECIPES))
    try:
        import _common
    finally:
        sys.path.remove(str(RECIPES))
    make_synthetic_dataset(root, seed=0, n_jobs=1, verbose=0, **_common.DEMO[True][1])
    return str(root), str(root.parent / "cache")


def load(name):
    """Import a recipe module from recipes/ as the CLI does."""
    if str(RECIPES) not in sys.path:
        sys.path.insert(0, str(RECIPES))
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_results(output):
    record = json.loads((output / "results.json").read_text())
    rows = record["rows"]
    assert rows and all(0.0 <= r["measured"] <= 1.0 for r in rows), rows
    assert any(r["paper"] is not None for r in rows), "no paper figure next to the measured ones"
    assert all(r["paper"] is None or 0 < r["paper"] <= 100 for r in rows)
    table = (output / "results.md").read_text()
    assert "| paper (%) | measured (%) |" in table
    assert table.count("\n|") == len(rows) + 2  # header, rule, one line per row
    return record


def test_every_paper_has_a_recipe():
    assert set(PAPER_RECIPES) <= set(available_recipes())
    assert recipes_dir() == RECIPES


@pytest.mark.parametrize("name", [n for n in PAPER_RECIPES if n != "correlation_net"])
def test_recipe_quick_run_writes_its_table(name, data, tmp_path, capsys):
    root, cache = data
    args = ["--quick", "--data", root, "--output", str(tmp_path / "out"), "--seed", "0"]
    if name in ("corrnet_fusion", "stfn", "multi_stream_gru"):
        args += ["--cache", cache]
    rows = load(name).main(args)
    record = check_results(tmp_path / "out")
    assert record["rows"] == rows and record["arguments"]["quick"] is True
    printed = capsys.readouterr().out
    assert "paper (%)" in printed and "measured (%)" in printed


def test_actionzoo_train_runs_a_named_recipe(data, tmp_path, capsys):
    """correlation_net runs through the CLI (its quick run is not repeated through main)."""
    code = cli_main(["train", "correlation_net", "--quick", "--data", data[0],
                     "--output", str(tmp_path / "out")])
    assert code == 0
    rows = check_results(tmp_path / "out")["rows"]
    assert [r["setting"] for r in rows] == ["R2D-26", "R(2+1)D-26", "CorrNet-26"]
    assert [r["paper"] for r in rows] == [67.8, 69.9, 73.4]  # Table 3, Kinetics, L=16


def test_actionzoo_train_runs_a_recipe_file(tmp_path, capsys):
    recipe = tmp_path / "my_recipe.py"
    recipe.write_text("import _common\n\ndef main(argv=None):\n"
                      "    args = _common.make_parser('A test recipe.').parse_args(argv)\n"
                      "    print('ran with seed', args.seed)\n")
    (tmp_path / "_common.py").write_text((RECIPES / "_common.py").read_text())
    assert cli_main(["train", str(recipe), "--seed", "7"]) == 0
    assert "ran with seed 7" in capsys.readouterr().out


def test_actionzoo_train_errors(capsys, tmp_path):
    assert cli_main(["train", "no_such_recipe"]) == 2
    err = capsys.readouterr().err
    assert "unknown recipe 'no_such_recipe'" in err
    assert all(name in err for name in PAPER_RECIPES)
    assert cli_main(["train", str(tmp_path / "missing.py")]) == 1
    assert "no such recipe file" in capsys.readouterr().err
    assert cli_main(["train", "stfn", "--help"]) == 0
    assert "usage: actionzoo train stfn" in capsys.readouterr().out
    assert cli_main(["train", "stfn", "--split", "9"]) == 2
    assert cli_main(["train", "stfn", "--data", str(tmp_path / "absent")]) == 1
    assert "no such dataset folder" in capsys.readouterr().err


def test_shipped_dir_falls_back_to_the_installed_data_files(tmp_path, monkeypatch):
    installed = tmp_path / "share" / "actionzoo" / "not_in_checkout"
    installed.mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert shipped_dir("not_in_checkout", "marker.txt").name == "not_in_checkout"
    assert shipped_dir("not_in_checkout", "marker.txt") != installed  # no marker: checkout path
    (installed / "marker.txt").write_text("")
    assert shipped_dir("not_in_checkout", "marker.txt") == installed
    assert shipped_dir("recipes", "_common.py") == RECIPES  # the checkout wins


FULL_ARGS = {  # the full configuration's code paths (all ablations), trained very briefly
    "corrnet_fusion": ["--epochs", "2", "--segments", "2"],
    "correlation_net": ["--epochs", "1"],
    "stc_net": ["--epochs", "1", "--transfer-epochs", "1"],
    "stfn": ["--epochs", "2", "--segments", "3", "5"],
    "multi_stream_gru": ["--epochs", "1", "--units", "4"],
}


@pytest.mark.slow  # every ablation of every recipe: ~10 min on 2 cores
@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_recipe_full_configuration_runs(name, data, tmp_path):
    root, cache = data
    args = ["--data", root, "--output", str(tmp_path / "out"), *FULL_ARGS[name]]
    if name in ("corrnet_fusion", "stfn", "multi_stream_gru"):
        args += ["--cache", cache]
    load(name).main(args)
    rows = check_results(tmp_path / "out")["rows"]
    assert len(rows) >= {"correlation_net": 5, "stc_net": 5, "stfn": 13}.get(name, 5)
