"""correlation_net builder: structure per paper Table 2 / Sec. 6.1, shapes, training."""
import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from actionzoo.layers.correlation import Correlation
from actionzoo.models.correlation_net import correlation_net, correlation_video_resnet
from actionzoo.models.video_resnet import video_resnet

TINY = dict(clip_length=4, input_size=32, num_classes=3, width=0.125, group_size=8)


def _layers(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def _temporal_convs(model):
    return [layer for layer in _layers(model, keras.layers.Conv3D)
            if tuple(layer.kernel_size) == (3, 1, 1)]


@pytest.mark.parametrize("variant,n_corr,n_temporal,conv1", [
    ("corrnet", 3, 6, 4), ("r2plus1d", 0, 8, 8), ("r2d", 0, 0, 8)])
def test_structure_depth26(variant, n_corr, n_temporal, conv1):
    model = correlation_net(26, variant, **TINY)
    assert len(_layers(model, Correlation)) == n_corr
    assert len(_temporal_convs(model)) == n_temporal
    assert model.get_layer("conv1_conv").filters == conv1  # 32 vs 64 at width 1/8
    assert tuple(model.output.shape) == (None, 3)
    assert tuple(model.get_layer("embedding").output.shape) == (None, 256)
    # Table 2 output sizes: res2 L x S/4, res3 L x S/8, res4 L/2 x S/16, res5 L/4 x S/32
    sizes = [tuple(model.get_layer(f"res{s}_block2_out").output.shape[1:4]) for s in (2, 3, 4, 5)]
    assert sizes == [(4, 8, 8), (4, 4, 4), (2, 2, 2), (1, 1, 1)]


def test_r2d_strides_time_with_max_pool():
    model = correlation_net(26, "r2d", **TINY)
    pools = [layer.name for layer in _layers(model, keras.layers.MaxPooling3D)]
    assert pools == ["res4_block1_2t_pool", "res5_block1_2t_pool"]


def test_r2d_pool_windows_are_centred_on_the_shortcut_frames():
    """Like the strided 3x1x1 convs, the pool pads one frame at each end: its
    windows centre on frames 0, 2, 4, 6, the frames the stride-2 shortcut keeps
    (Keras "same" pooling would centre them on 1, 3, 5, 7)."""
    model = correlation_net(26, "r2d", **{**TINY, "clip_length": 16})
    pool = keras.Model(model.get_layer("res4_block1_2t_pad").input,
                       model.get_layer("res4_block1_2t_pool").output)
    frames = pool.input.shape[1]
    assert frames == 16
    lit = []
    for frame in range(frames):
        x = np.zeros((1,) + tuple(pool.input.shape[1:]), "float32")
        x[0, frame] = 1.0
        out = keras.ops.convert_to_numpy(pool(x))[0, :, 0, 0, 0]
        lit.append(np.flatnonzero(out).tolist())
    assert lit[:5] == [[0], [0, 1], [1], [1, 2], [2]]
    assert lit[-1] == [7]


def test_r2d_depends_on_the_frame_order():
    """R2D has no temporal convs, yet it is not a function of the set of frames:
    the temporal striding (stride-2 shortcut conv and 3x1x1 max pool of res4,
    res5) keeps fixed frames. A fitted R2D uses this to tell directions
    apart (tests/estimators, test_r2d_reads_the_temporal_order)."""
    keras.utils.set_random_seed(0)
    model = correlation_net(26, "r2d", **{**TINY, "clip_length": 8})
    clips = np.random.default_rng(0).normal(size=(2, 8, 32, 32, 3)).astype("float32")
    embed = keras.Model(model.input, model.get_layer("embedding").output)
    forward = keras.ops.convert_to_numpy(embed(clips))
    backward = keras.ops.convert_to_numpy(embed(clips[:, ::-1]))
    assert np.abs(forward - backward).max() > 1e-3 * np.abs(forward).max()


def test_correlation_block_placement():
    model = correlation_net(26, "corrnet", **TINY)
    corr = {layer.name: tuple(layer.input.shape[1:]) for layer in _layers(model, Correlation)}
    # reduced to the stage width (64, 128, 256 at width 1) after res2, res3, res4
    assert corr == {"corr2_correlation": (4, 8, 8, 8), "corr3_correlation": (4, 4, 4, 16),
                    "corr4_correlation": (2, 2, 2, 32)}
    names = [layer.name for layer in model.layers]
    assert names.index("res2_block2_out") < names.index("corr2_correlation") \
        < names.index("res3_block1_1_conv")
    layer = model.get_layer("corr2_correlation")
    assert (layer.kernel_size, layer.dilation, layer.group_size) == (7, 2, 8)
    assert tuple(layer.kernel.shape) == (4, 7, 7, 8)


@pytest.mark.parametrize("depth,n_blocks,n_corr", [(50, (3, 4, 6, 3), 3), (101, (3, 4, 23, 3), 4)])
def test_deeper_models(depth, n_blocks, n_corr):
    model = correlation_net(depth, "corrnet", **TINY)
    for stage, n in zip((2, 3, 4, 5), n_blocks, strict=True):
        model.get_layer(f"res{stage}_block{n}_out")
        with pytest.raises(ValueError):
            model.get_layer(f"res{stage}_block{n + 1}_out")
    assert len(_layers(model, Correlation)) == n_corr
    if depth == 101:
        names = [layer.name for layer in model.layers]
        mid = names.index("corr4_mid_correlation")
        assert names.index("res4_block11_out") < mid < names.index("res4_block12_1_conv")


def test_concat_block_keeps_width():
    model = correlation_net(26, "corrnet", block="concat", kernel_size=3, **TINY)
    for stage, width, corr in ((2, 32, 9), (3, 64, 18), (4, 128, 36)):
        assert model.get_layer(f"corr{stage}_concat").output.shape[-1] == width
        assert model.get_layer(f"corr{stage}_correlation").output.shape[-1] == corr
    with pytest.raises(ValueError, match="narrower than the block input"):
        correlation_net(26, "corrnet", block="concat", kernel_size=7, **TINY)
    assert not [layer for layer in model.layers if layer.name.startswith("corr2_add")]


def test_training_step_updates_correlation_kernel():
    model = correlation_net(26, "corrnet", **TINY)
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(True),
                  run_eagerly=True)  # graph tracing costs ~15 s here
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(2, 4, 32, 32, 3)).astype("float32")
    y = np.array([0, 2])
    kernel = model.get_layer("corr3_correlation").kernel
    before = np.array(kernel)
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(np.array(kernel), before)
    assert model.predict(x, verbose=0).shape == (2, 3)


