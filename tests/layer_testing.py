"""Shared checks for custom Keras layers (in the spirit of keras-hub's
``run_layer_test``): config round-trip, output shape, gradients, a training
step and a ``.keras`` saving round-trip, for any layer and input."""
import os
import tempfile

import keras
import numpy as np
from keras import ops


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _functional_model(layer, input_data):
    inputs = [
        keras.Input(shape=np.shape(x)[1:], dtype=str(np.asarray(x).dtype))
        for x in _as_list(input_data)
    ]
    call_inputs = inputs if isinstance(input_data, (list, tuple)) else inputs[0]
    return keras.Model(inputs, layer(call_inputs))


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    expected_num_trainable_weights=None,
    run_training_check=True,
    run_saving_check=True,
):
    """Run the standard layer checks and return the layer's eager output.

    Checks that
    - ``get_config`` holds every constructor argument and round-trips
      through ``from_config``;
    - the output has ``expected_output_shape`` (eagerly and symbolically);
    - gradients with respect to every float input exist and are finite;
    - one training step on a model around the layer changes its weights;
    - a model saved to ``.keras`` and loaded back gives the same output.
    """
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for name, value in init_kwargs.items():
        assert name in config, f"get_config() lacks constructor argument {name!r}"
        assert config[name] == value, f"config[{name!r}]={config[name]!r} != {value!r}"
    revived = layer_cls.from_config(config)
    assert revived.get_config() == config, "get_config() does not round-trip"

    output = layer(input_data)
    assert tuple(output.shape) == tuple(expected_output_shape), (
        f"output shape {tuple(output.shape)} != {tuple(expected_output_shape)}"
    )
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights

    model = _functional_model(layer_cls.from_config(config), input_data)
    assert tuple(model.output.shape[1:]) == tuple(expected_output_shape[1:])

    _check_gradients(layer_cls.from_config(config), input_data)
    if run_training_check:
        _check_training_step(layer_cls.from_config(config), input_data)
    if run_saving_check:
        _check_saving(model, input_data)
    return ops.convert_to_numpy(output)


def _check_gradients(layer, input_data):
    import tensorflow as tf

    xs = [tf.convert_to_tensor(x) for x in _as_list(input_data)]
    float_xs = [x for x in xs if x.dtype.is_floating]
    with tf.GradientTape() as tape:
        tape.watch(float_xs)
        call_in = xs if isinstance(input_data, (list, tuple)) else xs[0]
        out = layer(call_in)
        loss = tf.reduce_sum(tf.square(out))
    grads = tape.gradient(loss, float_xs + list(layer.trainable_weights))
    for g in grads:
        assert g is not None, "a gradient is missing"
        g = ops.convert_to_numpy(g)
        assert np.all(np.isfinite(g)), "a gradient is not finite"
    assert any(np.any(ops.convert_to_numpy(g) != 0) for g in grads), "all gradients are zero"


def _check_training_step(layer, input_data):
    model = _functional_model(layer, input_data)
    target = np.random.default_rng(0).normal(size=(np.shape(_as_list(input_data)[0])[0],)
                                             + tuple(model.output.shape[1:]))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    before = [ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(input_data, target.astype("float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    if before:
        after = [ops.convert_to_numpy(w) for w in model.trainable_weights]
        assert any(not np.allclose(a, b) for a, b in zip(after, before, strict=True)), (
            "a training step changed no weight"
        )


def _check_saving(model, input_data):
    expected = ops.convert_to_numpy(model(input_data))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        revived = keras.saving.load_model(path)
    np.testing.assert_allclose(
        ops.convert_to_numpy(revived(input_data)), expected, rtol=1e-5, atol=1e-6
    )
