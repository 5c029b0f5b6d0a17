"""The correlation stream of Yudistira & Kurita: correlation map -> MLP."""
import keras

from actionzoo.layers import OuterProductCorrelation


def corrnet_fusion_mlp(n_scores, n_classes, hidden_units=(4096, 4096),
                       normalize="row_l2", dropout=0.0, name="corrnet_fusion"):
    """Build the CorrNet fusion network ``Z(u, v)``.

    Inputs are the two streams' raw class scores ``u`` (RGB) and ``v``
    (flow), each of width ``n_scores``. The row-normalised outer product
    ``u v^T`` is flattened and passed through ReLU layers of
    ``hidden_units`` (paper: fc1 4096, fc2 4096) and a linear layer of
    ``n_classes`` logits (fc3). The last hidden layer is named
    ``"embedding"``; it is what ``CorrNetFusion.transform`` returns.

    Parameters
    ----------
    n_scores : int
        Width of each stream's score vector.
    n_classes : int
        Number of output logits.
    hidden_units : sequence of int, default=(4096, 4096)
        Widths of the hidden fully connected layers (at least one).
    normalize : {"row_l2", None}, default="row_l2"
        Normalisation of the correlation map.
    dropout : float, default=0.0
        Dropout rate after each hidden layer (the paper uses none).
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Inputs ``[u, v]``, output the ``(batch, n_classes)`` logits.

    Examples
    --------
    >>> model = corrnet_fusion_mlp(n_scores=5, n_classes=5, hidden_units=(16, 8))
    >>> [tuple(t.shape) for t in model.inputs], tuple(model.output.shape)
    ([(None, 5), (None, 5)], (None, 5))
    """
    hidden_units = tuple(int(h) for h in hidden_units)
    if not hidden_units:
        raise ValueError("hidden_units needs at least one layer width")
    u = keras.Input(shape=(n_scores,), name="rgb_scores")
    v = keras.Input(shape=(n_scores,), name="flow_scores")
    x = OuterProductCorrelation(normalize=normalize, name="correlation")([u, v])
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden_units):
        last = i == len(hidden_units) - 1
        x = keras.layers.Dense(units, activation="relu",
                               name="embedding" if last else f"fc{i + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    logits = keras.layers.Dense(n_classes, name="logits")(x)
    return keras.Model([u, v], logits, name=name)
