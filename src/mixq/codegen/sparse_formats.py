"""Packed formats of the sparse int8 part of dense-ternary + sparse layers, and their index cost.

A dense+sparse layer (:class:`mixq.ir.graph.SparseOutliers`) has ``C_out`` *rows* (one per output
channel); a row has ``K = taps * lanes`` weight positions, position ``k = tap * lanes + lane``:

- conv / pw: taps = KH * KW, lanes = C_in (OHWI order);
- dw: taps = KH * KW, lanes = 1 (the channel is the row);
- fc: taps = 1, lanes = fan_in = H * W * C (the flattened HWC input, as the IR verifier groups
  N:M and 1x4 blocks of a fully connected layer).

The portable kernels (``runtime/mixq_*_sparse_any.c``) read one blob per layer (``p->weight``,
4-byte aligned, little-endian): a header of 16 uint32 words (``mixq_sparse.h``), the dense ternary
codes in the reference layout of the op (2-bit two's complement, packed along input channels,
lowest channel in the lowest bits, rows padded to bytes), ``dense_scale`` per row (uint8 when
every k_c <= 255, else int32: :func:`scale_bytes`), then the sparse part, in a format chosen per
structure. Index fields are ``w`` bits wide with
``w = index_width(K)``: 8 if K <= 256, 16 if K <= 65536, else 32 (``w_b`` for block indices,
from the number of blocks per row). Per-row counts are ``c`` bits wide: 8 if the row holds at
most 255 positions (blocks for 'block1x4'), else 16. Entries of a row are in increasing
position order.

=============  =====================================================  ==========================
structure      sparse sections                                        index bits (``index_bits``)
=============  =====================================================  ==========================
unstructured   counts uint{c}[C_out]; index uint{w}[nnz] (k);         c * C_out + w * nnz
               values int8[nnz]
row            (count n per row in the header); index uint{w}[nnz];   w * nnz
               values int8[nnz]
N:M            per aligned group of M lanes of a (row, tap) (G groups  min(counted, fixed), with
               in all, the last one of a tap may be short): counted:  counted = G*cb + nnz*lb,
               count (cb = bit_length(N) bits) in a count bitstream,  fixed = G*N*lb
               one in-group index (lb = log2 M bits) per outlier in          + 8 * (G*N - nnz)
               an index bitstream, values int8[nnz]; fixed: N slots
               per group (index + value, empty slots hold value 0),
               no counts; the smaller form is stored
block1x4       counts uint{c}[C_out] (blocks per row); block index    c * C_out + w_b * blocks
               uint{w_b}[blocks] (b = tap * ceil(lanes / 4) + j);     + 8 * (4 * blocks - nnz)
               values int8[4 * blocks] (lanes past a short block: 0)
=============  =====================================================  ==========================

Bitstreams are LSB-first over the whole layer (row, group, slot order), with one spare byte.
``index_bits`` counts every bit of the sparse part beyond 8 bits per selected value: indices,
counts, empty N:M slots, block padding lanes. It leaves out what every dense+sparse layer has
anyway: the ternary codes (2 bits per weight, rows padded to bytes), ``dense_scale``
(8 bits per output channel, 32 if some k_c > 255), the requantization arrays, the 64-byte header and the < 4 bytes
of alignment between sections. The effective-bits figure of the intra-layer sweep uses it.
"""

from __future__ import annotations

import math

import numpy as np

from mixq.codegen.packing import pack_codes
from mixq.ir.graph import Conv2d
from mixq.quant.kinds import LayerKind
from mixq.quant.sparsity import (  # noqa: F401  (count_width, index_width: part of this API)
    Family,
    SparseStructure,
    count_width,
    index_width,
    lane_groups,
    nm_costs,
)

HEADER_WORDS = 16


def scale_bytes(dense_scale) -> int:
    """Bytes of each stored dense_scale k_c: 1 if every k_c fits uint8, else 4 (int32).

    Example:
        >>> scale_bytes([3, 255]), scale_bytes([256])
        (1, 4)
    """
    return 1 if int(np.max(dense_scale, initial=0)) <= 255 else 4


