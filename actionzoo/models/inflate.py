"""Initialise a 3D CNN from a 2D CNN by inflating its kernels over time (I3D style)."""
import keras
import numpy as np

_TIME_INITS = ("repeat", "center")


def _inflate_kernel(kernel_2d, kt, time_init):
    if time_init == "repeat":
        return np.repeat(kernel_2d[None], kt, axis=0) / kt
    kernel = np.zeros((kt,) + kernel_2d.shape, kernel_2d.dtype)
    kernel[kt // 2] = kernel_2d
    return kernel


def _following_bn(model, conv):
    """The BatchNormalization layer that alone consumes ``conv``'s output, or None."""
    layers = {id(layer) for layer in model.layers}
    consumers = {id(node.operation): node.operation for node in conv._outbound_nodes
                 if id(node.operation) in layers}
    consumers = list(consumers.values())
    if len(consumers) == 1 and isinstance(consumers[0], keras.layers.BatchNormalization):
        return consumers[0]
    return None


def _get_2d(model_2d, name):
    try:
        return model_2d.get_layer(name)
    except ValueError:
        return None


def inflate_from_2d(model_2d, model_3d, time_init="repeat"):
    """Copy a 2D network's weights into a 3D network by layer name, in place.

    Layers are matched by name (``resnet3d`` uses ``keras.applications``
    ResNet names: ``conv1_conv``, ``conv2_block1_1_bn``, ...), so
    ``keras.applications.ResNet50/101`` or any 2D model with the same layer
    names and shapes can be inflated into the matching ``resnet3d`` (use
    ``downsample="1x1"`` for ``keras.applications`` ResNets, which stride the
    first 1x1 conv of a bottleneck).

    - ``Conv2D`` -> ``Conv3D`` of temporal size ``kt``: with
      ``time_init="repeat"`` (I3D, the paper's inflation) the 2D kernel is
      repeated ``kt`` times and divided by ``kt``; with ``"center"`` it sits
      in the middle temporal slice, zeros elsewhere. A 2D conv bias that the
      bias-free 3D conv cannot hold is folded into the following
      BatchNormalization (``moving_mean -= bias``), which is exact.
    - ``BatchNormalization``: gamma, beta and statistics are copied; the
      variance is shifted by ``eps_2d - eps_3d`` so the normalisation is
      identical despite different epsilons.
    - ``Dense`` layers of equal shape are copied.

    On a clip of identical frames the inflated network reproduces the 2D
    network's activations at every frame with ``"center"``. With ``"repeat"``
    it does so at frames whose temporal receptive field does not reach the
    clip's zero-padded ends (3D ResNets pad time with zeros, so a repeated
    kernel sees fewer real frames there); the pooled embedding of a short
    clip therefore differs from the 2D one near the boundaries.

    Parameters
    ----------
    model_2d : keras.Model
        Source network (e.g. ``keras.applications.ResNet50``).
    model_3d : keras.Model
        Target network, modified in place.
    time_init : {"repeat", "center"}, default="repeat"

    Returns
    -------
    dict
        ``inflated``: 3D layer names that received 2D weights;
        ``skipped``: 3D layers with weights and no 2D counterpart (e.g. STC
        blocks, a new classifier), left as initialised;
        ``unused``: 2D layers with weights that were not copied (no
        same-named 3D layer, or a Dense of another shape).

    Raises
    ------
    ValueError
        If a same-named pair of layers has incompatible types or shapes, or a
        2D bias cannot be folded.

    Examples
    --------
    >>> import keras
    >>> from actionzoo.models.resnet3d import resnet3d
    >>> teacher = keras.applications.ResNet50(weights=None, include_top=False,
    ...                                       input_shape=(32, 32, 3))
    >>> student = resnet3d(depth=50, downsample="1x1", clip_length=4,
    ...                    input_size=32, num_classes=10)
    >>> report = inflate_from_2d(teacher, student)
    >>> len(report["inflated"]), report["skipped"]
    (106, ['logits'])
    """
    if time_init not in _TIME_INITS:
        raise ValueError(f"time_init must be one of {_TIME_INITS}, got {time_init!r}")
    report = {"inflated": [], "skipped": [], "unused": []}
    bias_folds = {}  # 3D BN layer name -> 2D conv bias to subtract from its mean
    bns = []
    for layer in model_3d.layers:
        if not layer.weights:
            continue
        src = _get_2d(model_2d, layer.name)
        if src is None or not src.weights:
            report["skipped"].append(layer.name)
            continue
        if isinstance(layer, keras.layers.Conv3D) and isinstance(src, keras.layers.Conv2D):
            _copy_conv(src, layer, model_3d, time_init, bias_folds)
        elif (isinstance(layer, keras.layers.BatchNormalization)
              and isinstance(src, keras.layers.BatchNormalization)):
            bns.append((src, layer))  # after all convs: may need a folded bias
        elif isinstance(layer, keras.layers.Dense) and isinstance(src, keras.layers.Dense):
            if [tuple(w.shape) for w in src.weights] != [tuple(w.shape) for w in layer.weights]:
                report["skipped"].append(layer.name)
                continue
            layer.set_weights(src.get_weights())
        else:
            raise ValueError(f"cannot inflate {type(src).__name__} {src.name!r} into "
                             f"{type(layer).__name__} {layer.name!r}")
        report["inflated"].append(layer.name)
    for src, layer in bns:
        _copy_bn(src, layer, bias_folds.pop(layer.name, None))
    inflated = set(report["inflated"])
    report["unused"] = [layer.name for layer in model_2d.layers
                        if layer.weights and layer.name not in inflated]
    return report


def _copy_conv(src, layer, model_3d, time_init, bias_folds):
    kernel_2d = keras.ops.convert_to_numpy(src.kernel)
    kernel_3d_shape = tuple(layer.kernel.shape)
    if kernel_3d_shape[1:] != kernel_2d.shape:
        raise ValueError(f"layer {layer.name!r}: 2D kernel {kernel_2d.shape} does not match "
                         f"3D kernel {kernel_3d_shape} over (H, W, C_in, C_out)")
    layer.kernel.assign(_inflate_kernel(kernel_2d, kernel_3d_shape[0], time_init))
    if not src.use_bias:
        if layer.use_bias:
            layer.bias.assign(np.zeros(layer.bias.shape, "float32"))
        return
    bias = keras.ops.convert_to_numpy(src.bias)
    if layer.use_bias:
        layer.bias.assign(bias)
        return
    bn = _following_bn(model_3d, layer)
    if bn is None:
        raise ValueError(f"2D layer {src.name!r} has a bias, the 3D conv has none and no "
                         "BatchNormalization alone follows it to absorb it")
    bias_folds[bn.name] = bias


def _copy_bn(src, layer, folded_bias):
    if (src.gamma is None) != (layer.gamma is None) or (src.beta is None) != (layer.beta is None):
        raise ValueError(f"BatchNormalization {layer.name!r}: center/scale differ "
                         f"between 2D and 3D")
    if src.gamma is not None:
        layer.gamma.assign(src.gamma)
    if src.beta is not None:
        layer.beta.assign(src.beta)
    mean = keras.ops.convert_to_numpy(src.moving_mean)
    if folded_bias is not None:  # BN(conv + b) with mean m == BN(conv) with mean m - b
        mean = mean - folded_bias
    var = keras.ops.convert_to_numpy(src.moving_variance) + (src.epsilon - layer.epsilon)
    if np.any(var <= 0):
        raise ValueError(f"BatchNormalization {layer.name!r}: epsilon {layer.epsilon} > 2D epsilon "
                         f"{src.epsilon} leaves a non-positive variance")
    layer.moving_mean.assign(mean)
    layer.moving_variance.assign(var)
