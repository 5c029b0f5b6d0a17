"""STCNet estimator: contract on both X forms, baseline switch, knowledge transfer, bad input.

Whether STC and the 2D -> 3D transfer help is measured by experiments/stc_net.py.
"""
import pickle

import keras
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from actionzoo import STCNet
from actionzoo.estimators.contract_checks import CONTRACT_CHECKS
from actionzoo.layers import STCBlock
from tests.estimators.clip_videos import demo_videos

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


def test_transfer_teacher_sees_rgb_frames_when_student_input_is_centred(monkeypatch):
    # Paper Fig. 2: "the 2D network operates on RGB frames". With temporal_center
    # only the 3D clip is centred; the teacher still gets the frames' pixels.
    from actionzoo.estimators import stc_net
    frames = np.stack([np.full((10, 36, 36, 3), value, np.uint8) for value in (50, 90, 130, 170)])
    seen = {"teacher": [], "student": []}
    build = stc_net.frame_clip_correspondence

    def recording_network(teacher, student):
        network = build(teacher, student)
        train_on_batch = network.train_on_batch

        def record(x, y, **kwargs):
            seen["student"].append(np.asarray(x[1]))
            return train_on_batch(x, y, **kwargs)
        network.train_on_batch = record
        return network

    def preprocess(pixels):
        seen["teacher"].append(np.asarray(pixels))
        return pixels / 127.5 - 1.0

    monkeypatch.setattr(stc_net, "frame_clip_correspondence", recording_network)
    STCNet(**{**TINY, "temporal_center": True}).transfer_from_2d(
        tiny_teacher(), frames, epochs=1, batch_size=4, learning_rate=0.01,
        teacher_preprocess=preprocess)
    teacher_pixels, student_clips = np.concatenate(seen["teacher"]), np.concatenate(seen["student"])
    # each (constant) video's own pixel value, not the centred 114.75 = 0.45 * 255
    np.testing.assert_allclose(teacher_pixels.mean(axis=(1, 2, 3, 4)).round(3) % 40, 10)
    assert teacher_pixels.std(axis=(1, 2, 3, 4)).max() < 1e-3
    np.testing.assert_allclose(student_clips, 0.0, atol=1e-5)  # static videos centre to 0


def test_transfer_from_2d_bad_arguments(videos):
    _, _, frames = videos
    with pytest.raises(TypeError, match="keras.Model"):
        STCNet(**TINY).transfer_from_2d("resnet50", frames)
    with pytest.raises(ValueError, match="at least 2 videos"):
        STCNet(**TINY).transfer_from_2d(tiny_teacher(), frames[:1])

