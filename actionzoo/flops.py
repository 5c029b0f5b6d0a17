"""Multiply-add ("FLOP", as in the papers) and parameter counts of Keras models.

:func:`count_flops` walks a functional model's graph symbolically (nothing is
executed) and adds, for every layer call, the multiply-adds of one input
sample, given by a per-layer-type rule:

- convolutions (``Conv1D/2D/3D``, transposed, depthwise, separable):
  ``output elements * kernel volume * input channels / groups``;
- ``Dense`` / ``EinsumDense``: ``inputs * units`` per position;
- pooling: ``output elements * window volume``; global pooling: input
  elements;
- recurrent layers (``SimpleRNN``, ``GRU``, ``LSTM``): ``timesteps * gates *
  units * (input features + units)`` (gates: 1, 3, 4); ``Bidirectional``:
  its forward and backward layers;
- the project's own layers register their rules beside their code
  (:class:`~actionzoo.layers.Correlation`: ``C * K * K * L * H * W``, Wang et
  al., Table 1; :class:`~actionzoo.layers.STCBlock`); importing
  :mod:`actionzoo.layers` registers them;
- normalisation, activations, merges, reshapes, dropout: 0 (the usual
  convention of the papers: only multiply-add-heavy ops count);
- nested models: the sum over their own graph.

A layer type without a rule raises ``TypeError``; register one with
:func:`register_flops`::

    @register_flops(MyLayer)
    def _(layer, input_shapes, output_shapes):
        return ...  # multiply-adds of one sample; shapes exclude the batch

Rules are looked up along the class's MRO, so subclasses inherit them.
"""
import math

import keras

_RULES = {}

_ZERO_COST = (
    keras.layers.InputLayer, keras.layers.BatchNormalization,
    keras.layers.LayerNormalization, keras.layers.GroupNormalization,
    keras.layers.UnitNormalization, keras.layers.Normalization,
    keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
    keras.layers.PReLU, keras.layers.ELU, keras.layers.Softmax,
    keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply,
    keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum,
    keras.layers.Concatenate, keras.layers.Reshape, keras.layers.Flatten,
    keras.layers.Permute, keras.layers.RepeatVector, keras.layers.Dropout,
    keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D, keras.layers.GaussianNoise,
    keras.layers.GaussianDropout, keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D, keras.layers.ZeroPadding3D,
    keras.layers.Cropping1D, keras.layers.Cropping2D, keras.layers.Cropping3D,
    keras.layers.Identity, keras.layers.Lambda, keras.layers.Rescaling,
)


def register_flops(layer_cls):
    """Decorator registering ``fn(layer, input_shapes, output_shapes) -> int``.

    ``input_shapes`` / ``output_shapes`` are lists of per-sample shapes (the
    batch dimension removed), one per input / output tensor of the call.
    """
    def decorator(fn):
        _RULES[layer_cls] = fn
        return fn
    return decorator


def _prod(shape):
    return math.prod(int(d) for d in shape)


for _cls in _ZERO_COST:
    register_flops(_cls)(lambda layer, ins, outs: 0)


def _conv(layer, ins, outs):
    kernel_volume = _prod(layer.kernel_size)
    cin = ins[0][-1] if layer.data_format == "channels_last" else ins[0][0]
    return _prod(outs[0]) * kernel_volume * cin // layer.groups


for _cls in (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
             keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
             keras.layers.Conv3DTranspose):
    register_flops(_cls)(_conv)


@register_flops(keras.layers.DepthwiseConv2D)
@register_flops(keras.layers.DepthwiseConv1D)
def _depthwise(layer, ins, outs):
    return _prod(outs[0]) * _prod(layer.kernel_size)


@register_flops(keras.layers.SeparableConv2D)
@register_flops(keras.layers.SeparableConv1D)
def _separable(layer, ins, outs):
    cin = ins[0][-1] if layer.data_format == "channels_last" else ins[0][0]
    spatial = _prod(outs[0][:-1] if layer.data_format == "channels_last" else outs[0][1:])
    depth = spatial * cin * layer.depth_multiplier * _prod(layer.kernel_size)
    return depth + spatial * cin * layer.depth_multiplier * layer.filters


