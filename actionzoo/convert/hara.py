"""Key mapping of Hara et al.'s 3D-ResNets-PyTorch Kinetics models (``models/resnet.py``,
``models/resnext.py``) onto :func:`actionzoo.models.resnet3d`.

``conv1``/``bn1`` (stem); block ``b`` of stage ``s`` is ``layer{s-1}.{b-1}``
with ``conv{i}``/``bn{i}`` and, for shortcut B, ``downsample.{0,1}``;
``fc`` the classifier. Shortcut A (ResNet-18/34) has no parameters: it
subsamples and appends zero channels after the input's, as
:class:`actionzoo.layers.ZeroPadShortcut` does.
"""
import re

from actionzoo.models.resnet3d import resnet3d

_BLOCK = re.compile(r"conv(\d)_block(\d+)_(\d)_(conv|bn)")
# architecture -> (depth, cardinality); shortcut A for 18/34, B for 50/101 (resnet3d's default)
_DEPTHS = {"hara_resnet18": (18, 1), "hara_resnet34": (34, 1), "hara_resnet50": (50, 1),
           "hara_resnet101": (101, 1), "hara_resnext101": (101, 32)}


def module_names(model):
    """Keras layer name -> Hara et al.'s module name for a ``resnet3d`` model."""
    mapping = {"conv1_conv": "conv1", "conv1_bn": "bn1", "logits": "fc"}
    for layer in model.layers:
        match = _BLOCK.fullmatch(layer.name)
        if match:
            stage, block, conv, kind = match.groups()
            prefix = f"layer{int(stage) - 1}.{int(block) - 1}"
            if conv == "0":
                mapping[layer.name] = f"{prefix}.downsample.{0 if kind == 'conv' else 1}"
            else:
                mapping[layer.name] = f"{prefix}.{kind}{conv}"
    return mapping


def build(architecture, **kwargs):
    """The ``resnet3d`` of ``architecture`` with ``kwargs``."""
    depth, cardinality = _DEPTHS[architecture]
    return resnet3d(depth=depth, cardinality=cardinality, **kwargs)
