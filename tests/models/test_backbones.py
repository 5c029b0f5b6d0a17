"""Frame-embedding backbones: names, model instances, flow-stack inflation and
the offline error for pretrained weights (network failure simulated, no hang)."""
import urllib.error

import h5py
import keras
import numpy as np
import pytest

from actionzoo.models.backbones import (
    WeightsUnavailableError,
    backbone_preprocess,
    frame_embedding_model,
)


@pytest.fixture
def offline(monkeypatch):
    """Every Keras download fails at once, as without network."""
    from keras.src.utils import file_utils

    calls = []

    def fail(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("network is unreachable (simulated)")

    monkeypatch.setattr(file_utils, "urlretrieve", fail)
    return calls


def _save_legacy_h5(model, path):
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def test_imagenet_offline_error_names_the_file_then_the_placed_file_is_used(offline, tmp_path):
    with pytest.raises(WeightsUnavailableError) as info:
        frame_embedding_model("MobileNetV2", weights="imagenet", input_shape=(96, 96),
                              cache_dir=tmp_path)
    message = str(info.value)
    fname = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"
    target = tmp_path / "models" / fname
    assert str(target) in message and offline[0] in message
    assert "never falls back to random weights" in message
    assert len(offline) == 1 and offline[0].endswith(fname)
    assert not target.exists()

    # a file placed where the error says is then loaded through Keras' cache
    donor = keras.applications.MobileNetV2(include_top=False, weights=None, pooling="avg",
                                           input_shape=(96, 96, 3))
    _save_legacy_h5(donor, target)
    model = frame_embedding_model("MobileNetV2", weights="imagenet", input_shape=(96, 96),
                                  cache_dir=tmp_path)
    assert len(offline) == 1, "no new download was attempted"
    for a, b in zip(model.weights, donor.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_flow_stack_backbone_inflates_pretrained_rgb_weights(tmp_path):
    rgb = keras.applications.MobileNetV2(include_top=False, weights=None, pooling="avg",
                                         input_shape=(32, 32, 3))
    path = tmp_path / "rgb.weights.h5"
    rgb.save_weights(path)
    flow = frame_embedding_model("mobilenetv2", weights=str(path), input_shape=(32, 32),
                                 channels=20)
    assert tuple(flow.input.shape) == (None, 32, 32, 20)
    assert tuple(flow.output.shape) == (None, 1280)
    first_rgb, first_flow = np.asarray(rgb.weights[0]), np.asarray(flow.weights[0])
    assert first_rgb.shape[2] == 3 and first_flow.shape[2] == 20
    np.testing.assert_allclose(first_flow, np.repeat(first_rgb.mean(2, keepdims=True), 20, 2),
                               rtol=1e-6)
    for a, b in list(zip(rgb.weights, flow.weights, strict=True))[1:]:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_any_keras_model_feature_map_is_pooled():
    tiny = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(5, 3)], name="tiny")
    model = frame_embedding_model(tiny, pooling="max")
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(tiny(x)).max(axis=(1, 2)),
                               rtol=1e-6)
    assert model.get_layer("embedding") is not None
    with pytest.raises(ValueError, match="own weights"):
        frame_embedding_model(tiny, weights="imagenet")


def test_bad_names_and_preprocess():
    with pytest.raises(ValueError, match="unknown keras.applications backbone"):
        frame_embedding_model("ResNet9000")
    with pytest.raises(ValueError, match="pooling"):
        frame_embedding_model("InceptionV3", pooling="sum")
    images = np.array([[[[0.0, 127.5, 255.0]]]])
    np.testing.assert_allclose(backbone_preprocess("InceptionResNetV2")(images.copy()),
                               [[[[-1.0, 0.0, 1.0]]]])


@pytest.mark.slow
@pytest.mark.parametrize("name, dim", [("InceptionResNetV2", 1536), ("InceptionV3", 2048),
                                       ("ResNet101", 2048)])
def test_paper_backbone_dimensions(name, dim):
    model = frame_embedding_model(name, input_shape=(75, 75) if name != "ResNet101" else (64, 64))
    assert tuple(model.output.shape) == (None, dim)
