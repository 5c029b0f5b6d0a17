"""Population statistics of a fitted model's BatchNormalization layers.

A BatchNormalization layer normalises with the current batch's statistics in
training but with its moving averages in inference, and a moving average with
``momentum`` still holds ``momentum ** steps`` of its initial values (mean 0,
variance 1) after ``steps`` updates. Meanwhile the convolution weights grow
freely (BatchNorm makes the loss invariant to their scale), so a short fit
leaves statistics that pass each layer's scale through in inference and
compound over a deep network: the 26-layer CorrelationNet of its docstring
example, fitted for 2 steps at SGD lr 0.1, computes NaN logits
(``python benchmarks/batch_norm_recalibration.py``).

:func:`recalibrate_batch_norm` recomputes the statistics as in PreciseBN
(Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021) and SWA's
``bn_update``: forward passes in training mode over training batches, no
weight update, and each layer's moving mean and variance set to those of its
input over all the samples read. It runs only when the moving averages
are stale (:func:`statistics_are_stale`): a long fit keeps the statistics Keras
trained.
"""
import keras
import numpy as np
import tensorflow as tf

#: Largest weight the initial values may keep in a moving average that is
#: trusted: ``momentum ** steps <= STALE_FRACTION``; at momentum 0.9 that is
#: 44 optimizer steps, at Keras' default 0.99 459 steps.
STALE_FRACTION = 0.01

#: Most training batches the recalibration reads (one forward pass each);
#: PreciseBN uses 200 batches for ImageNet models, here a stale model has run
#: at most a few hundred steps in all.
MAX_BATCHES = 64


def trainable_batch_norms(model):
    """The BatchNormalization layers of ``model`` (nested models included)
    whose statistics training updates (``trainable``: a frozen layer keeps
    its statistics)."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def statistics_are_stale(layers, steps):
    """Whether any of ``layers`` still keeps more than :data:`STALE_FRACTION`
    of its initial statistics after ``steps`` training updates."""
    return any(layer.momentum ** steps > STALE_FRACTION for layer in layers)


def recalibrate_batch_norm(model, data, max_batches=MAX_BATCHES):
    """Set the moving statistics of ``model``'s trainable BatchNormalization
    layers to their average over training batches.

    Parameters
    ----------
    model : keras.Model
    data : keras.utils.PyDataset or tf.data.Dataset
        Training batches ``(x, y[, sample_weight])``; ``x`` is one array or a
        tuple of arrays (several inputs). The first ``max_batches`` are read.
    max_batches : int

    Returns
    -------
    int
        The number of batches read (0: the model has no such layer or
        ``data`` no batch; the statistics stay unchanged).

    Notes
    -----
    Each batch runs through ``model`` in training mode (dropout included,
    drawn from the random state the caller seeded) with every layer's
    momentum set to 0, so after the pass its moving statistics are the
    batch's own: the per-channel mean and (biased) variance Keras normalises
    with in training. They are pooled, weighted by the batch sizes, into the
    mean and variance of the layer's input over all the samples read
    (``E[x^2] - E[x]^2``, float64): the variance includes the spread of the
    batch means, which PreciseBN's average of per-batch variances leaves out
    and which matters for late layers whose batches hold a few values per
    channel. Momenta and trainable weights are left as they were; no
    gradient is taken.
    """
    layers = trainable_batch_norms(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    sums = [np.zeros(layer.moving_mean.shape, np.float64) for layer in layers]
    squares = [np.zeros(layer.moving_variance.shape, np.float64) for layer in layers]
    trained = [(keras.ops.convert_to_numpy(layer.moving_mean),
                keras.ops.convert_to_numpy(layer.moving_variance)) for layer in layers]
    count = samples = 0
    try:
        for layer in layers:
            layer.momentum = 0.0
        for x in _inputs(data, max_batches):
            model(x, training=True)
            n = len(x[0] if isinstance(x, (tuple, list)) else x)
            for layer, total, square in zip(layers, sums, squares, strict=True):
                mean = keras.ops.convert_to_numpy(layer.moving_mean).astype(np.float64)
                variance = keras.ops.convert_to_numpy(layer.moving_variance).astype(np.float64)
                total += n * mean
                square += n * (variance + mean ** 2)
            count, samples = count + 1, samples + n
    except BaseException:
        for layer, (mean, variance) in zip(layers, trained, strict=True):
            layer.moving_mean.assign(mean)  # leave the trained statistics
            layer.moving_variance.assign(variance)
        raise
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    if count:
        for layer, total, square in zip(layers, sums, squares, strict=True):
            mean = total / samples
            variance = np.maximum(square / samples - mean ** 2, 0.0)
            layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
            layer.moving_variance.assign(variance.astype(layer.moving_variance.dtype))
    return count


def _inputs(data, max_batches):
    """The model inputs of the first ``max_batches`` batches of ``data``."""
    if isinstance(data, tf.data.Dataset):
        batches = data.take(max_batches)
    else:
        batches = (data[i] for i in range(min(len(data), max_batches)))
    for batch in batches:
        yield batch[0] if isinstance(batch, tuple) else batch
