"""The :func:`actionzoo.flops.count_flops` rule of :class:`~actionzoo.layers.Correlation`.

Registered when :mod:`actionzoo.layers` is imported, so ``flops`` itself needs
nothing from ``layers`` (the dependencies run one way: layers use flops).
"""
import math

from actionzoo.flops import register_flops
from actionzoo.layers.correlation import Correlation


@register_flops(Correlation)
def _correlation_flops(layer, input_shapes, output_shapes):
    """``C * K * K * L * H * W`` multiply-adds per sample (Wang et al., Table 1)."""
    return math.prod(input_shapes[0]) * layer.kernel_size ** 2
