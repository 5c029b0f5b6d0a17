"""Reference PyTorch 3D ResNet / ResNeXt of Hara et al., written from 3D-ResNets-PyTorch's
``models/resnet.py`` and ``models/resnext.py`` (the Kinetics release: 7x7x7 stem, max pool,
shortcut A for ResNet-18/34, B for 50/101 and ResNeXt-101). ``width`` scales every channel
count as ``resnet3d(width=...)`` does, for small test networks of full depth."""
import math

import torch
import torch.nn.functional as F
from torch import nn


def _bn(channels):
    return nn.BatchNorm3d(channels)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride, downsample, cardinality):
        super().__init__()
        self.conv1 = nn.Conv3d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = _bn(planes)
        self.downsample = downsample

    def residual(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(self.residual(x) + shortcut)


class Bottleneck(BasicBlock):
    expansion = 4

    def __init__(self, in_planes, planes, stride, downsample, cardinality):
        nn.Module.__init__(self)
        mid = cardinality * max(1, planes // 32) if cardinality > 1 else planes
        self.conv1 = nn.Conv3d(in_planes, mid, 1, bias=False)
        self.bn1 = _bn(mid)
        self.conv2 = nn.Conv3d(mid, mid, 3, stride, 1, groups=cardinality, bias=False)
        self.bn2 = _bn(mid)
        self.conv3 = nn.Conv3d(mid, planes * self.expansion, 1, bias=False)
        self.bn3 = _bn(planes * self.expansion)
        self.downsample = downsample

    def residual(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))


class ResNeXtBottleneck(Bottleneck):
    expansion = 2


def _zero_pad_shortcut(x, planes, stride):
    """Shortcut A: stride-s subsampling, zero channels appended after the input's."""
    out = F.avg_pool3d(x, kernel_size=1, stride=stride)
    zeros = out.new_zeros(out.size(0), planes - out.size(1), *out.shape[2:])
    return torch.cat([out, zeros], dim=1)


DEPTHS = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
          50: (Bottleneck, [3, 4, 6, 3]), 101: (Bottleneck, [3, 4, 23, 3])}


class HaraResNet(nn.Module):
    def __init__(self, depth, cardinality=1, sample_size=112, sample_duration=16,
                 num_classes=400, width=1.0):
        super().__init__()
        block, layers = DEPTHS[depth]
        if cardinality > 1:
            block = ResNeXtBottleneck
        shortcut = "A" if block is BasicBlock else "B"
        scaled = [max(1, round(c * width)) for c in
                  ((128, 256, 512, 1024) if cardinality > 1 else (64, 128, 256, 512))]
        self.in_planes = max(1, round(64 * width))
        self.conv1 = nn.Conv3d(3, self.in_planes, 7, (1, 2, 2), 3, bias=False)
        self.bn1 = _bn(self.in_planes)
        self.maxpool = nn.MaxPool3d(3, 2, 1)
        for i, (planes, n) in enumerate(zip(scaled, layers, strict=True)):
            blocks = []
            for b in range(n):
                stride = 2 if i and not b else 1
                out = planes * block.expansion
                downsample = None
                if stride != 1 or self.in_planes != out:
                    if shortcut == "A":
                        def downsample(x, out=out, stride=stride):
                            return _zero_pad_shortcut(x, out, stride)
                    else:
                        downsample = nn.Sequential(
                            nn.Conv3d(self.in_planes, out, 1, stride, bias=False), _bn(out))
                blocks.append(block(self.in_planes, planes, stride, downsample, cardinality))
                self.in_planes = out
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AvgPool3d((math.ceil(sample_duration / 16), math.ceil(sample_size / 32),
                                     math.ceil(sample_size / 32)), stride=1)
        self.fc = nn.Linear(self.in_planes, num_classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(self.avgpool(x).flatten(1))
