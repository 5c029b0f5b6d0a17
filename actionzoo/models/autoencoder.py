"""Autoencoder over video embeddings for anomaly detection (Tkachenko Sec. VII)."""
import keras
import numpy as np


def embedding_autoencoder(input_dim, encoding_dim=32, hidden_units=(256,),
                          activation="relu", dropout=0.0, name="embedding_autoencoder"):
    """Build a dense autoencoder that reconstructs embedding vectors.

    ``input (input_dim)`` -> ``Dense(h, activation)`` for ``h`` in
    ``hidden_units`` -> bottleneck ``Dense(encoding_dim)`` (linear, layer
    ``"bottleneck"``) -> the hidden widths mirrored -> linear
    ``Dense(input_dim)`` (layer ``"reconstruction"``). Trained with mean
    squared error on normal examples, it reconstructs them better than
    anomalies (paper Sec. VII); :func:`reconstruction_errors` scores samples.

    Parameters
    ----------
    input_dim : int
        Embedding width (e.g. 3072 for three 1024-d stream embeddings).
    encoding_dim : int, default=32
        Bottleneck width; must be smaller than ``input_dim``.
    hidden_units : sequence of int, default=(256,)
        Encoder hidden widths (the decoder mirrors them); may be empty.
    activation : str, default="relu"
        Activation of the hidden layers.
    dropout : float, default=0.0
        Dropout after every hidden layer.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        ``(batch, input_dim) -> (batch, input_dim)``.

    Examples
    --------
    >>> model = embedding_autoencoder(16, encoding_dim=2, hidden_units=(8,))
    >>> tuple(model.get_layer("bottleneck").output.shape), tuple(model.output.shape)
    ((None, 2), (None, 16))
    """
    hidden_units = tuple(int(h) for h in hidden_units)
    if not 1 <= encoding_dim < input_dim:
        raise ValueError(f"encoding_dim must be in [1, input_dim={input_dim}) so the "
                         f"bottleneck compresses, got {encoding_dim!r}")
    if any(h < 1 for h in hidden_units):
        raise ValueError(f"hidden_units must be positive, got {hidden_units!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")

    inputs = keras.Input((input_dim,), name="embedding")
    x = inputs
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(units, activation=activation, name=f"encoder{i + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"encoder{i + 1}_dropout")(x)
    x = keras.layers.Dense(int(encoding_dim), name="bottleneck")(x)
    for i, units in enumerate(reversed(hidden_units)):
        x = keras.layers.Dense(units, activation=activation, name=f"decoder{i + 1}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"decoder{i + 1}_dropout")(x)
    outputs = keras.layers.Dense(input_dim, name="reconstruction")(x)
    return keras.Model(inputs, outputs, name=name)


def reconstruction_errors(model, x, batch_size=256):
    """Per-sample mean squared reconstruction error of ``x`` (inference mode).

    Parameters
    ----------
    model : keras.Model
        An autoencoder (output shape = input shape).
    x : array-like of shape (n_samples, input_dim)
    batch_size : int, default=256

    Returns
    -------
    numpy.ndarray of shape (n_samples,)
    """
    x = np.asarray(x, dtype="float32")
    reconstructed = model.predict(x, batch_size=batch_size, verbose=0)
    return np.mean(np.square(reconstructed - x), axis=1)
