"""MCUNet (Lin et al., NeurIPS 2020, "MCUNet: Tiny Deep Learning on IoT Devices") as plain PyTorch.

Every released MCUNet is a ProxylessNAS-style chain: a 3x3 stride-2 stem conv + BN + ReLU6, then
mobile inverted residual blocks (1x1 expand + BN + ReLU6 when the expansion is not 1, a k x k
depthwise conv + BN + ReLU6 with symmetric ``k // 2`` padding, a linear 1x1 projection + BN;
``x + y`` when the stride is 1 and the widths match), a global average pool and one linear
classifier (no 1x1 feature-mix layer). Only the per-block table differs between variants: it was
found by TinyNAS under each variant's memory budget, so the kernel sizes (3, 5, 7) and the
expansion ratios vary block by block.

Where the tables come from (read, never copied; the models below are written here):

- ``mcunet-in0`` ... ``mcunet-in4``: the authors' released net configs
  ``<net_name>.json`` (``net_name`` from ``mcunet/model_zoo.py`` of mit-han-lab/mcunet at commit
  29978dca), served from hanlab18.mit.edu, which this machine cannot reach. They were read as
  transcribed in public code found by the search index: a per-block (expansion, width, stride,
  kernel) table of all five files, one verbatim copy of ``mcunet-256kb-1mb_imagenet.json``
  (identical to the table's in2 rows, ``mid_channels`` = round(in x expansion) in every block)
  and an independent per-stage table of ``mcunet-320kb-1mb_imagenet`` (identical to in3). Each
  variant's MACs and parameters match the mit-han-lab/mcunet README (``tests/models/
  test_zoo_mcunet.py`` checks them).
- ``mcunet-vww1`` (``mcunet-5fps_vww``, 80x80): read layer by layer from the int8 TFLite file
  ``assets/vww.tflite`` of mit-han-lab/tinyengine at commit 47bb283 (TinyEngine's VWW demo model;
  80x80x3 input, 613,840 bytes), with a throw-away flatbuffer dump under /tmp.
- ``mcunet-vww0``, ``mcunet-vww2``, ``mcunet-kws``: no published per-block configuration was
  reachable (the VWW JSON/TFLite files are only on the authors' server; the KWS models of the
  paper were never released in mit-han-lab/mcunet's model zoo). They are not in the zoo rather
  than invented; ``UNAVAILABLE`` says so and :func:`mixq.models.get_model` reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from mixq.models.zoo_mobilenetv2 import InvertedResidual, conv_bn_relu6


@dataclass(frozen=True)
class McunetConfig:
    """One released MCUNet: stem width, blocks, input size and classes.

    Attributes:
        stem: output channels of the 3x3 stride-2 stem conv.
        blocks: one ``(expand, out_channels, kernel, stride)`` per inverted residual block.
        resolution: the published input size (square, RGB).
        num_classes: 1000 (ImageNet) or 2 (Visual Wake Words).
        net_name: the release's file name (``mcunet/model_zoo.py``'s ``net_name``).
    """

    stem: int
    blocks: tuple[tuple[int, int, int, int], ...]
    resolution: int
    num_classes: int
    net_name: str


# (expand, out_channels, kernel, stride) per block, in execution order.
CONFIGS: dict[str, McunetConfig] = {
    "mcunet-in0": McunetConfig(24, (
        (1, 16, 3, 1), (4, 16, 5, 2), (3, 16, 3, 1), (4, 16, 3, 1), (5, 24, 7, 2),
        (4, 24, 5, 1), (5, 24, 5, 1), (5, 48, 7, 2), (4, 48, 5, 1), (5, 56, 3, 1),
        (4, 56, 5, 1), (5, 56, 3, 1), (6, 112, 3, 2), (4, 112, 5, 1), (6, 192, 3, 1)),
        48, 1000, "mcunet-10fps_imagenet"),
    "mcunet-in1": McunetConfig(16, (
        (1, 8, 3, 1), (4, 16, 3, 2), (3, 16, 3, 1), (3, 24, 7, 2), (5, 24, 3, 1),
        (5, 40, 3, 2), (4, 40, 7, 1), (4, 48, 5, 1), (3, 48, 3, 1), (4, 48, 3, 1),
        (5, 96, 7, 2), (4, 96, 5, 1), (4, 96, 5, 1), (6, 160, 3, 1)),
        96, 1000, "mcunet-5fps_imagenet"),
    "mcunet-in2": McunetConfig(16, (
        (1, 8, 3, 1), (3, 16, 5, 2), (6, 16, 7, 1), (5, 16, 3, 1), (5, 16, 5, 1),
        (5, 24, 3, 2), (6, 24, 7, 1), (6, 24, 5, 1), (4, 40, 7, 2), (5, 40, 5, 1),
        (5, 48, 3, 1), (5, 48, 5, 1), (4, 48, 3, 1), (6, 96, 5, 2), (4, 96, 5, 1),
        (3, 96, 5, 1), (4, 96, 3, 1), (5, 160, 5, 1)),
        160, 1000, "mcunet-256kb-1mb_imagenet"),
    "mcunet-in3": McunetConfig(16, (
        (1, 8, 3, 1), (3, 16, 7, 2), (5, 16, 3, 1), (5, 16, 7, 1), (4, 16, 5, 1),
        (5, 24, 5, 2), (5, 24, 5, 1), (5, 24, 5, 1), (5, 40, 3, 2), (6, 40, 7, 1),
        (4, 40, 5, 1), (5, 48, 5, 1), (5, 48, 7, 1), (5, 48, 3, 1), (6, 96, 3, 2),
        (5, 96, 7, 1), (4, 96, 3, 1), (5, 160, 7, 1)),
        176, 1000, "mcunet-320kb-1mb_imagenet"),
    "mcunet-in4": McunetConfig(32, (
        (1, 16, 3, 1), (3, 24, 7, 2), (5, 24, 3, 1), (4, 24, 5, 1), (5, 40, 7, 2),
        (4, 40, 3, 1), (4, 40, 7, 1), (3, 80, 7, 2), (3, 80, 3, 1), (3, 80, 7, 1),
        (4, 96, 3, 1), (3, 96, 5, 1), (3, 96, 5, 1), (4, 192, 7, 2), (3, 192, 7, 1),
        (3, 192, 5, 1), (4, 320, 5, 1)),
        160, 1000, "mcunet-512kb-2mb_imagenet"),
    "mcunet-vww1": McunetConfig(16, (
        (1, 8, 3, 1), (6, 16, 3, 2), (3, 16, 3, 1), (3, 16, 3, 1), (3, 24, 7, 2),
        (6, 24, 3, 1), (5, 24, 5, 1), (6, 40, 7, 2), (6, 40, 7, 1), (6, 48, 3, 1),
        (4, 48, 3, 1), (5, 96, 5, 2), (5, 96, 3, 1), (4, 96, 3, 1), (3, 160, 7, 1)),
        80, 2, "mcunet-5fps_vww"),
}

UNAVAILABLE = {
    "mcunet-vww0": "mcunet-10fps_vww: its net config and TFLite file are only on the authors' "
                   "server (not reachable here) and no public copy was found",
    "mcunet-vww2": "mcunet-320kb-1mb_vww: its net config and TFLite file are only on the "
                   "authors' server (not reachable here) and no public copy was found",
    "mcunet-kws": "the MCUNet paper's keyword-spotting models were never released in "
                  "mit-han-lab/mcunet's model zoo",
}
"""Published MCUNet variants without a reachable per-block configuration, and why."""


class MCUNet(nn.Module):
    """A released MCUNet variant, random weights.

    Args:
        variant: a key of :data:`CONFIGS` (``mcunet-in0`` ... ``mcunet-in4``, ``mcunet-vww1``).
        resolution: input size; None = the published one.
        num_classes: classifier outputs; None = the published ones.

    Raises:
        ValueError: unknown variant.

    Example:
        >>> import torch
        >>> m = MCUNet("mcunet-in1", resolution=32, num_classes=10).eval()
        >>> m.input_shape, m(torch.zeros(1, 3, 32, 32)).shape
        ((3, 32, 32), torch.Size([1, 10]))
        >>> MCUNet("mcunet-vww1").input_shape
        (3, 80, 80)
    """

    def __init__(self, variant: str = "mcunet-in3", resolution: int | None = None,
                 num_classes: int | None = None):
        super().__init__()
        if variant not in CONFIGS:
            why = f" ({UNAVAILABLE[variant]})" if variant in UNAVAILABLE else ""
            raise ValueError(f"no MCUNet variant '{variant}'{why}; released variants: "
                             f"{', '.join(CONFIGS)}")
        cfg = CONFIGS[variant]
        resolution = resolution or cfg.resolution
        self.input_shape = (3, resolution, resolution)
        layers = [conv_bn_relu6(3, cfg.stem, 3, 2)]
        c = cfg.stem
        for expand, cout, kernel, stride in cfg.blocks:
            layers.append(InvertedResidual(c, cout, stride, expand, kernel))
            c = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes or cfg.num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


def _variant(name: str):
    def build(resolution: int | None = None, num_classes: int | None = None) -> MCUNet:
        return MCUNet(name, resolution, num_classes)

    build.__name__ = name.replace("-", "_")
    build.__doc__ = f"{name} ({CONFIGS[name].net_name}), random weights."
    return build


BUILDERS = {name: _variant(name) for name in CONFIGS}
"""Registry builders, one per released variant (``resolution``, ``num_classes`` options)."""
