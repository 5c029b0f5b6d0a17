"""3D ResNet / ResNeXt (Hara et al.) with optional STC blocks (Diba et al.)."""
import keras

from actionzoo.layers.stc_block import STCBlock
from actionzoo.layers.zero_pad_shortcut import ZeroPadShortcut

# depth -> (block type, blocks per stage)
_CONFIGS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
}
_BN_EPSILON = 1e-5  # PyTorch default, as in Hara et al.
_BN_MOMENTUM = 0.9  # PyTorch momentum 0.1


def _conv_init():
    # He et al. (the paper's [27]) as in Hara et al.: kaiming_normal_(mode="fan_out")
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


def _conv_bn(x, filters, kernel, strides, name, groups=1, relu=True, epsilon=_BN_EPSILON):
    """Conv3D (no bias) -> BN [-> ReLU], PyTorch-style symmetric padding ``kernel // 2``.

    Names follow ``keras.applications`` ResNet (``{name}_conv``, ``{name}_bn``,
    ``{name}_relu``) so 2D weights can be inflated by layer name.
    """
    kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
    strides = (strides,) * 3 if isinstance(strides, int) else tuple(strides)
    padding = "valid"
    if any(k > 1 for k in kernel):
        if strides == (1, 1, 1):
            padding = "same"  # symmetric for odd kernels
        else:  # Keras "same" pads asymmetrically under stride 2
            x = keras.layers.ZeroPadding3D(tuple(k // 2 for k in kernel), name=f"{name}_pad")(x)
    x = keras.layers.Conv3D(filters, kernel, strides=strides, padding=padding, groups=groups,
                            use_bias=False, kernel_initializer=_conv_init(), name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=epsilon, momentum=_BN_MOMENTUM,
                                        name=f"{name}_bn")(x)
    if relu:
        x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def _shortcut(x, filters, stride, kind, name):
    if stride == 1 and x.shape[-1] == filters:
        return x
    if kind == "A":
        return ZeroPadShortcut(filters, stride, name=f"{name}_0_shortcut")(x)
    return _conv_bn(x, filters, 1, stride, f"{name}_0", relu=False)


def _block(x, spec, name):
    """One residual block; ``spec`` carries the block's widths and options."""
    planes, stride = spec["planes"], spec["stride"]
    if spec["kind"] == "basic":
        out_channels = planes
        residual = _conv_bn(x, planes, 3, stride, f"{name}_1")
        residual = _conv_bn(residual, planes, 3, 1, f"{name}_2", relu=False)
    else:
        out_channels = planes * spec["expansion"]
        mid = spec["mid"]
        first_stride, mid_stride = (stride, 1) if spec["downsample"] == "1x1" else (1, stride)
        residual = _conv_bn(x, mid, 1, first_stride, f"{name}_1")
        residual = _conv_bn(residual, mid, 3, mid_stride, f"{name}_2", groups=spec["cardinality"])
        residual = _conv_bn(residual, out_channels, 1, 1, f"{name}_3", relu=False)
    if spec["stc"]:
        residual = STCBlock(reduction=spec["reduction"], branches=spec["branches"],
                            name=f"{name}_stc")(residual)
    shortcut = _shortcut(x, out_channels, stride, spec["shortcut"], name)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, residual])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def resnet3d(depth=18, cardinality=1, stc=False, reduction=4, branches=("temporal", "spatial"),
             clip_length=16, input_size=112, num_classes=400, width=1.0, shortcut=None,
             downsample="3x3", include_top=True, dropout=0.0, name=None):
    """Build a 3D ResNet / ResNeXt of Hara et al., optionally with STC blocks.

    Channels-last input ``(batch, clip_length, H, W, 3)``. Stem: 7x7x7
    conv, stride (1, 2, 2), BN, ReLU, 3x3x3 max pool stride 2. Four stages
    of residual blocks; the first block of stages 2-4 has stride 2 in time
    and space. At 16x112x112 the stage outputs are 8x28x28, 4x14x14, 2x7x7
    and 1x4x4 (paper Table 1). Then global average pooling (layer
    ``"embedding"``), optional dropout and a linear layer of
    ``num_classes`` logits (layer ``"logits"``).

    - depth 18/34: basic blocks (two 3x3x3 convs), widths 64-128-256-512.
    - depth 50/101: bottleneck blocks (1x1x1, 3x3x3, 1x1x1), widths
      64-128-256-512, expansion 4.
    - ``cardinality > 1`` (32 for ResNeXt-101): ResNeXt bottleneck of Hara
      et al., widths 128-256-512-1024, expansion 2, middle width
      ``cardinality * (planes // 32)`` in a grouped 3x3x3 conv.

    Layers are post-activation (conv-BN-ReLU) as in Hara et al.; the paper's
    Table 1 caption says BN-ReLU-conv, but its 3D ResNets are Hara's. Convs
    have no bias, BN epsilon is 1e-5. With ``stc=True`` an :class:`STCBlock`
    rescales the residual branch of every block before the add.

    With 400 classes the plain nets have Hara et al.'s parameter counts
    (PyTorch ``parameters()``, i.e. Keras trainable weights): 33.2M
    (R3D-18, shortcut A), 63.5M (34, A), 47.0M (50, B), 86.1M (101, B),
    48.3M (ResNeXt-101, B).

    Parameters
    ----------
    depth : {18, 34, 50, 101}, default=18
    cardinality : int, default=1
        Groups of the 3x3x3 conv; > 1 builds ResNeXt (bottleneck depths only).
    stc : bool, default=False
        Add an STC block on every residual branch.
    reduction : int, default=4
        STC reduction ratio ``r``.
    branches : tuple of {"temporal", "spatial"}, default=both
        STC branches.
    clip_length : int, default=16
        Frames per clip ``T``. The STC spatial branch is built for the
        temporal size at each stage, so a model serves one clip length.
    input_size : int or (int, int), default=112
        Frame height and width (``None`` for any size).
    num_classes : int, default=400
    width : float, default=1.0
        Multiplier of all channel widths (tiny test models use e.g. 0.125).
    shortcut : {"A", "B", None}, default=None
        Shortcut where shapes change: "A" zero-pads channels after strided
        subsampling (no parameters), "B" is a 1x1x1 conv + BN. ``None``
        chooses Hara et al.'s: "A" for depth 18/34, "B" for 50/101.
    downsample : {"3x3", "1x1"}, default="3x3"
        Bottleneck conv that carries the stride: the 3x3x3 (Hara et al.,
        torchvision) or the first 1x1x1 (Caffe ResNet v1 and
        ``keras.applications.ResNet50/101``, needed to inflate those
        exactly).
    include_top : bool, default=True
        If False the output is the pooled embedding.
    dropout : float, default=0.0
        Dropout before the logits.
    name : str, optional
        Model name.

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> model = resnet3d(depth=18, stc=True, clip_length=8, input_size=32,
    ...                  num_classes=5, width=0.125)
    >>> tuple(model.output.shape), tuple(model.get_layer("embedding").output.shape)
    ((None, 5), (None, 64))
    """
    if depth not in _CONFIGS:
        raise ValueError(f"depth must be one of {sorted(_CONFIGS)}, got {depth!r}")
    kind, blocks = _CONFIGS[depth]
    if int(cardinality) != cardinality or cardinality < 1:
        raise ValueError(f"cardinality must be a positive integer, got {cardinality!r}")
    if cardinality > 1 and kind != "bottleneck":
        raise ValueError(f"cardinality > 1 (ResNeXt) needs a bottleneck depth (50, 101), "
                         f"got depth={depth}")
    if shortcut is None:
        shortcut = "A" if kind == "basic" else "B"
    if shortcut not in ("A", "B"):
        raise ValueError(f"shortcut must be 'A', 'B' or None, got {shortcut!r}")
    if downsample not in ("3x3", "1x1"):
        raise ValueError(f"downsample must be '3x3' or '1x1', got {downsample!r}")
    if downsample == "1x1" and kind == "basic":
        raise ValueError("downsample='1x1' applies to bottleneck blocks only (depth 50, 101)")
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width!r}")

    def scaled(channels):
        return max(1, int(round(channels * width)))

    resnext = cardinality > 1
    base_planes = (128, 256, 512, 1024) if resnext else (64, 128, 256, 512)
    expansion = 2 if resnext else 4
    if input_size is None or isinstance(input_size, int):
        height, width_px = input_size, input_size
    else:
        height, width_px = tuple(input_size)

    inputs = keras.Input(shape=(clip_length, height, width_px, 3), name="clip")
    x = _conv_bn(inputs, scaled(64), 7, (1, 2, 2), "conv1")
    x = keras.layers.ZeroPadding3D(1, name="pool1_pad")(x)  # zeros == -inf after ReLU
    x = keras.layers.MaxPooling3D(3, strides=2, name="pool1_pool")(x)
    for stage, (n_blocks, planes) in enumerate(zip(blocks, base_planes, strict=True)):
        planes = scaled(planes)
        for b in range(n_blocks):
            spec = {
                "kind": kind, "planes": planes, "stride": 2 if stage > 0 and b == 0 else 1,
                "expansion": expansion, "cardinality": int(cardinality),
                "mid": int(cardinality) * max(1, planes // 32) if resnext else planes,
                "downsample": downsample, "shortcut": shortcut,
                "stc": stc, "reduction": reduction, "branches": branches,
            }
            x = _block(x, spec, f"conv{stage + 2}_block{b + 1}")
    x = keras.layers.GlobalAveragePooling3D(name="embedding")(x)
    if include_top:
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = keras.layers.Dense(num_classes, name="logits")(x)
    if name is None:
        name = f"{'stc_' if stc else ''}{'resnext' if resnext else 'resnet'}3d_{depth}"
    return keras.Model(inputs, x, name=name)
