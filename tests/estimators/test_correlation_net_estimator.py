"""CorrelationNet estimator: contract on both X forms, views, schedule, weights, bad input."""
import pickle
import warnings

import keras
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from actionzoo import CorrelationNet
from actionzoo.data import read_video
from actionzoo.estimators._clip_base import _ArrayVideo, normalize_pixels
from actionzoo.estimators.contract_checks import CONTRACT_CHECKS
from tests.estimators.clip_videos import EVIDENCE_CLIPS, demo_videos, motion_split

TINY = dict(width=0.125, group_size=8, kernel_size=3, dilation=1, clip_length=4,
            frame_stride=2, crop_size=32, short_side=36, flip=False, test_clips=2,
            learning_rate=0.01, warmup_epochs=0, epochs=1, batch_size=6, random_state=0)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return demo_videos(tmp_path_factory.mktemp("corrnet_videos"))


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("form", ["paths", "array"])
def test_contract(videos, form, check):
    paths, y, frames = videos
    check(CorrelationNet(**TINY), paths if form == "paths" else frames, y)


def test_paths_and_arrays_give_the_same_predictions(videos):
    """A decoded array row is treated exactly like its file (same clips, same views)."""
    paths, y, frames = videos
    clf = CorrelationNet(**TINY).fit(frames, y)
    np.testing.assert_allclose(clf.predict_proba(paths), clf.predict_proba(frames), atol=1e-5)
    np.testing.assert_allclose(clf.transform(paths), clf.transform(frames), atol=1e-4)


def test_decoding_in_worker_processes_fits_the_same_model(videos):
    """num_workers only moves the decoding: same clips, so the same fitted weights
    (threads here, the default "auto" there: worker processes on several cores)."""
    paths, y, _ = videos
    here = CorrelationNet(**TINY, num_workers=0).fit(paths, y)
    there = CorrelationNet(**TINY).fit(paths, y)
    assert there.num_workers == "auto"
    np.testing.assert_allclose(there.predict_proba(paths), here.predict_proba(paths), atol=1e-5)
    with pytest.raises(ValueError, match="num_workers"):
        CorrelationNet(**TINY, num_workers=-2).fit(paths, y)


def test_predictions_average_the_test_views(videos):
    paths, y, frames = videos
    clf = CorrelationNet(**{**TINY, "test_clips": 3}).fit(frames, y)
    loader = clf._test_loader()
    views = loader.load(_ArrayVideo(frames[0], "X[0]"), 0)["rgb"]
    assert views.shape == (3, 4, 32, 32, 3)
    logits = keras.ops.convert_to_numpy(clf.model_(normalize_pixels(views), training=False))
    proba = np.exp(logits - logits.max(1, keepdims=True))
    proba /= proba.sum(1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(frames[:1])[0], proba.mean(0), atol=1e-5)
    embed = keras.Model(clf.model_.input, clf.model_.get_layer("embedding").output)
    expected = keras.ops.convert_to_numpy(embed(normalize_pixels(views))).mean(0)
    np.testing.assert_allclose(clf.transform(frames[:1])[0], expected, atol=1e-5)
    # three crops per clip: 9 views
    clf.set_params(test_crops=3)
    assert clf._test_loader().num_views == 9
    assert clf.predict_proba(frames[:2]).shape == (2, 3)


def test_default_learning_rate_on_six_videos_predicts_finite_probabilities(tmp_path):
    """The default SGD (lr 0.1) for 3 steps of batch 2: the conv kernels grow by
    orders of magnitude while BN's moving statistics lag. With the raw
    correlation every prediction was NaN (the scale error squared at each
    block); with the normalised correlation it is a probability."""
    paths, y, _ = demo_videos(tmp_path, num_classes=2, groups=3, clips_per_group=1)
    assert len(paths) == 6
    clf = CorrelationNet(width=0.125, group_size=8, kernel_size=3, dilation=1, clip_length=4,
                         crop_size=32, short_side=36, test_clips=1, epochs=1, batch_size=2,
                         random_state=0).fit(paths, y)
    proba = clf.predict_proba(paths)
    assert np.isfinite(proba).all(), proba
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)


def test_temporal_centering_removes_static_appearance():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(1, 1, 8, 8, 3), dtype=np.uint8)
    static = np.repeat(frame, 4, axis=1)
    np.testing.assert_allclose(normalize_pixels(static, temporal_center=True), 0.0, atol=1e-6)
    moving = static.copy()
    moving[0, 2:] = 255 - moving[0, 2:]
    centred = normalize_pixels(moving, temporal_center=True)
    np.testing.assert_allclose(centred.mean(axis=1), 0.0, atol=1e-5)
    assert np.abs(centred).max() > 0.5
    tensor = keras.ops.convert_to_numpy(normalize_pixels(keras.ops.convert_to_tensor(moving), True))
    np.testing.assert_allclose(tensor, centred, atol=1e-6)
    plain = normalize_pixels(static)
    np.testing.assert_allclose(plain, (static / 255.0 - 0.45) / 0.225, atol=1e-5)


