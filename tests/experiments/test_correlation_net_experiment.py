"""experiments/correlation_net.py --quick: the comparison runs end to end on real videos."""
import importlib.util
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _experiment():
    path = os.path.join(ROOT, "experiments", "correlation_net.py")
    spec = importlib.util.spec_from_file_location("correlation_net_experiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_comparison_prints_the_paper_beside_ours(capsys):
    rows = _experiment().main(["compare", "--quick", "--variants", "corrnet", "corrnet_raw"])
    assert [row["variant"] for row in rows] == ["corrnet", "corrnet_raw"]
    for row in rows:
        assert 0.0 <= row["test"] <= 1.0 and 0.0 <= row["reversed"] <= 1.0
        assert len(row["loss"]) == 1 and np.isfinite(row["loss"]).all()
    out = capsys.readouterr().out
    assert "16 training / 8 test videos" in out
    assert "| corrnet | 73.4 / 38.5 / 27.0 |" in out  # paper Table 3, L=16
    assert "| corrnet_raw | - (raw dot product; paper's is 73.4 / 38.5 / 27.0) |" in out
