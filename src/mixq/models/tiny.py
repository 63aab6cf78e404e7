"""Small reference networks: the demo net and the MLPerf Tiny DS-CNN and ResNet-8 shapes."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from mixq.models.mobilenet import separable_net
from mixq.nn.layers import ConvBNReLU, GlobalAvgPool, ResidualAdd

# demo_net at width 1.0: first conv channels, then (depthwise stride, pointwise channels).
DEMO_FIRST_CHANNELS = 16
DEMO_BLOCKS = ((1, 32), (2, 64), (1, 64))


def _width(channels: int, width: float) -> int:
    return max(int(channels * width), 2)


def demo_net(num_classes: int = 10, width: float = 1.0, resolution: int = 16,
             in_channels: int = 1) -> nn.Sequential:
    """A narrow MobileNet-style net for 1x16x16 digits: conv3x3, 3 dw/pw blocks (one stride 2).

    At width 1.0: conv0 16 ch, pw1 32, pw2 64 (after a stride-2 dw), pw3 64, avgpool, fc.
    ``width`` scales every channel count (``int(c * width)``, at least 2), e.g. 0.5 for a
    narrower 8-bit model that fits the same budget as a mixed-precision one.

    Args:
        num_classes: classifier outputs.
        width: channel multiplier.
        resolution: input height and width (recorded in ``input_shape``).
        in_channels: input channels.

    Example:
        >>> import torch
        >>> m = demo_net()
        >>> m.input_shape, m(torch.zeros(2, 1, 16, 16)).shape
        ((1, 16, 16), torch.Size([2, 10]))
    """
    if width <= 0:
        raise ValueError("width must be positive")
    return separable_net(in_channels, _width(DEMO_FIRST_CHANNELS, width), 1,
                         [(stride, _width(out, width)) for stride, out in DEMO_BLOCKS],
                         num_classes, resolution)


def ds_cnn(num_classes: int = 12, input_shape: tuple[int, int, int] = (1, 49, 10)) -> nn.Sequential:
    """MLPerf Tiny keyword-spotting DS-CNN: conv 10x4/s2 with 64 ch, 4 dw3x3+pw blocks, avgpool, fc.

    Input is an MFCC map (C, H, W) = (1, 49 frames, 10 coefficients); SAME padding as the
    reference Keras model, so the first conv gives 25x5x64. Dropout is left out.

    Args:
        num_classes: 12 keywords in the MLPerf Tiny task.
        input_shape: (C, H, W) of the input.

    Example:
        >>> import torch
        >>> m = ds_cnn()
        >>> m(torch.zeros(1, 1, 49, 10)).shape
        torch.Size([1, 12])
    """
    in_channels = input_shape[0]
    layers: "OrderedDict[str, nn.Module]" = OrderedDict()
    layers["conv0"] = ConvBNReLU(in_channels, 64, (10, 4), stride=2)
    for i in range(1, 5):
        layers[f"dw{i}"] = ConvBNReLU(64, 64, 3, groups=64)
        layers[f"pw{i}"] = ConvBNReLU(64, 64, 1)
    layers["pool"] = GlobalAvgPool()
    layers["flatten"] = nn.Flatten()  # (N, C, 1, 1) -> (N, C)
    layers["fc"] = nn.Linear(64, num_classes)
    model = nn.Sequential(layers)
    model.input_shape = tuple(int(v) for v in input_shape)
    return model


class ResidualStack(nn.Module):
    """One ResNet-8 stack: conv3x3(/s) -> conv3x3 (no ReLU), plus a shortcut, then add + ReLU.

    The shortcut is a 1x1 conv with the stack's stride (no ReLU) when the shape changes,
    otherwise the identity.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = ConvBNReLU(in_channels, out_channels, 3, stride=stride)
        self.conv2 = ConvBNReLU(out_channels, out_channels, 3, relu=False)
        self.shortcut = (ConvBNReLU(in_channels, out_channels, 1, stride=stride, relu=False)
                         if stride != 1 or in_channels != out_channels else None)
        self.add = ResidualAdd(relu=True)

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        s = x if self.shortcut is None else self.shortcut(x)
        return self.add(s, y)


class ResNet8(nn.Module):
    """MLPerf Tiny image-classification ResNet-8 (see :func:`resnet8`)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv0 = ConvBNReLU(in_channels, 16, 3)
        self.stack1 = ResidualStack(16, 16, 1)
        self.stack2 = ResidualStack(16, 32, 2)
        self.stack3 = ResidualStack(32, 64, 2)
        self.pool = GlobalAvgPool()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.stack3(self.stack2(self.stack1(self.conv0(x))))
        return self.fc(self.flatten(self.pool(x)))  # (N, 64, 1, 1) -> (N, 64) -> logits


def resnet8(num_classes: int = 10, resolution: int = 32, in_channels: int = 3) -> ResNet8:
    """MLPerf Tiny ResNet-8 for CIFAR-10: conv3x3 16, stacks of 16/32/64 channels, avgpool, fc.

    Stacks 2 and 3 start with stride 2 and have a 1x1 stride-2 shortcut conv; 10 weight layers
    (7 main-path convs, 2 shortcut convs, fc).

    Args:
        num_classes: classifier outputs.
        resolution: input height and width (recorded in ``input_shape``).
        in_channels: input channels.

    Example:
        >>> import torch
        >>> resnet8()(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """
    model = ResNet8(num_classes, in_channels)
    model.input_shape = (in_channels, resolution, resolution)
    return model
