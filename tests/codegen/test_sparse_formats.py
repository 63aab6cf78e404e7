"""Packed formats of dense-ternary + sparse-int8 layers: decoded back from the documented layout
(no C compiler), index costs against the stored bytes and hand computations, kernel selection."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixq.codegen.kernels import select_kernel
from mixq.codegen.kernels_sparse import dsp_geometry, dsp_lanes, pack_dsp_blob
from mixq.codegen.sparse_formats import encode_sparse, index_bits, pack_portable_blob, sparse_rows
from mixq.codegen.sparse_synth import SparseGraphBuilder, random_mask
from mixq.codegen.synth import GraphBuilder
from mixq.ir.graph import SPARSE_STRUCTURES, parse_nm
from mixq.ir.verify import verify

STRUCTURES = list(SPARSE_STRUCTURES)


def _u(blob, offset, dtype, count):
    return np.frombuffer(bytes(blob[offset:]), dtype=np.dtype(dtype).newbyteorder("<"),
                         count=count).astype(np.int64)


def _bits(stream, pos, n):
    return sum(((stream[(pos + b) >> 3] >> ((pos + b) & 7)) & 1) << b for b in range(n))


def decode_portable(blob, c_out):
    """The (C_out, taps, lanes) values and mask, read as the module docstring describes."""
    code, taps, lanes, width, param, counted, count_bytes, _, *offs = _u(blob, 0, "u4", 13)
    _, _, counts_at, index_at, values_at = offs
    values = np.zeros((c_out, taps * lanes), np.int64)
    mask = np.zeros_like(values, bool)
    entry = 0
    if code in (0, 1):
        counts = _u(blob, counts_at, f"u{count_bytes}", c_out) if code == 0 else [param] * c_out
        for c, n in enumerate(counts):
            for _ in range(n):
                k = _u(blob, index_at + entry * width, f"u{width}", 1)[0]
                mask[c, k], values[c, k] = True, _u(blob, values_at + entry, "i1", 1)[0]
                entry += 1
    elif code == 2:
        m, cb, cbit = 1 << width, int(param).bit_length(), 0
        for c in range(c_out):
            for t in range(taps):
                for g in range(math.ceil(lanes / m)):
                    n = param
                    if counted:
                        n, cbit = _bits(blob[counts_at:], cbit, cb), cbit + cb
                    for _ in range(n):
                        k = t * lanes + g * m + _bits(blob[index_at:], entry * width, width)
                        v = _u(blob, values_at + entry, "i1", 1)[0]
                        if counted or v != 0:
                            mask[c, k], values[c, k] = True, v
                        entry += 1
    else:
        counts = _u(blob, counts_at, f"u{count_bytes}", c_out)
        per_tap = math.ceil(lanes / 4)
        for c, n in enumerate(counts):
            for _ in range(n):
                b = _u(blob, index_at + entry * width, f"u{width}", 1)[0]
                t, j = divmod(b, per_tap)
                for q in range(min(4, lanes - 4 * j)):
                    k = t * lanes + 4 * j + q
                    mask[c, k], values[c, k] = True, _u(blob, values_at + 4 * entry + q, "i1", 1)[0]
                entry += 1
    return values.reshape(c_out, taps, lanes), mask.reshape(c_out, taps, lanes), (taps, lanes)


def _graph(kind, structure, density, seed=0, c_in=13):
    b = SparseGraphBuilder((5, 4, c_in), seed=seed)
    if kind == "conv":
        y = b.conv_sparse(b.input, 6, kernel=3, structure=structure, density=density)
    elif kind == "pw":
        y = b.pw_sparse(b.input, 7, structure=structure, density=density)
    elif kind == "dw":
        y = b.dw_sparse(b.input, kernel=3, structure=structure, density=density)
    else:
        y = b.fc_sparse(b.input, 5, structure=structure, density=density)
    return verify(b.build(y))


@given(kind=st.sampled_from(["conv", "pw", "dw", "fc"]), structure=st.sampled_from(STRUCTURES),
       density=st.sampled_from([0.0, 0.02, 0.1, 0.3, 1.0]), c_in=st.integers(1, 20),
       seed=st.integers(0, 99))
@settings(max_examples=60, deadline=None, derandomize=True)
def test_portable_blob_decodes_to_the_outliers_and_costs_index_bits(kind, structure, density,
                                                                    c_in, seed):
    g = _graph(kind, structure, density, seed, c_in)
    node = g.nodes[0]
    blob = pack_portable_blob(node, g)
    values, mask, _ = decode_portable(blob, node.weight.shape[0])
    want_values, want_mask = sparse_rows(node, g)
    nm = parse_nm(structure)
    # a selected code 0 in a fixed N:M slot is stored like an empty slot (same arithmetic)
    assert np.array_equal(values, want_values)
    if nm is None:
        assert np.array_equal(mask, want_mask)
    else:
        assert not np.any(mask & ~want_mask)
    # the dense codes and dense_scale sections
    sb, scale_at = _u(blob, 28, "u4", 3)[[0, 2]]
    assert sb == (1 if node.sparse.dense_scale.max() <= 255 else 4)
    assert np.array_equal(_u(blob, scale_at, {1: "u1", 4: "i4"}[sb], node.weight.shape[0]),
                          node.sparse.dense_scale)
    # index_bits: every stored sparse bit beyond 8 per selected value (bitstreams: + spare byte)
    enc = encode_sparse(want_values, want_mask, structure)
    stored = 8 * (len(enc["counts"]) + len(enc["index"]) + len(enc["values"]))
    bits = index_bits(structure, node.weight.shape, node.sparse.nnz, node.sparse.mask)
    slack = stored - 8 * node.sparse.nnz - bits
    assert slack == 0 if nm is None else 8 <= slack <= 8 * (2 if enc["counted"] else 1) + 14


def test_index_bits_hand_computed():
    # pw 64 -> 64 (K = 64 <= 256: 8-bit indices), 41 outliers
    assert index_bits("unstructured", (64, 1, 1, 64), 41) == 8 * 64 + 8 * 41
    assert index_bits("row", (64, 1, 1, 64), 64 * 3) == 8 * 64 * 3
    # conv 3x3 16 -> 32: K = 144; fc 1024 inputs: 16-bit indices and counts
    assert index_bits("unstructured", (32, 3, 3, 16), 230) == 8 * 32 + 8 * 230
    assert index_bits("unstructured", (10, 1024), 100) == 16 * 10 + 16 * 100
    # 1:16 on 64 lanes: 4 groups per row, 1 count bit each + 4 index bits per outlier
    assert index_bits("1:16", (64, 1, 1, 64), 41) == 256 * 1 + 41 * 4
    # 2:8 nearly full: fixed slots (6 bits per group + 8 per empty slot) beat counts
    groups = 8 * 8
    assert index_bits("2:8", (8, 1, 1, 64), 120) == min(groups * 2 + 120 * 3,
                                                        groups * 2 * 3 + 8 * (128 - 120))
    assert index_bits("2:8", (8, 1, 1, 64), 120) == 448  # counted would be 128 + 360 = 488
    # block1x4: an 8-bit count per row + 8 per block index (+ padding lanes of short blocks)
    assert index_bits("block1x4", (32, 3, 3, 16), 4 * 57) == 8 * 32 + 8 * 57
    mask = np.zeros((2, 1, 1, 6), bool)
    mask[0, 0, 0, 4:6] = True  # the short last block: 2 lanes stored as 4
    assert index_bits("block1x4", mask.shape, 2, mask) == 16 + 8 + 16


def test_effective_bits_example():
    """What the intra-layer sweep computes from index_bits: pw 64 -> 64 at 2% unstructured."""
    weights, nnz = 64 * 64, 82
    bits = 2 * weights + 8 * nnz + index_bits("unstructured", (64, 1, 1, 64), nnz) + 8 * 64
    assert bits == 8192 + 656 + (512 + 656) + 512
    assert round(bits / weights, 3) == 2.570  # 2 + 0.16 + 0.285 + 0.125 (uint8 dense_scale)


@pytest.mark.parametrize("kind", ["conv", "pw", "fc"])
@pytest.mark.parametrize("structure", ["unstructured", "2:8", "block1x4"])
def test_dsp_blob_decodes_to_the_layer(kind, structure):
    g = _graph(kind, structure, 0.2, c_in=12 if structure == "block1x4" else 13)
    node = g.nodes[0]
    blob = pack_dsp_blob(node, g)
    kind_code, cols, k_lanes, _, dense_at, scale_at, counts_at, entries_at = _u(blob, 0, "u4", 8)
    taps, channels, k_lanes2, cols2 = dsp_geometry(node, g)
    assert (k_lanes, cols) == (k_lanes2, cols2)
    c_out = node.weight.shape[0]
    lanes = dsp_lanes(node, g)
    words = _u(blob, dense_at, "u4", c_out * k_lanes // 16).reshape(c_out, -1)
    # field f of a word: lane 2f (f < 8) or 2(f - 8) + 1 of its 16 lanes
    fields = (words[..., None] >> (2 * np.arange(16))) & 3
    lane_of_field = np.where(np.arange(16) < 8, 2 * np.arange(16), 2 * (np.arange(16) - 8) + 1)
    per_lane = np.zeros((c_out, k_lanes // 16, 16), np.int64)
    per_lane[:, :, lane_of_field] = fields
    assert np.array_equal(per_lane.reshape(c_out, -1)[:, lanes] - 1,
                          node.weight.reshape(c_out, -1))
    counts = _u(blob, counts_at, "u2", c_out)
    per_entry = 1 if kind_code == 0 else 2
    entries = _u(blob, entries_at, "u4", int(counts.sum()) * per_entry)
    offset_of_lane = {(int(l) >> 2) * 8 * cols + (int(l) & 3) * 2: k for k, l in enumerate(lanes)}
    values = np.zeros((c_out, lanes.size), np.int64)
    rows = np.repeat(np.arange(c_out), counts)
    if kind_code == 0:
        for r, ent in zip(rows, entries):
            values[r, offset_of_lane[ent >> 16]] = np.int16(ent & 0xFFFF)
    else:
        assert structure == "block1x4"
        for r, (off, packed) in zip(rows, entries.reshape(-1, 2)):
            k0 = offset_of_lane[off]
            for q in range(min(4, channels - k0 % channels)):
                values[r, k0 + q] = np.int8((packed >> (8 * q)) & 0xFF)
    assert np.array_equal(values, node.sparse.values.reshape(c_out, -1))


def test_sparse_nodes_only_get_sparse_kernels():
    b = SparseGraphBuilder((6, 6, 8), seed=3)
    x = b.add(b.input, b.input, out="u4")
    y = b.conv_sparse(x, 8, kernel=3, out="u8", density=0.1)         # u4 input
    z = b.pw_sparse(y, 8, out="u8", density=0.1)                      # u8 input
    t = b.pw(z, 8, weight="t2", out="u8")                             # plain ternary
    d = b.dw_sparse(t, kernel=3, out="u8", density=0.1)
    g = verify(b.build(b.fc_sparse(d, 4, density=0.1)))
    ref = [select_kernel(n, g).function for n in g.nodes[1:]]
    assert ref == ["mixq_conv2d_sparse_any", "mixq_conv2d_sparse_any", "mixq_conv2d_1x1_any",
                   "mixq_dwconv_sparse_any", "mixq_fully_connected_sparse_any"]
    dsp = [select_kernel(n, g, "armv7em").function for n in g.nodes[1:]]
    assert dsp[0] == "mixq_conv2d_sparse_any"  # u4 input: portable fallback
    assert dsp[1] == dsp[4] == "mixq_conv2d_sparse_dsp"
    assert dsp[2] != "mixq_conv2d_sparse_dsp" and dsp[3] == "mixq_dwconv_sparse_u8"
    b = SparseGraphBuilder((6, 6, 8), seed=3)
    g = verify(b.build(b.dw_sparse(b.add(b.input, b.input, out="u2"), kernel=3, density=0.1)))
    assert select_kernel(g.nodes[1], g, "armv7em").function == "mixq_dwconv_sparse_any"


def test_plain_layers_never_get_sparse_kernels():
    b = GraphBuilder((4, 4, 8), seed=0)
    g = b.build(b.fc(b.pw(b.input, 8, weight="t2"), 3, weight="t2"))
    for target in ("ref", "armv7em"):
        assert all("sparse" not in select_kernel(n, g, target).function for n in g.nodes)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_random_mask_follows_the_structure(structure):
    rng = np.random.default_rng(0)
    for density in (0.0, 0.05, 0.5):
        m = random_mask((6, 3, 3, 10), structure, density, rng)
        nm = parse_nm(structure)
        if structure == "unstructured":
            assert m.sum() == round(density * m.size)
        if nm is not None:
            groups = np.pad(m.reshape(-1, 10), ((0, 0), (0, -10 % nm[1]))).reshape(-1, nm[1])
            assert groups.sum(axis=1).max() <= nm[0]
