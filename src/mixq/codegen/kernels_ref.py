"""Portable C99 reference kernels (target 'ref'): registrations, weight packers, scratch sizes.

Reference weight layouts (all packed with :func:`mixq.codegen.packing.pack_codes`, signed codes,
ternary stored as 2-bit two's complement):

- conv / pw: OHWI as in the IR, one packed row of C_in codes per (o, ky, kx).
- dw: (KH, KW, C), one packed row of C codes per (ky, kx) (like an input pixel).
- fc: (C_out, P, C) with P = H*W pixels of the input, one packed row of C codes per (o, p).

Every reference kernel is generic over code widths; they are the fallback of every target.
"""

from __future__ import annotations

import numpy as np

from mixq.codegen.kernel import Kernel
from mixq.codegen.packing import pack_codes, row_bytes
from mixq.ir.graph import Graph
from mixq.quant.kinds import LayerKind

COMMON_SOURCES = ("mixq_kernels.h", "mixq_requantize_s32.c")
MARK_SOURCES = ("mixq_kernels.h", "mixq_layer_mark.c")
PACK_FUNCTION, PACK_SOURCES = "mixq_pack_any", ("mixq_kernels.h", "mixq_pack_any.c")
UNPACK_FUNCTION, UNPACK_SOURCES = "mixq_unpack_any", ("mixq_kernels.h", "mixq_unpack_any.c")


# Reference kernels that honour ``out_pixel_stride`` (write their output pixels that many bytes
# apart): their outputs may be placed inside a zero-copy concat of feature maps.
STRIDED_OUTPUT_FUNCTIONS = frozenset({"mixq_conv2d_any", "mixq_conv2d_1x1_any", "mixq_dwconv_any",
                                      "mixq_maxpool_any", "mixq_avgpool2d_any"})


def pack_conv_weights(node, graph: Graph) -> np.ndarray:
    """OHWI rows of C_in codes: uint8 (C_out * KH * KW * row_bytes(C_in, bits),)."""
    return pack_codes(node.weight, node.weight_bits).ravel()


def pack_dw_weights(node, graph: Graph) -> np.ndarray:
    """(KH, KW, C) rows of C codes: uint8 (KH * KW * row_bytes(C, bits),)."""
    # (C, KH, KW, 1) -> (KH, KW, C)
    return pack_codes(node.weight[..., 0].transpose(1, 2, 0), node.weight_bits).ravel()


def pack_fc_weights(node, graph: Graph) -> np.ndarray:
    """(C_out, P, C) rows of C codes, P = pixels of the input: uint8 (C_out * P * row_bytes,)."""
    channels = graph.tensor(node.input).shape[-1]
    c_out = node.weight.shape[0]
    # (C_out, H*W*C) -> (C_out, P, C)
    return pack_codes(node.weight.reshape(c_out, -1, channels), node.weight_bits).ravel()


def dwconv_inplace_scratch_bytes(node, graph: Graph) -> int:
    """Ring of min(KH, H) input rows (mirror of ``mixq_dwconv_inplace_any_scratch_bytes``)."""
    h, w, c = graph.tensor(node.input).shape
    bits = graph.tensor(node.input).bits
    return min(node.weight.shape[1], h) * w * row_bytes(c, bits)


def dwconv_inplace_safe(node, graph: Graph) -> bool:
    """True if ``mixq_dwconv_inplace_any`` may write its output over its input.

    Replays the kernel's row schedule: before output row ``oy`` is written, the rows it needs
    that are not in the ring yet are copied; they must not have been overwritten by the output
    rows ``0 .. oy-1`` already written (bytes ``[0, oy * out_row_bytes)``).

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((6, 6, 4), seed=0)
        >>> g = b.build(b.dw(b.input, kernel=3, out="u8"))
        >>> dwconv_inplace_safe(g.nodes[0], g)
        True
        >>> b = GraphBuilder((6, 6, 4), "u4", seed=0)
        >>> g = b.build(b.dw(b.input, kernel=3, out="u8"))  # output rows twice as wide
        >>> dwconv_inplace_safe(g.nodes[0], g)
        False
    """
    tin, tout = graph.tensor(node.input), graph.tensor(node.output)
    h, w, c = tin.shape
    h_out, w_out, _ = tout.shape
    in_row = w * row_bytes(c, tin.bits)
    out_row = w_out * row_bytes(c, tout.bits)
    if h_out * out_row > h * in_row:
        return False
    k_h = node.weight.shape[1]
    next_row = 0
    for oy in range(h_out):
        top = oy * node.stride[0] - node.padding[0]
        last = min(top + k_h - 1, h - 1)
        next_row = max(next_row, top)
        if next_row <= last:
            if next_row * in_row < oy * out_row:
                return False
            next_row = last + 1
    return True


