"""The recipes' default demo folders: generated once, reused only with their own parameters."""
import argparse
import json
import os
from pathlib import Path

import pytest

from actionzoo.data import DataError
from actionzoo.data.synthetic import GENERATION_FILE, generation_parameters

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


@pytest.fixture
def common(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(RECIPES))
    monkeypatch.chdir(tmp_path)
    import _common

    return _common


def test_quick_folder_is_generated_then_reused(common, tmp_path):
    args = argparse.Namespace(data=None, quick=True, verbose=False)
    folder = common.demo_root(args)
    assert folder == "demo-data-quick" and not (tmp_path / "demo-data").exists()
    record = tmp_path / folder / GENERATION_FILE
    assert json.loads(record.read_text()) == generation_parameters(seed=0, **common.DEMO[True][1])
    stamp = os.stat(record).st_mtime_ns
    assert common.demo_root(args) == folder and os.stat(record).st_mtime_ns == stamp


def test_a_default_folder_generated_with_other_parameters_is_refused(common, tmp_path):
    (tmp_path / "demo-data").mkdir()
    quick = generation_parameters(seed=0, **common.DEMO[True][1])
    (tmp_path / "demo-data" / GENERATION_FILE).write_text(json.dumps(quick))
    args = argparse.Namespace(data=None, quick=False, verbose=False)
    with pytest.raises(DataError, match=r"demo-data: holds a synthetic dataset generated with "
                                        r"num_classes=3, .* not the requested num_classes=10"):
        common.demo_root(args)
    assert sorted(os.listdir(tmp_path / "demo-data")) == [GENERATION_FILE]


def test_a_default_folder_without_a_record_is_refused(common, tmp_path):
    (tmp_path / "demo-data-quick" / "Expand").mkdir(parents=True)
    args = argparse.Namespace(data=None, quick=True, verbose=False)
    with pytest.raises(DataError, match="holds files but no generation.json"):
        common.demo_root(args)
