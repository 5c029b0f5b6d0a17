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

from actionzoo import CorrelationNet, STCNet, VideoResNetClassifier, weights
from actionzoo.estimators._base import softmax
from actionzoo.estimators._clip_base import _ArrayVideo
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


# -- from_pretrained -----------------------------------------------------------------
def test_from_pretrained_is_fitted_and_predicts_like_the_registry_model(registry, env):
    """Estimator, registry model and entry preprocessing give the same probabilities."""
    env.setenv("ACTIONZOO_MANIFEST", str(registry[0] / "manifest.json"))
    info = weights.pretrained_info("tiny.test")
    clf = CorrelationNet.from_pretrained("tiny.test", test_clips=3)
    assert clf.classes_.tolist() == sorted(TINY_CLASSES) and clf.test_clips == 3
    assert clf.weights == "tiny.test" and clf.get_params()["width"] == 0.125
    X = random_videos(3, frames=10, size=40)
    proba = clf.predict_proba(X)

    prep = info.preprocessing
    model = weights.load_pretrained("tiny.test")
    loader = prep.loader(num_clips=3)
    views = np.stack([loader.load(_ArrayVideo(x, "x"), 0)["rgb"] for x in X])
    logits = model.predict(prep.normalize(views.reshape((-1,) + views.shape[2:])), verbose=0)
    expected = softmax(logits).reshape(3, 3, -1).mean(axis=1)
    order = [info.classes.index(c) for c in clf.classes_]
    np.testing.assert_allclose(proba, expected[:, order], rtol=1e-4, atol=1e-6)
    assert (clf.predict(X) == clf.classes_[proba.argmax(1)]).all()
    assert clf.transform(X).shape == (3, clf._n_features_out)


def test_from_pretrained_then_fit_fine_tunes_with_a_new_class_set(registry, env):
    env.setenv("ACTIONZOO_MANIFEST", str(registry[0] / "manifest.json"))
    clf = CorrelationNet.from_pretrained("tiny.test", **near_zero_lr())
    conv = next(layer.name for layer in clf.model_.layers
                if layer.weights and layer.name != "logits")
    start = clf.model_.get_layer(conv).get_weights()[0]
    X, y = random_videos(4), np.array(["up", "down", "up", "down"])
    clf.fit(X, y)
    assert clf.classes_.tolist() == ["down", "up"]
    assert clf.model_.get_layer("logits").get_weights()[0].shape[-1] == 2
    np.testing.assert_allclose(clf.model_.get_layer(conv).get_weights()[0], start, atol=1e-6)
    assert clf.predict_proba(X).shape == (4, 2)


def test_from_pretrained_bad_names(registry, env, tmp_path):
    env.setenv("ACTIONZOO_MANIFEST", str(registry[0] / "manifest.json"))
    with pytest.raises(ValueError, match="neither a registry name.*tiny.test"):
        CorrelationNet.from_pretrained("nothing.here")
    with pytest.raises(ValueError, match="'resnet3d' model|'correlation_net' model"):
        STCNet.from_pretrained("tiny.test")
    with pytest.raises(ValueError, match="no such weights file"):
        CorrelationNet.from_pretrained(tmp_path / "tiny.test.weights.h5")
    with pytest.raises(ValueError, match="do not pass weights="):
        CorrelationNet.from_pretrained("tiny.test", weights="x")


def test_from_pretrained_local_file_named_after_the_entry(registry, env, tmp_path):
    env.setenv("ACTIONZOO_MANIFEST", str(registry[1] / "manifest.json"))  # no file, dead URL
    env.setenv("ACTIONZOO_OFFLINE", "1")
    local = tmp_path / "tiny.test.weights.h5"
    local.write_bytes((registry[0] / "tiny.test.weights.h5").read_bytes())
    clf = CorrelationNet.from_pretrained(local)
    X = random_videos(2)
    reference = registry[2]
    for layer in reference.layers:
        if layer.weights and layer.name != "logits":
            np.testing.assert_array_equal(clf.model_.get_layer(layer.name).get_weights()[0],
                                          layer.get_weights()[0])
    assert clf.predict_proba(X).shape == (2, 3)


def test_stcnet_from_the_shipped_demo_weights(env):
    env.setenv("ACTIONZOO_OFFLINE", "1")
    clf = STCNet.from_pretrained("stc_resnet18.demo", test_clips=1)
    info = weights.pretrained_info("stc_resnet18.demo")
    assert sorted(info.classes) == clf.classes_.tolist()
    assert clf.predict(random_videos(2, frames=10, size=56)).shape == (2,)


def test_video_resnet_from_a_converted_checkpoint_equals_pytorch(env, tmp_path):
    """A torch-saved MC3-18 placed in the sources cache: converted once, logits as torch's."""
    torch = pytest.importorskip("torch")
    from tests.convert.helpers import randomise_batchnorm, torch_logits
    from tests.convert.torch_video_resnet import VideoResNet

    torch.manual_seed(0)
    source = randomise_batchnorm(VideoResNet("mc3_18", num_classes=3))
    sources = tmp_path / "home" / "sources"
    sources.mkdir(parents=True)
    torch.save(source.state_dict(), sources / "mc3.pth")
    prep = dict(clip_length=4, stride=1, input_size=32, short_side=32, num_clips=1, crops=1,
                mean=[0.43216, 0.394666, 0.37645], std=[0.22803, 0.22145, 0.216989])
    entry = {"file": "mc3.test.weights.h5",
             "source": {"file": "mc3.pth", "converter": "mc3_18", "instructions": "tests",
                        "kwargs": {"clip_length": 4, "input_size": 32}},
             "architecture": {"builder": "video_resnet", "kwargs": {
                 "architecture": "mc3_18", "clip_length": 4, "input_size": 32,
                 "num_classes": 3}},
             "preprocessing": prep, "classes": ["walk", "jump", "clap"]}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"weights": {"mc3.test": entry}}))
    env.setenv("ACTIONZOO_MANIFEST", str(manifest))
    env.setenv("ACTIONZOO_OFFLINE", "1")

    clf = VideoResNetClassifier.from_pretrained("mc3.test")
    X = random_videos(2, frames=4, size=32)
    normalised = weights.pretrained_info("mc3.test").preprocessing.normalize(X)
    expected = softmax(torch_logits(source, normalised))
    order = [["walk", "jump", "clap"].index(c) for c in clf.classes_]
    np.testing.assert_allclose(clf.predict_proba(X), expected[:, order], rtol=1e-4, atol=1e-6)
    assert (tmp_path / "home" / "weights" / "mc3.test.weights.h5").is_file()

    # CorrNet on the pretrained backbone: zero-gamma blocks, so the same function at first
    corr = VideoResNetClassifier.from_pretrained("mc3.test", correlation=True, group_size=16)
    assert corr.model_.get_layer("corr3_restore_bn").get_weights()[0].max() == 0.0
    np.testing.assert_allclose(corr.predict_proba(X), expected[:, order], rtol=1e-4, atol=1e-6)
    y = np.array(["a", "b"])
    corr.set_params(epochs=1, batch_size=2, learning_rate=0.05, random_state=0).fit(X, y)
    assert corr.predict_proba(X).shape == (2, 2)
    assert np.abs(corr.model_.get_layer("corr3_restore_bn").get_weights()[0]).max() > 0.0
