"""Test-session settings shared by the whole suite."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts from a clean Keras graph/name state."""
    keras.backend.clear_session()
    yield


@pytest.fixture
def actionzoo_home(tmp_path, monkeypatch):
    """A fresh ``ACTIONZOO_HOME`` whose ``ops/`` is the user's compiled-op cache.

    Weights and sources land in ``tmp_path/"home"``; the correlation op
    compiled once per machine is found through the ``ops`` link instead of
    being compiled again for every test.
    """
    from actionzoo._home import home_dir

    ops = home_dir() / "ops"
    ops.mkdir(parents=True, exist_ok=True)
    home = tmp_path / "home"
    home.mkdir()
    (home / "ops").symlink_to(ops, target_is_directory=True)
    monkeypatch.setenv("ACTIONZOO_HOME", str(home))
    return home
