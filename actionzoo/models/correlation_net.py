"""Correlation networks (Wang et al.): R(2+1)D / R2D backbones + correlation blocks."""
import keras

from actionzoo.layers.correlation import Correlation
from actionzoo.models.resnet3d import _conv_bn
from actionzoo.models.video_resnet import video_resnet

_BLOCKS = {26: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
_VARIANTS = ("corrnet", "r2plus1d", "r2d")
_PLANES = (64, 128, 256, 512)
_SPATIAL_STRIDE = (2, 2, 2, 2)   # res2..res5 (paper Table 2 output sizes, no pool1)
_TEMPORAL_STRIDE = (1, 1, 2, 2)


def _bottleneck(x, planes, spatial_stride, temporal_stride, temporal_conv, name):
    """1x1x1 -> [3x1x1] -> 1x3x3 -> 1x1x1 (x4) bottleneck with a projection shortcut.

    The temporal stride sits in the 3x1x1 conv and the spatial stride in the
    1x3x3 conv; without temporal convs (R2D) a 3x1x1 max pool takes the
    temporal conv's place where the block strides in time (paper Sec. 6.1).
    """
    out_channels = 4 * planes
    residual = _conv_bn(x, planes, 1, 1, f"{name}_1")
    if temporal_conv:
        residual = _conv_bn(residual, planes, (3, 1, 1), (temporal_stride, 1, 1),
                            f"{name}_2t")
    elif temporal_stride > 1:
        # Padded by one frame on each side like the strided convs (Keras "same"
        # would pad only the end and centre the windows one frame after the
        # shortcut's); zeros act as -inf here, the input is post-ReLU.
        residual = keras.layers.ZeroPadding3D((1, 0, 0), name=f"{name}_2t_pad")(residual)
        residual = keras.layers.MaxPooling3D(
            (3, 1, 1), strides=(temporal_stride, 1, 1), name=f"{name}_2t_pool")(residual)
    residual = _conv_bn(residual, planes, (1, 3, 3), (1, spatial_stride, spatial_stride),
                        f"{name}_2s")
    residual = _conv_bn(residual, out_channels, 1, 1, f"{name}_3", relu=False)
    stride = (temporal_stride, spatial_stride, spatial_stride)
    shortcut = x
    if stride != (1, 1, 1) or x.shape[-1] != out_channels:
        shortcut = _conv_bn(x, out_channels, 1, stride, f"{name}_0", relu=False)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, residual])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def _correlation_block(x, planes, block, corr_kwargs, name):
    """Correlation-sum or -concat block (paper Fig. 2).

    sum: 1x1x1 to ``planes`` -> Correlation (normalised groups by
    default) -> 1x1x1 back to the input
    width -> BN, added to the input, ReLU. concat: the correlation branch
    (1x1x1 to ``planes`` -> Correlation -> BN, ReLU) concatenated with a
    1x1x1 branch whose width makes the output as wide as the input.
    """
    channels = x.shape[-1]
    reduced = _conv_bn(x, planes, 1, 1, f"{name}_reduce")
    corr = Correlation(**corr_kwargs, name=f"{name}_correlation")(reduced)
    if block == "sum":
        restored = _conv_bn(corr, channels, 1, 1, f"{name}_restore", relu=False)
        x = keras.layers.Add(name=f"{name}_add")([x, restored])
        return keras.layers.Activation("relu", name=f"{name}_out")(x)
    corr = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(corr)
    corr = keras.layers.Activation("relu", name=f"{name}_relu")(corr)
    other_width = channels - corr.shape[-1]
    if other_width < 1:
        raise ValueError(
            f"block='concat' needs the correlation output ({corr.shape[-1]} channels) "
            f"narrower than the block input ({channels}); lower kernel_size or raise "
            "group_size")
    other = _conv_bn(x, other_width, 1, 1, f"{name}_conv")
    return keras.layers.Concatenate(name=f"{name}_concat")([corr, other])


