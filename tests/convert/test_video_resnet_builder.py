"""The video ResNet builder: torchvision's published sizes, and the stage hook that inserts
blocks between stages (CorrNet on a pretrained backbone) while keeping the layer names."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from actionzoo.flops import count_flops
from actionzoo.models import video_resnet


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# torchvision's model documentation: parameters and GFLOPS at 16x112x112
@pytest.mark.parametrize("architecture, params, gflops", [
    ("r3d_18", 33_371_472, 40.70), ("mc3_18", 11_695_440, 43.34),
    ("r2plus1d_18", 31_505_325, 40.52)])
def test_sizes_match_torchvision(architecture, params, gflops):
    model = video_resnet(architecture)
    assert _trainable(model) == params
    assert round(count_flops(model) / 1e9, 2) == gflops


def test_stage_hook_inserts_blocks_and_weights_copy_by_name():
    plain = video_resnet("r2plus1d_18", clip_length=4, input_size=32, num_classes=3)
    seen = []

    def scale_after(x, stage):
        seen.append((stage, tuple(x.shape[1:])))
        if stage == 5:
            return x
        return keras.layers.Rescaling(1.0, name=f"inserted_{stage}")(x)

    hooked = video_resnet("r2plus1d_18", clip_length=4, input_size=32, num_classes=3,
                          stage_hook=scale_after)
    # no max pool: res2 keeps the stem's 16x16, each later stage halves time and space
    assert seen == [(2, (4, 16, 16, 64)), (3, (2, 8, 8, 128)), (4, (1, 4, 4, 256)),
                    (5, (1, 2, 2, 512))]
    assert [hooked.get_layer(f"inserted_{s}") for s in (2, 3, 4)]
    for layer in plain.layers:
        if layer.weights:
            hooked.get_layer(layer.name).set_weights(layer.get_weights())
    clip = np.random.default_rng(0).normal(size=(2, 4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(hooked(clip)), np.asarray(plain(clip)), rtol=1e-5,
                               atol=1e-5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(hooked(clip, training=True) ** 2)
    grads = tape.gradient(loss, hooked.trainable_weights)
    assert all(g is not None for g in grads)
    assert float(tf.reduce_max(tf.abs(grads[0]))) > 0


def test_unknown_architecture():
    with pytest.raises(ValueError, match="r2plus1d_18"):
        video_resnet("r2plus1d_50")
