"""Video ResNets of Tran et al. (2018): R3D, MC3 and R(2+1)D, as torchvision and VMZ define them."""
import keras

from actionzoo.models.resnet3d import _conv_bn

# name -> stem, conv type of stages res2..res5, blocks per stage, mid-width rule, BN epsilon
_ARCHITECTURES = {
    "r3d_18": ("3d", ("3d",) * 4, (2, 2, 2, 2), "block", 1e-5),
    "mc3_18": ("3d", ("3d", "2d", "2d", "2d"), (2, 2, 2, 2), "block", 1e-5),
    "r2plus1d_18": ("2plus1d", ("2plus1d",) * 4, (2, 2, 2, 2), "block", 1e-5),
    "r2plus1d_34": ("2plus1d", ("2plus1d",) * 4, (3, 4, 6, 3), "conv", 1e-3),
}
_WIDTHS = (64, 128, 256, 512)


def _mid_channels(in_channels, out_channels):
    """(2+1)D mid width: as many parameters as a full 3x3x3 conv (Tran et al. Sec. 3.5)."""
    return (in_channels * out_channels * 27) // (in_channels * 9 + 3 * out_channels)


def _conv(x, kind, filters, stride, mid, relu, name, epsilon):
    """A 3x3x3 conv ("3d"), a 1x3x3 conv ("2d") or a (2+1)D pair, with BN [and ReLU]."""
    if kind == "3d":
        return _conv_bn(x, filters, 3, stride, name, relu=relu, epsilon=epsilon)
    if kind == "2d":
        return _conv_bn(x, filters, (1, 3, 3), (1, stride, stride), name, relu=relu,
                        epsilon=epsilon)
    x = _conv_bn(x, mid, (1, 3, 3), (1, stride, stride), f"{name}_spatial", epsilon=epsilon)
    return _conv_bn(x, filters, (3, 1, 1), (stride, 1, 1), name, relu=relu, epsilon=epsilon)


def _block(x, kind, planes, stride, mid_rule, name, epsilon):
    """Basic block: two convs of ``kind``; a 1x1x1 conv + BN shortcut where shapes change."""
    in_channels = x.shape[-1]
    block_mid = _mid_channels(in_channels, planes)
    first_mid = block_mid
    second_mid = block_mid if mid_rule == "block" else _mid_channels(planes, planes)
    residual = _conv(x, kind, planes, stride, first_mid, True, f"{name}_1", epsilon)
    residual = _conv(residual, kind, planes, 1, second_mid, False, f"{name}_2", epsilon)
    shortcut = x
    if stride != 1 or in_channels != planes:
        shortcut_stride = (1, stride, stride) if kind == "2d" else stride
        shortcut = _conv_bn(x, planes, 1, shortcut_stride, f"{name}_0", relu=False,
                            epsilon=epsilon)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, residual])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


