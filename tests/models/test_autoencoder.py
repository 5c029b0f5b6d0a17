"""Embedding autoencoder: structure, and anomalies reconstruct worse after training."""
import keras
import numpy as np
import pytest

from actionzoo.models.autoencoder import embedding_autoencoder, reconstruction_errors


def test_structure_mirrors_encoder():
    model = embedding_autoencoder(20, encoding_dim=3, hidden_units=(12, 6), dropout=0.1)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [12, 6, 3, 6, 12, 20]
    assert model.get_layer("bottleneck").activation.__name__ == "linear"
    assert model.get_layer("reconstruction").activation.__name__ == "linear"


def test_anomalies_have_higher_reconstruction_error():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(2, 16))
    normal = (rng.normal(size=(300, 2)) @ basis).astype("float32")
    anomalies = (rng.normal(size=(30, 16)) * normal.std()).astype("float32")
    model = embedding_autoencoder(16, encoding_dim=2, hidden_units=())
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    before = reconstruction_errors(model, normal).mean()
    model.fit(normal, normal, epochs=40, batch_size=64, verbose=0)
    err_normal = reconstruction_errors(model, normal)
    err_anomaly = reconstruction_errors(model, anomalies)
    assert err_normal.shape == (300,) and err_anomaly.shape == (30,)
    assert err_normal.mean() < 0.1 * before
    assert np.median(err_anomaly) > 5 * np.median(err_normal)


@pytest.mark.parametrize("kwargs, match", [({"encoding_dim": 16}, "encoding_dim"),
                                           ({"hidden_units": (0,)}, "hidden_units"),
                                           ({"dropout": 1.0}, "dropout")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        embedding_autoencoder(16, **dict({"encoding_dim": 4}, **kwargs))