def scales_blob(dense_scale) -> bytes:
    """dense_scale as stored: uint8 or int32 little-endian (see :func:`scale_bytes`)."""
    return _le(dense_scale, "u1" if scale_bytes(dense_scale) == 1 else "i4")


def index_bits(structure: str, mask_shape, nnz: int, mask: np.ndarray | None = None) -> int:
    """Bits of a layer's sparse part beyond 8 per selected value (see the module table and
    :meth:`mixq.quant.sparsity.SparseStructure.index_bits`).

    Example:
        >>> index_bits("unstructured", (64, 1, 1, 64), 41)  # 8 * 64 + 8 * 41
        840
        >>> index_bits("1:16", (64, 1, 1, 64), 41)  # counted: 256 groups * 1 + 41 * 4
        420
    """
    return SparseStructure(structure).index_bits(mask_shape, nnz, mask)


def row_view(node, graph) -> tuple[int, int]:
    """(taps, lanes) of a Conv2d or FullyConnected node's rows (see the module docstring)."""
    if isinstance(node, Conv2d):
        _, kh, kw, lanes = node.weight.shape
        return kh * kw, lanes
    return 1, int(node.weight.shape[1])


def sparse_rows(node, graph) -> tuple[np.ndarray, np.ndarray]:
    """The outliers as (C_out, taps, lanes): int64 values and bool mask."""
    taps, lanes = row_view(node, graph)
    c_out = node.weight.shape[0]
    sp = node.sparse
    return (sp.values.astype(np.int64).reshape(c_out, taps, lanes),
            sp.mask.reshape(c_out, taps, lanes))


def _le(values, dtype: str) -> bytes:
    return np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def _uint(values, width: int) -> bytes:
    return _le(values, {8: "u1", 16: "u2", 32: "u4"}[width])