def test_variants_and_blocks_build(videos):
    _, y, frames = videos
    for params in ({"variant": "r2d"}, {"variant": "r2plus1d"}, {"block": "concat"}):
        clf = CorrelationNet(**{**TINY, **params}).fit(frames, y)
        names = [layer.name for layer in clf.model_.layers]
        assert any("correlation" in n for n in names) == (params.get("variant") is None)
        assert clf.transform(frames[:2]).shape == (2, 256)


def test_grid_search(videos):
    _, y, frames = videos
    search = GridSearchCV(CorrelationNet(**TINY), {"variant": ["corrnet", "r2d"]}, cv=2,
                          refit=False, error_score="raise").fit(frames, y)
    assert set(search.cv_results_["param_variant"]) == {"corrnet", "r2d"}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_pickle_keeps_transform(videos):
    paths, y, _ = videos
    clf = CorrelationNet(**TINY).fit(paths, y)
    revived = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(revived.transform(paths), clf.transform(paths), atol=1e-6)


def test_cosine_schedule_with_warmup():
    clf = CorrelationNet(learning_rate=0.2, epochs=10, warmup_epochs=2)
    lr = clf._make_optimizer(steps_per_epoch=5)._learning_rate
    assert isinstance(lr, keras.optimizers.schedules.CosineDecay)
    rates = [float(lr(step)) for step in (0, 5, 10, 30, 50)]
    np.testing.assert_allclose(rates[:3], [0.0, 0.1, 0.2], atol=1e-6)  # linear warm-up
    assert 0.0 < rates[3] < 0.2 and rates[4] == pytest.approx(0.0, abs=1e-6)
    assert clf.learning_rate == 0.2  # the parameter is untouched
    const = CorrelationNet(learning_rate=0.2, lr_schedule="constant")._make_optimizer()
    assert float(const.learning_rate) == pytest.approx(0.2)
    opt = CorrelationNet()._make_optimizer()
    assert opt.momentum == 0.9 and opt.weight_decay == pytest.approx(1e-4)


def test_fine_tune_from_saved_model(videos, tmp_path):
    _, y, frames = videos
    source = CorrelationNet(**TINY).fit(frames, y)
    path = str(tmp_path / "source.keras")
    source.model_.save(path)
    # Two classes instead of three: the classifier is new, the rest is copied.
    keep = y < 2
    clf = CorrelationNet(**{**TINY, "weights": path, "learning_rate": 1e-9})
    clf.fit(frames[keep], y[keep])
    conv = "res3_block1_2s_conv"
    np.testing.assert_allclose(clf.model_.get_layer(conv).get_weights()[0],
                               source.model_.get_layer(conv).get_weights()[0], atol=1e-6)
    assert clf.model_.get_layer("logits").get_weights()[0].shape[-1] == 2
    other = CorrelationNet(**{**TINY, "variant": "r2d", "weights": path})
    with pytest.raises(ValueError, match="do not fit this architecture"):
        other.fit(frames, y)
    with pytest.raises(ValueError, match="not a file"):
        CorrelationNet(**{**TINY, "weights": str(tmp_path / "none.keras")}).fit(frames, y)


@pytest.mark.parametrize("X, error, match", [
    (np.zeros((4, 8, 8, 3), np.uint8), ValueError, "shape"),
    (np.zeros((4, 4, 8, 8, 3), np.float32), TypeError, "uint8"),
    (np.zeros((4, 4, 8, 8, 1), np.uint8), ValueError, "RGB"),
    (np.array([1, 2, 3, 4]), TypeError, r"X\[0\]"),
    ("video.avi", TypeError, "single path"),
])
def test_bad_X(X, error, match):
    with pytest.raises(error, match=match):
        CorrelationNet(**TINY).fit(X, [0, 1, 0, 1])


def test_every_bad_file_is_named_before_training(videos, tmp_path):
    """All unreadable files in one ValueError before the first epoch, or
    skipped under on_error="skip" without a Keras warning."""
    paths, y, _ = videos
    bad_paths = paths.copy()
    bad = tmp_path / "corrupt.avi"
    bad.write_bytes(b"not a video" * 100)
    bad_paths[3] = str(tmp_path / "missing.avi")
    bad_paths[5] = str(bad)
    with pytest.raises(ValueError, match=rf"2 of {len(paths)} video files.*X\[3\].*missing.avi.*"
                                         r"not found.*X\[5\].*corrupt.avi.*on_error='skip'"):
        CorrelationNet(**TINY).fit(bad_paths, y)
    fitted = CorrelationNet(**TINY).fit(paths, y)
    assert fitted.skipped_ == []
    with pytest.raises(ValueError, match=r"missing.avi.*corrupt.avi"):
        fitted.predict(bad_paths)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        skipping = CorrelationNet(**{**TINY, "on_error": "skip"}).fit(bad_paths, y)
    assert [p for p, _ in skipping.skipped_] == [bad_paths[3], str(bad)]
    messages = [str(w.message) for w in caught]
    assert any(f"skipping 2 of {len(paths)}" in m for m in messages)
    assert not any("ran out of data" in m for m in messages)


