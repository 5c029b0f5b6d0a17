"""BatchNormalization statistics recomputed after a short fit (train_model)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from actionzoo import CorrelationNet
from actionzoo.estimators._batch_norm_statistics import (
    recalibrate_batch_norm,
    statistics_are_stale,
    trainable_batch_norms,
)
from actionzoo.estimators._training import seeded, train_model


def _statistics(layer):
    return (keras.ops.convert_to_numpy(layer.moving_mean),
            keras.ops.convert_to_numpy(layer.moving_variance))


def _pooled_input_statistics(model, layer, batches):
    """Mean and variance over every batch of ``layer``'s input, each batch run
    through ``model`` in training mode (numpy, independent of the code under test)."""
    probe = keras.Model(model.inputs, layer.input)
    values = np.concatenate([keras.ops.convert_to_numpy(probe(x, training=True))
                             .astype(np.float64).reshape(-1, layer.input.shape[-1])
                             for x in batches])
    return values.mean(axis=0), values.var(axis=0)


@pytest.fixture(scope="module")
def short_correlation_net():
    """The CorrelationNet docstring example: 8 clips, batch 4, one epoch: 2 steps."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(8, 6, 36, 36, 3), dtype=np.uint8)
    y = np.array([0, 1] * 4)
    clf = CorrelationNet(width=0.125, group_size=8, kernel_size=3, dilation=1,
                         clip_length=4, crop_size=32, short_side=36, test_clips=2,
                         epochs=1, batch_size=4, random_state=0).fit(X, y)
    return clf, X


def test_short_fit_predicts_finite_probabilities(short_correlation_net):
    clf, X = short_correlation_net
    assert int(clf.model_.optimizer.iterations) == 2
    proba = clf.predict_proba(X)
    assert proba.shape == (8, 2) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    # the moving statistics left the initial (0, 1) far behind: Keras' 2 updates
    # at momentum 0.9 would keep 81% of them
    mean, variance = _statistics(clf.model_.get_layer("conv1_bn"))
    assert np.abs(variance - 1.0).max() > 10.0


def test_recalibrated_statistics_are_those_of_the_batches(short_correlation_net):
    clf, _ = short_correlation_net
    model = clf.model_
    rng = np.random.default_rng(1)
    batches = [rng.normal(size=(n, 4, 32, 32, 3)).astype("float32") for n in (4, 3)]
    data = tf.data.Dataset.from_generator(
        lambda: ((x, np.zeros(len(x), "int64")) for x in batches),
        output_signature=(tf.TensorSpec((None, 4, 32, 32, 3), tf.float32),
                          tf.TensorSpec((None,), tf.int64)))
    weights = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    layers = [model.get_layer(name)
              for name in ("conv1_bn", "corr2_reduce_bn", "res5_block2_3_bn")]
    expected = [_pooled_input_statistics(model, layer, batches) for layer in layers]

    assert recalibrate_batch_norm(model, data) == 2

    for layer, (mean, variance) in zip(layers, expected, strict=True):
        got_mean, got_variance = _statistics(layer)
        np.testing.assert_allclose(got_mean, mean, rtol=1e-4, atol=1e-4 * np.abs(mean).max())
        np.testing.assert_allclose(got_variance, variance, rtol=1e-3)
        assert layer.momentum == 0.9
    for before, after in zip(weights, model.trainable_weights, strict=True):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(after))
    assert recalibrate_batch_norm(model, data, max_batches=1) == 1


def _two_input_model():
    a, b = keras.Input((3,)), keras.Input((2,))
    h = keras.layers.Dense(4)(keras.layers.Concatenate()([a, b]))
    h = keras.layers.BatchNormalization(momentum=0.9, name="bn")(h)
    frozen = keras.layers.BatchNormalization(name="frozen")
    frozen.trainable = False
    model = keras.Model([a, b], keras.layers.Dense(2)(frozen(h)))
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _batches(steps):
    """``steps`` batches of 2 samples of the two-input model."""
    rng = np.random.default_rng(0)
    a = 3.0 + 2.0 * rng.normal(size=(2 * steps, 3)).astype("float32")
    b = rng.normal(size=(2 * steps, 2)).astype("float32")
    y = rng.integers(0, 2, size=2 * steps)
    return tf.data.Dataset.from_tensor_slices(((a, b), y)).batch(2)


def test_stale_rule_at_momentum_0_9():
    layer = keras.layers.BatchNormalization(momentum=0.9)
    assert statistics_are_stale([layer], 43) and not statistics_are_stale([layer], 44)
    assert not statistics_are_stale([], 0)


def test_long_fit_keeps_keras_statistics():
    data = _batches(44)  # 0.9 ** 44 < 0.01: the moving averages are trusted
    with seeded(0):
        keras_model = _two_input_model()
        keras_model.fit(data, epochs=1, verbose=0)
    with seeded(0):
        model = _two_input_model()
        train_model(model, data, owner="test", epochs=1)
    assert int(model.optimizer.iterations) == 44
    for ours, theirs in zip(trainable_batch_norms(model), trainable_batch_norms(keras_model),
                            strict=True):
        for got, want in zip(_statistics(ours), _statistics(theirs), strict=True):
            np.testing.assert_array_equal(got, want)


def test_short_fit_recalibrates_two_input_model():
    data = _batches(43)
    with seeded(0):
        model = _two_input_model()
        train_model(model, data, owner="test", epochs=1)
    assert int(model.optimizer.iterations) == 43
    layer = model.get_layer("bn")
    batches = [x for x, _ in data.as_numpy_iterator()]
    mean, variance = _pooled_input_statistics(model, layer, batches)
    got_mean, got_variance = _statistics(layer)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_variance, variance, rtol=1e-4)
    # the frozen layer keeps its statistics
    frozen_mean, frozen_variance = _statistics(model.get_layer("frozen"))
    np.testing.assert_array_equal(frozen_mean, 0.0)
    np.testing.assert_array_equal(frozen_variance, 1.0)
