"""Kernels of dense-ternary + sparse-int8 layers (intra-layer mixed precision), every target.

A Conv2d / FullyConnected node with ``sparse`` set (:class:`mixq.ir.graph.SparseOutliers`)
computes ``acc = dense_scale[c] * sum(x * T) + sum(x * S)`` then the usual ICN requantization.
Only kernels registered with ``sparse=True`` run such nodes (and they run nothing else), so an
ordinary ternary kernel can never drop the outliers. The whole layer (dense codes, dense_scale,
sparse entries) travels in the one ``p->weight`` blob of :c:type:`mixq_conv_params_t`; its
header says where each section starts, so the parameter struct is unchanged.

Kernels:

- target 'ref' (portable C99, any activation widths, every structure):
  ``mixq_conv2d_sparse_any`` (conv and pw), ``mixq_dwconv_sparse_any``,
  ``mixq_fully_connected_sparse_any``; blob and per-structure formats:
  :mod:`mixq.codegen.sparse_formats` (with the index costs, :func:`index_bits`).
- target 'armv7em' (DSP, u8 input, any output): ``mixq_conv2d_sparse_dsp`` for conv, pw and fc,
  blob: :func:`pack_dsp_blob` (``runtime/armv7em/mixq_sparse_dsp.h``); ``mixq_dwconv_sparse_u8``
  for dw (``runtime/``, C99 with DSP instructions where the compiler has them), the portable
  blob, whose effective weights k * T + S it expands into scratch (int16) once per call.

Its kernels join the reference and the armv7em sets in the table of :mod:`mixq.codegen.kernels`
(:data:`REF_KERNELS`, :data:`ARMV7EM_KERNELS`).
"""

from __future__ import annotations

import numpy as np

from mixq.codegen.kernel import RUNTIME_DIR, Kernel
from mixq.codegen.sparse_formats import (
    assemble_blob,
    encode_sparse,
    scale_bytes,
    scales_blob,
    index_bits,
    pack_portable_blob,
    row_view,
    sparse_rows,
)
from mixq.ir.graph import Conv2d, Graph
from mixq.platform.spec import KernelSet
from mixq.quant.kinds import LayerKind
from mixq.quant.sparsity import Family

DSP_TARGET = KernelSet.ARMV7EM.value
DSP_DIR = RUNTIME_DIR / "armv7em"
PORTABLE_SOURCES = ("mixq_sparse.h", "mixq_kernels.h", "mixq_requantize_s32.c")
DSP_SOURCES = ("mixq_conv2d_sparse_dsp.c", "mixq_sparse_dsp.h", "mixq_dsp.h")
INT32_MAX = 2**31 - 1
OUTPUTS = ("u8", "u4", "u2", "s8", "s4", "s2")


# -- ARMv7E-M DSP blob (runtime/armv7em/mixq_sparse_dsp.h) ---------------------------------------

LANE_OF_CODE = np.array([0, 2, 1, 3])  # code i of an input word -> lane of its group (UXTB16)
MAX_OFFSET = 65535  # list entries keep a 16-bit byte offset


