"""Sub-byte fallbacks of the ARMv7E-M DSP set: wider kernels for sub-byte layers where they
are faster, chosen per layer by cost like every variant (:func:`mixq.codegen.kernels.select_kernel`).

- **Widened weights**: ``mixq_conv2d_dsp[_win]_s8`` (and ``mixq_fc_dsp_s8``, in
  :mod:`mixq.codegen.kernels_armv7em_fc`) run 4-/2-bit and ternary weights stored as 8-bit codes
  (the same integers, so bit-exact by construction) when the weights grow by at most
  :data:`WIDEN_FLASH_BYTES`: a 3-channel first layer's 27 taps fill 28 lanes of 8-bit weight
  words instead of 32 of 4- or 2-bit ones, and a head's 8-bit loop is the fastest.
- **Unpacked inputs**: ``mixq_conv2d_dsp_win8_s<w>`` stage each pixel of a 4-/2-bit input
  with one byte per code (``mixq_dsp_unpack``) and widen the window as 8-bit codes, so 3 u2
  channels take 3 lanes instead of a byte's 4 (and the column is rounded to 4 lanes, not 16).
- **Unpacked plane**: ``mixq_conv2d_dsp_plane8_s8`` unpacks the whole input once (at most
  :data:`PLANE_RAM_BYTES` codes, in scratch) and runs it as 8-bit codes through the window
  layout, whose interior pixels are staged by word copies, or widened straight from the plane
  when a kernel row is whole words (8-bit weights, native or widened).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from mixq.codegen.kernel import Kernel
from mixq.codegen.kernels_armv7em import (SOURCE_DIR, TARGET, _dtypes, _taps_channels,
                                          conv_cost, conv_fits_int32, conv_k_lanes,
                                          conv_scratch_bytes, pack_conv_weights,
                                          reorder_conv_weights)
from mixq.ir.graph import Graph
from mixq.quant.kinds import LayerKind

WIDEN_FLASH_BYTES = 4096  # extra weight bytes a layer may take to run a wider (faster) kernel
PLANE_RAM_BYTES = 4096  # scratch a layer may take to unpack its sub-byte input once


def widened_flash_ok(node, graph: Graph) -> bool:
    """True for a conv / pw / fc node with sub-byte weights that may run an 8-bit kernel on its
    weights widened offline: a plain layer whose weights grow by at most
    :data:`WIDEN_FLASH_BYTES` (the allocator chose the width for flash; heads and first layers
    are small enough to trade a little of it for speed).

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((1, 1, 64), seed=0)
        >>> g = b.build(b.fc(b.input, 12, weight="s4"))
        >>> widened_flash_ok(g.nodes[0], g)  # 768 weights: 384 bytes more
        True
    """
    size = int(node.weight.size)
    return (conv_fits_int32(node, graph) and node.weight_bits < 8
            and size - size * node.weight_bits // 8 <= WIDEN_FLASH_BYTES)


def pack_unpacked_weights(node, graph: Graph, w_bits: int | None = None) -> np.ndarray:
    """Weights of ``mixq_conv2d_dsp_win8_s<w_bits>``: the window layout of an 8-bit input."""
    taps, channels = _taps_channels(node, graph)
    return reorder_conv_weights(node.weight.reshape(node.weight.shape[0], -1), taps, channels,
                                8, w_bits or node.weight_bits, window=True)


def unpacked_scratch_bytes(node, graph: Graph) -> int:
    """Columns of the unpacked window (lanes of 8-bit codes) and its stage (one byte per code
    and 4 bytes of slack, whole words); mirror of ``mixq_conv2d_dsp_win8_scratch_bytes``."""
    taps, channels = _taps_channels(node, graph)
    out = graph.tensor(node.output).shape
    pixels = int(np.prod(out[:-1], dtype=np.int64)) if len(out) > 1 else 1
    cols = (4 if pixels >= 4 else 1) * conv_k_lanes(taps, channels, 8, node.weight_bits,
                                                    window=True) * 2
    return cols + -(-(taps * channels + 4) // 4) * 4


def _unpacked_ok(node, graph: Graph) -> bool:
    return conv_fits_int32(node, graph) and graph.tensor(node.input).bits < 8


def plane_ok(node, graph: Graph) -> bool:
    """True for a layer with sub-byte inputs whose input unpacked to one byte per code (the
    plane of ``mixq_conv2d_dsp_plane8_s8``) takes at most :data:`PLANE_RAM_BYTES` of scratch.

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((32, 32, 3), "u2", seed=0)
        >>> g = b.build(b.conv(b.input, 8, kernel=3, stride=2))
        >>> plane_ok(g.nodes[0], g)  # 3,072 codes
        True
    """
    elements = int(np.prod(graph.tensor(node.input).shape, dtype=np.int64))
    return _unpacked_ok(node, graph) and elements <= PLANE_RAM_BYTES


def plane_scratch_bytes(node, graph: Graph) -> int:
    """The 8-bit window layout's columns and stage, then the plane (one byte per code, 4 bytes
    of slack, whole words); mirror of ``mixq_conv2d_dsp_plane8_scratch_bytes``."""
    taps, channels = _taps_channels(node, graph)
    out = graph.tensor(node.output).shape
    pixels = int(np.prod(out[:-1], dtype=np.int64)) if len(out) > 1 else 1
    cols = (4 if pixels >= 4 else 1) * conv_k_lanes(taps, channels, 8, node.weight_bits,
                                                    window=True) * 2
    elements = int(np.prod(graph.tensor(node.input).shape, dtype=np.int64))
    return cols + -(-taps * channels // 4) * 4 + -(-(elements + 4) // 4) * 4


def _kernels() -> tuple[Kernel, ...]:
    out = []
    for op in (LayerKind.CONV, LayerKind.PW):
        common = dict(op=op, sources=("mixq_conv2d_dsp.c", "mixq_dsp.h"), source_dir=SOURCE_DIR,
                      target=TARGET, priority=10)
        for window, suffix in ((False, ""), (True, "_win")):
            out.append(Kernel(
                function=f"mixq_conv2d_dsp{suffix}_s8",
                variant="dsp-window-widened" if window else "dsp-widened",
                dtypes=_dtypes(("s4", "s2", "t2")), accepts=widened_flash_ok,
                scratch_bytes=partial(conv_scratch_bytes, window=window),
                pack_weights=partial(pack_conv_weights, window=window, w_bits=8),
                cost=partial(conv_cost, w_bits=8, window=window), **common))
        for bits, weights in ((8, ("s8",)), (4, ("s4",)), (2, ("s2", "t2"))):
            out.append(Kernel(
                function=f"mixq_conv2d_dsp_win8_s{bits}", variant="dsp-window-unpacked",
                dtypes=_dtypes(weights), accepts=_unpacked_ok,
                scratch_bytes=unpacked_scratch_bytes, pack_weights=pack_unpacked_weights,
                cost=partial(conv_cost, w_bits=bits, window=True, unpack=True), **common))
        out.append(Kernel(
            function="mixq_conv2d_dsp_win8_s8", variant="dsp-window-unpacked-widened",
            dtypes=_dtypes(("s4", "s2", "t2")),
            accepts=lambda n, g: _unpacked_ok(n, g) and widened_flash_ok(n, g),
            scratch_bytes=unpacked_scratch_bytes,
            pack_weights=partial(pack_unpacked_weights, w_bits=8),
            cost=partial(conv_cost, w_bits=8, window=True, unpack=True), **common))
        plane = dict(function="mixq_conv2d_dsp_plane8_s8", scratch_bytes=plane_scratch_bytes,
                     cost=partial(conv_cost, w_bits=8, window=True, plane=True), **common)
        out.append(Kernel(variant="dsp-window-plane", dtypes=_dtypes(("s8",)), accepts=plane_ok,
                          pack_weights=pack_unpacked_weights, **plane))
        out.append(Kernel(
            variant="dsp-window-plane-widened", dtypes=_dtypes(("s4", "s2", "t2")),
            accepts=lambda n, g: plane_ok(n, g) and widened_flash_ok(n, g),
            pack_weights=partial(pack_unpacked_weights, w_bits=8), **plane))
    return tuple(out)


# The fallback kernels of the ARMv7E-M DSP set (after the native ones: ties keep the native).
KERNELS = _kernels()

__all__ = ["KERNELS", "PLANE_RAM_BYTES", "WIDEN_FLASH_BYTES", "pack_unpacked_weights",
           "plane_ok", "plane_scratch_bytes", "unpacked_scratch_bytes", "widened_flash_ok"]
