"""Per-stream RNN of the multi-stream model: shapes, masking, Table I variants."""
import keras
import numpy as np
import pytest

from actionzoo.models.sequence_classifier import sequence_classifier


def _embedder(model):
    return keras.Model(model.inputs, model.get_layer("embedding").output)


@pytest.mark.parametrize("rnn, width", [("gru", 6), ("lstm", 6), ("bigru", 12), ("bilstm", 12)])
@pytest.mark.parametrize("layers", [1, 2])
def test_shapes_for_table_one_variants(rnn, width, layers):
    model = sequence_classifier(5, 3, rnn=rnn, units=6, layers=layers)
    assert tuple(model.get_layer("embedding").output.shape) == (None, width)
    x = np.random.default_rng(0).normal(size=(2, 4, 5)).astype("float32")
    assert tuple(model(x).shape) == (2, 3)
    n_rnn = sum(isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))
                for layer in model.layers)
    assert n_rnn == layers


def test_paper_configuration_parameter_count():
    """Two stacked BiGRU(512) on 1536-d InceptionResNetV2 embeddings, 101 classes.
    Keras GRU (reset_after=True): 3 * (units * (in + units) + 2 * units) per direction."""
    model = sequence_classifier(1536, 101)
    gru = lambda i, u: 3 * (u * (i + u) + 2 * u)  # noqa: E731
    expected = 2 * gru(1536, 512) + 2 * gru(1024, 512) + (1024 * 101 + 101)
    assert model.count_params() == expected
    assert tuple(model.get_layer("embedding").output.shape) == (None, 1024)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert [layer.rate for layer in dropouts] == [0.5] * 3


@pytest.mark.parametrize("rnn", ["bigru", "lstm"])
@pytest.mark.parametrize("attention", [False, True])
def test_padding_is_masked(rnn, attention):
    rng = np.random.default_rng(1)
    model = sequence_classifier(4, 3, rnn=rnn, units=5, attention=attention)
    emb = _embedder(model)
    short = rng.normal(size=(1, 3, 4)).astype("float32")
    longer = rng.normal(size=(1, 6, 4)).astype("float32")
    padded = np.zeros((2, 6, 4), "float32")
    padded[0, :3], padded[1] = short[0], longer[0]
    batch = np.asarray(emb(padded, training=False))
    np.testing.assert_allclose(batch[0], np.asarray(emb(short, training=False))[0],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch[1], np.asarray(emb(longer, training=False))[0],
                               rtol=1e-5, atol=1e-6)
    # without masking the zeros do change the embedding (the test above can fail)
    unmasked = _embedder(sequence_classifier(4, 3, rnn=rnn, units=5, attention=attention,
                                             mask_value=None))
    unmasked.set_weights(emb.get_weights())
    assert not np.allclose(np.asarray(unmasked(padded[:1], training=False)),
                           np.asarray(unmasked(short, training=False)), atol=1e-4)


def test_trains_one_step_with_attention():
    rng = np.random.default_rng(2)
    model = sequence_classifier(4, 3, units=4, attention=True, max_length=5)
    model.compile(optimizer=keras.optimizers.SGD(1e-2, momentum=0.9, nesterov=True),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)
    before = model.get_layer("attention").get_weights()[0].copy()
    loss = model.train_on_batch(rng.normal(size=(4, 5, 4)).astype("float32"),
                                rng.integers(0, 3, 4))
    assert np.isfinite(loss)
    assert not np.allclose(before, model.get_layer("attention").get_weights()[0])


@pytest.mark.parametrize("kwargs, match", [({"rnn": "rnn"}, "rnn"), ({"layers": 0}, "layers"),
                                           ({"units": 0}, "units"), ({"dropout": 1}, "dropout")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sequence_classifier(4, 2, **kwargs)


def test_saving_round_trip_with_attention(tmp_path):
    model = sequence_classifier(4, 3, rnn="bilstm", units=3, attention=True)
    x = np.random.default_rng(3).normal(size=(2, 5, 4)).astype("float32")
    x[0, 3:] = 0.0
    expected = np.asarray(model(x, training=False))
    model.save(tmp_path / "seq.keras")
    revived = keras.saving.load_model(tmp_path / "seq.keras")
    np.testing.assert_allclose(np.asarray(revived(x, training=False)), expected,
                               rtol=1e-5, atol=1e-6)
