"""VGGish (Hershey et al. 2017) in Keras, weight-compatible with the AudioSet
release (``tensorflow/models`` ``research/audioset/vggish/vggish_slim.py``).

Layer-name mapping (Keras layer -> TF-Slim checkpoint variables
``<prefix>/weights``, ``<prefix>/biases``; shapes identical, convolution
kernels HWIO, dense kernels (in, out), flatten order H, W, C in both):

==========  ==========================
Keras       checkpoint prefix
==========  ==========================
conv1       vggish/conv1
conv2       vggish/conv2
conv3_1     vggish/conv3/conv3_1
conv3_2     vggish/conv3/conv3_2
conv4_1     vggish/conv4/conv4_1
conv4_2     vggish/conv4/conv4_2
fc1_1       vggish/fc1/fc1_1
fc1_2       vggish/fc1/fc1_2
embedding   vggish/fc2
==========  ==========================

The AudioSet PCA/quantisation post-processor is not part of the network.

:func:`convert_vggish_checkpoint` (``actionzoo weights convert-vggish``)
turns the released checkpoint into a Keras ``.weights.h5`` file of
:func:`vggish`.
"""
import os

import keras

CHECKPOINT_NAMES = {
    "conv1": "vggish/conv1", "conv2": "vggish/conv2",
    "conv3_1": "vggish/conv3/conv3_1", "conv3_2": "vggish/conv3/conv3_2",
    "conv4_1": "vggish/conv4/conv4_1", "conv4_2": "vggish/conv4/conv4_2",
    "fc1_1": "vggish/fc1/fc1_1", "fc1_2": "vggish/fc1/fc1_2",
    "embedding": "vggish/fc2",
}


def vggish(input_shape=(96, 64), name="vggish"):
    """Build VGGish: log-mel patch -> 128-d embedding.

    ``(frames, bands)`` input, reshaped to one channel; 3x3 'same' ReLU
    convolutions conv1 (64), pool, conv2 (128), pool, conv3_1-2 (256), pool,
    conv4_1-2 (512), pool (all pools 2x2 stride 2 'same'), flatten, fc1_1 and
    fc1_2 (4096, ReLU), and the embedding fc2 (128) WITHOUT activation (the
    released model's pre-activation embedding). Weights are initialised as in
    the original, N(0, 0.01) truncated and zero biases. At the standard
    ``(96, 64)`` input (0.96 s of 10 ms frames, 64 mel bands) the model has
    72,141,184 parameters.

    Parameters
    ----------
    input_shape : tuple of int, default=(96, 64)
        ``(num_frames, num_bands)`` of a log-mel example; other values change
        the width of fc1_1 and break checkpoint compatibility.
    name : str, default="vggish"
        Model name.

    Returns
    -------
    keras.Model
        Input ``"log_mel"`` ``(batch, frames, bands)``, output (layer
        ``"embedding"``) ``(batch, 128)``.

    Examples
    --------
    >>> model = vggish(input_shape=(16, 16))
    >>> tuple(model.output.shape)
    (None, 128)
    """
    init = {"kernel_initializer": keras.initializers.TruncatedNormal(stddev=0.01),
            "bias_initializer": "zeros"}
    frames, bands = input_shape
    inputs = keras.Input((frames, bands), name="log_mel")
    x = keras.layers.Reshape((frames, bands, 1), name="reshape")(inputs)
    stages = [("conv1",), ("conv2",), ("conv3_1", "conv3_2"), ("conv4_1", "conv4_2")]
    widths = [64, 128, 256, 512]
    for i, (convs, width) in enumerate(zip(stages, widths, strict=True)):
        for conv in convs:
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu",
                                    name=conv, **init)(x)
        x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc1_1", **init)(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc1_2", **init)(x)
    embedding = keras.layers.Dense(128, activation=None, name="embedding", **init)(x)
    return keras.Model(inputs, embedding, name=name)


