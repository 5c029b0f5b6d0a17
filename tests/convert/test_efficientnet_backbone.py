"""``"efficientnet_lite0"`` as a named 2-D backbone with offline ImageNet weights: frame
embeddings, the flow-stack variant, TwoStreamFeatures' and MultiStreamGRU's streams and the
teacher of STCNet's 2D->3D transfer."""
import keras
import numpy as np
import pytest

from actionzoo import MultiStreamGRU, STCNet, TwoStreamFeatures
from actionzoo.convert import convert_checkpoint
from actionzoo.data import CenterCrop, SegmentSampler, read_video, video_info
from actionzoo.models import backbone_preprocess, frame_embedding_model
from actionzoo.models.efficientnet_lite import preprocess_input
from tests.convert.test_efficientnet_lite import CHECKPOINT
from tests.estimators.demo_videos import demo_videos


@pytest.fixture(scope="module")
def imagenet():
    return convert_checkpoint(CHECKPOINT, "efficientnet_lite0", input_size=32)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return demo_videos(str(tmp_path_factory.mktemp("demo")), num_classes=2, groups=3,
                       clips_per_group=1)


def test_imagenet_embedding_is_the_converted_networks_pooled_features(imagenet):
    embed = frame_embedding_model("EfficientNet_Lite0", weights="imagenet", input_shape=(32, 32))
    features = keras.Model(imagenet.input, imagenet.get_layer("avg_pool").output)
    assert backbone_preprocess("efficientnet_lite0") is preprocess_input
    images = preprocess_input(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)))
    assert tuple(embed.output.shape) == (None, 1280)
    expected = np.asarray(features(images))
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(np.asarray(embed(images)), expected, rtol=1e-5, atol=1e-5)


def test_flow_stack_variant_averages_the_imagenet_stem(imagenet):
    flow = frame_embedding_model("efficientnet_lite0", weights="imagenet", input_shape=(32, 32),
                                 channels=20)
    stem = np.asarray(flow.get_layer("stem_conv").kernel)
    rgb = np.asarray(imagenet.get_layer("stem_conv").kernel)
    assert stem.shape == (3, 3, 20, 32)
    np.testing.assert_allclose(stem, np.repeat(rgb.mean(2, keepdims=True), 20, 2), rtol=1e-6)


def test_two_stream_appearance_features_are_imagenet_embeddings(videos, imagenet):
    path = videos[0][0]
    features = TwoStreamFeatures(n_segments=2, appearance_backbone="efficientnet_lite0",
                                 motion_backbone="efficientnet_lite0", frame_size=32,
                                 random_state=0).fit(videos[0])
    out = features.transform([path])
    assert out.shape == (1, 2, 2, 1280)
    centres = SegmentSampler(2, mode="test").sample(video_info(path).num_frames)[0]
    frames = CenterCrop(32)(read_video(path, centres, short_side=32), None)
    pooled = keras.Model(imagenet.input, imagenet.get_layer("avg_pool").output)
    np.testing.assert_allclose(out[0, 0], np.asarray(pooled(preprocess_input(frames))),
                               rtol=1e-4, atol=1e-5)


def test_multi_stream_gru_spatial_stream_uses_the_imagenet_backbone(videos, imagenet):
    paths, labels = videos[0], videos[1]
    gru = MultiStreamGRU(streams=("spatial",), spatial_backbone="efficientnet_lite0",
                         frame_size=32, max_length=4, units=4, epochs=1, batch_size=4,
                         random_state=0).fit(paths, labels)
    backbone = gru.backbones_["spatial"]
    np.testing.assert_array_equal(np.asarray(backbone.get_layer("top_conv").kernel),
                                  np.asarray(imagenet.get_layer("top_conv").kernel))
    assert gru.predict_proba(paths).shape == (len(paths), len(set(labels)))


def test_stcnet_transfer_from_the_imagenet_teacher(videos):
    teacher = frame_embedding_model("efficientnet_lite0", weights="imagenet",
                                    input_shape=(32, 32))
    before = [np.asarray(w) for w in teacher.weights]
    clf = STCNet(depth=18, cardinality=1, width=0.125, clip_length=4, frame_stride=2, crop_size=32,
                 short_side=36, flip=False, random_state=0)
    clf.transfer_from_2d(teacher, videos[0], epochs=1, batch_size=4, learning_rate=0.01,
                         teacher_preprocess=backbone_preprocess("efficientnet_lite0"))
    assert np.isfinite(clf.transfer_history_["loss"]).all()
    assert "conv2_block1_1_conv" in clf.transfer_weights_
    for a, b in zip(before, teacher.weights, strict=True):  # the teacher stays frozen
        np.testing.assert_array_equal(a, np.asarray(b))
