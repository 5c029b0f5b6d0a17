"""actionzoo: a Keras 3 model zoo for video action recognition with a scikit-learn API."""
__version__ = "0.1.0"

from actionzoo.estimators import CorrNetFusion, LateFusion  # noqa: E402

__all__ = ["CorrNetFusion", "LateFusion", "__version__"]
