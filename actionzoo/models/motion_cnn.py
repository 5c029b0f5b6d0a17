"""Motion CNN on stacked optical flow (Tkachenko Sec. IV-C, after Simonyan &
Zisserman's temporal stream with LRN replaced by batch normalisation)."""
import keras


def motion_cnn(input_shape=(240, 320, 20), num_classes=None, dropout=0.5,
               name="motion_cnn"):
    """Build the motion CNN.

    conv1 7x7x96 stride 2 -> BN -> ReLU -> max-pool 3x3/2;
    conv2 5x5x256 stride 2 -> ReLU -> max-pool 3x3/2;
    conv3, conv4, conv5 3x3x512 stride 1 -> ReLU; max-pool 3x3/2;
    flatten -> full6 4096 ReLU -> dropout -> full7 2048 ReLU (the embedding,
    layer ``"embedding"``) -> [dropout -> linear ``num_classes`` logits].

    Convolutions use 'same' padding, pools 'valid' (at 224x224 this gives
    the 6x6x512 conv5 map of the reference CNN-M-2048 design). BN sits before
    the ReLU where the original had LRN after it. The paper feeds the native
    320x240 resolution, hence the default input ``(240, 320, 20)``: a stack
    of 10 flow fields, x and y interleaved.

    Parameters
    ----------
    input_shape : tuple of int, default=(240, 320, 20)
        ``(H, W, 2L)`` of a flow stack; fixed, since full6 reads the
        flattened conv5 map.
    num_classes : int, optional
        Add the softmax classifier's logits layer (training the CNN); None
        returns the 2048-d embedding model.
    dropout : float, default=0.5
        Rate of the dropouts after full6 and full7 (the paper gives none).
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Input ``"flow_stack"``; output ``(batch, num_classes)`` logits, or the
        ``(batch, 2048)`` embedding when ``num_classes`` is None.

    Examples
    --------
    >>> model = motion_cnn(input_shape=(64, 64, 20), num_classes=5)
    >>> tuple(model.get_layer("embedding").output.shape), tuple(model.output.shape)
    ((None, 2048), (None, 5))
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    inputs = keras.Input(tuple(input_shape), name="flow_stack")
    x = keras.layers.Conv2D(96, 7, strides=2, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = keras.layers.Conv2D(256, 5, strides=2, padding="same", activation="relu",
                            name="conv2")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    for i in (3, 4, 5):
        x = keras.layers.Conv2D(512, 3, padding="same", activation="relu", name=f"conv{i}")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(4096, activation="relu", name="full6")(x)
    x = keras.layers.Dropout(dropout, name="dropout6")(x)
    x = keras.layers.Dense(2048, activation="relu", name="embedding")(x)
    if num_classes is None:
        return keras.Model(inputs, x, name=name)
    x = keras.layers.Dropout(dropout, name="dropout7")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)
