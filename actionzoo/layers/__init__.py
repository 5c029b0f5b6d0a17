"""Custom Keras layers, one concern per file, built from ``keras.ops``.

Every layer is registered for serialisation under the ``actionzoo`` package so
``.keras`` files load without ``custom_objects``.
"""
from actionzoo.layers import correlation_flops  # noqa: F401  (registers the FLOP rule)
from actionzoo.layers.correlation import Correlation
from actionzoo.layers.outer_product_correlation import OuterProductCorrelation
from actionzoo.layers.residual_inception_1d import ResidualInception1D
from actionzoo.layers.score_fusion import ScoreFusion
from actionzoo.layers.stc_block import STCBlock
from actionzoo.layers.temporal_self_attention import TemporalSelfAttention
from actionzoo.layers.zero_pad_shortcut import ZeroPadShortcut

__all__ = [
    "Correlation", "OuterProductCorrelation", "ResidualInception1D", "STCBlock",
    "ScoreFusion", "TemporalSelfAttention", "ZeroPadShortcut",
]
