"""Hara et al.'s Kinetics 3D ResNets / ResNeXt: converted into the ``resnet3d`` backbones
STCNet uses, logits equal to the PyTorch source's."""
import numpy as np
import pytest
import torch

from actionzoo.convert import convert_checkpoint
from tests.convert.helpers import max_relative_error, randomise_batchnorm, torch_logits
from tests.convert.torch_hara_resnet import HaraResNet


# Depth 101 at a quarter of the widths (full depth: 23 blocks in res4) keeps the test to
# seconds; the key mapping does not depend on the width.
@pytest.mark.parametrize("architecture, depth, cardinality, width, zip_format", [
    ("hara_resnet18", 18, 1, 1.0, False), ("hara_resnet34", 34, 1, 1.0, True),
    ("hara_resnet50", 50, 1, 1.0, True), ("hara_resnet101", 101, 1, 0.25, True),
    ("hara_resnext101", 101, 32, 0.25, False)])
def test_converted_logits_equal_the_pytorch_source(architecture, depth, cardinality, width,
                                                   zip_format, tmp_path):
    torch.manual_seed(0)
    source = randomise_batchnorm(HaraResNet(depth, cardinality, sample_size=64,
                                            sample_duration=8, num_classes=6, width=width))
    path = tmp_path / f"{architecture}.pth"
    # a training checkpoint of nn.DataParallel, as Hara et al. publish them
    state = {"module." + k: v for k, v in source.state_dict().items()}
    torch.save({"epoch": 200, "arch": f"resnet-{depth}", "state_dict": state,
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}},
               path, _use_new_zipfile_serialization=zip_format)
    clip = np.random.default_rng(1).normal(size=(2, 8, 64, 64, 3)).astype("float32")
    expected = torch_logits(source, clip)

    model = convert_checkpoint(path, architecture, clip_length=8, input_size=64, width=width)

    assert model.output.shape[-1] == 6
    assert max_relative_error(np.asarray(model(clip)), expected) <= 1e-4
