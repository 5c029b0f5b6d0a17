"""Per-stream recurrent video model of Tkachenko (Sec. III, IV-E, V-D, Table I)."""
import keras

from actionzoo.layers.temporal_self_attention import TemporalSelfAttention

RNNS = {"gru": (keras.layers.GRU, False), "lstm": (keras.layers.LSTM, False),
        "bigru": (keras.layers.GRU, True), "bilstm": (keras.layers.LSTM, True)}


def sequence_classifier(input_dim, num_classes, rnn="bigru", units=512, layers=2,
                        dropout=0.5, attention=False, max_length=None, mask_value=0.0,
                        name="sequence_classifier"):
    """Build the RNN that turns a sequence of segment embeddings into a video
    embedding and class scores.

    ``input (batch, T, input_dim)`` -> ``Masking(mask_value)`` -> [self-
    attention over time] -> dropout -> ``layers`` stacked RNNs with dropout
    between them -> the last RNN's final state, the video embedding (layer
    ``"embedding"``) -> dropout -> linear logits (layer ``"logits"``). The
    paper's model (Sec. IV-E) is the default: two stacked bidirectional
    GRU(512), dropout 0.5 on the input, between the RNNs and before the dense
    layer (Sec. V-D), a 1024-d embedding.

    Time steps whose features all equal ``mask_value`` are masked (padding of
    shorter videos; put padding at the end), so a padded sequence gives the
    same embedding as the unpadded one.

    Parameters
    ----------
    input_dim : int
        Width E of the segment embeddings (1536 spatial InceptionResNetV2,
        2048 motion CNN, 128 VGGish).
    num_classes : int
        Number of logits.
    rnn : {"gru", "lstm", "bigru", "bilstm"}, default="bigru"
        Cell type; ``bi`` = bidirectional with the two directions
        concatenated (Table I).
    units : int, default=512
        Hidden units per cell (per direction).
    layers : int, default=2
        Stacked RNN layers (Table I "S." = 2).
    dropout : float, default=0.5
        Rate of the three dropouts.
    attention : bool, default=False
        :class:`TemporalSelfAttention` (dot-product, masked, learned scale) over
        the input sequence right after the input layer (Table I "+ attention").
    max_length : int, optional
        Fixed sequence length T (None accepts any length).
    mask_value : float or None, default=0.0
        Padding value to mask; None disables masking.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Input ``"sequence"`` ``(batch, max_length, input_dim)``, output the
        ``(batch, num_classes)`` logits; layer ``"embedding"`` outputs the
        ``units`` (``2 * units`` if bidirectional) wide video embedding.

    Examples
    --------
    >>> model = sequence_classifier(input_dim=6, num_classes=3, units=4)
    >>> tuple(model.get_layer("embedding").output.shape), tuple(model.output.shape)
    ((None, 8), (None, 3))
    """
    if rnn not in RNNS:
        raise ValueError(f"rnn must be one of {sorted(RNNS)}, got {rnn!r}")
    if int(layers) != layers or layers < 1:
        raise ValueError(f"layers must be an int >= 1, got {layers!r}")
    if int(units) != units or units < 1:
        raise ValueError(f"units must be an int >= 1, got {units!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    cell, bidirectional = RNNS[rnn]

    inputs = keras.Input((max_length, input_dim), name="sequence")
    x = inputs
    if mask_value is not None:
        x = keras.layers.Masking(mask_value=mask_value, name="mask")(x)
    if attention:
        x = TemporalSelfAttention(name="attention")(x)
    x = keras.layers.Dropout(dropout, name="input_dropout")(x)
    for i in range(layers):
        last = i == layers - 1
        layer_name = "embedding" if last else f"{rnn}{i + 1}"
        layer = cell(int(units), return_sequences=not last,
                     name=f"{rnn}{i + 1}" if bidirectional else layer_name)
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=layer_name)
        x = layer(x)
        if not last:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)
