"""MultiStreamGRU on real demo videos: streams, sampling, silence, pipelines, learning."""
import pickle

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from actionzoo import MultiStreamGRU
from actionzoo.data import (
    AdaptiveSampler,
    VideoReader,
    log_mel_examples,
    read_audio,
    silence_examples,
    video_info,
)
from actionzoo.estimators._stream_features import motion_profile
from actionzoo.estimators.contract_checks import CONTRACT_CHECKS
from actionzoo.models import WeightsUnavailableError
from tests.estimators.demo_videos import demo_videos, tiny_audio_backbone, tiny_image_backbone


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return demo_videos(str(tmp_path_factory.mktemp("demo")))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("features"))


def model(cache_dir=None, **kwargs):
    options = dict(spatial_backbone=tiny_image_backbone(3), spatial_weights=None,
                   temporal_backbone=tiny_image_backbone(20), audio_backbone=tiny_audio_backbone(),
                   frame_size=32, max_length=12, units=4, epochs=2, batch_size=8,
                   optimizer="adam", learning_rate=1e-2, random_state=0, cache_dir=cache_dir)
    options.update(kwargs)
    return MultiStreamGRU(**options)


@pytest.mark.slow  # 9 checks x several fits: ~12 min on the shared 2-core machine
@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_contract_on_video_paths(check, videos, cache):
    """Named backbones here: a Keras-model parameter is deep-copied by clone,
    which the parameter-hash comparison of check_clone cannot equate."""
    paths, labels = videos[0], videos[1]
    est = model(cache, streams=("spatial",), spatial_backbone="MobileNetV3Small",
                temporal_backbone="motion_cnn", audio_backbone="vggish")
    check(est, paths, np.unique(labels, return_inverse=True)[1] % 3)


def test_three_streams_fit_transform_predict(videos, cache):
    paths, labels, _, test = videos
    est = model(cache).fit(paths[~test], labels[~test])
    assert set(est.models_) == {"spatial", "temporal", "audio"}
    assert est.embedding_dims_ == {"spatial": 8, "temporal": 8, "audio": 8}
    assert est.transform(paths[test]).shape == (test.sum(), 24)
    assert set(est.predict(paths[test])) <= set(labels)
    assert isinstance(est.fusion_, LinearSVC)
    assert all(len(h["loss"]) == 2 for h in est.histories_.values())


def test_paper_training_defaults():
    est = MultiStreamGRU()
    assert (est.rnn, est.units, est.layers, est.dropout, est.max_length, est.max_seconds) == (
        "bigru", 512, 2, 0.5, 180, 36.0)
    opt = est._make_optimizer()
    assert isinstance(opt, keras.optimizers.SGD) and opt.nesterov
    assert np.isclose(float(opt.learning_rate), 1e-2) and opt.momentum == 0.9
    plateau, stop = est._default_callbacks(has_validation=True)
    assert (plateau.factor, plateau.patience, plateau.min_lr, plateau.monitor) == (
        0.1, 5, 1e-6, "val_loss")
    assert isinstance(stop, keras.callbacks.EarlyStopping) and stop.restore_best_weights


def test_adaptive_sampling_length_and_time_limits(videos, cache):
    est = model(cache, max_length=6, max_seconds=0.6)
    path = videos[0][0]
    with VideoReader(path) as reader:
        frames = est._sampled_frames(reader, None)
    assert len(frames) == 6 and frames.max() < 15  # 0.6 s at 25 fps
    motion = motion_profile(path, frame_size=32)[:15]
    expected = AdaptiveSampler(6, 8, mode="test").sample(15, motion=motion)[0]
    np.testing.assert_array_equal(frames, expected)
    with VideoReader(path) as reader:
        long = model(cache, max_length=500)._sampled_frames(reader, None)
    assert len(long) == video_info(path).num_frames  # at most one sample per frame


