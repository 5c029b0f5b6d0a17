"""TwoStreamFeatures on real demo videos: sampling, features, cache, errors, STFN pipeline."""
import pickle
import shutil

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from actionzoo import STFN, TwoStreamFeatures
from actionzoo.data import (
    CenterCrop,
    SegmentSampler,
    read_video,
    stack_flow,
    video_flow,
    video_info,
)
from actionzoo.estimators._stream_features import StreamExtractor
from actionzoo.models import WeightsUnavailableError
from tests.estimators.demo_videos import demo_videos, tiny_image_backbone


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return demo_videos(str(tmp_path_factory.mktemp("demo")))


def features(**kwargs):
    options = dict(n_segments=3, appearance_backbone=tiny_image_backbone(3),
                   motion_backbone=tiny_image_backbone(20), backbone_weights=None,
                   frame_size=32, random_state=0)
    options.update(kwargs)
    return TwoStreamFeatures(**options)


@pytest.fixture(scope="module")
def fitted(videos):
    return features().fit(videos[0])


def test_test_sampling_matches_an_independent_computation(videos, fitted):
    """transform = backbone(centre frame of each segment) and backbone(the
    10-flow stack centred on it), computed here from the data layer directly."""
    paths = videos[0][:3]
    out = fitted.transform(paths)
    assert out.shape == (3, 2, 3, 8) and out.dtype == np.float32
    crop = CenterCrop(32)
    for path, row in zip(paths, out, strict=True):
        centres = SegmentSampler(3, mode="test").sample(video_info(path).num_frames)[0]
        frames = crop(read_video(path, centres, short_side=32), None)
        appearance = fitted.backbones_["appearance"](frames / 127.5 - 1.0, training=False)
        np.testing.assert_allclose(row[0], np.asarray(appearance), rtol=1e-4, atol=1e-5)
        stacks = crop(stack_flow(video_flow(path, short_side=32), centres, 10), None)
        motion = fitted.backbones_["motion"](stacks / 127.5 - 1.0, training=False)
        np.testing.assert_allclose(row[1], np.asarray(motion), rtol=1e-4, atol=1e-5)


def test_test_views_are_uniform_frames_per_segment(videos, fitted):
    """test_views=3: three sequences at offsets (v + 0.5) / 3 in each segment;
    each view equals the backbone on its frames, computed independently."""
    paths = videos[0][:2]
    multi = features(test_views=3).fit(paths).transform(paths)
    assert multi.shape == (2, 3, 2, 3, 8)
    crop = CenterCrop(32)
    for path, row in zip(paths, multi, strict=True):
        views = SegmentSampler(3, mode="test", test_views=3).sample(video_info(path).num_frames)
        for v, indices in enumerate(views):
            frames = crop(read_video(path, indices, short_side=32), None)
            appearance = fitted.backbones_["appearance"](frames / 127.5 - 1.0, training=False)
            np.testing.assert_allclose(row[v, 0], np.asarray(appearance), rtol=1e-4, atol=1e-5)
    assert not np.allclose(multi[:, 0], multi[:, 2])


def test_training_sampling_is_random_per_segment_and_repeatable(videos, fitted):
    paths = videos[0]
    train_a = features().fit_transform(paths)
    train_b = features().fit_transform(paths)
    np.testing.assert_array_equal(train_a, train_b)
    other_seed = features(random_state=1).fit_transform(paths)
    assert not np.allclose(other_seed, train_a)
    assert not np.allclose(train_a, fitted.transform(paths))


