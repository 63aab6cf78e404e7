"""MobileNetV2 (Sandler et al. 2018) as plain PyTorch, with a width multiplier.

The published layout (t = expansion, c = channels, n = repeats, s = first stride): a 3x3 stride-2
stem of 32, the seven inverted residual stages below, a 1x1 conv to 1280, global pooling, dropout
and a linear classifier; channels rounded to multiples of 8; ReLU6 everywhere except the linear
bottleneck, ``x + y`` where shapes match. Padding is symmetric ``k // 2`` as in common PyTorch
code.
"""

from __future__ import annotations

from torch import nn

STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
          (6, 160, 3, 2), (6, 320, 1, 1))
# A MobileNetV2 for 28x28 grey images (Fashion-MNIST): the same blocks, four stages (28 -> 14 ->
# 7 -> 4 -> 2), 17 weight layers instead of 53 and a 384-wide last 1x1 conv; its pointwise layers
# have 16..288 inputs, so per-channel scales cost little per weight.
SMALL_STAGES = ((1, 16, 1, 1), (6, 24, 1, 2), (6, 48, 2, 2), (6, 96, 1, 2))
SMALL_LAST_CHANNELS = 384


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round ``v`` to a multiple of ``divisor``, never below 90% of ``v``.

    Example:
        >>> make_divisible(32 * 0.35), make_divisible(16 * 0.5), make_divisible(1280 * 1.4)
        (16, 8, 1792)
    """
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def conv_bn_relu6(cin: int, cout: int, kernel: int = 3, stride: int = 1,
                  groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups,
                                   bias=False), nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """1x1 expand (skipped when t = 1), kxk depthwise, linear 1x1 projection, ``x + y``."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, kernel: int = 3):
        super().__init__()
        hidden = int(round(cin * expand))
        layers = [conv_bn_relu6(cin, hidden, 1)] if expand != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, kernel, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.use_res = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 with width multiplier ``width`` at ``resolution`` x ``resolution`` with
    ``in_channels`` input channels (3: RGB; 1: grey images such as Fashion-MNIST's 28x28).

    Example:
        >>> import torch
        >>> m = MobileNetV2(width=0.35, resolution=96, num_classes=2)
        >>> m(torch.zeros(1, 3, 96, 96)).shape
        torch.Size([1, 2])
    """

    def __init__(self, width: float = 1.0, resolution: int = 224, num_classes: int = 1000,
                 in_channels: int = 3, stages=STAGES, last_channels: int = 1280):
        super().__init__()
        self.input_shape = (in_channels, resolution, resolution)
        c = make_divisible(32 * width)
        last = make_divisible(last_channels * max(1.0, width))
        layers = [conv_bn_relu6(in_channels, c, 3, 2)]
        for t, ch, n, s in stages:
            cout = make_divisible(ch * width)
            for i in range(n):
                layers.append(InvertedResidual(c, cout, s if i == 0 else 1, t))
                c = cout
        layers.append(conv_bn_relu6(c, last, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


def mobilenet_v2_small(width: float = 1.0, resolution: int = 28, num_classes: int = 10,
                       in_channels: int = 1) -> MobileNetV2:
    """MobileNetV2's blocks in :data:`SMALL_STAGES` for 28x28 grey images (Fashion-MNIST).

    Example:
        >>> import torch
        >>> m = mobilenet_v2_small()
        >>> m(torch.zeros(2, 1, 28, 28)).shape, sum(p.numel() for p in m.parameters()) > 100_000
        (torch.Size([2, 10]), True)
    """
    return MobileNetV2(width, resolution, num_classes, in_channels, SMALL_STAGES,
                       SMALL_LAST_CHANNELS)