def _bitstream(fields, widths) -> bytes:
    """LSB-first bitstream of unsigned fields (plus one spare byte for 16-bit reads)."""
    total = int(sum(widths))
    bits = np.zeros(total + 16, np.uint8)
    pos = 0
    for f, w in zip(fields, widths):
        for b in range(w):
            bits[pos + b] = (int(f) >> b) & 1
        pos += w
    return np.packbits(bits[: -(-(total + 8) // 8) * 8], bitorder="little").tobytes()


def encode_sparse(values: np.ndarray, mask: np.ndarray, structure: str) -> dict:
    """The sparse sections of one layer.

    Args:
        values: int codes (C_out, taps, lanes), 0 outside ``mask``.
        mask: bool (C_out, taps, lanes), following ``structure``.
        structure: one of :data:`mixq.ir.graph.SPARSE_STRUCTURES`.

    Returns:
        ``{"code", "param", "width", "counted", "count_bytes", "counts", "index", "values"}``:
        header fields (``param``: entries per row for 'row', N for 'N:M'; ``width``: index
        field bytes, or log2 M for 'N:M'; ``counted``: N:M form; ``count_bytes``: per-row count
        field bytes) and the three byte strings.

    Raises:
        ValueError: the mask does not follow the structure.
    """
    structure = SparseStructure(structure)
    problem = structure.violation(mask)
    if problem:
        raise ValueError(problem)
    c_out, taps, lanes = mask.shape
    per_row = mask.reshape(c_out, -1).sum(axis=1)
    out = {"code": structure.family.code, "param": 0, "width": 0, "counted": 0,
           "count_bytes": 0, "counts": b"", "index": b"", "values": b""}
    family = structure.family
    if family in (Family.UNSTRUCTURED, Family.ROW):
        width = index_width(taps * lanes)
        flat_mask = mask.reshape(c_out, -1)
        idx = np.nonzero(flat_mask)[1]  # row-major: rows in order, positions increasing
        if family is Family.ROW:
            out["param"] = int(per_row[0]) if per_row.size else 0
        else:
            cw = count_width(taps * lanes)
            out.update(count_bytes=cw // 8, counts=_uint(per_row, cw))
        out.update(width=width // 8, index=_uint(idx, width),
                   values=_le(values.reshape(c_out, -1)[flat_mask], "i1"))
    elif family is Family.NM:
        n, m = structure.nm
        lb = int(math.log2(m))
        gm, gv = lane_groups(mask, m), lane_groups(values, m)  # (C_out, taps, G_t, m)
        counts = gm.sum(axis=-1).ravel()
        counted, fixed = nm_costs(n, m, counts.size, int(mask.sum()))
        slots = [np.nonzero(g)[0] for g in gm.reshape(-1, m)]
        vals = gv.reshape(-1, m)
        if counted <= fixed:
            idx = np.concatenate(slots + [np.zeros(0, np.int64)])
            vs = np.concatenate([v[s] for v, s in zip(vals, slots)] + [np.zeros(0, np.int64)])
            out.update(counted=1, counts=_bitstream(counts, [n.bit_length()] * counts.size))
        else:
            pad = [np.concatenate([s, np.zeros(n - s.size, np.int64)]) for s in slots]
            idx = np.concatenate(pad + [np.zeros(0, np.int64)])
            vs = np.concatenate([np.where(np.arange(n) < s.size, v[p], 0)
                                 for v, s, p in zip(vals, slots, pad)] + [np.zeros(0, np.int64)])
        out.update(param=n, width=lb, index=_bitstream(idx, [lb] * idx.size),
                   values=_le(vs, "i1"))
    else:  # Family.BLOCK
        gm, gv = lane_groups(mask, 4), lane_groups(values, 4)  # (C_out, taps, B_t, 4)
        any_block = gm.any(axis=-1)
        rows_b = any_block.reshape(c_out, -1)
        width, cw = index_width(rows_b.shape[1]), count_width(rows_b.shape[1])
        out.update(width=width // 8, count_bytes=cw // 8, counts=_uint(rows_b.sum(axis=1), cw),
                   index=_uint(np.nonzero(rows_b)[1], width),
                   values=_le(gv.reshape(c_out, -1, 4)[rows_b], "i1"))
    return out


def _align4(blob: bytearray) -> int:
    blob.extend(b"\0" * (-len(blob) % 4))
    return len(blob)


def assemble_blob(fields: dict, sections: list[tuple[str, bytes]]) -> np.ndarray:
    """Header (``HEADER_WORDS`` uint32: ``fields`` values in order, then each section's byte
    offset in order, zero padded) followed by the 4-byte aligned sections; uint8 array."""
    blob = bytearray(4 * HEADER_WORDS)
    offsets = []
    for _, data in sections:
        offsets.append(_align4(blob))
        blob.extend(data)
    _align4(blob)
    words = list(fields.values()) + offsets
    if len(words) > HEADER_WORDS:
        raise ValueError("too many header fields")
    blob[: 4 * len(words)] = _uint(words, 32)
    return np.frombuffer(bytes(blob), np.uint8).copy()


def pack_portable_blob(node, graph) -> np.ndarray:
    """The blob of the portable kernels (``mixq_sparse.h``): uint8 array.

    Header words: structure code, taps, lanes, index width (bytes; log2 M for N:M), param
    (entries per row / N), N:M counted flag, count width (bytes), dense_scale width (bytes),
    then the offsets of the dense codes, dense_scale, counts, index and values sections.
    """
    from mixq.codegen import kernels_ref

    taps, lanes = row_view(node, graph)
    values, mask = sparse_rows(node, graph)
    enc = encode_sparse(values, mask, node.sparse.structure)
    if node.kind is LayerKind.DW:
        dense = kernels_ref.pack_dw_weights(node, graph)
    elif node.kind is LayerKind.FC:
        dense = kernels_ref.pack_fc_weights(node, graph)
    else:
        dense = pack_codes(node.weight, 2).ravel()
    fields = {"code": enc["code"], "taps": taps, "lanes": lanes, "width": enc["width"],
              "param": enc["param"], "counted": enc["counted"], "count_bytes": enc["count_bytes"],
              "scale_bytes": scale_bytes(node.sparse.dense_scale)}
    return assemble_blob(fields, [
        ("dense", np.asarray(dense, np.uint8).tobytes()),
        ("scale", scales_blob(node.sparse.dense_scale)),
        ("counts", enc["counts"]), ("index", enc["index"]), ("values", enc["values"]),
    ])
