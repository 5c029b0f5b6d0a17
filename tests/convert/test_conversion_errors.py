"""A state dict that does not fit: each error names the file and every offending key; the
converted file is written atomically with its sha256."""
import hashlib

import keras
import numpy as np
import pytest
import torch

from actionzoo.convert import ARCHITECTURES, ConversionError, convert_checkpoint, save_converted
from tests.convert.helpers import randomise_batchnorm
from tests.convert.torch_efficientnet_lite import EfficientNetLite0
from tests.convert.torch_hara_resnet import HaraResNet


@pytest.fixture(scope="module")
def lite_state():
    torch.manual_seed(0)
    return randomise_batchnorm(EfficientNetLite0(num_classes=5)).state_dict()


def _convert(state, tmp_path, architecture="efficientnet_lite0", name="edited.pth"):
    path = tmp_path / name
    torch.save(state, path)
    return convert_checkpoint(path, architecture, input_size=32)


def test_extra_key_is_named(lite_state, tmp_path):
    state = dict(lite_state, **{"_blocks.3.extra.weight": torch.ones(3)})
    with pytest.raises(ConversionError, match=r"edited\.pth.*unmapped keys: _blocks\.3\.extra"):
        _convert(state, tmp_path)


def test_missing_key_is_named(lite_state, tmp_path):
    state = {k: v for k, v in lite_state.items() if k != "_blocks.7._bn1.running_var"}
    with pytest.raises(ConversionError,
                       match=r"edited\.pth.*missing keys: _blocks\.7\._bn1\.running_var"):
        _convert(state, tmp_path)


def test_wrong_shape_is_named_with_both_shapes(lite_state, tmp_path):
    state = dict(lite_state, **{"_blocks.2._project_conv.weight": torch.ones(24, 100, 1, 1)})
    with pytest.raises(ConversionError, match=r"edited\.pth.*shape mismatches: "
                       r"_blocks\.2\._project_conv\.weight \(24, 100, 1, 1\) -> "
                       r"block2_project_conv\.kernel \(1, 1, 144, 24\)"):
        _convert(state, tmp_path)


def test_classes_given_against_the_checkpoint_is_a_shape_mismatch(lite_state, tmp_path):
    path = tmp_path / "five.pth"
    torch.save(lite_state, path)
    with pytest.raises(ConversionError, match=r"five\.pth.*_fc\.weight \(5, 1280\)"):
        convert_checkpoint(path, "efficientnet_lite0", num_classes=1000)


def test_another_architectures_checkpoint_is_named(lite_state, tmp_path):
    with pytest.raises(ConversionError) as info:
        _convert(lite_state, tmp_path, "r3d_18", name="lite.pth")
    message = str(info.value)
    assert "lite.pth" in message and "missing keys: stem.0.weight" in message
    assert "unmapped keys: _conv_stem.weight" in message
    hara = HaraResNet(18, sample_size=32, sample_duration=4, width=0.25).state_dict()
    with pytest.raises(ConversionError, match=r"hara\.pth.*missing keys: stem\.0\.weight.*"
                                              r"unmapped keys: conv1\.weight, bn1\.weight"):
        _convert(hara, tmp_path, "r2plus1d_18", name="hara.pth")


def test_unknown_architecture_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="r2plus1d_50.*r3d_18.*efficientnet_lite0"):
        convert_checkpoint(tmp_path / "any.pth", "r2plus1d_50")
    assert len(ARCHITECTURES) == 10


def test_save_converted_writes_atomically_with_its_sha256(lite_state, tmp_path, monkeypatch):
    model = _convert(lite_state, tmp_path)
    target = tmp_path / "out" / "lite.weights.h5"
    digest = save_converted(model, target)
    assert digest == hashlib.sha256(target.read_bytes()).hexdigest()
    again = _convert(lite_state, tmp_path)
    for layer in again.layers:
        for w in layer.weights:
            w.assign(np.zeros(w.shape, w.dtype))
    again.load_weights(target)
    images = np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(again(images)), np.asarray(model(images)))

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(model, "save_weights", fail)
    with pytest.raises(OSError, match="disk full"):
        save_converted(model, tmp_path / "out" / "failed.weights.h5")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["lite.weights.h5"]
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        save_converted(model, tmp_path / "lite.h5")


def test_without_top_the_classifier_is_left_out(lite_state, tmp_path):
    path = tmp_path / "lite.pth"
    torch.save(lite_state, path)
    full = convert_checkpoint(path, "efficientnet_lite0", input_size=32)
    headless = convert_checkpoint(path, "efficientnet_lite0", input_size=32, include_top=False,
                                  pooling="avg")
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    pooled = keras.Model(full.input, full.get_layer("avg_pool").output)
    np.testing.assert_allclose(np.asarray(headless(images)), np.asarray(pooled(images)),
                               rtol=1e-6, atol=1e-6)


def test_every_architecture_documents_its_preprocessing():
    from actionzoo.convert import SOURCE_PREPROCESSING

    assert set(SOURCE_PREPROCESSING) == set(ARCHITECTURES)
    for spec in SOURCE_PREPROCESSING.values():
        assert len(spec["mean"]) == len(spec["std"]) == 3 and min(spec["std"]) > 0
        assert spec["input_size"] in (112, 224)
    assert SOURCE_PREPROCESSING["r3d_18"]["clip_length"] == 16
