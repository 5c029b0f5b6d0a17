"""Keras model builders (functional API), one file per family."""
from actionzoo.models.corrnet_fusion import corrnet_fusion_mlp

__all__ = ["corrnet_fusion_mlp"]
