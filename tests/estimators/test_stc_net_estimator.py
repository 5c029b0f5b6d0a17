"""STCNet estimator: contract on both X forms, baseline switch, knowledge transfer, bad input."""
import pickle

import keras
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from actionzoo import STCNet
from actionzoo.estimators.contract_checks import CONTRACT_CHECKS
from actionzoo.layers import STCBlock
from tests.estimators.clip_videos import EVIDENCE_CLIPS, demo_videos, motion_split

TINY = dict(depth=18, cardinality=1, width=0.125, clip_length=4, frame_stride=2,
            crop_size=32, short_side=36, flip=False, test_clips=2, learning_rate=0.01,
            epochs=1, batch_size=6, random_state=0)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return demo_videos(tmp_path_factory.mktemp("stc_videos"))


def tiny_teacher(size=32):
    """A small 2D network frame -> vector (stands in for an ImageNet ResNet)."""
    keras.utils.set_random_seed(1)
    frames = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(frames)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    return keras.Model(frames, keras.layers.GlobalAveragePooling2D()(x), name="teacher")


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("form", ["paths", "array"])
def test_contract(videos, form, check):
    paths, y, frames = videos
    check(STCNet(**TINY), paths if form == "paths" else frames, y)


def test_stc_switch_and_branches(videos):
    _, y, frames = videos
    for params, n_stc in (({}, 8), ({"stc": False}, 0), ({"branches": "temporal"}, 8)):
        clf = STCNet(**{**TINY, **params}).fit(frames, y)
        blocks = [layer for layer in clf.model_.layers if isinstance(layer, STCBlock)]
        assert len(blocks) == n_stc  # one per residual block of ResNet-18
        if params.get("branches"):
            assert all(tuple(b.branches) == ("temporal",) for b in blocks)
        assert clf.transform(frames[:2]).shape == (2, 64)


def test_paper_optimizer_defaults():
    opt = STCNet()._make_optimizer()
    assert isinstance(opt, keras.optimizers.SGD)
    assert opt.momentum == 0.9 and opt.nesterov and opt.weight_decay == pytest.approx(1e-4)
    assert float(opt.learning_rate) == pytest.approx(0.1)
    assert STCNet().frame_stride == 2


def test_grid_search_and_pickle(videos):
    paths, y, frames = videos
    search = GridSearchCV(STCNet(**TINY), {"stc": [True, False]}, cv=2, refit=False,
                          error_score="raise").fit(frames, y)
    assert set(search.cv_results_["param_stc"]) == {True, False}
    clf = STCNet(**TINY).fit(paths, y)
    revived = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(revived.transform(paths), clf.transform(paths), atol=1e-6)


def test_bad_input(videos, tmp_path):
    paths, y, _ = videos
    with pytest.raises(ValueError, match="shape"):
        STCNet(**TINY).fit(np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 0, 1])
    missing = paths.copy()
    missing[2] = str(tmp_path / "gone.avi")
    with pytest.raises(ValueError, match=r"X\[2\].*gone.avi"):
        STCNet(**TINY).fit(missing, y)


def test_transfer_from_2d_changes_weights_and_starts_fit(videos):
    paths, y, frames = videos
    # Same seed, same clips and pairs: a zero learning rate keeps the initial weights.
    frozen = STCNet(**TINY).transfer_from_2d(tiny_teacher(), paths, epochs=2, batch_size=6,
                                             learning_rate=0.0)
    clf = STCNet(**TINY)
    clf.transfer_from_2d(tiny_teacher(), paths, epochs=2, batch_size=6, learning_rate=0.05)
    assert len(clf.transfer_history_["loss"]) == 2
    assert np.isfinite(clf.transfer_history_["loss"]).all()
    conv = "conv3_block1_1_conv"
    transferred = clf.transfer_weights_[conv][0]
    initial = frozen.transfer_weights_[conv][0]
    assert np.abs(transferred - initial).max() > 1e-4, "transfer did not change the 3D weights"
    assert not hasattr(clf, "model_")
    with pytest.raises(Exception, match="not fitted"):
        clf.predict(frames)
    # fit starts from the transferred weights: with a zero learning rate they survive
    clf.set_params(learning_rate=1e-12).fit(frames, y)
    np.testing.assert_allclose(clf.model_.get_layer(conv).get_weights()[0], transferred,
                               atol=1e-6)
    clf.set_params(stc=False)
    with pytest.raises(ValueError, match="another architecture"):
        clf.fit(frames, y)


