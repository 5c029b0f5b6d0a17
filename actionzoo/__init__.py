"""actionzoo: a Keras 3 model zoo for video action recognition with a scikit-learn API."""
__version__ = "0.1.0"