@pytest.mark.parametrize("normalize", [True, False])
def test_correlation_blocks_normalize_by_default(normalize):
    kwargs = {} if normalize else dict(normalize_correlation=False)
    model = correlation_net(26, "corrnet", block="concat", kernel_size=3, **TINY, **kwargs)
    assert [layer.normalize for layer in _layers(model, Correlation)] == [normalize] * 3


def test_inference_stays_bounded_after_high_learning_rate_steps():
    """Three SGD steps at lr 0.1 on batches of 2 grow the conv kernels by orders of
    magnitude while BN's moving statistics lag; the raw correlation squares that
    scale error at every block and the inference-mode output overflows (measured
    by `python experiments/correlation_net.py overflow`: corr2 2.1e9, corr3 1e23,
    corr4 inf). The normalised correlation's output stays within its filter's
    magnitude, and the logits stay finite."""
    keras.utils.set_random_seed(0)
    model = correlation_net(26, "corrnet", kernel_size=3, dilation=1, **TINY)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(True), run_eagerly=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 32, 32, 3)).astype("float32")
    before = np.linalg.norm(model.get_layer("res2_block1_2s_conv").kernel)
    model.fit(x, np.array([0, 1, 2, 0, 1, 2]), batch_size=2, epochs=1, shuffle=False, verbose=0)
    assert np.linalg.norm(model.get_layer("res2_block1_2s_conv").kernel) > 10 * before
    names = [f"corr{stage}_correlation" for stage in (2, 3, 4)]
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names + ["logits"]])
    *corr, logits = (np.asarray(out) for out in probe(x[:2], training=False))
    for name, out in zip(names, corr, strict=True):
        bound = np.abs(np.asarray(model.get_layer(name).kernel)).max()
        assert np.isfinite(out).all() and np.abs(out).max() <= bound * (1 + 1e-5), name
    assert np.isfinite(logits).all()