def test_videos_without_audio_get_the_silence_embedding(videos, cache):
    paths, _, has_audio, _ = videos
    assert has_audio.any() and not has_audio.all()
    est = model(cache, streams=("audio",), fusion=None).fit(paths, videos[1])
    backbone = est.backbones_["audio"]
    sequences = est._sequences(paths)["audio"]
    for path, seq, audible in zip(paths, sequences, has_audio, strict=True):
        if audible:
            wave, _ = read_audio(path, end=video_info(path).duration)
            expected = backbone(log_mel_examples(wave, num_examples=len(seq)), training=False)
        else:
            expected = backbone(silence_examples(len(seq)), training=False)
        np.testing.assert_allclose(seq, np.asarray(expected), rtol=1e-4, atol=1e-5)


def test_fusion_none_is_a_transformer_for_pipelines(videos, cache):
    paths, labels, _, test = videos
    streams = model(cache, fusion=None)
    assert not hasattr(streams, "predict") and not hasattr(streams, "predict_proba")
    pipe = Pipeline([("streams", streams), ("scale", StandardScaler()), ("svm", LinearSVC())])
    pipe.fit(paths[~test], labels[~test])
    assert set(pipe.predict(paths[test])) <= set(labels)
    assert not hasattr(pipe.named_steps["streams"], "fusion_")


def test_feature_union_of_single_streams_equals_the_multi_stream_embedding(videos, cache):
    """Same backbones, same seeds, same data: a FeatureUnion of one-stream
    models gives exactly the multi-stream model's embedding."""
    paths, labels, _, test = videos
    union = FeatureUnion([(s, model(cache, streams=(s,), fusion=None))
                          for s in ("spatial", "temporal", "audio")])
    union.fit(paths[~test], labels[~test])
    joint = model(cache, fusion=None).fit(paths[~test], labels[~test])
    np.testing.assert_allclose(union.transform(paths[test]), joint.transform(paths[test]),
                               atol=1e-5)


def test_nested_fusion_params_and_pickle(videos, cache):
    paths, labels, _, test = videos
    est = model(cache, streams=("spatial", "audio")).set_params(fusion__C=0.5)
    assert est.get_params()["fusion__C"] == 0.5
    est.fit(paths[~test], labels[~test])
    assert est.fusion_.C == 0.5 and est.fusion is not est.fusion_
    revived = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(revived.predict_proba(paths[test]), est.predict_proba(paths[test]),
                               atol=1e-6)


def test_pretrained_weights_never_silently_random(videos):
    est = MultiStreamGRU(streams=("spatial",), spatial_backbone="MobileNetV2", frame_size=32)
    two = [0, -1]  # two videos of different classes
    try:
        est.fit(videos[0][two], videos[1][two])
    except WeightsUnavailableError as err:
        assert "place it at" in str(err)
    else:
        pytest.skip("ImageNet weights are available here (cached or online)")
    with pytest.raises(ValueError, match="motion CNN .* no ImageNet weights"):
        clone(est).set_params(streams=("temporal",), temporal_weights="imagenet").fit(
            videos[0][two], videos[1][two])
    with pytest.raises(ValueError, match="AudioSet"):
        clone(est).set_params(streams=("audio",), audio_weights="imagenet").fit(
            videos[0][two], videos[1][two])


def test_bad_inputs(videos, tmp_path):
    with pytest.raises(ValueError, match="gone.avi.*not found"):
        model().fit([videos[0][0], str(tmp_path / "gone.avi")], ["a", "b"])
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(b"not a video" * 100)
    six = list(videos[0][:6])
    paths = six + [str(tmp_path / "gone.avi"), str(corrupt)]
    labels = list(videos[1][:6]) + ["a", "b"]
    with pytest.raises(ValueError, match=r"2 of 8 video files.*gone.avi.*corrupt.avi"):
        model().fit(paths, labels)
    with pytest.warns(UserWarning, match="skipping 2 of 8"):
        est = model(streams=("spatial",), fusion=None, on_error="skip").fit(paths, labels)
    assert [p for p, _ in est.skipped_] == [str(tmp_path / "gone.avi"), str(corrupt)]
    assert est.transform(six).shape[0] == 6
    with pytest.raises(ValueError, match="streams must be distinct names"):
        model(streams=("spatial", "depth")).fit(videos[0][:2], ["a", "b"])
