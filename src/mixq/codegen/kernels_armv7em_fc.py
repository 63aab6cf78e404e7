"""ARMv7E-M DSP fully connected kernels (``runtime/armv7em/mixq_fc_dsp.c``): registration,
offline weight interleaving, scratch and cost.

A fully connected layer has one output pixel whose receptive field is the whole input, so its
column is the input read as one stream of codes (the window layout of
:func:`mixq.codegen.kernels_armv7em.column_order`). The kernels compute four output channels at
a time (then a pair, then one), every widened column word feeding all of them; the weights are
interleaved here so that one pointer walks them in the loop's order (:func:`reorder_fc_weights`).

``mixq_fc_dsp_s8`` also runs 4-/2-bit and ternary weights widened to 8 bits here (the
sub-byte fallback: a wider kernel where it is cheaper, see
:func:`mixq.codegen.kernels_armv7em_fallback.widened_flash_ok`).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from mixq.codegen.kernel import Kernel
from mixq.codegen.kernels_armv7em import (OUT_S8, SOURCE_DIR, TARGET, _dtypes,
                                          _taps_channels, conv_fits_int32, conv_k_lanes,
                                          output_mode,
                                          reorder_conv_weights)
from mixq.codegen.kernels_armv7em_fallback import widened_flash_ok
from mixq.ir.graph import Graph
from mixq.quant.kinds import LayerKind

def reorder_fc_weights(weight: np.ndarray, taps: int, channels: int, in_bits: int,
                       w_bits: int) -> np.ndarray:
    """Weights of ``mixq_fc_dsp_s<w_bits>``: uint8 bytes of little-endian 32-bit words.

    The rows of :func:`~mixq.codegen.kernels_armv7em.reorder_conv_weights` (window layout),
    interleaved word by word per group of four output channels (word ``i`` of channels
    ``4g .. 4g + 3`` adjacent), then the last pair the same way, then the last row as it is.

    Args:
        weight: int codes (C_out, taps * channels), tap-major; sub-byte codes are stored as
            ``w_bits``-bit words (any codes that fit, so 4-/2-bit and ternary codes with
            ``w_bits=8``: the widened fallback).
        taps, channels: input pixels and channels per pixel.
        in_bits, w_bits: activation and weight code widths.

    Example:
        >>> w = np.arange(5 * 4).reshape(5, 4) - 10  # 5 channels, one word each
        >>> words = reorder_fc_weights(w, 1, 4, 8, 8).view("<u4")
        >>> [int(x) & 0xFF for x in words]  # first code of each word: rows 0, 1, 2, 3, 4
        [246, 250, 254, 2, 6]
    """
    weight = np.asarray(weight, dtype=np.int64).reshape(weight.shape[0], -1)
    c_out = weight.shape[0]
    words = reorder_conv_weights(weight, taps, channels, in_bits, w_bits, window=True)
    words = words.view("<u4").reshape(c_out, -1)  # (C_out, words per row)
    n4 = c_out // 4 * 4
    n2 = n4 + (c_out - n4) // 2 * 2
    parts = [words[:n4].reshape(-1, 4, words.shape[1]).transpose(0, 2, 1).ravel(),
             words[n4:n2].T.ravel(), words[n2:].ravel()]
    return np.ascontiguousarray(np.concatenate(parts).astype("<u4")).view(np.uint8)


def _geometry(node, graph: Graph) -> tuple[int, int, int]:
    taps, channels = _taps_channels(node, graph)
    return taps, channels, graph.tensor(node.input).bits


def pack_fc_weights(node, graph: Graph, w_bits: int | None = None) -> np.ndarray:
    """The weight blob of an fc node for ``mixq_fc_dsp_s<w_bits>`` (default: its own width)."""
    taps, channels, in_bits = _geometry(node, graph)
    return reorder_fc_weights(node.weight, taps, channels, in_bits,
                              w_bits or node.weight_bits)


def fc_scratch_bytes(node, graph: Graph) -> int:
    """The widened int16 column for sub-byte inputs (lanes rounded up to 16), none for 8-bit
    inputs; mirror of ``mixq_fc_dsp_scratch_bytes``."""
    taps, channels, in_bits = _geometry(node, graph)
    return 0 if in_bits == 8 else conv_k_lanes(taps, channels, in_bits, 2, window=True) * 2


def _fc_cost(node, graph: Graph, w_bits: int) -> float:
    """Estimated instructions of ``mixq_fc_dsp_s<w_bits>``: the MAC loops (instructions per
    unit of 32 / w_bits lanes, counted from the assembly, per channel group of 4, 2 or 1), the
    per-group and per-channel work (requantization; outputs other than full-range u8 / s8 go
    through a call), and the column (sub-byte inputs widened into scratch; the code sum that corrects
    offset-binary sub-byte weights). :data:`FC_COSTS` is fitted to ``bench/kernels.py``
    counts."""
    taps, channels, in_bits = _geometry(node, graph)
    k_lanes = conv_k_lanes(taps, channels, in_bits, w_bits, window=True)
    units, quads = k_lanes * w_bits // 32, 8 // w_bits
    col = 3 if in_bits == 8 else 1  # LDR + 2 UXTB16, or LDRD
    if w_bits == 8:
        g4, g2, g1 = col + 19, col + 10, col + 9
    else:
        g4, g2, g1 = quads * (col + 20) + 3, quads * (col + 8) + 3, quads * (col + 6) + 3
    c_out = int(node.weight.shape[0])
    n4, rest = divmod(c_out, 4)
    n2, n1 = divmod(rest, 2)
    u8 = output_mode(node, graph) in (8, OUT_S8)  # stored inline (USAT / SSAT)
    sub_w = w_bits != 8
    c = FC_COSTS
    cost = (c["fixed"] + units * (n4 * g4 + n2 * g2 + n1 * g1) + (n4 + n2 + n1) * c["group"]
            + c_out * (c["channel"] + c["channel_call"] * (not u8)))
    if in_bits == 8:
        return float(cost + c["sum_code"] * taps * channels * sub_w)
    return float(cost + k_lanes * (c[f"widen_lane_a{in_bits}"] + c["sum_lane"] * sub_w))


# Instructions of the fc kernels' parts (see _fc_cost): a non-negative least-squares fit
# (relative error) to bench/kernels.py counts of 55 (layer, precision, kernel) cases on the
# emulated Cortex-M7 (inputs 64-360 codes, 2-33 outputs; w8/w4/w2 x a8/a4/a2, native and
# widened weights): every estimate within 7% of its count.
FC_COSTS = {"fixed": 43.0, "group": 106.5, "channel": 4.2, "channel_call": 48.3,
            "widen_lane_a4": 2.34, "widen_lane_a2": 2.10, "sum_code": 1.13, "sum_lane": 0.66}


def _kernels() -> tuple[Kernel, ...]:
    common = dict(op=LayerKind.FC, sources=("mixq_fc_dsp.c", "mixq_dsp.h"),
                  source_dir=SOURCE_DIR, target=TARGET, scratch_bytes=fc_scratch_bytes,
                  priority=10)
    out = []
    for bits, weights in ((8, ("s8",)), (4, ("s4",)), (2, ("s2", "t2"))):
        out.append(Kernel(function=f"mixq_fc_dsp_s{bits}", variant="dsp-fc",
                          dtypes=_dtypes(weights), accepts=conv_fits_int32,
                          pack_weights=pack_fc_weights,
                          cost=partial(_fc_cost, w_bits=bits), **common))
    out.append(Kernel(function="mixq_fc_dsp_s8", variant="dsp-fc-widened",
                      dtypes=_dtypes(("s4", "s2", "t2")),
                      accepts=widened_flash_ok,
                      pack_weights=partial(pack_fc_weights, w_bits=8),
                      cost=partial(_fc_cost, w_bits=8), **common))
    return tuple(out)


# The fully connected kernels of the ARMv7E-M DSP set.
KERNELS = _kernels()

__all__ = ["KERNELS", "fc_scratch_bytes", "pack_fc_weights", "reorder_fc_weights"]