def test_invalid_hyper_parameters(videos):
    _, y, frames = videos
    with pytest.raises(ValueError, match="test_crops"):
        CorrelationNet(**{**TINY, "test_crops": 2}).fit(frames, y)
    with pytest.raises(ValueError, match="group_size"):
        CorrelationNet(**{**TINY, "group_size": 5}).fit(frames, y)


# ----------------------------------------------------------------- learning evidence
# Settings of the learning-evidence tests (demo motion classes, raw RGB unless
# stated). The CorrNet-26 vs R2D-26 vs R(2+1)D-26 comparison at these settings
# is `experiments/correlation_net.py compare` (figures in the model card).
EVIDENCE = dict(group_size=4, kernel_size=5, dilation=1, optimizer="adam", learning_rate=2e-3,
                warmup_epochs=1, epochs=20, **EVIDENCE_CLIPS)


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    return motion_split(tmp_path_factory.mktemp("motion"))


@pytest.fixture(scope="module")
def motion120(tmp_path_factory):
    """4x the data: 120 groups, 640 train / 320 test videos."""
    return motion_split(tmp_path_factory.mktemp("motion120"), groups=120)


@pytest.mark.slow
def test_corrnet_learns_the_direction_classes(motion):
    """Temporally centred input: a tiny CorrNet-26 learns the four directions."""
    X_train, y_train, X_test, y_test = motion
    clf = CorrelationNet(temporal_center=True, **EVIDENCE).fit(X_train, y_train)
    accuracy = clf.score(X_test, y_test)
    print("corrnet test accuracy", accuracy, "loss", clf.history_["loss"])
    assert accuracy >= 0.6, accuracy  # measured 0.79; chance 0.25


@pytest.mark.slow
def test_r2d_reads_the_temporal_order(motion120):
    """Why the comparison above has no motion-blind baseline: R2D learns the directions.

    With 4x the data (120 groups: 640 train / 320 test videos) R2D-26 reaches
    0.806 (measured; CorrNet-26 0.406 at these settings), and on the same
    test clips played backwards it mostly names the opposite direction (0.275
    with the true labels). Its res4/res5 first blocks stride time in the
    projection shortcut (a 1x1x1 conv that keeps frames 0, 2, 4, ...) and in
    a 3x1x1 max pool whose first window sees only frames 0 and 1, so the
    network is not a function of the set of frames. (Before the pool was
    padded symmetrically, its windows all looked one frame ahead of the
    shortcut's frame: 0.944 and 0.103.)
    """
    X_train, y_train, X_test, y_test = motion120
    clf = CorrelationNet(variant="r2d", **EVIDENCE).fit(X_train, y_train)
    frames = np.stack([read_video(path) for path in X_test])
    forward = clf.score(frames, y_test)
    backward = clf.score(np.ascontiguousarray(frames[:, ::-1]), y_test)
    print("r2d test accuracy", forward, "on time-reversed clips", backward)
    assert forward >= 0.6 and forward - backward >= 0.3, (forward, backward)


@pytest.mark.slow
def test_correlation_output_carries_the_motion_direction(motion):
    """Diagnosis of CorrNet's raw-RGB stall: the motion is in the correlation output.

    A linear probe (logistic regression) on the clip-pooled output of the first
    correlation (after res2) of the *untrained* tiny CorrNet tells the four
    directions of held-out groups apart (measured 0.69 with the normalised
    correlation, 0.70 with the raw one; chance 0.25). With the raw correlation
    the same probe on the pooled embedding was at chance (0.23), and after the
    20-epoch raw-RGB fit it still read 0.71 at corr2 but 0.34 once the block had
    been added to the residual stream (corr2_out) and 0.20 at the embedding.
    So the operator (checked against the formula in tests/layers) sees the
    motion; end-to-end training on 160 raw-RGB videos does not carry it to the
    classifier.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from actionzoo.data import read_video
    from actionzoo.models import correlation_net

    X_train, y_train, X_test, y_test = motion
    clips = {k: v for k, v in EVIDENCE.items() if k in EVIDENCE_CLIPS}
    loader = CorrelationNet(**clips)._train_loader(augment=False)  # centred clip and crop

    keras.utils.set_random_seed(0)
    model = correlation_net(variant="corrnet", clip_length=EVIDENCE["clip_length"],
                            input_size=EVIDENCE["crop_size"], num_classes=4,
                            kernel_size=EVIDENCE["kernel_size"], dilation=EVIDENCE["dilation"],
                            group_size=EVIDENCE["group_size"], width=EVIDENCE["width"])
    probe = keras.Model(model.input, model.get_layer("corr2_correlation").output)

    def pooled(paths):
        x = np.stack([loader.load(_ArrayVideo(read_video(p), p), 0)["rgb"] for p in paths])
        out = keras.ops.convert_to_numpy(probe(normalize_pixels(x), training=False))
        return out.reshape(len(x), -1, out.shape[-1]).mean(axis=1)

    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    accuracy = linear.fit(pooled(X_train), y_train).score(pooled(X_test), y_test)
    print("linear probe on pooled corr2 at init, test accuracy", accuracy)
    assert accuracy >= 0.5, accuracy  # measured 0.69 (raw correlation 0.70); chance 0.25