def set_vggish_weights(model, tensors):
    """Copy weights named as in the TF-Slim checkpoint into a :func:`vggish` model.

    Parameters
    ----------
    model : keras.Model
        Built by :func:`vggish`.
    tensors : Mapping[str, array]
        ``"vggish/conv1/weights"`` -> array etc. (e.g. an ``.npz`` converted
        from the checkpoint); every variable of the mapping table is required.

    Raises
    ------
    KeyError
        A variable is missing from ``tensors`` (its name is given).
    ValueError
        A variable has the wrong shape (name and both shapes are given).
    """
    for layer_name, prefix in CHECKPOINT_NAMES.items():
        layer = model.get_layer(layer_name)
        values = []
        for suffix, variable in (("weights", layer.kernel), ("biases", layer.bias)):
            key = f"{prefix}/{suffix}"
            if key not in tensors:
                raise KeyError(f"VGGish variable {key!r} is missing from the weights")
            value = tensors[key]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"VGGish variable {key!r} has shape {tuple(value.shape)}, "
                                 f"layer {layer_name!r} expects {tuple(variable.shape)}")
            values.append(value)
        layer.set_weights(values)
    return model


def load_vggish_checkpoint(model, checkpoint_path):
    """Load the original AudioSet ``vggish_model.ckpt`` (or any TF checkpoint
    with the same variable names) into a :func:`vggish` model.

    Parameters
    ----------
    model : keras.Model
        Built by :func:`vggish` with the default input shape.
    checkpoint_path : str or path-like
        Checkpoint prefix, e.g. ``".../vggish_model.ckpt"``.

    Returns
    -------
    keras.Model
        ``model``, with the checkpoint's weights.
    """
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(checkpoint_path))
    names = [f"{p}/{s}" for p in CHECKPOINT_NAMES.values() for s in ("weights", "biases")]
    available = reader.get_variable_to_shape_map()
    tensors = {n: reader.get_tensor(n) for n in names if n in available}
    return set_vggish_weights(model, tensors)


def convert_vggish_checkpoint(checkpoint_path, output_path, input_shape=(96, 64)):
    """Convert the AudioSet ``vggish_model.ckpt`` into a Keras weights file.

    Reads the TF-Slim checkpoint of ``tensorflow/models``
    ``research/audioset/vggish`` (variables ``vggish/conv1/weights`` ...
    ``vggish/fc2/biases``, see :data:`CHECKPOINT_NAMES`) with
    ``tf.train.load_checkpoint``, copies it into :func:`vggish` at the
    standard ``(96, 64)`` input and saves the weights (an uncompiled
    model: no optimizer state). The file loads with
    ``vggish().load_weights(output_path)`` and is accepted as
    ``MultiStreamGRU(audio_weights=...)``.

    Parameters
    ----------
    checkpoint_path : str or path-like
        Checkpoint prefix (``".../vggish_model.ckpt"``; the files are
        ``vggish_model.ckpt.index`` / ``.data-*``, or a single TF1 file).
    output_path : str or path-like
        Must end in ``.weights.h5`` (Keras' rule). Written atomically: a
        temporary file in the same folder, renamed when complete.
    input_shape : tuple of int, default=(96, 64)
        Input of the :func:`vggish` built; the release needs ``(96, 64)``
        (it fixes the width of fc1_1). Other values only for checkpoints of
        that other size (the tests use a small one).

    Returns
    -------
    str
        ``output_path`` (``actionzoo.weights.sha256sum`` gives its digest;
        the command prints it).

    Raises
    ------
    ValueError
        ``output_path`` does not end in ``.weights.h5``, the checkpoint
        cannot be read, or a variable has the wrong shape.
    KeyError
        A VGGish variable is missing from the checkpoint (named).
    """
    import tempfile

    import tensorflow as tf

    output_path = os.fspath(output_path)
    if not output_path.endswith(".weights.h5"):
        raise ValueError(f"output {output_path!r} must end in .weights.h5")
    try:
        tf.train.load_checkpoint(os.fspath(checkpoint_path))
    except (tf.errors.OpError, ValueError) as exc:
        message = str(exc).strip().splitlines()
        raise ValueError(f"cannot read the TensorFlow checkpoint {os.fspath(checkpoint_path)!r}: "
                         f"{message[0] if message else type(exc).__name__}") from None
    model = load_vggish_checkpoint(vggish(input_shape=tuple(input_shape)), checkpoint_path)
    folder = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".vggish.", suffix=".weights.h5", dir=folder)
    os.close(fd)
    try:
        model.save_weights(tmp, overwrite=True)
        os.replace(tmp, output_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return output_path