def add_inplace_inputs(node, graph: Graph) -> tuple[int, ...]:
    """Inputs of an Add the reference kernel may overwrite: those with >= the output's bits."""
    out_bits = graph.tensor(node.output).bits
    return tuple(i for i, t in enumerate(node.inputs) if graph.tensor(t).bits >= out_bits)


def _pointwise(node, graph: Graph) -> bool:
    return node.stride == (1, 1) and tuple(node.padding) == (0, 0, 0, 0)


def _kernels() -> tuple[Kernel, ...]:
    out = []
    conv_sources = ("mixq_conv2d_any.c",) + COMMON_SOURCES
    out.append(Kernel(LayerKind.CONV, "mixq_conv2d_any", conv_sources, variant="any",
                           pack_weights=pack_conv_weights))
    # 1x1 with a stride or padding falls back to the general conv kernel.
    out.append(Kernel(LayerKind.PW, "mixq_conv2d_any", conv_sources, variant="any",
                           pack_weights=pack_conv_weights))
    out.append(Kernel(LayerKind.PW, "mixq_conv2d_1x1_any",
                      ("mixq_conv2d_1x1_any.c",) + COMMON_SOURCES,
                           variant="1x1", accepts=_pointwise, pack_weights=pack_conv_weights,
                           priority=1))
    out.append(Kernel(LayerKind.DW, "mixq_dwconv_any", ("mixq_dwconv_any.c",) + COMMON_SOURCES,
                           variant="any", pack_weights=pack_dw_weights))
    out.append(Kernel(LayerKind.DW, "mixq_dwconv_inplace_any",
                           ("mixq_dwconv_inplace_any.c",) + COMMON_SOURCES, variant="inplace",
                           accepts=dwconv_inplace_safe, pack_weights=pack_dw_weights,
                           scratch_bytes=dwconv_inplace_scratch_bytes, inplace_inputs=(0,)))
    out.append(Kernel(LayerKind.FC, "mixq_fully_connected_any",
                           ("mixq_fully_connected_any.c",) + COMMON_SOURCES, variant="any",
                           pack_weights=pack_fc_weights))
    out.append(Kernel(LayerKind.POOL, "mixq_avgpool_any", ("mixq_avgpool_any.c",) + COMMON_SOURCES,
                           variant="any"))
    out.append(Kernel(LayerKind.MAXPOOL, "mixq_maxpool_any",
                      ("mixq_maxpool_any.c",) + COMMON_SOURCES, variant="any"))
    out.append(Kernel(LayerKind.AVGPOOL, "mixq_avgpool2d_any",
                      ("mixq_avgpool2d_any.c",) + COMMON_SOURCES, variant="any"))
    out.append(Kernel(LayerKind.CONCAT, "mixq_concat_any",
                      ("mixq_concat_any.c",) + COMMON_SOURCES, variant="any"))
    add_sources = ("mixq_add_any.c",) + COMMON_SOURCES
    out.append(Kernel(LayerKind.ADD, "mixq_add_any", add_sources, variant="any"))
    # The same function is safe in place over an input with at least the output's code width.
    out.append(Kernel(LayerKind.ADD, "mixq_add_any", add_sources, variant="inplace",
                           accepts=lambda node, graph: bool(add_inplace_inputs(node, graph)),
                           inplace_inputs=add_inplace_inputs))

    return tuple(out)


# The reference kernel set (portable C99): every kernel set falls back on it.
KERNELS = _kernels()
