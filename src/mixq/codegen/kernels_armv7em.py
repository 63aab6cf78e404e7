"""ARMv7E-M DSP kernels (target 'armv7em'): registrations, offline weight reordering, scratch.

The C kernels live in ``runtime/armv7em/`` (``mixq_dsp.h`` documents the lane conventions). They
multiply int16 lanes with SMLAD: unsigned activation codes are widened at run time into im2col
columns, weight codes are widened in the inner loop from 32-bit words that this module reorders
offline so that lane ``l`` of a weight word multiplies lane ``l`` of the column.

Lane order inside one 32-bit word (code ``e`` of the word = bits ``e * b`` .. ``e * b + b - 1``),
:func:`act_word_lanes` and :func:`weight_word_lanes`:

- 8-bit codes: SXTB16 / UXTB16 take bytes 0 and 2, with ROR #8 bytes 1 and 3: codes (0, 2, 1, 3);
- 4- and 2-bit codes: ``(word >> (t * b)) & 0x000F000F`` (``0x00030003``) holds codes ``t`` and
  ``t + 16 / b``: codes (0, 16/b, 1, 16/b + 1, ...).

Sub-byte weights are stored offset-binary (code + 8 for s4, code + 2 for s2 and ternary) so that
the 4-/2-bit widening needs no sign extension; the kernel subtracts ``offset * sum(column)``,
which is exact.

Layers the kernels do not cover (signed inputs, int32 overflow risk) fall back to the portable
reference kernels (:func:`mixq.codegen.kernels.select_kernel`).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from mixq.codegen.kernel import RUNTIME_DIR, Kernel
from mixq.ir.graph import Conv2d, Graph
from mixq.platform.spec import KernelSet
from mixq.quant.kinds import LayerKind

TARGET = KernelSet.ARMV7EM.value
SOURCE_DIR = RUNTIME_DIR / "armv7em"
INPUT_DTYPES = ("u8", "u4", "u2")
OUTPUT_DTYPES = ("u8", "u4", "u2", "s8", "s4", "s2")
MAX_LANE_PRODUCT = 255 * 128  # |widened weight| <= 128 (s8) or <= 15 (offset s4), codes <= 255
INT32_MAX = 2**31 - 1


def act_word_lanes(bits: int) -> np.ndarray:
    """Code index inside a 32-bit activation word (0 = lowest bits) of each widened lane.

    Example:
        >>> act_word_lanes(8).tolist(), act_word_lanes(4).tolist()
        ([0, 2, 1, 3], [0, 4, 1, 5, 2, 6, 3, 7])
    """
    if bits == 8:
        return np.array([0, 2, 1, 3])
    half = 16 // bits
    lanes = np.arange(32 // bits)
    return lanes // 2 + (lanes % 2) * half


def weight_word_lanes(bits: int) -> np.ndarray:
    """Code index inside a 32-bit weight word of each widened lane (same rule as activations).

    Example:
        >>> weight_word_lanes(2).tolist()[:6]
        [0, 8, 1, 9, 2, 10]
    """
    return act_word_lanes(bits)


WEIGHT_OFFSET = {8: 0, 4: 8, 2: 2}


def _taps_channels(node, graph: Graph) -> tuple[int, int]:
    """(taps, channels per tap) of the im2col column of a conv, pw or fc node."""
    if isinstance(node, Conv2d):
        _, kh, kw, c_in = node.weight.shape
        return kh * kw, c_in
    shape = graph.tensor(node.input).shape
    return int(np.prod(shape[:-1], dtype=np.int64)), int(shape[-1])


def tap_codes(channels: int, in_bits: int, window: bool = False) -> int:
    """Codes one kernel tap (one input pixel) adds to the im2col stream.

    Per-tap layout (``window=False``): the tap's channels rounded up to a whole 32-bit word of
    codes, so every tap is widened on its own. Window layout (``window=True``, first layers with
    few channels): the pixel's packed bytes as they are (codes past ``channels`` included,
    multiplied by zero weights), the receptive field staged contiguously and widened as one
    stream, so 3 channels cost 3 lanes at 8 bits instead of 4 (and 4 instead of 16 at 2 bits).

    Example:
        >>> tap_codes(3, 8), tap_codes(3, 8, window=True), tap_codes(3, 2), tap_codes(3, 2, True)
        (4, 3, 16, 4)
    """
    if window:
        return -(-channels * in_bits // 8) * (8 // in_bits)
    per_in = 32 // in_bits
    return -(-channels // per_in) * per_in


def conv_k_lanes(taps: int, channels: int, in_bits: int, w_bits: int,
                 window: bool = False) -> int:
    """int16 lanes of one im2col column (mirror of ``mixq_dsp_conv_k_lanes``): the taps' codes
    (:func:`tap_codes`) rounded up to whole activation words, then to whole weight words.

    Example:
        >>> conv_k_lanes(9, 3, 8, 4)  # 9 taps of 3 channels widened to 4 lanes, then 8-lane words
        40
        >>> conv_k_lanes(9, 3, 8, 8, window=True)  # 27 codes in one stream -> 28 lanes
        28
    """
    per_in, per_w = 32 // in_bits, 32 // w_bits
    stream = -(-taps * tap_codes(channels, in_bits, window) // per_in) * per_in
    return -(-stream // per_w) * per_w


def column_order(taps: int, channels: int, in_bits: int, w_bits: int,
                 window: bool = False) -> np.ndarray:
    """Logical weight index (tap * channels + channel) of each im2col lane, -1 for zero lanes.

    Example:
        >>> column_order(1, 3, 8, 8).tolist()
        [0, 2, 1, -1]
        >>> column_order(2, 3, 8, 8, window=True).tolist()  # one stream across both taps
        [0, 2, 1, 3, 4, -1, 5, -1]
    """
    per_in = 32 // in_bits
    per_tap = tap_codes(channels, in_bits, window)
    within = np.arange(per_tap)
    stream = np.concatenate([np.where(within < channels, t * channels + within, -1)
                             for t in range(taps)] or [np.zeros(0, np.int64)])
    stream = np.concatenate([stream, -np.ones(-stream.size % per_in, np.int64)])
    # lanes of each activation word in widening order (codes (0, 2, 1, 3) at 8 bits)
    lanes = stream.reshape(-1, per_in)[:, act_word_lanes(in_bits)].ravel()
    k_lanes = conv_k_lanes(taps, channels, in_bits, w_bits, window)
    return np.concatenate([lanes, -np.ones(k_lanes - lanes.size, np.int64)]).astype(np.int64)


def reorder_conv_weights(weight: np.ndarray, taps: int, channels: int, in_bits: int,
                         w_bits: int, window: bool = False) -> np.ndarray:
    """Weights of ``mixq_conv2d_dsp[_win]_s<w_bits>``: uint8 bytes of little-endian 32-bit words.

    Layout: one row per output channel, ``k_lanes / (32 / w_bits)`` words each; inside a word,
    lane ``l`` of the column holds its code at position ``weight_word_lanes(w_bits)[l]``.
    Sub-byte codes are stored offset-binary (``code + WEIGHT_OFFSET[w_bits]``); zero lanes hold
    the code 0.

    Args:
        weight: int codes (C_out, taps * channels), tap-major (OHWI flattened).
        taps, channels: im2col geometry.
        in_bits, w_bits: activation and weight code widths.
        window: the window layout of :func:`tap_codes`.

    Example:
        >>> w = np.array([[1, 2, 3]])  # one output channel, one tap of 3 channels
        >>> reorder_conv_weights(w, 1, 3, 8, 8).tolist()  # lanes hold codes (1, 3, 2, 0)
        [1, 2, 3, 0]
        >>> reorder_conv_weights(np.array([[-1, 1]]), 1, 2, 8, 4).tolist()  # -1+8, 1+8, zeros 8
        [151, 136, 136, 136]
    """
    weight = np.asarray(weight, dtype=np.int64).reshape(weight.shape[0], -1)
    c_out = weight.shape[0]
    order = column_order(taps, channels, in_bits, w_bits, window)
    rows = np.zeros((c_out, order.size), np.int64)  # (C_out, k_lanes)
    valid = order >= 0
    rows[:, valid] = weight[:, order[valid]]
    rows += WEIGHT_OFFSET[w_bits]
    per_w = 32 // w_bits
    fields = (rows & ((1 << w_bits) - 1)).astype(np.uint64)
    # (C_out, k_lanes) -> (C_out, words, lanes per word)
    fields = fields.reshape(c_out, -1, per_w)
    shifts = (weight_word_lanes(w_bits) * w_bits).astype(np.uint64)
    words = np.bitwise_or.reduce(fields << shifts, axis=-1).astype(np.uint32)
    return np.ascontiguousarray(words).astype("<u4").view(np.uint8).ravel()


def _conv_geometry(node, graph: Graph) -> tuple[int, int, int, int]:
    taps, channels = _taps_channels(node, graph)
    return taps, channels, graph.tensor(node.input).bits, node.weight_bits


def pack_conv_weights(node, graph: Graph, window: bool = False,
                      w_bits: int | None = None) -> np.ndarray:
    """The weight blob of a conv / pw / fc node for the DSP kernels (``window``: the window
    layout of ``mixq_conv2d_dsp_win_*``; ``w_bits``: the kernel's weight width, 8 to run
    sub-byte weights widened, default the node's)."""
    taps, channels, in_bits, bits = _conv_geometry(node, graph)
    return reorder_conv_weights(node.weight.reshape(node.weight.shape[0], -1), taps, channels,
                                in_bits, w_bits or bits, window)




def pack_window_weights(node, graph: Graph) -> np.ndarray:
    """:func:`pack_conv_weights` in the window layout."""
    return pack_conv_weights(node, graph, window=True)


def conv_scratch_bytes(node, graph: Graph, window: bool = False) -> int:
    """Four interleaved int16 im2col columns (one when the layer has fewer than four output
    pixels) and, for the window layout, the staged receptive field (whole words); mirror of
    ``mixq_conv2d_dsp_scratch_bytes`` / ``mixq_conv2d_dsp_win_scratch_bytes``."""
    out = graph.tensor(node.output).shape
    pixels = int(np.prod(out[:-1], dtype=np.int64)) if len(out) > 1 else 1
    cols = (4 if pixels >= 4 else 1) * conv_k_lanes(*_conv_geometry(node, graph), window) * 2
    if not window:
        return cols
    taps, channels, in_bits, _ = _conv_geometry(node, graph)
    return cols + -(-taps * -(-channels * in_bits // 8) // 4) * 4


def window_scratch_bytes(node, graph: Graph) -> int:
    """:func:`conv_scratch_bytes` of the window layout."""
    return conv_scratch_bytes(node, graph, window=True)


def conv_fits_int32(node, graph: Graph) -> bool:
    """True for a plain layer (no sparse outliers) whose accumulator cannot leave int32
    (k_lanes * 255 * 128 <= INT32_MAX)."""
    if getattr(node, "sparse", None) is not None:
        return False
    return conv_k_lanes(*_conv_geometry(node, graph)) * MAX_LANE_PRODUCT <= INT32_MAX


def _dtypes(weights: tuple[str, ...]) -> frozenset:
    return frozenset((i, w, o) for i in INPUT_DTYPES for w in weights for o in OUTPUT_DTYPES)


OUT_S8 = 16  # mixq_dsp_out_mode's MIXQ_OUT_S8


def output_mode(node, graph: Graph) -> int:
    """The DSP kernels' output mode (``mixq_dsp_out_mode``): 8, 4 or 2 for unsigned full-range
    codes of that width (USAT fast path), :data:`OUT_S8` for signed full-range 8-bit codes
    (SSAT fast path of the conv and fc kernels), 0
    for anything else (clamped or signed sub-byte codes, the general requantization call).

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((1, 1, 8), seed=0)
        >>> g = b.build(b.fc(b.fc(b.input, 3, out="s8"), 2, out="s4"))
        >>> output_mode(g.nodes[0], g), output_mode(g.nodes[1], g)
        (16, 0)
    """
    t, rq = graph.tensor(node.output), node.requant
    lo, hi = (-(1 << (t.bits - 1)), (1 << (t.bits - 1)) - 1) if t.signed else (0, (1 << t.bits) - 1)
    if (rq.activation_min, rq.activation_max) != (lo, hi):
        return 0
    return (OUT_S8 if t.bits == 8 else 0) if t.signed else t.bits


def _direct_pixels(node, graph: Graph, channels: int) -> int:
    """Output pixels the window layout widens straight from the input rows (8-bit codes, no
    code sum; ``mixq_dsp_win8_interior`` with whole-word rows): those whose window lies inside
    the input, when a kernel row is whole words (``k_w * channels`` a multiple of 4). Kernels of
    one row count none: the C widens their interior pixels the same way, but the per-tap
    layout's pointwise path (which :func:`conv_cost` overestimates) measured within 3% of it
    either way (pointwise 16-128 channels, w8a8), so they keep the staged estimate and the
    per-tap choice.

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((8, 8, 16), seed=0)
        >>> g = b.build(b.conv(b.input, 8, kernel=3))
        >>> _direct_pixels(g.nodes[0], g, 16)  # 6 x 6 of the 8 x 8 outputs (padding 1)
        36
    """
    if not isinstance(node, Conv2d):
        return 0
    _, kh, kw, _ = node.weight.shape
    if kh == 1 or kw * channels % 4:
        return 0
    in_shape, out_shape = graph.tensor(node.input).shape, graph.tensor(node.output).shape
    top, _, left, _ = node.padding

    def inside(n_out: int, n_in: int, k: int, s: int, pad: int) -> int:
        return sum(1 for o in range(n_out) if o * s - pad >= 0 and o * s - pad + k <= n_in)

    return (inside(out_shape[-3], in_shape[-3], kh, node.stride[0], top)
            * inside(out_shape[-2], in_shape[-2], kw, node.stride[1], left))


def conv_cost(node, graph: Graph, w_bits: int, window: bool, unpack: bool = False,
              plane: bool = False) -> float:
    """Estimated instructions of ``mixq_conv2d_dsp[_win|_win8]_s<w_bits>`` on a conv / pw / fc
    node: the MAC loop over blocks of four pixels (:data:`CONV_COSTS` per lane and output
    channel, plus the per-channel group and requantization work), the one-column loop of the
    last pixels, and the im2col of every pixel (per tap, or the staged window; ``unpack``: the
    window of sub-byte codes unpacked to bytes; ``plane``: the whole input unpacked once, then
    8-bit codes). The constants are fitted to ``bench/kernels.py`` counts (README, kernel
    table)."""
    taps, channels, in_bits, _ = _conv_geometry(node, graph)
    unpack_tap = plane_cost = 0.0
    if plane:  # mixq_conv2d_dsp_plane8_s8: one pass over the packed input bytes
        in_pixels = int(np.prod(graph.tensor(node.input).shape[:-1], dtype=np.int64))
        plane_cost = CONV_COSTS["plane_byte"] * in_pixels * -(-channels * in_bits // 8)
        in_bits = 8
    if unpack:  # staged one byte per code and widened as 8-bit codes
        px_bytes = -(-channels * in_bits // 8)
        unpack_tap = CONV_COSTS["unpack_tap"] + CONV_COSTS["unpack_byte"] * (px_bytes - 1)
        in_bits = 8
    out = graph.tensor(node.output).shape
    pixels = int(np.prod(out[:-1], dtype=np.int64)) if len(out) > 1 else 1
    c_out = int(node.weight.shape[0])
    k_lanes = conv_k_lanes(taps, channels, in_bits, w_bits, window)
    c = CONV_COSTS
    blocks, tail = divmod(pixels, 4)
    mac = blocks * c_out * (c["lane"] * k_lanes + c["channel"])
    mac += tail * c_out * (c["lane_1col"] * k_lanes + c["channel_1col"])
    per_in = 32 // in_bits
    if window:
        kh = node.weight.shape[1] if isinstance(node, Conv2d) else 1
        stage = taps * -(-channels * in_bits // 8)
        stage_row = c["stage_row"] if kh == 1 else c["stage_row_kh"]
        direct = _direct_pixels(node, graph, channels) if in_bits == 8 == w_bits and not unpack else 0
        cols = ((pixels - direct) * (stage_row * kh + c["stage_byte"] * stage
                                     + c["widen_lane"] * k_lanes)
                + direct * (c["direct_row"] * kh + c["direct_lane"] * k_lanes)
                + pixels * c["pixel"])
    else:
        tap_lanes = tap_codes(channels, in_bits)
        partial = channels % per_in != 0
        cols = pixels * (taps * (c["tap"] + c["widen_lane"] * tap_lanes
                                 + c["partial_word"] * partial) + c["pixel"])
    general = c["out_general"] * pixels * c_out * (output_mode(node, graph) == 0)
    return float(mac + cols + general + pixels * taps * unpack_tap + plane_cost)


# Instructions of the conv kernels' parts (see conv_cost): a non-negative least-squares fit
# (relative error) to bench/kernels.py counts of 49 layers on the emulated Cortex-M7 (first
# layers of 1-3 channels, 3x3 convs of 16-64 channels, pointwise 16-128, fully connected;
# w8a8, w4a4, w2a2; both layouts): every estimate within 4% of its count, and the cheaper
# layout of every pair ranked right. out_general: per output code that takes the general
# requantization call (signed or clamped outputs; measured on a 30 -> 19 s4 fc, 71-76).
# unpack_tap / unpack_byte: the unpacked window's staging per tap and per extra byte of a pixel
# (from 3x3 s2 convs from 3 u2 / u4 channels and DS-CNN's 10x4 from 1 u2 channel).
# plane_byte: the plane kernel's unpacking per packed input byte (set, not fitted: the plane
# kernel's estimates are within 4% of its counts on 32x32x3 s2 and 49x10x1 10x4 w2a2, 32x32x3 w4a4).
# stage_row_kh: the window staging per row of a kernel taller than one row, refitted after
# b2be471 (interior pixels staged by word copies) on five first layers (3x3 s1/s2 from 3-4
# channels, DS-CNN's 10x4 from 1; w8a8): window estimates 0-14% over the counts, like the
# other layout's 6-13%, and the window layout (cheaper in all five) ranked first. 1-row kernels (pointwise, FC) keep the 49-layer fit;
# "channel" was not refitted after 9860cff (the conv kernels are now overestimated by 3-12%).
# direct_row / direct_lane: interior pixels of 8-bit codes whose kernel rows are whole words,
# widened straight from the input (mixq_dsp_widen_row8: 6 instructions per 4 lanes; set from
# the loop, not fitted).
CONV_COSTS = {"lane": 3.63, "channel": 80.4, "lane_1col": 1.96, "channel_1col": 42.4,
              "tap": 58.2, "widen_lane": 4.24, "partial_word": 11.1, "pixel": 123.0,
              "stage_row": 70.3, "stage_row_kh": 41.0, "stage_byte": 2.03, "out_general": 73.0,
              "unpack_tap": 8.8, "unpack_byte": 14.0, "plane_byte": 8.0,
              "direct_row": 10.0, "direct_lane": 1.5}


def _kernels() -> tuple[Kernel, ...]:
    out = []
    for bits, weights in ((8, ("s8",)), (4, ("s4",)), (2, ("s2", "t2"))):
        for op in (LayerKind.CONV, LayerKind.PW, LayerKind.FC):
            common = dict(op=op, sources=("mixq_conv2d_dsp.c", "mixq_dsp.h"),
                          source_dir=SOURCE_DIR, target=TARGET, dtypes=_dtypes(weights),
                          accepts=conv_fits_int32, priority=10)
            out.append(Kernel(
                function=f"mixq_conv2d_dsp_s{bits}", variant="dsp",
                scratch_bytes=conv_scratch_bytes, pack_weights=pack_conv_weights,
                cost=partial(conv_cost, w_bits=bits, window=False), **common))
            out.append(Kernel(
                function=f"mixq_conv2d_dsp_win_s{bits}", variant="dsp-window",
                scratch_bytes=window_scratch_bytes, pack_weights=pack_window_weights,
                cost=partial(conv_cost, w_bits=bits, window=True), **common))
    return tuple(out)


# The ARMv7E-M DSP kernel set's conv / pw / fc kernels (depthwise: kernels_armv7em_dw; sparse:
# kernels_sparse).
KERNELS = _kernels()

__all__ = ["act_word_lanes", "weight_word_lanes", "conv_k_lanes", "column_order",
           "reorder_conv_weights", "pack_conv_weights", "conv_scratch_bytes", "output_mode",
           "conv_cost"]
