"""Clip estimators with registry weights: ``CorrelationNet(weights="corrnet26.demo")``.

A registry name is resolved through :mod:`actionzoo.weights` (shipped,
cached or downloaded, verified, offline-aware); the weights must fit the
estimator's hyper-parameters (architecture, clip length, input
normalisation) or ``fit`` raises a ValueError naming each difference;
``pretrained_params(name)`` gives the fitting values; the classifier is kept
(columns in ``classes_`` order) when ``y`` has the weights' class names.
"""
import json

import numpy as np
import pytest
from sklearn.base import clone

from actionzoo import CorrelationNet, STCNet, weights
from actionzoo.estimators._pretrained import load_pretrained_weights
from actionzoo.models import correlation_net

pytestmark = pytest.mark.timeout(300)

# A tiny private registry entry (fast to build and fit).
TINY_ARCH = {"builder": "correlation_net", "kwargs": dict(
    depth=26, variant="corrnet", clip_length=4, input_size=32, num_classes=3, width=0.125,
    group_size=8, kernel_size=3, dilation=1)}
TINY_PREP = dict(clip_length=4, stride=2, input_size=32, short_side=36, num_clips=2, crops=1,
                 mean=[0.0, 0.0, 0.0], std=[0.225, 0.225, 0.225], temporal_center=True)
TINY_CLASSES = ["walk", "jump", "clap"]  # logit order; sorted classes_ differ


