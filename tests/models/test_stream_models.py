"""Stream CNNs of the multi-stream model: VGGish and the motion CNN."""
import numpy as np
import pytest

from actionzoo.models.motion_cnn import motion_cnn
from actionzoo.models.vggish import (
    CHECKPOINT_NAMES,
    load_vggish_checkpoint,
    set_vggish_weights,
    vggish,
)


def _conv(k, c_in, c_out):
    return k * k * c_in * c_out + c_out


def _dense(n_in, n_out):
    return n_in * n_out + n_out


def test_vggish_full_size_parameter_count_and_output():
    model = vggish()
    # Hershey et al. / AudioSet release: 72.1M parameters
    assert model.count_params() == 72_141_184
    assert tuple(model.input.shape) == (None, 96, 64)
    assert tuple(model.output.shape) == (None, 128)
    assert model.get_layer("embedding").activation.__name__ == "linear"
    assert model.get_layer("fc1_2").activation.__name__ == "relu"
    assert tuple(model.get_layer("fc1_1").kernel.shape) == (6 * 4 * 512, 4096)
    assert {layer.name for layer in model.layers} >= set(CHECKPOINT_NAMES)


def test_vggish_small_input_runs_and_embedding_can_be_negative():
    model = vggish(input_shape=(16, 16))
    x = np.random.default_rng(0).normal(size=(3, 16, 16)).astype("float32")
    out = np.asarray(model(x))
    assert out.shape == (3, 128)
    assert (out < 0).any(), "a ReLU on the 128-d output would make it non-negative"


def _random_vggish_tensors(model, seed=0):
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer_name, prefix in CHECKPOINT_NAMES.items():
        layer = model.get_layer(layer_name)
        tensors[f"{prefix}/weights"] = rng.normal(size=layer.kernel.shape).astype("float32")
        tensors[f"{prefix}/biases"] = rng.normal(size=layer.bias.shape).astype("float32")
    return tensors


def test_set_vggish_weights_maps_names_and_rejects_bad_input():
    model = vggish(input_shape=(16, 16))
    tensors = _random_vggish_tensors(model)
    set_vggish_weights(model, tensors)
    for layer_name, prefix in CHECKPOINT_NAMES.items():
        layer = model.get_layer(layer_name)
        np.testing.assert_array_equal(layer.kernel.numpy(), tensors[f"{prefix}/weights"])
        np.testing.assert_array_equal(layer.bias.numpy(), tensors[f"{prefix}/biases"])
    missing = dict(tensors)
    del missing["vggish/conv3/conv3_2/biases"]
    with pytest.raises(KeyError, match="vggish/conv3/conv3_2/biases"):
        set_vggish_weights(model, missing)
    wrong = dict(tensors, **{"vggish/fc2/weights": np.zeros((4096, 64), "float32")})
    with pytest.raises(ValueError, match="vggish/fc2/weights"):
        set_vggish_weights(model, wrong)


@pytest.mark.slow
def test_load_vggish_checkpoint_from_tf1_saver(tmp_path):
    """A TF1 Saver checkpoint with the slim variable names loads by name."""
    import tensorflow as tf

    model = vggish(input_shape=(16, 16))
    tensors = _random_vggish_tensors(model, seed=1)
    with tf.Graph().as_default():
        placeholders, variables = {}, []
        for name, value in tensors.items():
            placeholders[name] = tf.compat.v1.placeholder(tf.float32, value.shape)
            variables.append(tf.compat.v1.Variable(placeholders[name], name=name))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer(),
                     {placeholders[n]: v for n, v in tensors.items()})
            prefix = saver.save(sess, str(tmp_path / "vggish_model.ckpt"))
    load_vggish_checkpoint(model, prefix)
    np.testing.assert_array_equal(model.get_layer("conv4_1").kernel.numpy(),
                                  tensors["vggish/conv4/conv4_1/weights"])
    np.testing.assert_array_equal(model.get_layer("embedding").bias.numpy(),
                                  tensors["vggish/fc2/biases"])


def _motion_cnn_params(h, w, num_classes=None):
    """Independent count: 'same' convs (ceil(n/s)), 'valid' 3x3/2 pools."""
    pool = lambda n: (n - 3) // 2 + 1  # noqa: E731
    ceil = lambda n, s: -(-n // s)  # noqa: E731
    h5 = pool(pool(ceil(pool(ceil(h, 2)), 2)))
    w5 = pool(pool(ceil(pool(ceil(w, 2)), 2)))
    total = (_conv(7, 20, 96) + 4 * 96 + _conv(5, 96, 256) + _conv(3, 256, 512)
             + 2 * _conv(3, 512, 512) + _dense(h5 * w5 * 512, 4096) + _dense(4096, 2048))
    if num_classes:
        total += _dense(2048, num_classes)
    return total, (h5, w5)


def test_motion_cnn_parameter_count_and_shapes():
    model = motion_cnn(input_shape=(64, 80, 20), num_classes=7)
    expected, (h5, w5) = _motion_cnn_params(64, 80, 7)
    assert model.count_params() == expected
    assert tuple(model.get_layer("pool5").output.shape) == (None, h5, w5, 512)
    assert tuple(model.get_layer("embedding").output.shape) == (None, 2048)
    x = np.random.default_rng(0).normal(size=(2, 64, 80, 20)).astype("float32")
    assert np.asarray(model(x)).shape == (2, 7)
    conv1 = model.get_layer("conv1")
    assert conv1.kernel_size == (7, 7) and conv1.strides == (2, 2) and conv1.filters == 96
    assert [model.get_layer(f"conv{i}").filters for i in range(2, 6)] == [256, 512, 512, 512]
    assert [layer.rate for layer in model.layers if layer.name.startswith("dropout")] == [0.5, 0.5]

    embedder = motion_cnn(input_shape=(64, 80, 20))
    assert tuple(embedder.output.shape) == (None, 2048)
    assert embedder.count_params() == _motion_cnn_params(64, 80)[0]


@pytest.mark.slow
def test_motion_cnn_paper_resolution_parameter_count():
    """Native UCF101 320x240 flow stacks (paper Sec. V-C): conv5 pooled to 6x9."""
    model = motion_cnn()
    assert tuple(model.get_layer("pool5").output.shape) == (None, 6, 9, 512)
    assert model.count_params() == _motion_cnn_params(240, 320)[0] == 128_249_952
