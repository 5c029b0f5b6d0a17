"""Key mapping of torchvision's ``VideoResNet`` state dicts (R3D-18, MC3-18, R(2+1)D-18 and
the IG-65M / VMZ R(2+1)D-34 of ig65m-pytorch, which uses the same module tree).

``stem.{0,1}`` (conv, BN) and for R(2+1)D ``stem.{3,4}``; block ``b`` of
stage ``s`` is ``layer{s-1}.{b-1}`` with ``conv{i}.0`` the conv (for
(2+1)D ``conv{i}.0.0`` spatial conv, ``.0.1`` its BN, ``.0.3`` temporal
conv), ``conv{i}.1`` the block BN and ``downsample.{0,1}`` the shortcut;
``fc`` the classifier.
"""
import re

from actionzoo.models.video_resnet import video_resnet

_BLOCK = re.compile(r"conv(\d)_block(\d+)_(\d)(_spatial)?_(conv|bn)")


def _stem(name, factorised):
    spatial = name.startswith("conv1_spatial")
    index = {(True, "conv"): 0, (True, "bn"): 1, (False, "conv"): 3 if factorised else 0,
             (False, "bn"): 4 if factorised else 1}[spatial, name.rsplit("_", 1)[1]]
    return f"stem.{index}"


def module_names(model):
    """Keras layer name -> torchvision module name for a ``video_resnet`` model."""
    names = {layer.name for layer in model.layers}
    factorised = "conv1_spatial_conv" in names
    mapping = {}
    for name in names:
        if name == "logits":
            mapping[name] = "fc"
        elif name.startswith("conv1_") and name.endswith(("_conv", "_bn")):
            mapping[name] = _stem(name, factorised)
        elif (match := _BLOCK.fullmatch(name)):
            stage, block, conv, spatial, kind = match.groups()
            prefix = f"layer{int(stage) - 1}.{int(block) - 1}"
            if conv == "0":
                mapping[name] = f"{prefix}.downsample.{0 if kind == 'conv' else 1}"
            elif spatial:
                mapping[name] = f"{prefix}.conv{conv}.0.{0 if kind == 'conv' else 1}"
            elif kind == "bn":
                mapping[name] = f"{prefix}.conv{conv}.1"
            else:
                mapping[name] = f"{prefix}.conv{conv}.0" + (".3" if factorised else "")
    return mapping


def build(architecture, **kwargs):
    """The ``video_resnet`` of ``architecture`` with ``kwargs``."""
    return video_resnet(architecture, **kwargs)
