"""Models written the way PyTorch users write them (no mixq blocks): the issue-10 user models.

Shared by the capture tests (``tests/nn``) and the end-to-end deploy tests (``tests/deploy``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class InvertedResidual(nn.Module):
    """MobileNetV2 / MCUNet block: 1x1 expand, depthwise kxk, 1x1 project, ``x + y`` when the
    shapes match."""

    def __init__(self, cin, cout, stride, expand, kernel=3):
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden,
                             bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x):
        if self.use_res:
            return x + self.conv(x)
        return self.conv(x)


class TinyMobileNetV2(nn.Module):
    """A small MobileNetV2/MCUNet-style net: ReLU6, inverted residuals with ``x + y``."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6()),
            InvertedResidual(8, 8, 1, 1),
            InvertedResidual(8, 12, 2, 3, kernel=5),
            InvertedResidual(12, 12, 1, 3, kernel=7),
            nn.Sequential(nn.Conv2d(12, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6()))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = x.mean((2, 3))
        return self.classifier(x)


class BasicBlock(nn.Module):
    """MLPerf Tiny ResNet-8 stack: conv-bn-relu, conv-bn, 1x1 conv shortcut (no BN), add, relu."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.shortcut is None else self.shortcut(x)
        return F.relu(torch.add(y, s))


class ResNet8(nn.Module):
    """MLPerf Tiny image classification ResNet-8 (widths 16/32/64 by default)."""

    def __init__(self, width=16, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, 1, 1)
        self.bn = nn.BatchNorm2d(width)
        self.stack1 = BasicBlock(width, width, 1)
        self.stack2 = BasicBlock(width, 2 * width, 2)
        self.stack3 = BasicBlock(2 * width, 4 * width, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.stack3(self.stack2(self.stack1(x)))
        x = self.pool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


class DSCNN(nn.Module):
    """MLPerf Tiny keyword spotting DS-CNN: 10x4 stride-2 first conv, 3x3 depthwise separable
    blocks, average pool, linear (49x10 MFCC input)."""

    def __init__(self, width=64, blocks=4, num_classes=12):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, width, (10, 4), 2, (5, 1)), nn.BatchNorm2d(width),
                                  nn.ReLU())
        layers = []
        for _ in range(blocks):
            layers += [nn.Conv2d(width, width, 3, 1, 1, groups=width), nn.BatchNorm2d(width),
                       nn.ReLU(), nn.Conv2d(width, width, 1), nn.BatchNorm2d(width), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.drop = nn.Dropout(0.4)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.body(self.conv(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(self.drop(x), 1))


class PoolCat(nn.Module):
    """A small net with ``nn.MaxPool2d`` and ``torch.cat`` along channels."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.a = nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(16 * 4 * 4, num_classes)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.a(x), self.b(x)], dim=1)
        x = self.pool(x)
        return self.fc(x.flatten(1))


USER_MODELS = {
    "mobilenetv2": (TinyMobileNetV2, (3, 32, 32)),
    "resnet8": (ResNet8, (3, 32, 32)),
    "dscnn": (lambda: DSCNN(width=16, blocks=2), (1, 49, 10)),
    "poolcat": (PoolCat, (3, 16, 16)),
}


def mixed_allocation(model, example_input):
    """A memory-driven allocation under 70% of the model's 8-bit flash and peak RAM."""
    import mixq
    from mixq.quant.spec import BitAllocation
    from mixq.search.memory import flash_bytes, layer_shapes, ram_peak_bytes

    shapes = layer_shapes(model, tuple(example_input.shape[1:]))
    eight = BitAllocation.uniform([(s.name, s.kind) for s in shapes], 8)
    return mixq.allocate(model, example_input=example_input,
                         flash_bytes=int(0.7 * flash_bytes(shapes, eight)),
                         ram_bytes=int(0.7 * ram_peak_bytes(shapes, eight)))


def build_user_model(name: str, batch: int, seed: int = 0):
    """(model with seeded random weights, a batch of inputs in [0, 1]) of ``USER_MODELS[name]``."""
    ctor, shape = USER_MODELS[name]
    torch.manual_seed(seed)
    return ctor(), torch.rand(batch, *shape)
