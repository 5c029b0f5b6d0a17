"""Keras models as bytes, so fitted estimators pickle and deep-copy."""
import os
import tempfile

import keras


class SerializedKerasModel:
    """The bytes of a ``.keras`` file standing in for a model inside a pickle."""

    def __init__(self, model):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            with open(path, "rb") as f:
                self.data = f.read()

    def load(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            with open(path, "wb") as f:
                f.write(self.data)
            return keras.saving.load_model(path)


def serialize_models(value):
    """Replace every Keras model in ``value`` (a model or a dict of them)."""
    if isinstance(value, keras.Model):
        return SerializedKerasModel(value)
    if isinstance(value, dict):
        return {k: serialize_models(v) for k, v in value.items()}
    return value


def deserialize_models(value):
    if isinstance(value, SerializedKerasModel):
        return value.load()
    if isinstance(value, dict):
        return {k: deserialize_models(v) for k, v in value.items()}
    return value
