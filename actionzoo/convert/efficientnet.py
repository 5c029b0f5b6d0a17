"""Key mapping of the EfficientNet-Lite PyTorch port (``efficientnet_lite_pytorch``, the
module tree of lukemelas' EfficientNet-PyTorch) onto
:func:`actionzoo.models.efficientnet_lite.efficientnet_lite0`.

``_conv_stem``/``_bn0``; block ``i`` is ``_blocks.{i}`` with
``_expand_conv``/``_bn0``, ``_depthwise_conv``/``_bn1``,
``_project_conv``/``_bn2``; ``_conv_head``/``_bn1`` and ``_fc``.
"""
import re

from actionzoo.models.efficientnet_lite import efficientnet_lite0

_FIXED = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "top_conv": "_conv_head",
          "top_bn": "_bn1", "predictions": "_fc"}
_BLOCK_PARTS = {"expand_conv": "_expand_conv", "expand_bn": "_bn0", "dwconv": "_depthwise_conv",
                "dw_bn": "_bn1", "project_conv": "_project_conv", "project_bn": "_bn2"}
_BLOCK = re.compile(r"block(\d+)_(\w+)")


def module_names(model):
    """Keras layer name -> PyTorch module name for an ``efficientnet_lite0`` model."""
    mapping = dict(_FIXED)
    for layer in model.layers:
        match = _BLOCK.fullmatch(layer.name)
        if match and match.group(2) in _BLOCK_PARTS:
            mapping[layer.name] = f"_blocks.{match.group(1)}.{_BLOCK_PARTS[match.group(2)]}"
    return mapping


def build(architecture, input_size=None, num_classes=1000, **kwargs):
    """``efficientnet_lite0`` taking the converters' ``input_size`` and ``num_classes``."""
    if input_size is not None:
        height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
        kwargs["input_shape"] = (height, width, 3)
    return efficientnet_lite0(classes=num_classes, **kwargs)
