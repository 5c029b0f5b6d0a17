"""scikit-learn estimators, one file per estimator; shared machinery in _base.py."""
from actionzoo.estimators.corrnet_fusion import CorrNetFusion
from actionzoo.estimators.late_fusion import LateFusion

__all__ = ["CorrNetFusion", "LateFusion"]
