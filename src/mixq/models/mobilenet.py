"""MobileNetV1 exactly as TF-slim's ``nets/mobilenet_v1.py`` (Howard et al. 2017).

Layer names follow TF-slim's end points: ``conv0`` is ``Conv2d_0``, ``dw1``/``pw1`` are
``Conv2d_1_depthwise``/``Conv2d_1_pointwise``, ... ``dw13``/``pw13``, then ``pool``, ``flatten``
and the classifier ``fc`` (TF-slim's 1x1 ``Conv2d_1c_1x1`` logits conv with bias, which is a
Linear on the pooled 1x1 map). Dropout is a training-time detail and is left out.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from mixq.nn.layers import ConvBNReLU, GlobalAvgPool

# TF-slim _CONV_DEFS: (depthwise stride, pointwise channels) of the 13 separable blocks after
# the first 3x3 stride-2 conv with 32 channels.
FIRST_CONV_CHANNELS = 32
SEPARABLE_BLOCKS = (
    (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
    (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024),
)
MIN_DEPTH = 8  # TF-slim min_depth: channel counts never drop below 8 for small widths


def scaled_channels(channels: int, width: float, min_depth: int = MIN_DEPTH) -> int:
    """TF-slim's ``depth(d) = max(int(d * depth_multiplier), min_depth)``.

    Example:
        >>> scaled_channels(32, 0.75), scaled_channels(1024, 0.25), scaled_channels(32, 0.1)
        (24, 256, 8)
    """
    return max(int(channels * width), min_depth)


def mobilenet_v1(width: float = 1.0, resolution: int = 224, num_classes: int = 1000,
                 in_channels: int = 3) -> nn.Sequential:
    """MobileNetV1 (TF-slim): conv3x3/s2, 13 depthwise+pointwise blocks, avgpool, FC.

    28 weight layers, TensorFlow SAME padding. ``resolution`` is only recorded in
    ``model.input_shape`` (the network is fully convolutional up to the global pool).

    Args:
        width: depth multiplier (TF-slim ``depth_multiplier``), e.g. 1.0, 0.75, 0.5, 0.25.
        resolution: input height and width the model is meant for (224, 192, 160, 128, ...).
        num_classes: classifier outputs (1000 for ImageNet as in TF-slim without background).
        in_channels: input channels (3 for RGB).

    Returns:
        an ``nn.Sequential`` with children conv0, dw1, pw1, ..., dw13, pw13, pool, flatten, fc
        and attribute ``input_shape = (in_channels, resolution, resolution)``.

    Example:
        >>> import torch
        >>> m = mobilenet_v1(0.25, 128, 10)
        >>> m.input_shape, m(torch.zeros(1, 3, 128, 128)).shape
        ((3, 128, 128), torch.Size([1, 10]))
    """
    if width <= 0 or resolution <= 0 or num_classes <= 0 or in_channels <= 0:
        raise ValueError("width, resolution, num_classes and in_channels must be positive")
    return separable_net(in_channels, scaled_channels(FIRST_CONV_CHANNELS, width), 2,
                         [(stride, scaled_channels(out, width)) for stride, out in SEPARABLE_BLOCKS],
                         num_classes, resolution)


def separable_net(in_channels: int, first_channels: int, first_stride: int, blocks, num_classes: int,
                  resolution: int) -> nn.Sequential:
    """conv3x3 (``conv0``), depthwise-separable blocks (``dw{i}``/``pw{i}``), avgpool, FC.

    Args:
        in_channels: input channels.
        first_channels, first_stride: the first 3x3 conv.
        blocks: (depthwise stride, pointwise output channels) per block.
        num_classes: classifier outputs.
        resolution: recorded in ``model.input_shape``.
    """
    layers: "OrderedDict[str, nn.Module]" = OrderedDict()
    channels = first_channels
    layers["conv0"] = ConvBNReLU(in_channels, channels, 3, stride=first_stride)
    for i, (stride, out) in enumerate(blocks, start=1):
        layers[f"dw{i}"] = ConvBNReLU(channels, channels, 3, stride=stride, groups=channels)
        layers[f"pw{i}"] = ConvBNReLU(channels, out, 1)
        channels = out
    layers["pool"] = GlobalAvgPool()
    layers["flatten"] = nn.Flatten()  # (N, C, 1, 1) -> (N, C)
    layers["fc"] = nn.Linear(channels, num_classes)
    model = nn.Sequential(layers)
    model.input_shape = (in_channels, resolution, resolution)
    return model
