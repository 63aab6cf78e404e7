"""ARMv7E-M DSP depthwise kernels (target 'armv7em'): registrations, scratch, cost models.

Two kernels share one scheme (``runtime/armv7em/mixq_dw_dsp.h``): per chunk of channels, input
rows are transposed into a ring of int16 rows per channel, so that two horizontally adjacent
taps of one channel are one 32-bit word for SMLAD; weights stay in the reference layout and are
widened once per chunk.

- ``mixq_dwconv3x3_dsp``: 3x3, stride 1 or 2; two outputs per iteration in inline assembly
  (chunks of 16 channels); maps taller than wide (DS-CNN's 25x5) run transposed, the rows of the
  ring being the input's columns.
- ``mixq_dwconv_dsp``: any ``k_h x k_w`` (``k_h <= 16``) and stride (MCUNet's 5x5 / 7x7,
  non-square kernels); four outputs per iteration sharing each weight word (chunks of 8
  channels, 16 with sub-byte activations).

The code generator picks per layer the one with the lower :func:`dw_cost` estimate (both run
3x3 layers); stride-1 layers whose output keeps the input's shape and code width run in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from mixq.codegen.kernel import Kernel
from mixq.codegen.kernels_armv7em import SOURCE_DIR, TARGET, _dtypes
from mixq.ir.graph import Conv2d, Graph
from mixq.quant.kinds import LayerKind

MAX_KH = 16  # mirror of MIXQ_DWK_MAX_KH


@dataclass(frozen=True)
class DwScheme:
    """One kernel's scratch geometry (mirror of ``mixq_dw_layout`` / ``mixq_dwk_layout``).

    Attributes:
        chunk: ``(node, graph) ->`` channels per pass (before the layer's channel count).
        prm_words: ``node -> `` 32-bit words of parameters per channel.
        read_lanes: ``(node, out_w) ->`` ring lanes the word loads of one output row cover.
        transposes: whether the kernel walks maps taller than wide transposed (mirror of
            ``mixq_dw_view``).
    """

    chunk: Callable[..., int]
    prm_words: Callable[..., int]
    read_lanes: Callable[..., int]
    transposes: bool = False


def _pairs(node) -> int:
    return (node.weight.shape[2] + 1) // 2


def _all_8bit(node, graph: Graph) -> bool:
    return graph.tensor(node.input).bits == 8 and graph.tensor(node.output).bits == 8


# 3x3: 16 words per channel; a pair of outputs reads lanes up to (out_w - 1) * stride + 3
SCHEME_3X3 = DwScheme(chunk=lambda node, graph: 16, prm_words=lambda node: 16,
                      read_lanes=lambda node, out_w: (out_w - 1) * node.stride[1] + 4,
                      transposes=True)
# any kxk: chunks of 8 channels (16 with sub-byte activations), k_h * pairs weight words + 5
# (bias lo, hi, multiplier, shift - 32, shift), even
SCHEME_ANY = DwScheme(
    chunk=lambda node, graph: 8 if _all_8bit(node, graph) else 16,
    prm_words=lambda node: -(-(node.weight.shape[1] * _pairs(node) + 5) // 2) * 2,
    read_lanes=lambda node, out_w: (out_w - 1) * node.stride[1] + 2 * _pairs(node))


def dw_scratch_bytes(node, graph: Graph, scheme: DwScheme = SCHEME_3X3) -> int:
    """Scratch of a depthwise DSP kernel (mirror of its ``*_scratch_bytes`` companion): per
    channel of a chunk the widened weights and requantization constants, a ring of ``k_h``
    transposed int16 rows per channel and, for sub-byte outputs, a staging row (whole packed
    words of codes per pixel, one byte per code).

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((16, 16, 64), seed=0)
        >>> g = b.build(b.dw(b.input, kernel=3, padding=(1, 1, 1, 1)))
        >>> dw_scratch_bytes(g.nodes[0], g)  # 16*64 + 3*16*20*2 (16 + 3 lanes, even)
        2944
        >>> dw_scratch_bytes(g.nodes[0], g, SCHEME_ANY)  # 8*12*4 + 3*8*20*2
        1344
        >>> t = GraphBuilder((25, 5, 64), seed=0)  # taller than wide: transposed
        >>> g = t.build(t.dw(t.input, kernel=3, padding=(1, 1, 1, 1)))
        >>> dw_scratch_bytes(g.nodes[0], g)  # 16*64 + 3*16*28*2 (25 + 3 lanes, even)
        3712
    """
    h, w, c = graph.tensor(node.input).shape
    out_h, out_w = graph.tensor(node.output).shape[:2]
    out_bits = graph.tensor(node.output).bits
    pad_left = node.padding[2]
    if scheme.transposes and out_h > out_w:
        w, out_w, pad_left = h, out_h, node.padding[0]
    lanes = max(pad_left + w, scheme.read_lanes(node, out_w))
    chunk = min(c, scheme.chunk(node, graph))
    row_lanes = -(-lanes // 2) * 2
    prm = -(-(chunk * scheme.prm_words(node) * 4) // 8) * 8
    ring = -(-(node.weight.shape[1] * chunk * row_lanes * 2) // 8) * 8
    stage_step = 0 if out_bits == 8 else -(-(chunk * out_bits) // 32) * (32 // out_bits)
    stage = -(-(out_w * stage_step) // 8) * 8
    return prm + ring + stage


def dw_supported(node, graph: Graph) -> bool:
    """3x3 depthwise with equal strides 1 or 2 and no sparse outliers (unsigned inputs are
    checked by the dtypes)."""
    return (isinstance(node, Conv2d) and node.sparse is None and node.weight.shape[1:3] == (3, 3)
            and tuple(node.stride) in ((1, 1), (2, 2)))


def dwk_supported(node, graph: Graph) -> bool:
    """Any depthwise with at most :data:`MAX_KH` kernel rows and no sparse outliers."""
    return isinstance(node, Conv2d) and node.sparse is None and node.weight.shape[1] <= MAX_KH


def _inplace_safe(node, graph: Graph, supported) -> tuple[int, ...]:
    """Input 0 may be overwritten when every pixel keeps its byte layout (stride 1, same shape
    and code width) and the top padding is below the kernel height: each input row is copied
    to the ring before the output row over it is written, and a channel chunk only writes its
    own whole bytes."""
    tin, tout = graph.tensor(node.input), graph.tensor(node.output)
    same = tin.shape == tout.shape and tin.bits == tout.bits and tuple(node.stride) == (1, 1)
    ok = same and node.padding[0] < node.weight.shape[1]
    return (0,) if ok and supported(node, graph) else ()


dw_inplace_safe = partial(_inplace_safe, supported=dw_supported)
dwk_inplace_safe = partial(_inplace_safe, supported=dwk_supported)


def _kernels() -> tuple[Kernel, ...]:
    out = []
    for function, variant, scheme, supported, safe in (
            ("mixq_dwconv3x3_dsp", "dsp3x3", SCHEME_3X3, dw_supported, dw_inplace_safe),
            ("mixq_dwconv_dsp", "dsp", SCHEME_ANY, dwk_supported, dwk_inplace_safe)):
        dw = dict(op=LayerKind.DW, function=function,
                  sources=(f"{function}.c", "mixq_dw_ring_dsp.c", "mixq_dw_dsp.h", "mixq_dsp.h"),
                  source_dir=SOURCE_DIR, target=TARGET,
                  dtypes=_dtypes(("s8", "s4", "s2", "t2")),
                  scratch_bytes=partial(dw_scratch_bytes, scheme=scheme), priority=10)
        out.append(Kernel(variant=variant, accepts=supported, **dw))
        out.append(Kernel(variant=f"{variant}-inplace",
                          accepts=lambda n, g, safe=safe: bool(safe(n, g)),
                          inplace_inputs=safe, **dw))
    return tuple(out)


# The ARMv7E-M DSP depthwise kernels.
KERNELS = _kernels()

__all__ = ["KERNELS", "MAX_KH", "SCHEME_3X3", "SCHEME_ANY", "dw_inplace_safe", "dw_scratch_bytes",
           "dw_supported", "dwk_inplace_safe", "dwk_supported"]
