"""scikit-learn estimators, one file per estimator; shared machinery in _base.py."""
from actionzoo.estimators.anomaly import EmbeddingAnomalyDetector
from actionzoo.estimators.correlation_net import CorrelationNet
from actionzoo.estimators.corrnet_fusion import CorrNetFusion
from actionzoo.estimators.late_fusion import LateFusion
from actionzoo.estimators.multi_stream_gru import MultiStreamGRU
from actionzoo.estimators.stc_net import STCNet
from actionzoo.estimators.stfn import STFN
from actionzoo.estimators.two_stream_features import TwoStreamFeatures
from actionzoo.estimators.video_resnet import VideoResNetClassifier

__all__ = [
    "CorrelationNet", "CorrNetFusion", "EmbeddingAnomalyDetector", "LateFusion",
    "MultiStreamGRU", "STCNet", "STFN", "TwoStreamFeatures", "VideoResNetClassifier",
]
