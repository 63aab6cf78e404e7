"""Memory model of a deployed network: flash (weights + per-layer overhead) and peak RAM.

The accounting is the one of Rusci et al., "Memory-Driven Mixed Low Precision Quantization for
Enabling Deep Network Inference on Microcontrollers", MLSys 2020 (Sec. 4):

* flash = packed weight bytes of every layer + a per-layer overhead for the int32 bias,
  the requantization parameters and the layer descriptor, in bytes with C = output channels:
  PL+FB 4C+20, PL+ICN 9C+12, PC+ICN 10C+8; the last layer (no requantization of its output)
  costs 7C+4 per-channel and 4C+20 per-layer;
* RAM = chain model: while layer i runs, its input and output activations are both live, so the
  peak is max_i(in_bytes_i + out_bytes_i); the network input is 8-bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mixq.errors import MixqError
from mixq.quant.kinds import LayerKind
from mixq.quant.spec import BitAllocation, LayerBits


@dataclass(frozen=True)
class LayerShape:
    """Shapes of one weight layer as the memory model sees it.

    Attributes:
        name: qualified module name (as in :func:`mixq.models.weight_layers`).
        kind: CONV, DW, PW or FC (a string is parsed).
        in_shape: input (H, W, C); an FC's input is the flattened tensor, (1, 1, features).
        out_shape: output (H, W, C); (1, 1, outputs) for an FC.
        weight_count: number of weights (no bias: the bias is part of the overhead).
        out_channels: C of the overhead model.
        macs: multiply-accumulates of one inference.
    """

    name: str
    kind: LayerKind
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    weight_count: int
    out_channels: int
    macs: int

    def __post_init__(self):
        object.__setattr__(self, "kind", LayerKind.parse(self.kind))


@dataclass(frozen=True)
class MemoryBudget:
    """What the target microcontroller offers to the network.

    Attributes:
        flash_bytes: read-only memory for weights and per-layer parameters.
        ram_bytes: read-write memory for activations.

    Example:
        >>> MemoryBudget(2_048_000, 512_000).ram_bytes
        512000
    """

    flash_bytes: int
    ram_bytes: int

    def __post_init__(self):
        for field_ in ("flash_bytes", "ram_bytes"):
            value = getattr(self, field_)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise MixqError(f"memory budget {field_}={value!r} must be a positive integer")


def _hwc(chw: tuple[int, ...]) -> tuple[int, int, int]:
    if len(chw) == 1:           # Linear: (F,) -> (1, 1, F)
        return 1, 1, int(chw[0])
    c, h, w = chw               # (C, H, W) -> (H, W, C), mixq's NHWC layout
    return int(h), int(w), int(c)


def layer_shapes(model, input_shape=None) -> tuple[LayerShape, ...]:
    """Shapes of every weight layer of ``model`` in execution order (forward hooks).

    Args:
        model: a network built from ConvBNReLU / Linear weight layers.
        input_shape: (C, H, W); defaults to ``model.input_shape``.

    Example:
        >>> from mixq.models import get_model
        >>> s = layer_shapes(get_model("mobilenet_v1", width=0.25, resolution=128))
        >>> s[0]
        LayerShape(name='conv0', kind=<LayerKind.CONV: 'conv'>, in_shape=(128, 128, 3), out_shape=(64, 64, 8), weight_count=216, out_channels=8, macs=884736)
        >>> s[-1].in_shape, s[-1].weight_count
        ((1, 1, 256), 256000)
    """
    from mixq.models.trace import trace_weight_layers  # torch only when shapes come from a model

    out = []
    for call in trace_weight_layers(model, input_shape):
        in_hwc, out_hwc = _hwc(call.in_shape), _hwc(call.out_shape)
        if call.kind is LayerKind.FC:
            weight = call.module.weight
            out_channels = call.module.out_features
            macs = weight.numel()
        else:
            weight = call.module.conv.weight
            out_channels = call.module.conv.out_channels
            # each output element needs (kh * kw * C_in / groups) MACs = weights per channel
            macs = math.prod(out_hwc) * (weight.numel() // out_channels)
        out.append(LayerShape(call.name, call.kind, in_hwc, out_hwc, int(weight.numel()),
                              int(out_channels), int(macs)))
    return tuple(out)


def weight_bytes(shape: LayerShape, bits: int) -> int:
    """Packed weight bytes of one layer: ceil(weight_count * bits / 8).

    Example:
        >>> weight_bytes(LayerShape("l", "dw", (4, 4, 3), (4, 4, 3), 27, 3, 432), 2)
        7
    """
    return -(-shape.weight_count * bits // 8)


def activation_bytes(hwc: tuple[int, ...], bits: int) -> int:
    """Packed bytes of one activation tensor: ceil(H * W * C * bits / 8).

    Example:
        >>> activation_bytes((3, 3, 5), 4), activation_bytes((112, 112, 24), 8)
        (23, 301056)
    """
    return -(-math.prod(hwc) * bits // 8)


def overhead_bytes(out_channels: int, scheme: str, last: bool = False) -> int:
    """Per-layer flash overhead (bias, requantization, descriptor) of Rusci et al. 2020, Sec. 4.

    Args:
        out_channels: C, the layer's output channels.
        scheme: 'PL+FB', 'PL+ICN' or 'PC+ICN'.
        last: the network's last layer, whose output is not requantized.

    Example:
        >>> [overhead_bytes(10, s) for s in ("PL+FB", "PL+ICN", "PC+ICN")]
        [60, 102, 108]
        >>> overhead_bytes(10, "PC+ICN", last=True), overhead_bytes(10, "PL+ICN", last=True)
        (74, 60)
    """
    c = out_channels
    if last:
        return 7 * c + 4 if scheme == "PC+ICN" else 4 * c + 20
    if scheme == "PL+FB":
        return 4 * c + 20
    if scheme == "PL+ICN":
        return 9 * c + 12
    if scheme == "PC+ICN":
        return 10 * c + 8
    raise MixqError(f"scheme '{scheme}' is not one of PL+FB, PL+ICN, PC+ICN")


def layer_flash_bytes(shape: LayerShape, bits: LayerBits, last: bool = False) -> int:
    """Flash of one layer: packed weights plus the overhead of its scheme.

    Example:
        >>> s = LayerShape("fc", "fc", (1, 1, 16), (1, 1, 10), 160, 10, 160)
        >>> layer_flash_bytes(s, LayerBits("fc", "fc", 4, 8, 8, "PC+ICN"), last=True)
        154
    """
    return weight_bytes(shape, bits.w_bits) + overhead_bytes(shape.out_channels, bits.scheme, last)


def layer_ram_bytes(shape: LayerShape, in_bits: int, out_bits: int) -> int:
    """Activation bytes live while the layer runs: input + output."""
    return activation_bytes(shape.in_shape, in_bits) + activation_bytes(shape.out_shape, out_bits)


def _paired(shapes, allocation: BitAllocation):
    shapes = tuple(shapes)
    if tuple(s.name for s in shapes) != allocation.names:
        raise MixqError("bit allocation layers do not match the network's weight layers: "
                        f"{list(allocation.names)} vs {[s.name for s in shapes]}")
    return list(zip(shapes, allocation.layers))


def flash_bytes(shapes, allocation: BitAllocation) -> int:
    """Total flash of a network under ``allocation`` (layers in the same order as ``shapes``).

    Example:
        >>> s = (LayerShape("c", "conv", (8, 8, 1), (8, 8, 4), 36, 4, 2304),
        ...      LayerShape("f", "fc", (1, 1, 4), (1, 1, 2), 8, 2, 8))
        >>> flash_bytes(s, BitAllocation.uniform([("c", "conv"), ("f", "fc")], 8))
        110
    """
    pairs = _paired(shapes, allocation)
    return sum(layer_flash_bytes(s, b, last=(i == len(pairs) - 1))
               for i, (s, b) in enumerate(pairs))


def ram_peak_bytes(shapes, allocation: BitAllocation) -> int:
    """Peak activation RAM (chain model): max over layers of input + output bytes.

    Example:
        >>> s = (LayerShape("c", "conv", (8, 8, 1), (8, 8, 4), 36, 4, 2304),
        ...      LayerShape("f", "fc", (1, 1, 4), (1, 1, 2), 8, 2, 8))
        >>> ram_peak_bytes(s, BitAllocation.uniform([("c", "conv"), ("f", "fc")], 4))
        192
    """
    return max(layer_ram_bytes(s, b.in_bits, b.out_bits) for s, b in _paired(shapes, allocation))


def with_model_figures(allocator, shapes):
    """``budget -> BitAllocation`` made ``budget -> (allocation, model flash bytes, model RAM
    bytes)``: the memory model's figures of each allocation, what the closing loop
    (:func:`mixq.deploy.fit_loop.close_allocation`) tightens.

    Example:
        >>> s = (LayerShape("f", "fc", (1, 1, 4), (1, 1, 2), 8, 2, 8),)
        >>> f = with_model_figures(lambda b: BitAllocation.uniform([("f", "fc")], 8), s)
        >>> f(None)[1:]
        (26, 6)
    """
    def allocate_under(budget):
        alloc = allocator(budget)
        return alloc, flash_bytes(shapes, alloc), ram_peak_bytes(shapes, alloc)

    return allocate_under
