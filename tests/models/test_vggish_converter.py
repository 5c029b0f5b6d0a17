"""AudioSet VGGish checkpoint -> Keras weights (`actionzoo weights convert-vggish`).

No network: a TF1 checkpoint with the release's variable names and shapes
(``vggish_slim.py``) is written from random values with
``tf.compat.v1.train.Saver``, the way ``vggish_model.ckpt`` was made, and
read back through ``tf.train.load_checkpoint`` like the real file. The
converted Keras model must compute what an independent forward pass of the
slim graph computes from the checkpoint arrays (3x3 SAME conv + ReLU,
2x2/2 SAME max pool, flatten H-W-C, fc + ReLU, fc2 linear).
"""
import os
import time

import numpy as np
import pytest
import tensorflow as tf

from actionzoo.cli import main
from actionzoo.data.logmel import log_mel_examples
from actionzoo.models.vggish import convert_vggish_checkpoint, vggish
from actionzoo.weights import sha256sum

pytestmark = pytest.mark.timeout(300)



def slim_shapes(frames=96, bands=64):
    """vggish_slim.py's variables: name prefix -> (kernel shape, bias size)."""
    pooled = -(-frames // 16) * -(-bands // 16) * 512  # four 2x2/2 SAME pools
    return {
        "vggish/conv1": ((3, 3, 1, 64), 64),
        "vggish/conv2": ((3, 3, 64, 128), 128),
        "vggish/conv3/conv3_1": ((3, 3, 128, 256), 256),
        "vggish/conv3/conv3_2": ((3, 3, 256, 256), 256),
        "vggish/conv4/conv4_1": ((3, 3, 256, 512), 512),
        "vggish/conv4/conv4_2": ((3, 3, 512, 512), 512),
        "vggish/fc1/fc1_1": ((pooled, 4096), 4096),
        "vggish/fc1/fc1_2": ((4096, 4096), 4096),
        "vggish/fc2": ((4096, 128), 128),
    }


def write_checkpoint(folder, frames=96, bands=64):
    """A TF1 Saver checkpoint of random VGGish weights: (prefix, arrays)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, (shape, units) in slim_shapes(frames, bands).items():
        fan_in = int(np.prod(shape[:-1]))  # He scale: activations neither vanish nor explode
        arrays[f"{prefix}/weights"] = (rng.standard_normal(shape, np.float32)
                                       * np.float32(np.sqrt(2.0 / fan_in)))
        arrays[f"{prefix}/biases"] = rng.normal(0, 0.1, units).astype(np.float32)
    with tf.Graph().as_default():
        feeds, variables = {}, []
        for name, value in arrays.items():
            feeds[name] = tf.compat.v1.placeholder(tf.float32, value.shape)
            variables.append(tf.compat.v1.Variable(feeds[name], name=name))
        # the release also holds a global step; the converter must ignore extras
        variables.append(tf.compat.v1.Variable(0, name="global_step"))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer(),
                     {feeds[n]: v for n, v in arrays.items()})
            prefix = saver.save(sess, str(folder / "vggish_model.ckpt"), write_meta_graph=False)
    return prefix, arrays


def log_mel(frames=96, bands=64):
    """Two log-mel examples of a two-tone sound, cut to ``(frames, bands)``."""
    t = np.arange(16000 * 2) / 16000.0
    wave = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)
    examples = np.asarray(log_mel_examples(wave.astype(np.float32), 16000))[:2]
    assert examples.shape == (2, 96, 64)
    return examples[:, :frames, :bands]


def slim_forward(arrays, log_mel):
    """The slim graph of vggish_slim.py, straight from the checkpoint arrays."""
    x = tf.constant(log_mel[..., None], tf.float32)
    stages = [["conv1"], ["conv2"], ["conv3/conv3_1", "conv3/conv3_2"],
              ["conv4/conv4_1", "conv4/conv4_2"]]
    for convs in stages:
        for conv in convs:
            w, b = arrays[f"vggish/{conv}/weights"], arrays[f"vggish/{conv}/biases"]
            x = tf.nn.relu(tf.nn.conv2d(x, w, strides=1, padding="SAME") + b)
        x = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME")
    x = tf.reshape(x, (x.shape[0], -1))
    for fc in ("fc1/fc1_1", "fc1/fc1_2"):
        x = tf.nn.relu(x @ arrays[f"vggish/{fc}/weights"] + arrays[f"vggish/{fc}/biases"])
    return (x @ arrays["vggish/fc2/weights"] + arrays["vggish/fc2/biases"]).numpy()


def check_same_embeddings(model, arrays, examples):
    expected = slim_forward(arrays, examples)
    got = model.predict(examples, verbose=0)
    assert np.abs(expected).max() > 1.0  # a non-trivial embedding
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_convert_small_vggish_matches_the_slim_forward_pass(tmp_path):
    """Fast: the same conversion at a 16x16 input (fc1_1 is 512 x 4096)."""
    prefix, arrays = write_checkpoint(tmp_path, 16, 16)
    out = convert_vggish_checkpoint(prefix, tmp_path / "small.weights.h5", input_shape=(16, 16))
    assert out == str(tmp_path / "small.weights.h5")
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".vggish.")]  # no temp left
    model = vggish(input_shape=(16, 16))
    model.load_weights(out)
    check_same_embeddings(model, arrays, log_mel(16, 16))


@pytest.mark.slow
def test_convert_vggish_command_on_a_full_size_checkpoint(tmp_path, capsys):
    """The command on a checkpoint of the release's size (72M parameters, 288 MB)."""
    start = time.perf_counter()
    prefix, arrays = write_checkpoint(tmp_path)
    build_seconds = time.perf_counter() - start
    out = tmp_path / "vggish_audioset.weights.h5"
    start = time.perf_counter()
    assert main(["weights", "convert-vggish", prefix, str(out)]) == 0
    convert_seconds = time.perf_counter() - start
    printed = capsys.readouterr().out
    assert f"sha256 {sha256sum(out)}" in printed and str(out) in printed
    model = vggish()
    model.load_weights(out)
    check_same_embeddings(model, arrays, log_mel())
    print(f"checkpoint {build_seconds:.1f} s, convert {convert_seconds:.1f} s")


def test_convert_vggish_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        convert_vggish_checkpoint(tmp_path / "vggish_model.ckpt", tmp_path / "vggish.h5")
    code = main(["weights", "convert-vggish", str(tmp_path / "missing.ckpt"),
                 str(tmp_path / "v.weights.h5")])
    err = capsys.readouterr().err
    assert code == 1 and "missing.ckpt" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "v.weights.h5").exists()
