"""Reference PyTorch VideoResNet, written from torchvision's ``models/video/resnet.py`` and
ig65m-pytorch's R(2+1)D-34 (VMZ mid widths, BN epsilon 1e-3): the module tree whose state
dicts the converter reads."""
import torch
from torch import nn


def _mid(in_planes, out_planes):
    return (in_planes * out_planes * 27) // (in_planes * 9 + 3 * out_planes)


def _conv(kind, in_planes, out_planes, mid, stride=1):
    if kind == "3d":
        return nn.Conv3d(in_planes, out_planes, 3, stride, 1, bias=False)
    if kind == "2d":
        return nn.Conv3d(in_planes, out_planes, (1, 3, 3), (1, stride, stride), (0, 1, 1),
                         bias=False)
    return nn.Sequential(  # (2+1)D: indices 0 (spatial), 1 (BN), 2 (ReLU), 3 (temporal)
        nn.Conv3d(in_planes, mid, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
        nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
        nn.Conv3d(mid, out_planes, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False))


class BasicBlock(nn.Module):
    def __init__(self, kind, in_planes, planes, stride, vmz):
        super().__init__()
        mid = _mid(in_planes, planes)
        self.conv1 = nn.Sequential(_conv(kind, in_planes, planes, mid, stride),
                                   nn.BatchNorm3d(planes), nn.ReLU(inplace=True))
        mid2 = _mid(planes, planes) if vmz else mid
        self.conv2 = nn.Sequential(_conv(kind, planes, planes, mid2), nn.BatchNorm3d(planes))
        self.downsample = None
        if stride != 1 or in_planes != planes:
            ds_stride = (1, stride, stride) if kind == "2d" else stride
            self.downsample = nn.Sequential(
                nn.Conv3d(in_planes, planes, 1, ds_stride, bias=False), nn.BatchNorm3d(planes))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.relu(self.conv2(self.conv1(x)) + shortcut)


CONFIGS = {
    "r3d_18": ("3d", ["3d"] * 4, [2, 2, 2, 2]),
    "mc3_18": ("3d", ["3d", "2d", "2d", "2d"], [2, 2, 2, 2]),
    "r2plus1d_18": ("2plus1d", ["2plus1d"] * 4, [2, 2, 2, 2]),
    "r2plus1d_34": ("2plus1d", ["2plus1d"] * 4, [3, 4, 6, 3]),
}


class VideoResNet(nn.Module):
    def __init__(self, architecture, num_classes=400):
        super().__init__()
        stem, kinds, layers = CONFIGS[architecture]
        vmz = architecture == "r2plus1d_34"
        if stem == "3d":
            self.stem = nn.Sequential(
                nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                nn.BatchNorm3d(64), nn.ReLU(inplace=True))
        else:
            self.stem = nn.Sequential(
                nn.Conv3d(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
                nn.BatchNorm3d(45), nn.ReLU(inplace=True),
                nn.Conv3d(45, 64, (3, 1, 1), 1, (1, 0, 0), bias=False),
                nn.BatchNorm3d(64), nn.ReLU(inplace=True))
        in_planes = 64
        for i, (kind, n, planes) in enumerate(zip(kinds, layers, (64, 128, 256, 512), strict=True)):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(kind, in_planes, planes, 2 if i and not b else 1, vmz))
                in_planes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(512, num_classes)
        if vmz:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm3d):
                    m.eps = 1e-3

    def forward(self, x):
        x = self.stem(x)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(x.mean(dim=(2, 3, 4)))
