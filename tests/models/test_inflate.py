"""2D -> 3D inflation: a clip of identical frames reproduces the 2D network's activations."""
import keras
import numpy as np
import pytest
from keras import ops

from actionzoo.models.inflate import inflate_from_2d
from actionzoo.models.resnet3d import resnet3d

WIDTH = 0.125  # stage widths 8-16-32-64


def _conv_bn(x, filters, kernel, stride, name, relu=True):
    if stride > 1 and kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(filters, kernel, strides=stride, use_bias=True,
                            padding="same" if stride == 1 else "valid", name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _resnet18_2d(size):
    """A 2D ResNet-18 (shortcut B) with resnet3d's layer names, biased convs and BN eps 1e-3."""
    inputs = keras.Input((size, size, 3))
    x = _conv_bn(inputs, 8, 7, 2, "conv1")
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, planes in enumerate((8, 16, 32, 64)):
        for b in range(2):
            name, stride = f"conv{stage + 2}_block{b + 1}", 2 if stage and not b else 1
            r = _conv_bn(x, planes, 3, stride, f"{name}_1")
            r = _conv_bn(r, planes, 3, 1, f"{name}_2", relu=False)
            if stride == 1 and x.shape[-1] == planes:
                s = x
            else:
                s = _conv_bn(x, planes, 1, stride, f"{name}_0", relu=False)
            x = keras.layers.Add(name=f"{name}_add")([s, r])
            x = keras.layers.Activation("relu", name=f"{name}_out")(x)
    x = keras.layers.GlobalAveragePooling2D(name="embedding")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def _randomise(model_2d, seed=0):
    """Non-trivial BN statistics and conv biases, so folding and epsilon shifts are exercised."""
    rng = np.random.default_rng(seed)
    for layer in model_2d.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c),
                               rng.normal(0, 0.1, c), rng.uniform(0.5, 2.0, c)])
        elif isinstance(layer, keras.layers.Conv2D) and layer.use_bias:
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape))


def _frame_and_clip(size, t, seed=1):
    frame = np.random.default_rng(seed).normal(size=(1, size, size, 3)).astype("float32")
    return frame, np.repeat(frame[:, None], t, axis=1)


def _features(model, layer, x):
    return ops.convert_to_numpy(keras.Model(model.input, model.get_layer(layer).output)(x))


def _assert_close(actual, expected):
    scale = np.abs(expected).max()
    assert scale > 0
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5 * scale)


def test_center_init_reproduces_2d_logits_on_identical_frames():
    teacher = _resnet18_2d(32)
    student = resnet3d(depth=18, shortcut="B", clip_length=4, input_size=32, num_classes=3,
                       width=WIDTH)
    _randomise(teacher)
    report = inflate_from_2d(teacher, student, time_init="center")
    n_weighted = sum(1 for layer in student.layers if layer.weights)
    weighted_names = [layer.name for layer in student.layers if layer.weights]
    assert report == {"inflated": weighted_names, "skipped": [], "unused": []}
    assert len(report["inflated"]) == n_weighted
    frame, clip = _frame_and_clip(32, 4)
    _assert_close(ops.convert_to_numpy(student(clip)), ops.convert_to_numpy(teacher(frame)))
    # every frame of an intermediate map equals the 2D map, not just their mean
    feats_3d = _features(student, "conv2_block2_out", clip)
    feats_2d = _features(teacher, "conv2_block2_out", frame)
    for t in range(feats_3d.shape[1]):
        _assert_close(feats_3d[:, t], feats_2d)


def test_repeat_init_is_exact_away_from_the_zero_padded_clip_ends():
    teacher = _resnet18_2d(32)
    student = resnet3d(depth=18, shortcut="B", clip_length=32, input_size=32, num_classes=3,
                       width=WIDTH)
    _randomise(teacher)
    inflate_from_2d(teacher, student)  # "repeat": kernel / kt at each of kt time steps
    kernel_2d = ops.convert_to_numpy(teacher.get_layer("conv1_conv").kernel)
    kernel_3d = ops.convert_to_numpy(student.get_layer("conv1_conv").kernel)
    np.testing.assert_allclose(kernel_3d, np.repeat(kernel_2d[None] / 7, 7, axis=0))
    frame, clip = _frame_and_clip(32, 32)
    feats_3d = _features(student, "conv2_block2_out", clip)
    feats_2d = _features(teacher, "conv2_block2_out", frame)
    # 16 time steps after pool1. The stem's 7-frame kernel reaches the zero padding at
    # frames 0-2 (pool1 outputs 0-1), each of the four 3x3x3 convs widens that by one step.
    assert feats_3d.shape[1] == 16
    for t in range(6, 10):
        _assert_close(feats_3d[:, t], feats_2d)
    assert not np.allclose(feats_3d[:, 0], feats_2d, atol=1e-3 * np.abs(feats_2d).max())


def test_stc_and_new_classifier_are_reported_as_skipped():
    teacher = _resnet18_2d(32)
    student = resnet3d(depth=18, shortcut="B", stc=True, clip_length=4, input_size=32,
                       num_classes=7, width=WIDTH)
    report = inflate_from_2d(teacher, student)
    stc_layers = [layer.name for layer in student.layers if layer.name.endswith("_stc")]
    assert report["skipped"] == stc_layers + ["logits"]
    assert report["unused"] == ["logits"]  # 3 classes in 2D, 7 in 3D


def test_incompatible_layers_are_a_clear_error():
    teacher = _resnet18_2d(32)
    student = resnet3d(depth=18, shortcut="B", clip_length=4, input_size=32, width=0.25)
    with pytest.raises(ValueError, match="conv1_conv"):
        inflate_from_2d(teacher, student)
    with pytest.raises(ValueError, match="time_init"):
        inflate_from_2d(teacher, student, time_init="mean")


def test_unfoldable_bias_is_a_clear_error():
    inp = keras.Input((8, 8, 3))
    teacher = keras.Model(inp, keras.layers.Conv2D(4, 3, name="c")(inp))
    inp3 = keras.Input((2, 8, 8, 3))
    student = keras.Model(inp3, keras.layers.Conv3D(4, 3, use_bias=False, name="c")(inp3))
    with pytest.raises(ValueError, match="bias"):
        inflate_from_2d(teacher, student)


def test_keras_applications_resnet50_inflates_exactly():
    teacher = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    _randomise(teacher)
    frame, clip = _frame_and_clip(32, 2)
    student = resnet3d(depth=50, downsample="1x1", clip_length=2, input_size=32, include_top=False)
    report = inflate_from_2d(teacher, student, time_init="center")
    assert report["skipped"] == [] and report["unused"] == []
    pooled_2d = ops.convert_to_numpy(keras.layers.GlobalAveragePooling2D()(teacher(frame)))
    _assert_close(ops.convert_to_numpy(student(clip)), pooled_2d)
