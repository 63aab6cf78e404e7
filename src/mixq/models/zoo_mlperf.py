"""The four MLPerf Tiny reference models (v1.x), written as plain PyTorch.

Layer for layer as the benchmark's Keras definitions (``training/*/keras_model.py`` of
mlcommons/tiny): Keras' ``padding='same'`` is TensorFlow SAME, asymmetric at stride 2, so it is an
``nn.ZeroPad2d`` before an unpadded ``nn.Conv2d`` where the two sides differ; convolutions and
dense layers keep their bias (Keras' default), dropout is kept (removed at capture). They go
through :func:`mixq.nn.capture.capture` like any user model.
"""

from __future__ import annotations

from torch import nn

from mixq.nn.layers import same_padding


def same_conv(cin: int, cout: int, kernel, stride: int, size: tuple[int, int],
              groups: int = 1) -> nn.Module:
    """``Conv2D(padding='same')`` for an input of ``size`` (H, W): TF SAME padding, the odd
    pixel after.

    Example:
        >>> same_conv(3, 8, 3, 2, (96, 96))
        Sequential(
          (0): ZeroPad2d((0, 1, 0, 1))
          (1): Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2))
        )
    """
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    t, b = same_padding(size[0], kh, stride)
    l, r = same_padding(size[1], kw, stride)
    if (t, l) == (b, r):
        return nn.Conv2d(cin, cout, (kh, kw), stride, (t, l), groups=groups)
    return nn.Sequential(nn.ZeroPad2d((l, r, t, b)), nn.Conv2d(cin, cout, (kh, kw), stride,
                                                               groups=groups))


def _out(size, stride):
    return (-(-size[0] // stride), -(-size[1] // stride))


def _cbr(cin, cout, kernel, stride, size, groups=1):
    return [same_conv(cin, cout, kernel, stride, size, groups), nn.BatchNorm2d(cout), nn.ReLU()]


class DSCNNKWS(nn.Module):
    """MLPerf Tiny keyword spotting DS-CNN: 49x10 MFCC, Conv(64, 10x4, s2) + 4 depthwise
    separable blocks + AveragePooling2D(25x5) + Dense(12).

    Example:
        >>> import torch
        >>> DSCNNKWS()(torch.zeros(1, 1, 49, 10)).shape
        torch.Size([1, 12])
    """

    input_shape = (1, 49, 10)

    def __init__(self, num_classes: int = 12, filters: int = 64):
        super().__init__()
        size = (49, 10)
        layers = _cbr(1, filters, (10, 4), 2, size) + [nn.Dropout(0.2)]
        size = _out(size, 2)
        for _ in range(4):
            layers += _cbr(filters, filters, 3, 1, size, groups=filters)
            layers += _cbr(filters, filters, 1, 1, size)
        layers += [nn.Dropout(0.4), nn.AvgPool2d(size), nn.Flatten(), nn.Linear(filters,
                                                                                  num_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class MobileNetV1VWW(nn.Module):
    """MLPerf Tiny visual wake words: MobileNetV1 width 0.25 at 96x96x3, two classes.

    Example:
        >>> import torch
        >>> MobileNetV1VWW()(torch.zeros(1, 3, 96, 96)).shape
        torch.Size([1, 2])
    """

    input_shape = (3, 96, 96)
    # (filters at width 1, stride) of each depthwise separable block
    BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
              (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))

    def __init__(self, num_classes: int = 2, width: float = 0.25, resolution: int = 96):
        super().__init__()
        self.input_shape = (3, resolution, resolution)
        size = (resolution, resolution)
        c = int(32 * width)
        layers = _cbr(3, c, 3, 2, size)
        size = _out(size, 2)
        for filters, stride in self.BLOCKS:
            cout = int(filters * width)
            layers += _cbr(c, c, 3, stride, size, groups=c)
            size = _out(size, stride)
            layers += _cbr(c, cout, 1, 1, size)
            c = cout
        layers += [nn.AvgPool2d(size), nn.Flatten(), nn.Linear(c, num_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class _ResStack(nn.Module):
    def __init__(self, cin, cout, stride, size):
        super().__init__()
        self.conv1 = nn.Sequential(*_cbr(cin, cout, 3, stride, size))
        out = _out(size, stride)
        self.conv2 = nn.Sequential(same_conv(cout, cout, 3, 1, out), nn.BatchNorm2d(cout))
        # the benchmark's shortcut: a 1x1 conv without BatchNorm when the shape changes
        self.shortcut = same_conv(cin, cout, 1, stride, size) if stride != 1 else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet8IC(nn.Module):
    """MLPerf Tiny image classification ResNet-8 (CIFAR-10, 32x32x3): 16-32-64 filters, 1x1
    shortcut convolutions without BatchNorm, AveragePooling2D(8), Dense(10).

    Example:
        >>> import torch
        >>> ResNet8IC()(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """

    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(*_cbr(3, 16, 3, 1, (32, 32)))
        self.stack1 = _ResStack(16, 16, 1, (32, 32))
        self.stack2 = _ResStack(16, 32, 2, (32, 32))
        self.stack3 = _ResStack(32, 64, 2, (16, 16))
        self.pool = nn.AvgPool2d(8)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.stack3(self.stack2(self.stack1(self.stem(x))))
        return self.fc(self.pool(x).flatten(1))


class FCAutoencoder(nn.Module):
    """MLPerf Tiny anomaly detection: 640 inputs (5 frames x 128 mel), Dense(128)+BN+ReLU x4,
    Dense(8)+BN+ReLU, Dense(128)+BN+ReLU x4, Dense(640).

    Example:
        >>> import torch
        >>> FCAutoencoder()(torch.zeros(2, 640)).shape
        torch.Size([2, 640])
    """

    input_shape = (640,)

    def __init__(self, inputs: int = 640, hidden: int = 128, bottleneck: int = 8):
        super().__init__()
        widths = [inputs] + [hidden] * 4 + [bottleneck] + [hidden] * 4
        layers = []
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(cin, cout), nn.BatchNorm1d(cout), nn.ReLU()]
        layers.append(nn.Linear(hidden, inputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


REFERENCE_BOARD = (2_097_152, 655_360)
"""(flash_bytes, ram_bytes) of the MLPerf Tiny reference board (NUCLEO-L4R5ZI: 2 MB / 640 kB)."""