def test_transfer_from_2d_bad_arguments(videos):
    _, _, frames = videos
    with pytest.raises(TypeError, match="keras.Model"):
        STCNet(**TINY).transfer_from_2d("resnet50", frames)
    with pytest.raises(ValueError, match="at least 2 videos"):
        STCNet(**TINY).transfer_from_2d(tiny_teacher(), frames[:1])


# ----------------------------------------------------------------- learning evidence
# Measured (split 1 of motion_split: 160 train / 80 test videos, 20 epochs, seed 0),
# test accuracy, chance 0.25:
#   temporal_center=True:  STC-ResNet-18 0.788, ResNet-18 (no STC) 0.763
#   raw RGB input:         STC-ResNet-18 0.313, ResNet-18 (no STC) 0.350
#   fine-tuning after transfer_from_2d (6 epochs, random 2D teacher, raw RGB): 0.288
EVIDENCE = dict(depth=18, cardinality=1, optimizer="adam", learning_rate=2e-3,
                lr_schedule="cosine", warmup_epochs=1, epochs=20, **EVIDENCE_CLIPS)


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    return motion_split(tmp_path_factory.mktemp("motion"))


@pytest.mark.slow
def test_stc_learns_motion_classes_on_par_with_r3d(motion):
    X_train, y_train, X_test, y_test = motion
    scores = {stc: STCNet(stc=stc, temporal_center=True, **EVIDENCE).fit(X_train, y_train)
              .score(X_test, y_test) for stc in (True, False)}
    print("test accuracy stc", scores[True], "r3d", scores[False])
    assert scores[True] >= 0.6, scores  # measured 0.81; chance 0.25
    assert scores[True] >= scores[False] - 0.1, scores  # on par or above (0.81 vs 0.84)


def conv_teacher(size=64):
    """A fixed random 2D conv net (no ImageNet weights offline) as the teacher."""
    keras.utils.set_random_seed(1)
    frames = keras.Input((size, size, 3))
    x = frames
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    return keras.Model(frames, keras.layers.GlobalAveragePooling2D()(x), name="teacher")


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason=(
    "not reproduced: with a random-weight 2D teacher (no ImageNet weights offline) 6 "
    "transfer epochs (correspondence loss 0.694 -> 0.649, accuracy 0.51 -> 0.66) gave a "
    "fine-tuning loss curve no lower than from scratch (mean of epochs 1-5: 1.544 vs "
    "1.513; epoch 20: 1.381 vs 1.382; earlier demo data: epoch 20 1.216 vs 1.149)"))
def test_fine_tuning_after_transfer_converges_faster(motion):
    X_train, y_train, _, _ = motion
    scratch = STCNet(**EVIDENCE).fit(X_train, y_train)
    transferred = STCNet(**EVIDENCE).transfer_from_2d(
        conv_teacher(), X_train, epochs=6, batch_size=16, learning_rate=0.05, lr_step_epochs=3)
    transferred.fit(X_train, y_train)
    curves = {"scratch": scratch.history_["loss"], "transfer": transferred.history_["loss"]}
    print("training loss per epoch", curves, "correspondence", transferred.transfer_history_)
    # "fewer epochs": the transferred run is ahead over the first quarter of training
    assert np.mean(curves["transfer"][:5]) < np.mean(curves["scratch"][:5]) - 0.05, curves