def dsp_geometry(node, graph: Graph) -> tuple[int, int, int, int]:
    """(taps, channels per tap, k_lanes, cols) of the DSP kernel's im2col columns (mirror of
    ``mixq_sparse_dsp_k_lanes`` / ``_cols``).

    Example:
        >>> from mixq.codegen.sparse_synth import SparseGraphBuilder
        >>> b = SparseGraphBuilder((4, 4, 6), seed=0)
        >>> g = b.build(b.conv_sparse(b.input, 2, kernel=3))
        >>> dsp_geometry(g.nodes[0], g)  # 9 taps of 8 lanes = 72 -> 80 lanes, 16 pixels
        (9, 6, 80, 4)
    """
    if isinstance(node, Conv2d):
        _, kh, kw, channels = node.weight.shape
        taps = kh * kw
    else:
        shape = graph.tensor(node.input).shape
        taps, channels = int(np.prod(shape[:-1], dtype=np.int64)), int(shape[-1])
    k_lanes = -(-taps * -(-channels // 4) * 4 // 16) * 16
    out = graph.tensor(node.output).shape
    pixels = int(np.prod(out[:-1], dtype=np.int64)) if len(out) > 1 else 1
    return taps, channels, k_lanes, 4 if pixels >= 4 else 1


def dsp_lanes(node, graph: Graph) -> np.ndarray:
    """im2col lane of every row position k (tap * channels + channel): int64 (K,)."""
    taps, channels, _, _ = dsp_geometry(node, graph)
    ic = np.arange(channels)
    within = (ic & ~3) + LANE_OF_CODE[ic & 3]
    return (np.arange(taps)[:, None] * (-(-channels // 4) * 4) + within[None, :]).ravel()


def lane_byte_offset(lanes: np.ndarray, cols: int) -> np.ndarray:
    """Byte offset of a lane in column 0 of the interleaved columns (groups of 4 lanes).

    Example:
        >>> lane_byte_offset(np.array([0, 1, 3, 4, 5]), 4).tolist()
        [0, 2, 6, 32, 34]
    """
    lanes = np.asarray(lanes, np.int64)
    return (lanes >> 2) * 8 * cols + (lanes & 3) * 2


def _dsp_blocks_align(node, graph: Graph) -> bool:
    """True if every 1x4 block is one lane group (conv always; fc when channels % 4 == 0)."""
    taps, channels, _, _ = dsp_geometry(node, graph)
    return isinstance(node, Conv2d) or channels % 4 == 0 or taps == 1


def pack_dsp_blob(node, graph: Graph) -> np.ndarray:
    """The blob of ``mixq_conv2d_sparse_dsp`` (layout: ``mixq_sparse_dsp.h``): uint8 array."""
    taps, channels, k_lanes, cols = dsp_geometry(node, graph)
    c_out = node.weight.shape[0]
    lanes = dsp_lanes(node, graph)
    # dense: offset-binary u = T + 1 on each lane (padding lanes multiply zero activations)
    u = np.zeros((c_out, k_lanes), np.uint64)
    u[:, lanes] = node.weight.reshape(c_out, -1).astype(np.int64) + 1
    # (C_out, k_lanes) -> (C_out, words, 8 lane pairs, 2): pair k holds lanes 2k, 2k + 1
    pairs = u.reshape(c_out, -1, 8, 2)
    shifts = (2 * np.arange(8)).astype(np.uint64)
    words = np.bitwise_or.reduce((pairs[..., 0] << shifts) | (pairs[..., 1] << (shifts + 16)),
                                 axis=-1).astype("<u4")
    values = node.sparse.values.reshape(c_out, -1).astype(np.int64)
    mask = node.sparse.mask.reshape(c_out, -1)
    if node.sparse.structure.family is Family.BLOCK and _dsp_blocks_align(node, graph):
        kind = 1
        ic = np.arange(mask.shape[1]) % channels
        starts = mask & (ic % 4 == 0)[None, :]  # the first position of each block
        counts = starts.sum(axis=1)
        rows, ks = np.nonzero(starts)
        padded = np.pad(values, ((0, 0), (0, 4)))
        vals = np.stack([np.where(ic[ks] + q < channels, padded[rows, ks + q], 0)
                         for q in range(4)], axis=-1) & 0xFF
        packed = (vals << (8 * np.arange(4))).sum(axis=-1)
        off = lane_byte_offset(lanes[ks] & ~3, cols)  # ic % 4 == 0: lane of the group start
        entries = np.stack([off, packed], axis=-1).ravel()
    else:
        kind = 0
        counts = mask.sum(axis=1)
        rows, ks = np.nonzero(mask)
        off = lane_byte_offset(lanes[ks], cols)
        order = np.lexsort((off, rows))  # each row's entries by increasing address
        entries = (off[order] << 16) | (values[rows, ks][order] & 0xFFFF)
    fields = {"kind": kind, "cols": cols, "k_lanes": k_lanes,
              "scale_bytes": scale_bytes(node.sparse.dense_scale)}
    return assemble_blob(fields, [
        ("dense", words.tobytes()),
        ("scale", scales_blob(node.sparse.dense_scale)),
        ("counts", np.asarray(counts, "<u2").tobytes()),
        ("entries", np.asarray(entries, np.int64).astype("<u4").tobytes()),
    ])


def dsp_scratch_bytes(node, graph: Graph) -> int:
    """cols * k_lanes * 2 (mirror of ``mixq_conv2d_sparse_dsp_scratch_bytes``)."""
    _, _, k_lanes, cols = dsp_geometry(node, graph)
    return cols * k_lanes * 2


def dsp_accepts(node, graph: Graph) -> bool:
    """u8 input (checked by dtypes), 16-bit offsets and counts, int32-safe dot products."""
    _, _, k_lanes, cols = dsp_geometry(node, graph)
    return k_lanes * 8 * cols // 4 <= MAX_OFFSET and k_lanes * 2 * 255 <= INT32_MAX


def _dsp_kernels() -> tuple[Kernel, ...]:
    dtypes = frozenset(("u8", "t2", o) for o in OUTPUTS)
    return tuple(Kernel(op, "mixq_conv2d_sparse_dsp", DSP_SOURCES, target=DSP_TARGET,
                               variant="sparse-dsp", dtypes=dtypes, accepts=dsp_accepts,
                               scratch_bytes=dsp_scratch_bytes, pack_weights=pack_dsp_blob,
                               source_dir=DSP_DIR, priority=10, sparse=True)
                 for op in (LayerKind.CONV, LayerKind.PW, LayerKind.FC))


def dw_u8_scratch_bytes(node, graph: Graph) -> int:
    """int16 effective weights, (ceil(C / 4), KH * KW, 4) (mirror of
    ``mixq_dwconv_sparse_u8_scratch_bytes``)."""
    return 8 * int(np.prod(node.weight.shape[1:3])) * -(-node.weight.shape[0] // 4)


def dw_u8_accepts(node, graph: Graph) -> bool:
    """k * T + S fits int16 (k_c <= 32767) and the window has at most 64 taps."""
    return (int(node.sparse.dense_scale.max(initial=0)) <= 32767
            and int(np.prod(node.weight.shape[1:3])) <= 64)


def _portable_kernels() -> tuple[Kernel, ...]:
    return tuple(Kernel(op, function, (f"{function}.c",) + PORTABLE_SOURCES, variant="sparse",
                        pack_weights=pack_portable_blob, sparse=True)
                 for op, function in ((LayerKind.CONV, "mixq_conv2d_sparse_any"),
                                      (LayerKind.PW, "mixq_conv2d_sparse_any"),
                                      (LayerKind.DW, "mixq_dwconv_sparse_any"),
                                      (LayerKind.FC, "mixq_fully_connected_sparse_any")))


def _dw_u8_kernel() -> Kernel:
    # u8 depthwise expanding k * T + S once per call (C99 + DSP instructions when available;
    # in the armv7em set: the reference set keeps only width-generic kernels).
    return Kernel(LayerKind.DW, "mixq_dwconv_sparse_u8",
                  ("mixq_dwconv_sparse_u8.c",) + PORTABLE_SOURCES,
                  target=DSP_TARGET, variant="sparse-u8",
                  dtypes=frozenset(("u8", "t2", o) for o in OUTPUTS), accepts=dw_u8_accepts,
                  scratch_bytes=dw_u8_scratch_bytes, pack_weights=pack_portable_blob,
                  priority=10, sparse=True)


# The sparse kernels of each kernel set (see the table in mixq.codegen.kernels).
REF_KERNELS = _portable_kernels()
ARMV7EM_KERNELS = (_dw_u8_kernel(),) + _dsp_kernels()

__all__ = ["index_bits", "pack_portable_blob", "pack_dsp_blob", "dw_u8_scratch_bytes", "dsp_geometry", "dsp_lanes",
           "lane_byte_offset", "dsp_scratch_bytes", "encode_sparse", "assemble_blob", "row_view",
           "sparse_rows"]
