"""Keras model builders (functional API), one file per family."""
from actionzoo.models.autoencoder import embedding_autoencoder, reconstruction_errors
from actionzoo.models.backbones import (
    WeightsUnavailableError,
    backbone_preprocess,
    frame_embedding_model,
)
from actionzoo.models.correlation_net import correlation_net, correlation_video_resnet
from actionzoo.models.corrnet_fusion import corrnet_fusion_mlp
from actionzoo.models.efficientnet_lite import efficientnet_lite0
from actionzoo.models.inflate import inflate_from_2d
from actionzoo.models.knowledge_transfer import correspondence_pairs, frame_clip_correspondence
from actionzoo.models.motion_cnn import motion_cnn
from actionzoo.models.resnet3d import resnet3d
from actionzoo.models.sequence_classifier import sequence_classifier
from actionzoo.models.stfn import stfn, stfn_embedding_model
from actionzoo.models.vggish import (
    convert_vggish_checkpoint,
    load_vggish_checkpoint,
    set_vggish_weights,
    vggish,
)
from actionzoo.models.video_resnet import video_resnet

__all__ = [
    "WeightsUnavailableError", "backbone_preprocess", "convert_vggish_checkpoint",
    "correlation_net", "correlation_video_resnet",
    "correspondence_pairs", "corrnet_fusion_mlp", "efficientnet_lite0", "embedding_autoencoder",
    "frame_clip_correspondence", "frame_embedding_model", "inflate_from_2d",
    "load_vggish_checkpoint", "motion_cnn", "reconstruction_errors", "resnet3d",
    "sequence_classifier", "set_vggish_weights", "stfn", "stfn_embedding_model", "vggish",
    "video_resnet",
]