@pytest.fixture
def env(actionzoo_home, monkeypatch):
    for var in ("ACTIONZOO_OFFLINE", "ACTIONZOO_WEIGHTS_URL", "ACTIONZOO_MANIFEST"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Manifests with entry ``tiny.test`` (random weights): ``(folder, offline folder, model)``.

    The second manifest's folder lacks the file (and its URL is dead).
    """
    folder, missing = tmp_path_factory.mktemp("registry"), tmp_path_factory.mktemp("no_file")
    file = folder / "tiny.test.weights.h5"
    model = correlation_net(**TINY_ARCH["kwargs"])
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype("float32")
                       if len(w.shape) > 1 else np.asarray(w) for w in model.get_weights()])
    model.save_weights(file)
    entry = {"file": file.name, "urls": ["http://127.0.0.1:9/none"],
             "sha256": weights.sha256sum(file), "size": file.stat().st_size,
             "architecture": TINY_ARCH, "preprocessing": TINY_PREP, "classes": TINY_CLASSES,
             "license": "Apache-2.0", "recipe": "tests"}
    for where in (folder, missing):
        (where / "manifest.json").write_text(json.dumps({"weights": {"tiny.test": entry}}))
    return folder, missing, model


def random_videos(n, frames=6, size=36, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, frames, size, size, 3), np.uint8)


def near_zero_lr(**params):
    return dict(params, learning_rate=1e-9, lr_schedule="constant", epochs=1, batch_size=6,
                random_state=0)


def test_pretrained_params_fit_the_shipped_entries():
    for cls, name in [(CorrelationNet, "corrnet26.demo"), (STCNet, "stc_resnet18.demo")]:
        info = weights.pretrained_info(name)
        params = cls.pretrained_params(name)
        assert params["clip_length"] == info.preprocessing.clip_length
        assert params["crop_size"] == info.preprocessing.input_size
        assert params["temporal_center"] is info.preprocessing.temporal_center
        assert params["width"] == info.architecture["kwargs"]["width"]
        clf = cls(**params, weights=name)
        assert clf._check_pretrained(name) is info  # no mismatch
        assert clone(clf).get_params()["weights"] == name


def test_mismatched_hyper_parameters_are_named(env):
    X, y = random_videos(4), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError) as err:
        CorrelationNet(weights="corrnet26.demo").fit(X, y)
    message = str(err.value)
    for expected in ("width=1.0 (weights: 0.125)", "group_size=32 (weights: 8)",
                     "clip_length=16 (weights: 8)", "temporal_center=False (weights: True)",
                     "CorrelationNet.pretrained_params('corrnet26.demo')"):
        assert expected in message
    assert "depth" not in message and "crop_size" not in message
    params = STCNet.pretrained_params("stc_resnet18.demo")
    with pytest.raises(ValueError, match=r"^STCNet\(weights='stc_resnet18.demo'\).*"
                                         r"temporal_center=False \(weights: True\)\. Use"):
        STCNet(**{**params, "temporal_center": False}, weights="stc_resnet18.demo").fit(X, y)
    with pytest.raises(ValueError, match="'resnet3d' model, CorrelationNet builds "
                                         "'correlation_net'"):
        CorrelationNet(weights="stc_resnet18.demo").fit(X, y)
    with pytest.raises(ValueError, match="neither a file nor a registry name.*corrnet26.demo"):
        CorrelationNet(weights="corrnet99.nothing").fit(X, y)
    with pytest.raises(ValueError, match="not a file"):  # paths keep their meaning
        CorrelationNet(weights="missing/model.keras").fit(X, y)


def test_fine_tune_from_a_registry_name(registry, env):
    folder, _, source = registry
    env.setenv("ACTIONZOO_MANIFEST", str(folder / "manifest.json"))
    params = CorrelationNet.pretrained_params("tiny.test")
    assert params["width"] == 0.125 and params["kernel_size"] == 3 and params["test_clips"] == 2
    X = random_videos(6)
    y = np.array(["walk", "jump", "clap"] * 2)
    clf = CorrelationNet(**near_zero_lr(**params), weights="tiny.test", flip=False).fit(X, y)
    assert clf.classes_.tolist() == ["clap", "jump", "walk"]
    conv = "res3_block1_2s_conv"
    np.testing.assert_allclose(clf.model_.get_layer(conv).get_weights()[0],
                               source.get_layer(conv).get_weights()[0], atol=1e-6)
    # the classifier is kept, its columns in classes_ order
    kernel, bias = source.get_layer("logits").get_weights()
    order = [TINY_CLASSES.index(c) for c in clf.classes_]
    got_kernel, got_bias = clf.model_.get_layer("logits").get_weights()
    np.testing.assert_allclose(got_kernel, kernel[:, order], atol=1e-6)
    np.testing.assert_allclose(got_bias, bias[order], atol=1e-6)
    # other class names (same count): the classifier stays freshly initialised
    fresh = correlation_net(**TINY_ARCH["kwargs"])
    initial = fresh.get_layer("logits").get_weights()
    load_pretrained_weights(fresh, weights.pretrained_info("tiny.test"), ["x", "y", "z"])
    for got, want in zip(fresh.get_layer("logits").get_weights(), initial, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(fresh.get_layer(conv).get_weights()[0],
                                  source.get_layer(conv).get_weights()[0])


def test_offline_registry_weights_not_available(registry, env):
    env.setenv("ACTIONZOO_MANIFEST", str(registry[1] / "manifest.json"))
    env.setenv("ACTIONZOO_OFFLINE", "1")
    params = CorrelationNet.pretrained_params("tiny.test")
    with pytest.raises(weights.OfflineError, match="tiny.test.weights.h5"):
        CorrelationNet(**near_zero_lr(**params), weights="tiny.test").fit(
            random_videos(2), [0, 1])


@pytest.mark.slow
@pytest.mark.parametrize("cls, name", [(CorrelationNet, "corrnet26.demo"),
                                       (STCNet, "stc_resnet18.demo")])
def test_fine_tune_from_the_shipped_weights(cls, name, env):
    """All ten class names in y: the shipped network, classifier included, is the start."""
    env.setenv("ACTIONZOO_OFFLINE", "1")
    info = weights.pretrained_info(name)
    source = weights.load_pretrained(name)
    X = random_videos(10, frames=12, size=56)
    y = np.array(info.classes)
    clf = cls(**near_zero_lr(**cls.pretrained_params(name)), weights=name).fit(X, y)
    for layer in source.layers:
        if layer.name == "logits" or not layer.weights:
            continue
        np.testing.assert_allclose(clf.model_.get_layer(layer.name).get_weights()[0],
                                   layer.get_weights()[0], atol=1e-6, err_msg=layer.name)
    order = [info.classes.index(c) for c in clf.classes_]
    np.testing.assert_allclose(clf.model_.get_layer("logits").get_weights()[0],
                               source.get_layer("logits").get_weights()[0][:, order], atol=1e-6)
