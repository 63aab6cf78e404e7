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

Both run 3x3 layers: the code generator picks per layer the one with the lower :func:`dw_cost`
estimate (:data:`DW_COSTS`, fitted to emulated counts); stride-1 layers whose output keeps the
input's shape and code width run in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from mixq.codegen.kernel import Kernel
from mixq.codegen.kernels_armv7em import SOURCE_DIR, TARGET, _dtypes, output_mode
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


def _fast_channels(node, scheme: DwScheme) -> int:
    """Channels whose requantization runs in the kernels' assembly (shift >= 32; the 3x3 kernel
    also scales weights and bias by 2^(32 - shift) while widened weights stay inside int16:
    up to 7 bits for 8-bit weights, 11 for sub-byte ones; the bias bound is not checked)."""
    shift = np.asarray(node.requant.shift)
    room = 0 if scheme is SCHEME_ANY else (7 if node.weight_bits == 8 else 11)
    return int(np.sum(shift >= 32 - room))


def dw_features(node, graph: Graph, scheme: DwScheme) -> dict[str, float]:
    """How often each part of a depthwise DSP kernel's work runs on ``node`` (the terms of
    :func:`dw_cost`, multiplied by :data:`DW_COSTS`).

    Shared: per chunk of channels, the input rows transposed into the ring (``fill_row`` calls,
    ``fill_lane`` / ``fill_lane_sub`` lanes of 8-bit / sub-byte codes), per output row the chunk's
    set-up (``row_chunk``) and the packing of sub-byte codes (``pack``, per pixel), and per
    output code of a channel the assembly cannot requantize the C path (``general`` /
    ``k_general``). 3x3 kernel: per channel its widened weights (``prm``), per channel and output
    row a pair loop of two outputs (``pair_s1``, ``pair_s2``), its set-up (``row``) and an odd
    row's last output (``tail``). Any-size kernel: per channel its weights (``k_prm``, per weight
    word ``k_prm_word``), per channel and output row four-output blocks (per weight word of the
    unrolled 5x5/7x7 loops ``k_word4`` or the generic one ``k_word4_gen``, per block ``k_block``),
    single outputs (``k_word1`` per weight word, ``k_one``) and the row call (``k_row``).

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((6, 6, 32), seed=0)
        >>> g = b.build(b.dw(b.input, kernel=3, stride=2))
        >>> f = dw_features(g.nodes[0], g, SCHEME_3X3)
        >>> f["fill_row"], f["pair_s2"], f["tail"]  # 2 chunks x 7 rows; 32 ch x 3 rows x 1 pair
        (14, 96, 96)
    """
    in_h, in_w, c = graph.tensor(node.input).shape
    out_h, out_w = graph.tensor(node.output).shape[:2]
    _, kh, kw, _ = node.weight.shape
    s_h, s_w = node.stride
    if scheme.transposes and out_h > out_w:  # walked transposed (mixq_dw_view)
        in_h, in_w, out_h, out_w, kh, kw, s_h, s_w = in_w, in_h, out_w, out_h, kw, kh, s_w, s_h
    in_bits, out_bits = graph.tensor(node.input).bits, graph.tensor(node.output).bits
    chunks = -(-c // min(c, scheme.chunk(node, graph)))
    rows = out_h * kh if s_h >= kh else (out_h - 1) * s_h + kh  # filled per chunk
    slow = c - (_fast_channels(node, scheme) if output_mode(node, graph) in (8, 4, 2) else 0)
    f = {"fill_row": chunks * rows, "fill_lane": c * rows * in_w * (in_bits == 8),
         "fill_lane_sub": c * rows * in_w * (in_bits < 8), "row_chunk": chunks * out_h,
         "pack": chunks * out_h * out_w * (out_bits < 8)}
    if scheme is SCHEME_3X3:
        pairs = c * out_h * (out_w // 2)
        f.update(prm=c, pair_s1=pairs * (s_w == 1), pair_s2=pairs * (s_w != 1), row=c * out_h,
                 tail=c * out_h * (out_w % 2), general=slow * out_h * out_w)
        return f
    words = kh * ((kw + 1) // 2)
    blocks, ones = divmod(out_w, 4)
    unrolled = kh == kw and kh in (5, 7) and s_w in (1, 2)
    f.update(k_prm=c, k_prm_word=c * words, k_word4=c * out_h * blocks * words * unrolled,
             k_word4_gen=c * out_h * blocks * words * (not unrolled), k_block=c * out_h * blocks,
             k_word1=c * out_h * ones * words, k_one=c * out_h * ones, k_row=c * out_h,
             k_general=slow * out_h * blocks * 4)
    return f


def dw_cost(node, graph: Graph, scheme: DwScheme) -> float:
    """Estimated instructions of a depthwise DSP kernel on ``node``: :func:`dw_features`
    weighted by :data:`DW_COSTS`.

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((6, 6, 32), seed=0)
        >>> g = b.build(b.dw(b.input, kernel=3, stride=2))
        >>> dw_cost(g.nodes[0], g, SCHEME_3X3) < dw_cost(g.nodes[0], g, SCHEME_ANY)
        True
    """
    return float(sum(DW_COSTS[k] * v for k, v in dw_features(node, graph, scheme).items()))


# Instructions of the depthwise kernels' parts (see dw_features): a non-negative least-squares
# fit (relative error) to bench/kernels.py counts of 32 layers on the emulated Cortex-M7 at
# c153a24 (3x3 on both kernels: 16x16x64, 12x12x64, 8x8x24 and 25x5x64 s1 (walked transposed),
# 48x48x16, 6x6x128 and 25x5x64 s2, 3x3x256; 5x5 / 7x7 s1 and s2, 3x5, 10x4 on the any-size
# kernel; w8a8, w4a4, w2a2, w2a8; three with clamped outputs, the C requantization). The 3x3
# kernel's estimates are within 9% of the counts, the any-size kernel's within 13% (10x4 -12%,
# 3x3x160 5x5 +13%), and the faster kernel of every 3x3 layer (the 3x3 one, 2.2-4x fewer
# instructions) ranked first. Zeros: terms the fit folded into others (the 3x3 kernel's
# per-channel weights into its per-row terms).
DW_COSTS = {"fill_row": 0.0, "fill_lane": 1.44, "fill_lane_sub": 1.49, "row_chunk": 0.0,
            "pack": 8.8, "prm": 0.0, "pair_s1": 34.47, "pair_s2": 44.21, "row": 52.1,
            "tail": 48.7, "general": 35.52, "k_prm": 58.14, "k_prm_word": 0.0, "k_word4": 9.78,
            "k_word4_gen": 34.66, "k_block": 0.0, "k_word1": 0.0, "k_one": 133.48,
            "k_row": 149.04, "k_general": 16.47}


def _kernels() -> tuple[Kernel, ...]:
    out = []
    for function, variant, scheme, supported, safe in (
            ("mixq_dwconv3x3_dsp", "dsp3x3", SCHEME_3X3, dw_supported, dw_inplace_safe),
            ("mixq_dwconv_dsp", "dsp", SCHEME_ANY, dwk_supported, dwk_inplace_safe)):
        dw = dict(op=LayerKind.DW, function=function,
                  sources=(f"{function}.c", "mixq_dw_ring_dsp.c", "mixq_dw_dsp.h", "mixq_dsp.h"),
                  source_dir=SOURCE_DIR, target=TARGET,
                  dtypes=_dtypes(("s8", "s4", "s2", "t2")),
                  scratch_bytes=partial(dw_scratch_bytes, scheme=scheme),
                  cost=partial(dw_cost, scheme=scheme), priority=10)
        out.append(Kernel(variant=variant, accepts=supported, **dw))
        out.append(Kernel(variant=f"{variant}-inplace",
                          accepts=lambda n, g, safe=safe: bool(safe(n, g)),
                          inplace_inputs=safe, **dw))
    return tuple(out)


# The ARMv7E-M DSP depthwise kernels.
KERNELS = _kernels()

__all__ = ["DW_COSTS", "KERNELS", "MAX_KH", "SCHEME_3X3", "SCHEME_ANY", "dw_cost", "dw_features",
           "dw_inplace_safe", "dw_scratch_bytes", "dw_supported", "dwk_inplace_safe",
           "dwk_supported"]
