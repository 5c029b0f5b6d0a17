"""Custom Keras layers, one concern per file, built from ``keras.ops``.

Every layer is registered for serialisation under the ``actionzoo`` package so
``.keras`` files load without ``custom_objects``.
"""
from actionzoo.layers.outer_product_correlation import OuterProductCorrelation

__all__ = ["OuterProductCorrelation"]
