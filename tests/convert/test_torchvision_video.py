"""torchvision / VMZ video ResNets: converted logits equal the PyTorch source's."""
import numpy as np
import pytest
import torch

from actionzoo.convert import convert_checkpoint
from tests.convert.helpers import max_relative_error, randomise_batchnorm, torch_logits
from tests.convert.torch_video_resnet import VideoResNet


@pytest.mark.parametrize("architecture, zip_format", [
    ("r3d_18", True), ("mc3_18", False), ("r2plus1d_18", True), ("r2plus1d_34", False)])
def test_converted_logits_equal_the_pytorch_source(architecture, zip_format, tmp_path):
    torch.manual_seed(0)
    source = randomise_batchnorm(VideoResNet(architecture, num_classes=7))
    path = tmp_path / f"{architecture}.pth"
    torch.save(source.state_dict(), path, _use_new_zipfile_serialization=zip_format)
    clip = np.random.default_rng(0).normal(size=(2, 4, 32, 32, 3)).astype("float32")
    expected = torch_logits(source, clip)

    model = convert_checkpoint(path, architecture, clip_length=4, input_size=32)

    assert model.output.shape[-1] == 7  # classifier width read from the checkpoint
    assert max_relative_error(np.asarray(model(clip)), expected) <= 1e-4