def test_save_and_load_roundtrip():
    model = correlation_net(26, "corrnet", **TINY)
    x = np.random.default_rng(1).uniform(size=(1, 4, 32, 32, 3)).astype("float32")
    expected = np.asarray(model(x))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        revived = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(revived(x)), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    (dict(depth=34), "depth"), (dict(variant="r3d"), "variant"),
    (dict(block="avg"), "block"), (dict(group_size=32), "group_size=32 must divide"),
    (dict(clip_length=0), "clip_length"), (dict(width=0), "width"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        correlation_net(**{**TINY, **kwargs})


def _randomize_batchnorm(model, seed):
    """Non-trivial BN statistics and affine parameters (a pretrained-like backbone)."""
    rng = np.random.default_rng(seed)
    for layer in _layers(model, keras.layers.BatchNormalization):
        gamma, beta, mean, var = layer.get_weights()
        layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                           rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2.0, var.shape)])


@pytest.mark.parametrize("architecture", ["r2plus1d_18", "r2plus1d_34"])
def test_correlation_video_resnet_starts_as_the_plain_backbone(architecture):
    """Zero-gamma restore BN: the pretrained backbone's logits, to 1e-5, at init;
    the blocks sit after res2..res4 and their gammas get a gradient."""
    keras.utils.set_random_seed(0)
    plain = video_resnet(architecture, clip_length=4, input_size=32, num_classes=5)
    _randomize_batchnorm(plain, 0)
    model = correlation_video_resnet(architecture, clip_length=4, input_size=32, num_classes=5,
                                     kernel_size=3, weights_from=plain)
    corr = {layer.name: layer.input.shape[-1] for layer in _layers(model, Correlation)}
    assert corr == {"corr2_correlation": 64, "corr3_correlation": 128,
                    "corr4_correlation": 256}
    names = [layer.name for layer in model.layers]
    last = {"r2plus1d_18": (2, 2, 2), "r2plus1d_34": (3, 4, 6)}[architecture]
    for stage, n in zip((2, 3, 4), last, strict=True):
        assert names.index(f"conv{stage}_block{n}_out") < names.index(f"corr{stage}_reduce_conv")
        assert names.index(f"corr{stage}_out") < names.index(f"conv{stage + 1}_block1_add")
    x = np.random.default_rng(1).normal(size=(2, 4, 32, 32, 3)).astype("float32")
    expected = np.asarray(plain(x, training=False))
    np.testing.assert_allclose(np.asarray(model(x, training=False)), expected,
                               rtol=1e-5, atol=1e-5)
    gammas = [model.get_layer(f"corr{s}_restore_bn").gamma for s in (2, 3, 4)]
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(keras.ops.square(model(x, training=True)))
    grads = tape.gradient(loss, gammas)
    assert all(np.abs(np.asarray(g)).max() > 0 for g in grads)


def test_correlation_video_resnet_bad_group_size():
    with pytest.raises(ValueError, match="group_size=48 must divide the width 64 of res2"):
        correlation_video_resnet("r2plus1d_18", clip_length=4, input_size=32, group_size=48)
