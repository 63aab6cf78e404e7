"""Float building blocks that mixq knows how to quantize.

Reference models are written with these blocks (plus ``nn.Linear`` and ``nn.Flatten``);
:func:`mixq.nn.prepare` turns each into its QAT counterpart. A model that uses any other layer with
parameters is rejected by ``prepare`` with a message naming the layer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) for one spatial axis; extra pixel goes after.

    Example:
        >>> same_padding(224, 3, 2), same_padding(112, 3, 1), same_padding(7, 3, 2)
        ((0, 1), (1, 1), (1, 1))
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class ConvBNReLU(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + optional ReLU: one quantizable layer.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw).
        groups: 1 (regular) or in_channels == out_channels (depthwise).
        relu: apply ReLU (its output is an unsigned activation); False gives a signed output.
        padding: 'same' (TensorFlow SAME, possibly asymmetric), an int (symmetric) or an
            explicit (top, bottom, left, right) tuple.
        clip_max: upper bound of the ReLU (6.0 for ReLU6), a fixed ceiling of the PACT clip;
            None for a plain ReLU.

    Example:
        >>> import torch
        >>> m = ConvBNReLU(3, 8, 3, stride=2)
        >>> m(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 8, 16, 16])
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, groups=1, relu=True,
                 padding="same", clip_max: float | None = None):
        super().__init__()
        if groups not in (1, in_channels) or (groups > 1 and in_channels != out_channels):
            raise ValueError("groups must be 1 or depthwise (groups == in == out channels)")
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = padding
        self.relu = relu
        self.clip_max = clip_max
        self.conv = nn.Conv2d(in_channels, out_channels, self.kernel_size, self.stride,
                              padding=0, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def pads(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Zero padding (top, bottom, left, right) for an input of this size."""
        if self.padding == "same":
            top, bottom = same_padding(height, self.kernel_size[0], self.stride[0])
            left, right = same_padding(width, self.kernel_size[1], self.stride[1])
            return top, bottom, left, right
        if isinstance(self.padding, tuple):
            return tuple(int(v) for v in self.padding)
        p = int(self.padding)
        return p, p, p, p

    def forward(self, x):
        t, b, l, r = self.pads(x.shape[-2], x.shape[-1])
        x = self.bn(self.conv(F.pad(x, (l, r, t, b))))
        return relu_clip(x, self.clip_max) if self.relu else x


def relu_clip(x, clip_max: float | None):
    """ReLU, or clamp(x, 0, clip_max) when a ceiling is given (ReLU6, Hardtanh(0, M))."""
    return F.relu(x) if clip_max is None else x.clamp(0.0, clip_max)


class FixedAffine(nn.BatchNorm2d):
    """A per-channel affine in BatchNorm form that never updates: a plain conv's bias.

    ``y = x + bias`` (weight 1, running mean 0, running variance 1, eps 0) in training and in
    eval, so a captured ``nn.Conv2d(bias=True)`` without a BatchNorm fits the ConvBNReLU / ICN
    path unchanged; the bias stays trainable, the unit gain is frozen.

    Example:
        >>> import torch
        >>> a = FixedAffine(torch.tensor([1.0, -2.0])).train()
        >>> a(torch.zeros(4, 2, 1, 1))[0, :, 0, 0].tolist()
        [1.0, -2.0]
    """

    def __init__(self, bias):
        super().__init__(len(bias), eps=0.0)
        self.weight.requires_grad_(False)
        with torch.no_grad():
            self.bias.copy_(bias)

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            False, 0.0, self.eps)


class LinearReLU(nn.Linear):
    """``nn.Linear`` followed by a ReLU (or a clip to [0, clip_max]): an unsigned output.

    Example:
        >>> import torch
        >>> m = LinearReLU(2, 1, clip_max=6.0)
        >>> m.relu, m(torch.zeros(1, 2)).shape
        (True, torch.Size([1, 1]))
    """

    relu = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 clip_max: float | None = None):
        super().__init__(in_features, out_features, bias)
        self.clip_max = clip_max

    def forward(self, x):
        return relu_clip(super().forward(x), self.clip_max)


class GlobalAvgPool(nn.Module):
    """Global average pooling (N, C, H, W) -> (N, C, 1, 1)."""

    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=True)


class ResidualAdd(nn.Module):
    """a + b, then ReLU when ``relu`` (ResNet's post-add activation)."""

    def __init__(self, relu: bool = True, clip_max: float | None = None):
        super().__init__()
        self.relu = relu
        self.clip_max = clip_max

    def forward(self, a, b):
        y = a + b
        return relu_clip(y, self.clip_max) if self.relu else y


class Pool2d(nn.Module):
    """Windowed max or average pooling with explicit (top, bottom, left, right) padding: a
    captured ``nn.MaxPool2d`` / ``nn.AvgPool2d`` / ``F.max_pool2d`` / ``F.avg_pool2d``.

    Max pooling pads with -inf (padding never wins); average pooling pads with zeros and divides
    by the window size (``count_include_pad``) or by the taps inside the input.

    Example:
        >>> import torch
        >>> Pool2d(3, 2, (1, 1, 1, 1))(torch.zeros(1, 4, 7, 7)).shape
        torch.Size([1, 4, 4, 4])
    """

    def __init__(self, kernel_size, stride=None, padding=(0, 0, 0, 0), maximum: bool = True,
                 count_include_pad: bool = True):
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel_size
        self.padding = tuple(int(p) for p in padding)
        self.maximum = maximum
        self.count_include_pad = count_include_pad

    def forward(self, x):
        t, b, l, r = self.padding
        if self.maximum:
            x = F.pad(x, (l, r, t, b), value=float("-inf")) if any(self.padding) else x
            return F.max_pool2d(x, self.kernel_size, self.stride)
        if (t, l) != (b, r):
            raise ValueError("average pooling takes symmetric padding only")
        return F.avg_pool2d(x, self.kernel_size, self.stride, (t, l),
                            count_include_pad=self.count_include_pad)


class Concat(nn.Module):
    """``torch.cat`` along channels (dim 1) of its inputs, in argument order."""

    def forward(self, *xs):
        return torch.cat(xs, 1)


LEAF_FLOAT_BLOCKS = (ConvBNReLU, GlobalAvgPool, ResidualAdd, Pool2d, Concat, nn.Linear,
                     nn.Flatten)