def correlation_net(depth=26, variant="corrnet", clip_length=16, input_size=224,
                    num_classes=400, block="sum", kernel_size=7, dilation=2,
                    group_size=32, learnable=True, normalize_correlation=True, width=1.0,
                    dropout=0.0, name=None):
    """Build CorrNet, R(2+1)D or R2D of Wang et al. (paper Table 2, Sec. 4, 6.1).

    Channels-last input ``(batch, clip_length, H, W, 3)``. Backbone (Table 2):
    conv1 1x7x7 stride (1, 2, 2), then res2..res5 of bottleneck blocks
    ``1x1x1 -> 3x1x1 -> 1x3x3 -> 1x1x1`` (widths 64, 128, 256, 512,
    expansion 4). Table 2 lists no pooling layer: the first block of each
    stage halves the frame size (in its 1x3x3 conv), and those of res4 and
    res5 also halve the clip length (in the 3x1x1 conv); output
    ``L/4 x 7 x 7`` at 224.
    Global average pooling (layer ``"embedding"``), optional dropout and a
    linear layer of ``num_classes`` logits (layer ``"logits"``).

    - ``"r2plus1d"``: the backbone above.
    - ``"r2d"``: no 3x1x1 convs; a 3x1x1 max pool does the temporal striding.
    - ``"corrnet"``: R(2+1)D with a correlation block after res2, res3 and res4
      (and one in the middle of res4 for depth 101); conv1 has 32 filters
      and res2 has no temporal convs (paper Sec. 6.1 for CorrNet-26; the
      same for 50/101 reproduces Table 6's 115 and 187 GFLOPs).

    Each correlation block reduces to the stage's bottleneck width (64, 128,
    256 channels), so with ``group_size=32`` its correlation outputs
    ``G*K*K`` = 98, 196, 392 channels at K=7. See
    ``docs/model_cards/correlation_net.md`` for the FLOP reconciliation
    with paper Table 3.

    With ``normalize_correlation`` (the default) each correlation first
    divides every channel group by ``sqrt(1 + its mean square)``
    (``Correlation(normalize=True)``): features at BatchNorm's unit scale are
    matched almost as they are, larger ones by direction (the filter-weighted
    cosine similarity), so the output is bounded by the filter. The paper
    gives the operator (its Eq. 1, a ``1/C``-normalised dot product, applied
    unchanged to the normalised features) but not the block's normalisation
    layers (Fig. 2's details are not in the text); normalising the matched
    features is how the geometric-matching correlation it builds on (Rocco
    et al., its [43]) is computed. This is our choice, made because the raw
    dot product is quadratic in its input: when the conv weights grow faster
    than BatchNorm's moving statistics follow (a few steps at SGD lr 0.1 on
    small batches), the inference-mode scale error squares at every block
    and float32 overflows (NaN predictions; ``experiments/correlation_net.py
    overflow``). ``normalize_correlation=False`` is the raw operator.

    Parameters
    ----------
    depth : {26, 50, 101}, default=26
        Blocks per stage [2,2,2,2], [3,4,6,3], [3,4,23,3].
    variant : {"corrnet", "r2plus1d", "r2d"}, default="corrnet"
    clip_length : int, default=16
        Frames per clip ``L`` (the correlation kernel is per frame, so a
        CorrNet serves one clip length).
    input_size : int or (int, int), default=224
        Frame height and width.
    num_classes : int, default=400
    block : {"sum", "concat"}, default="sum"
        Correlation block type (paper Fig. 2).
    kernel_size, dilation, group_size : int, default 7, 2, 32
        Correlation ``K``, ``D``, ``g``.
    learnable : bool, default=True
        Learnable correlation filters (False: paper Table 4 "w/o filter").
    normalize_correlation : bool, default=True
        Normalise the correlation's channel groups (see above).
    width : float, default=1.0
        Multiplier of all channel widths (tiny test models use e.g. 0.25;
        ``group_size`` must divide the scaled widths).
    dropout : float, default=0.0
        Dropout before the logits.
    name : str, optional
        Model name (default e.g. ``"corrnet_26"``).

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> model = correlation_net(depth=26, clip_length=4, input_size=32,
    ...                         num_classes=5, width=0.125, group_size=8)
    >>> tuple(model.output.shape), tuple(model.get_layer("embedding").output.shape)
    ((None, 5), (None, 256))
    """
    if depth not in _BLOCKS:
        raise ValueError(f"depth must be one of {sorted(_BLOCKS)}, got {depth!r}")
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {_VARIANTS}, got {variant!r}")
    if block not in ("sum", "concat"):
        raise ValueError(f"block must be 'sum' or 'concat', got {block!r}")
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width!r}")
    if isinstance(clip_length, bool) or not isinstance(clip_length, int) or clip_length < 1:
        raise ValueError(f"clip_length must be a positive int, got {clip_length!r}")

    def scaled(channels):
        return max(1, int(round(channels * width)))

    corrnet = variant == "corrnet"
    planes = [scaled(p) for p in _PLANES]
    if corrnet:
        bad = [p for p in planes[:3] if p % group_size]
        if bad:
            raise ValueError(
                f"group_size={group_size} must divide the correlation widths "
                f"{planes[:3]} (width={width})")
    corr_kwargs = dict(kernel_size=kernel_size, dilation=dilation, group_size=group_size,
                       learnable=learnable, normalize=normalize_correlation)
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)

    inputs = keras.Input(shape=(clip_length,) + size + (3,), name="clip")
    x = _conv_bn(inputs, scaled(32 if corrnet else 64), (1, 7, 7),
                 (1, 2, 2), "conv1")
    blocks = _BLOCKS[depth]
    for stage, n_blocks in enumerate(blocks):
        temporal_conv = variant != "r2d" and not (corrnet and stage == 0)
        for b in range(n_blocks):
            first = b == 0
            x = _bottleneck(x, planes[stage], _SPATIAL_STRIDE[stage] if first else 1,
                            _TEMPORAL_STRIDE[stage] if first else 1, temporal_conv,
                            f"res{stage + 2}_block{b + 1}")
            if corrnet and depth == 101 and stage == 2 and b == n_blocks // 2 - 1:
                x = _correlation_block(x, planes[stage], block, corr_kwargs,
                                       f"corr{stage + 2}_mid")
        if corrnet and stage < 3:
            x = _correlation_block(x, planes[stage], block, corr_kwargs, f"corr{stage + 2}")
    x = keras.layers.GlobalAveragePooling3D(name="embedding")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, x, name=name or f"{variant}_{depth}")


