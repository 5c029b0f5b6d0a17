"""Load a PyTorch state dict into a Keras model, layer by layer, checking every tensor."""
import keras
import numpy as np

# Keras layer type -> [(variable attribute, PyTorch parameter, transform of the source array)]
_CONV_KERNEL = {5: (2, 3, 4, 1, 0), 4: (2, 3, 1, 0)}  # torch (out, in, *k) -> keras (*k, in, out)
_RULES = (
    (keras.layers.DepthwiseConv2D, [("kernel", "weight", lambda w: w.transpose(2, 3, 0, 1)),
                                    ("bias", "bias", None)]),
    (keras.layers.Conv3D, [("kernel", "weight", lambda w: w.transpose(_CONV_KERNEL[5])),
                           ("bias", "bias", None)]),
    (keras.layers.Conv2D, [("kernel", "weight", lambda w: w.transpose(_CONV_KERNEL[4])),
                           ("bias", "bias", None)]),
    (keras.layers.Dense, [("kernel", "weight", lambda w: w.T), ("bias", "bias", None)]),
    (keras.layers.BatchNormalization, [
        ("gamma", "weight", None), ("beta", "bias", None),
        ("moving_mean", "running_mean", None), ("moving_variance", "running_var", None)]),
)
_OPTIONAL = ("num_batches_tracked",)  # BN step counters: absent in pre-0.4.1 files, unused
_SHOWN = 12


class ConversionError(ValueError):
    """A state dict does not fit the Keras model it is converted into."""


def _rules(layer):
    for layer_type, rules in _RULES:
        if isinstance(layer, layer_type):
            return rules
    raise TypeError(f"no conversion rule for {type(layer).__name__} layer {layer.name!r}")


def _listing(items):
    items = list(items)
    more = f" ... and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def assign_state_dict(model, state_dict, module_of, source, target=None):
    """Copy ``state_dict`` into ``model``; every tensor used, every weight set.

    Parameters
    ----------
    model : keras.Model
    state_dict : dict of str to numpy.ndarray
    module_of : dict of str to str
        Keras layer name -> PyTorch module name (``"layer1.0.conv1.0"``), for
        every layer of ``model`` that has weights.
    source : str
        The checkpoint file, named in errors.
    target : str, optional
        What the model is (e.g. the architecture), named in errors; default
        the model's name.

    Raises
    ------
    ConversionError
        Naming the file and every missing key, unused key and shape
        mismatch; the model is left unchanged.
    """
    layers = [layer for layer in model.layers if layer.weights]
    unmapped = [layer.name for layer in layers if layer.name not in module_of]
    if unmapped:
        raise ConversionError(f"{source}: no source module for Keras layers {_listing(unmapped)}")
    assignments, missing, mismatched, used = [], [], [], set()
    for layer in layers:
        module = module_of[layer.name]
        for attribute, parameter, transform in _rules(layer):
            variable = getattr(layer, attribute, None)
            if variable is None:
                continue
            key = f"{module}.{parameter}"
            if key not in state_dict:
                missing.append(key)
                continue
            used.add(key)
            value = np.asarray(state_dict[key])
            if transform is not None and value.ndim == len(variable.shape):
                value = transform(value)
            if value.shape != tuple(variable.shape):
                mismatched.append(f"{key} {tuple(state_dict[key].shape)} -> {layer.name}."
                                  f"{attribute} {tuple(variable.shape)}")
                continue
            assignments.append((variable, value))
        used.update(f"{module}.{name}" for name in _OPTIONAL)
    unused = [k for k in state_dict if k not in used]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unused:
        problems.append(f"unmapped keys: {_listing(unused)}")
    if mismatched:
        problems.append(f"shape mismatches: {_listing(mismatched)}")
    if problems:
        raise ConversionError(f"{source} does not fit {target or model.name}: "
                              + "; ".join(problems))
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype))