def test_feature_cache_is_keyed_by_content_and_configuration(videos, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    est = features(cache_dir=str(cache)).fit(videos[0][:2])
    first = est.transform(videos[0][:2])
    assert len(list(cache.glob("*.npz"))) == 4  # 2 videos x 2 streams
    renamed = str(tmp_path / "renamed.avi")
    shutil.copyfile(videos[0][0], renamed)

    def no_backbone(self, inputs):
        raise AssertionError("backbone called although the features are cached")
    monkeypatch.setattr(StreamExtractor, "_embed", no_backbone)
    np.testing.assert_array_equal(est.transform([renamed]), first[:1])
    other = features(cache_dir=str(cache), n_segments=4).fit([renamed])
    with pytest.raises(AssertionError, match="backbone called"):
        other.transform([renamed])  # new frame indices: computed, not served stale
    resized = features(cache_dir=str(cache), frame_size=24,
                       appearance_backbone=tiny_image_backbone(3, size=24),
                       motion_backbone=tiny_image_backbone(20, size=24)).fit([renamed])
    with pytest.raises(AssertionError, match="backbone called"):
        resized.transform([renamed])


def test_imagenet_weights_never_silently_random(videos):
    est = TwoStreamFeatures(appearance_backbone="MobileNetV2", motion_backbone="MobileNetV2",
                            frame_size=32)
    try:
        est.fit(videos[0][:1])
    except WeightsUnavailableError as err:
        assert "place it at" in str(err) and "never falls back" in str(err)
    else:
        pytest.skip("ImageNet weights are available here (cached or online)")


def test_pickle_keeps_the_backbones(videos, fitted):
    revived = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(revived.transform(videos[0][:2]), fitted.transform(videos[0][:2]),
                               atol=1e-6)


def test_bad_inputs_are_named(videos, tmp_path):
    with pytest.raises(ValueError, match="missing.avi.*not found"):
        features().fit([videos[0][0], str(tmp_path / "missing.avi")])
    with pytest.raises(TypeError, match="wrap it in a list"):
        features().fit(videos[0][0])
    with pytest.raises(ValueError, match="8 wide but motion features 4"):
        features(motion_backbone=tiny_image_backbone(20, width=4)).fit(videos[0][:1])


def test_pipeline_with_stfn_from_video_files(videos):
    paths, labels, _, test = videos
    pipe = Pipeline([("features", features()),
                     ("stfn", STFN(optimizer="adam", learning_rate=1e-2, epochs=2,
                                   batch_size=8, random_state=0))])
    pipe.fit(paths[~test], labels[~test])
    predicted = pipe.predict(paths[test])
    assert set(predicted) <= set(labels)
    assert pipe.predict_proba(paths[test]).shape == (test.sum(), 4)
    revived = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_allclose(revived.predict_proba(paths[test]),
                               pipe.predict_proba(paths[test]), atol=1e-6)


def test_backbones_built_here_repeat_with_the_seed_and_keep_global_state():
    """A randomly initialised backbone is the same for the same seed, and
    building it leaves the global random state alone."""
    import random

    from actionzoo.estimators._stream_features import build_backbone
    state = random.getstate(), np.random.get_state()[1].copy()

    def weights(seed):
        model, identity = build_backbone("flow", "motion_cnn", None, 32, 2, seed)
        assert identity["seed"] == seed
        return model.get_weights()

    first, again, other = weights(7), weights(7), weights(8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    assert random.getstate() == state[0]
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])


@pytest.fixture
def with_bad_files(videos, tmp_path):
    """A readable video between an empty file and a garbage file."""
    empty, garbage = tmp_path / "empty.avi", tmp_path / "garbage.avi"
    empty.write_bytes(b"")
    garbage.write_bytes(b"not a video" * 100)
    return [str(empty), videos[0][0], str(garbage)]


def test_fit_skips_or_names_every_unreadable_file(with_bad_files):
    empty, good, garbage = with_bad_files
    with pytest.raises(ValueError, match=r"2 of 3 video files.*empty.avi.*garbage.avi"):
        features().fit(with_bad_files)
    with pytest.warns(UserWarning, match="skipping 2 of 3"):
        est = features(on_error="skip").fit(with_bad_files)
    assert [p for p, _ in est.skipped_] == [empty, garbage]
    assert all(reason for _, reason in est.skipped_)
    assert features().fit([good]).skipped_ == []
    kept = [p for p in with_bad_files if p not in dict(est.skipped_)]
    assert est.transform(kept).shape == (1, 2, 3, 8)


def test_transform_always_names_every_unreadable_file(with_bad_files):
    est = features(on_error="skip")
    with pytest.warns(UserWarning, match="skipping 2 of 3"), \
            pytest.raises(ValueError, match=r"2 of 3 video files.*empty.avi.*garbage.avi"):
        est.fit_transform(with_bad_files)
    with pytest.raises(ValueError, match=r"2 of 3 video files.*X\[0\].*empty.avi.*X\[2\]"):
        est.transform(with_bad_files)


def test_on_error_is_a_parameter():
    est = features(on_error="skip")
    assert est.get_params()["on_error"] == "skip"
    assert clone(est).on_error == "skip"
    assert features().on_error == "raise"
    with pytest.raises(ValueError, match="on_error"):
        features(on_error="ignore").fit([])