@register_flops(keras.layers.Dense)
def _dense(layer, ins, outs):
    return _prod(ins[0]) * layer.units


@register_flops(keras.layers.EinsumDense)
def _einsum_dense(layer, ins, outs):
    return _prod(outs[0]) * _prod(layer.kernel.shape) // max(
        1, _prod(d for d in layer.kernel.shape if d in outs[0]))


def _pool(layer, ins, outs):
    return _prod(outs[0]) * _prod(layer.pool_size)


for _cls in (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D,
             keras.layers.MaxPooling3D, keras.layers.AveragePooling1D,
             keras.layers.AveragePooling2D, keras.layers.AveragePooling3D):
    register_flops(_cls)(_pool)

for _cls in (keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D,
             keras.layers.GlobalAveragePooling3D, keras.layers.GlobalMaxPooling1D,
             keras.layers.GlobalMaxPooling2D, keras.layers.GlobalMaxPooling3D):
    register_flops(_cls)(lambda layer, ins, outs: _prod(ins[0]))


_GATES = {keras.layers.SimpleRNN: 1, keras.layers.GRU: 3, keras.layers.LSTM: 4}


def _recurrent(layer, ins, outs):
    timesteps, features = ins[0][-2], ins[0][-1]
    return timesteps * _GATES[type(layer)] * layer.units * (features + layer.units)


for _cls in _GATES:
    register_flops(_cls)(_recurrent)


@register_flops(keras.layers.Bidirectional)
def _bidirectional(layer, ins, outs):
    return sum(int(_rule(inner)(inner, ins, outs))
               for inner in (layer.forward_layer, layer.backward_layer))


def _rule(layer):
    for cls in type(layer).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    return None


def _per_sample(tensors):
    shapes = []
    for t in tensors:
        shape = tuple(t.shape)[1:]
        if any(d is None for d in shape):
            raise ValueError(f"count_flops needs static shapes; got {tuple(t.shape)} "
                             "(build the model with a fixed input shape)")
        shapes.append(shape)
    return shapes


def count_flops(model):
    """Multiply-adds of one forward pass of one sample through ``model``.

    Parameters
    ----------
    model : keras.Model
        A functional (or Sequential) model with static input shapes.

    Returns
    -------
    int
        Multiply-adds; divide by 1e9 for the "GFLOPs" of the papers.

    Raises
    ------
    TypeError
        If a layer type has no rule (see :func:`register_flops`).

    Examples
    --------
    >>> import keras
    >>> x = keras.Input((8, 8, 3))
    >>> y = keras.layers.Conv2D(4, 3, padding="same")(x)
    >>> count_flops(keras.Model(x, y)) == 8 * 8 * 4 * 3 * 3 * 3
    True
    """
    if isinstance(model, keras.Sequential) and getattr(model, "_functional", None):
        model = model._functional  # a built Sequential keeps its graph there
    if not hasattr(model, "_nodes_by_depth"):
        raise TypeError(f"count_flops needs a functional or Sequential model, got "
                        f"{type(model).__name__} (subclassed models have no graph)")
    total = 0
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            layer = node.operation
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if hasattr(layer, "_nodes_by_depth"):  # nested model
                total += count_flops(layer)
                continue
            rule = _rule(layer)
            if rule is None:
                raise TypeError(
                    f"count_flops has no rule for layer {layer.name!r} of type "
                    f"{type(layer).__name__}; register one with "
                    "actionzoo.flops.register_flops")
            total += int(rule(layer, _per_sample(node.input_tensors),
                              _per_sample(node.outputs)))
    return total


def count_params(model, trainable_only=False):
    """Number of (trainable) scalar weights of ``model``."""
    weights = model.trainable_weights if trainable_only else model.weights
    return int(sum(_prod(w.shape) for w in weights))
