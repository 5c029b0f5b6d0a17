"""actionzoo: a Keras 3 model zoo for video action recognition with a scikit-learn API."""
__version__ = "0.1.0"

from actionzoo.estimators import CorrelationNet, CorrNetFusion, LateFusion, STFN  # noqa: E402

__all__ = ["CorrelationNet", "CorrNetFusion", "LateFusion", "STFN", "__version__"]
