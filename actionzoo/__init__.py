"""actionzoo: a Keras 3 model zoo for video action recognition with a scikit-learn API."""
__version__ = "0.1.0"

from actionzoo.estimators import (  # noqa: E402
    STFN, CorrelationNet, CorrNetFusion, EmbeddingAnomalyDetector,
    LateFusion, MultiStreamGRU, STCNet, TwoStreamFeatures)

__all__ = [
    "CorrelationNet", "CorrNetFusion", "EmbeddingAnomalyDetector", "LateFusion", "MultiStreamGRU",
    "STCNet", "STFN", "TwoStreamFeatures", "__version__",
]