def video_resnet(architecture="r2plus1d_18", clip_length=16, input_size=112, num_classes=400,
                 include_top=True, dropout=0.0, stage_hook=None, name=None):
    """Build R3D-18, MC3-18, R(2+1)D-18 (torchvision) or R(2+1)D-34 (VMZ / IG-65M).

    Channels-last input ``(batch, clip_length, H, W, 3)``, normalised as the
    source expects (see :data:`actionzoo.convert.SOURCE_PREPROCESSING`). No max
    pool; four stages res2..res5 of basic blocks (widths 64-128-256-512, the
    first block of res3..res5 strides 2), each conv followed by BN, the
    residual added before the ReLU, a 1x1x1 conv + BN shortcut where shapes
    change; global average pooling (layer ``"embedding"``) and a linear
    classifier (layer ``"logits"``, logits, no softmax).

    - ``"r3d_18"``: stem 3x7x7 conv, stride (1, 2, 2); 3x3x3 convs.
    - ``"mc3_18"``: as R3D-18 but res3..res5 use 1x3x3 convs and never
      stride in time (mixed convolutions, MC3).
    - ``"r2plus1d_18"``: every conv factorised into a 1x3x3 spatial conv to
      ``M`` channels, BN, ReLU and a 3x1x1 temporal conv; stem 1x7x7 to 45
      channels then 3x1x1 to 64. ``M = 27 N_in N_out / (9 N_in + 3 N_out)``
      with ``N_in`` the block's input width for both convs of a block
      (torchvision).
    - ``"r2plus1d_34"``: R(2+1)D with (3, 4, 6, 3) blocks; ``M`` from each
      conv's own input and output widths (VMZ / Caffe2: 288, 576, 1152 in
      the second conv of the first block of res3..res5) and BN epsilon 1e-3.
      The IG-65M pre-training heads have 359 or 487 classes, the Kinetics
      fine-tunes 400.

    Convs pad symmetrically like PyTorch, so converted torchvision / VMZ
    weights give the source's logits. Layer names follow ``resnet3d``:
    ``conv1`` (stem), ``conv{s}_block{b}_{i}`` for stage ``s`` in 2..5,
    with a ``_spatial`` conv/BN before the temporal one for (2+1)D, the
    shortcut ``conv{s}_block{b}_0``, and ``conv{s}_block{b}_out``.

    Inserting blocks between stages (CorrNet on a pretrained backbone):
    ``stage_hook(x, stage)`` is called on the output of each stage
    ``stage`` in 2..5 and returns the tensor the next stage reads, so a
    correlation block can be added after res2..res4 in the same graph. The
    backbone's layers keep their names, so the weights of a converted plain
    model copy across by name::

        for layer in pretrained.layers:
            if layer.weights:
                hooked.get_layer(layer.name).set_weights(layer.get_weights())

    Parameters
    ----------
    architecture : {"r3d_18", "mc3_18", "r2plus1d_18", "r2plus1d_34"}
    clip_length : int or None, default=16
    input_size : int or (int, int) or None, default=112
    num_classes : int, default=400
    include_top : bool, default=True
        If False the output is the pooled embedding (512-d).
    dropout : float, default=0.0
        Dropout before the classifier (the sources have none).
    stage_hook : callable, optional
        ``stage_hook(x, stage) -> x`` after each stage (see above).
    name : str, optional
        Model name, default ``architecture``.

    Returns
    -------
    keras.Model

    Examples
    --------
    >>> model = video_resnet("r2plus1d_18", clip_length=4, input_size=32, num_classes=5)
    >>> tuple(model.output.shape), model.count_params()
    ((None, 5), 31328040)
    """
    if architecture not in _ARCHITECTURES:
        raise ValueError(f"architecture must be one of {sorted(_ARCHITECTURES)}, "
                         f"got {architecture!r}")
    stem, kinds, blocks, mid_rule, epsilon = _ARCHITECTURES[architecture]
    height, width = ((input_size, input_size) if input_size is None or isinstance(input_size, int)
                     else tuple(input_size))
    inputs = keras.Input(shape=(clip_length, height, width, 3), name="clip")
    if stem == "3d":
        x = _conv_bn(inputs, 64, (3, 7, 7), (1, 2, 2), "conv1", epsilon=epsilon)
    else:
        x = _conv_bn(inputs, 45, (1, 7, 7), (1, 2, 2), "conv1_spatial", epsilon=epsilon)
        x = _conv_bn(x, 64, (3, 1, 1), 1, "conv1", epsilon=epsilon)
    stages = zip(kinds, blocks, _WIDTHS, strict=True)
    for stage, (kind, n_blocks, planes) in enumerate(stages, start=2):
        for b in range(n_blocks):
            stride = 2 if stage > 2 and b == 0 else 1
            x = _block(x, kind, planes, stride, mid_rule, f"conv{stage}_block{b + 1}", epsilon)
        if stage_hook is not None:
            x = stage_hook(x, stage)
    x = keras.layers.GlobalAveragePooling3D(name="embedding")(x)
    if include_top:
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, x, name=name or architecture)
