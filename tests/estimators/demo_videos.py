"""Small real demo videos (the synthetic dataset) and tiny backbones for the stream tests."""
import os

import keras
import numpy as np

from actionzoo.data import make_synthetic_dataset


def demo_videos(root, **kwargs):
    """Write the demo dataset at 64x48 and return absolute paths, labels,
    audio flags and the split-1 test mask."""
    options = dict(num_classes=4, groups=3, clips_per_group=2, num_frames=(20, 30),
                   width=64, height=48, verbose=0, n_jobs=1)
    options.update(kwargs)
    info = make_synthetic_dataset(root, **options)
    paths = np.array([os.path.join(root, p) for p in info["paths"]], dtype=object)
    labels = np.array([info["classes"][c] for c in info["labels"]], dtype=object)
    groups = np.array([int(p.rsplit("_g", 1)[1][:2]) for p in info["paths"]])
    test = groups <= options["groups"] // 3
    return paths, labels, np.array(info["has_audio"]), test


def tiny_image_backbone(channels, size=32, width=8, seed=0, normalize=False):
    """A random two-layer CNN with a 4-D output (pooled by the extractor).

    ``normalize``: global-pool and layer-normalise instead, so RGB and flow
    features have one scale (random flow features are ~15x smaller than RGB
    ones; trained backbones do not differ so, and STFN fuses element-wise).
    """
    init = keras.initializers.GlorotUniform(seed=seed)
    head = [keras.layers.GlobalAveragePooling2D(), keras.layers.LayerNormalization()]
    return keras.Sequential([
        keras.Input((size, size, channels)),
        keras.layers.Conv2D(width, 5, strides=2, activation="relu", kernel_initializer=init),
        keras.layers.Conv2D(width, 3, strides=2, activation="relu",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1)),
    ] + (head if normalize else []))


def tiny_audio_backbone(width=8, seed=0):
    """A random dense layer over a 96x64 log-mel example."""
    return keras.Sequential([
        keras.Input((96, 64)), keras.layers.AveragePooling1D(8), keras.layers.Flatten(),
        keras.layers.Dense(width, kernel_initializer=keras.initializers.GlorotUniform(seed=seed)),
    ])