#: Stages of a video ResNet that get a correlation block, as in CorrNet (paper Sec. 4).
_PRETRAINED_CORRELATION_STAGES = (2, 3, 4)


def correlation_video_resnet(architecture="r2plus1d_18", clip_length=16, input_size=112,
                             num_classes=400, kernel_size=7, dilation=2, group_size=32,
                             learnable=True, normalize_correlation=True, include_top=True,
                             dropout=0.0, weights_from=None, name=None):
    """A video ResNet with CorrNet's correlation-sum blocks after res2, res3 and res4.

    Our extension, not the paper's: Wang et al. train CorrNet from scratch
    and publish no weights for its CorrNet-26 backbone. Here the backbone is
    torchvision's R(2+1)D-18 or VMZ's R(2+1)D-34
    (:func:`actionzoo.models.video_resnet`, whose converted Kinetics / IG-65M
    weights exist), and a correlation-sum block (1x1x1 conv + BN + ReLU ->
    ``Correlation`` -> 1x1x1 conv + BN, added to the stage output, ReLU; the
    block of :func:`correlation_net`) follows each of res2..res4. The block
    keeps the stage's width (64, 128, 256 channels, the correlation widths
    of CorrNet-26) because the basic blocks of these ResNets have no 4x
    expansion to reduce from. Its restore BN starts with gamma = beta = 0, so
    every block adds 0 to a stage output that is already post-ReLU: the
    network computes exactly the plain backbone's function until training
    moves the gammas.

    Parameters
    ----------
    architecture : {"r2plus1d_18", "r2plus1d_34", "r3d_18", "mc3_18"}
        The backbone (see :func:`actionzoo.models.video_resnet`).
    clip_length, input_size, num_classes, include_top, dropout
        As for :func:`actionzoo.models.video_resnet`.
    kernel_size, dilation, group_size, learnable, normalize_correlation
        The correlation's settings, as for :func:`correlation_net`.
    weights_from : keras.Model, optional
        A plain ``video_resnet`` of the same architecture (e.g. converted
        pretrained weights, ``actionzoo.convert.convert_checkpoint``) whose
        weights are copied by layer name.
    name : str, optional
        Model name (default ``"corr_" + architecture``).

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> import numpy as np
    >>> plain = video_resnet("r2plus1d_18", clip_length=4, input_size=32, num_classes=5)
    >>> model = correlation_video_resnet("r2plus1d_18", clip_length=4, input_size=32,
    ...                                  num_classes=5, kernel_size=3, weights_from=plain)
    >>> x = np.random.default_rng(0).normal(size=(1, 4, 32, 32, 3)).astype("float32")
    >>> bool(np.allclose(model.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-5))
    True
    """
    corr_kwargs = dict(kernel_size=kernel_size, dilation=dilation, group_size=group_size,
                       learnable=learnable, normalize=normalize_correlation)

    def add_correlation(x, stage):
        if stage not in _PRETRAINED_CORRELATION_STAGES:
            return x
        if x.shape[-1] % group_size:
            raise ValueError(f"group_size={group_size} must divide the width {x.shape[-1]} "
                             f"of res{stage}")
        return _correlation_block(x, x.shape[-1], "sum", corr_kwargs, f"corr{stage}")

    model = video_resnet(architecture, clip_length=clip_length, input_size=input_size,
                         num_classes=num_classes, include_top=include_top, dropout=dropout,
                         stage_hook=add_correlation, name=name or f"corr_{architecture}")
    for stage in _PRETRAINED_CORRELATION_STAGES:
        bn = model.get_layer(f"corr{stage}_restore_bn")
        bn.gamma.assign(keras.ops.zeros_like(bn.gamma))
    if weights_from is not None:
        for layer in weights_from.layers:
            if layer.weights:
                model.get_layer(layer.name).set_weights(layer.get_weights())
    return model
