"""actionzoo: a Keras 3 model zoo for video action recognition with a scikit-learn API.

The estimators are imported on first use (PEP 562), so ``import actionzoo``
and ``actionzoo --help`` do not load TensorFlow.
"""
import importlib

__version__ = "0.1.0"

_ESTIMATORS = (
    "CorrelationNet", "CorrNetFusion", "EmbeddingAnomalyDetector", "LateFusion",
    "MultiStreamGRU", "STCNet", "STFN", "TwoStreamFeatures", "VideoResNetClassifier",
)

__all__ = [*_ESTIMATORS, "__version__"]


def __getattr__(name):
    if name in _ESTIMATORS:
        return getattr(importlib.import_module("actionzoo.estimators"), name)
    raise AttributeError(f"module 'actionzoo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
