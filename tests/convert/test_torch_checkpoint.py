"""The PyTorch checkpoint reader: both serialisations, unwrapping, and refusals (code in
the pickle, truncated files) that name the file -- without importing torch itself."""
import collections
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from actionzoo.convert import (
    CheckpointError,
    UnsafeCheckpointError,
    load_torch_file,
    read_state_dict,
)


@pytest.fixture(params=[True, False], ids=["zip", "legacy"])
def zip_format(request):
    return request.param


def _save(obj, path, zip_format):
    torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
    return path


def test_tensors_of_every_dtype_and_layout_round_trip(tmp_path, zip_format):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    tensors = {
        "float32": torch.randn(3, 4, 5), "float64": torch.randn(2, dtype=torch.float64),
        "float16": torch.randn(7).half(), "int64": torch.tensor(5), "int32": torch.arange(3).int(),
        "uint8": torch.arange(9, dtype=torch.uint8), "bool": torch.tensor([True, False]),
        "transposed": base.t(), "view": base[1:3, ::2], "empty": torch.zeros(0, 3),
    }
    obj = {"tensors": collections.OrderedDict(tensors), "shared": [base, base[2]],
           "meta": ("resnet", 3, 0.5, None, True)}
    loaded = load_torch_file(_save(obj, tmp_path / "all.pth", zip_format))
    for name, tensor in tensors.items():
        np.testing.assert_array_equal(loaded["tensors"][name], tensor.numpy(), err_msg=name)
        assert loaded["tensors"][name].dtype == tensor.numpy().dtype
    assert isinstance(loaded["tensors"], collections.OrderedDict)
    np.testing.assert_array_equal(loaded["shared"][1], base[2].numpy())
    assert loaded["meta"] == ("resnet", 3, 0.5, None, True)


def test_reader_does_not_import_torch(tmp_path):
    path = _save({"w": torch.ones(2)}, tmp_path / "w.pth", True)
    code = ("import sys; from actionzoo.convert import read_state_dict; "
            f"print(read_state_dict({str(path)!r})['w'].sum()); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.getcwd()).stdout.split()
    assert out == ["2.0", "False"]


@pytest.mark.parametrize("wrapper", ["state_dict", "model_state", "model"])
def test_training_checkpoints_and_data_parallel_prefixes_are_unwrapped(tmp_path, wrapper):
    weights = {"module.fc.weight": torch.ones(2, 3), "module.fc.bias": torch.zeros(2)}
    checkpoint = {"epoch": 9, "optimizer": {"param_groups": [{"lr": 0.1}]},
                  wrapper: {"state_dict": weights} if wrapper == "model" else weights}
    state = read_state_dict(_save(checkpoint, tmp_path / "ckpt.pth", True))
    assert sorted(state) == ["fc.bias", "fc.weight"]
    np.testing.assert_array_equal(state["fc.weight"], np.ones((2, 3), np.float32))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_imports_anything_is_refused_without_running(tmp_path, zip_format):
    marker = tmp_path / "executed"
    path = _save({"weight": torch.ones(1), "payload": _RunsCode(marker)},
                 tmp_path / "evil.pth", zip_format)
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pth.*(posix|os)\.system"):
        read_state_dict(path)
    assert not marker.exists()


def test_a_pickled_module_is_refused_naming_its_class(tmp_path):
    path = _save(torch.nn.Linear(2, 2), tmp_path / "module.pth", True)
    with pytest.raises(UnsafeCheckpointError, match=r"module\.pth.*torch\.nn\.modules"):
        read_state_dict(path)


def test_truncated_files_are_named(tmp_path, zip_format):
    path = _save({"w": torch.randn(64, 64)}, tmp_path / "full.pth", zip_format)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 20):
        short = tmp_path / f"cut{cut}.pth"
        short.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=rf"cut{cut}\.pth.*(truncated|not a PyTorch)"):
            read_state_dict(short)


def test_no_checkpoint_no_state_dict_and_no_file(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00\x01not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pth"):
        read_state_dict(junk)
    numbers = _save([1, 2, 3], tmp_path / "numbers.pth", True)
    with pytest.raises(CheckpointError, match=r"numbers\.pth.*no state dict"):
        read_state_dict(numbers)
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        read_state_dict(tmp_path / "absent.pth")
