"""Buffer formats: decoding the packed words as documented in mixq.hw.streams gives back the
program's operands; bit counts by hand."""

import numpy as np
import pytest

from mixq.hw.config import EngineConfig
from mixq.hw.program import lower_node
from mixq.hw.streams import pack_dense, pack_requant, pack_rows, pack_sparse, stream_bits
from mixq.hw.streams import words_per_group
from mixq.hw.synthetic import random_layer


def _signed(v, bits):
    return v - (1 << bits) if v >> (bits - 1) & 1 else v


def _decode_sparse(prog):
    """Rebuild S (G, J, P, L) from the sparse image, reading the format as documented."""
    cfg = prog.cfg
    out = np.zeros_like(prog.outliers)
    image, g = pack_sparse(prog), 0
    for word in image:
        last, chunk = word & 1, word >> 1 & ((1 << cfg.chunk_bits) - 1)
        body = word >> 1 + cfg.chunk_bits
        for e in range(cfg.slots):
            f = body >> e * cfg.entry_bits & ((1 << cfg.entry_bits) - 1)
            idx = f >> 8 * cfg.block & ((1 << cfg.index_bits) - 1)
            values = [_signed(f >> 8 * n & 0xFF, 8) for n in range(cfg.block)]
            if cfg.family == "nm":
                n_, m_ = cfg.nm
                per_ch = cfg.lanes // m_
                ch, q = e // n_ // per_ch, e // n_ % per_ch
                out[g, chunk, ch, q * m_ + idx] += values[0]
                continue
            ch = f >> 8 * cfg.block + cfg.index_bits
            for n, v in enumerate(values):
                out[g, chunk, ch, idx * cfg.block + n] += v
        g += last
    assert g == prog.n_groups
    return out


@pytest.mark.parametrize("structure, lanes, units", [
    ("1:16", 16, 0), ("1:8", 8, 0), ("2:8", 8, 0), ("unstructured", 8, 3), ("row", 8, 1),
    ("block1x4", 8, 2)])
def test_sparse_words_decode_to_the_outliers(structure, lanes, units):
    graph, node, env = random_layer(structure, seed=5, kind="conv", c_in=10, c_out=5,
                                    density=0.2)
    cfg = EngineConfig(lanes=lanes, channels=2, structure=structure, sparse_units=max(units, 1))
    prog = lower_node(node, graph, env[node.input][0], cfg)[0]
    np.testing.assert_array_equal(_decode_sparse(prog), prog.outliers)
    assert len(pack_sparse(prog)) == words_per_group(prog).sum()
    # every other word is full width and the dense / row / requant images decode too
    word = pack_dense(prog)[prog.n_chunks + 1]  # group 1, chunk 1
    codes = [_signed(word >> 2 * k & 3, 2) for k in range(cfg.mac_lanes)]
    np.testing.assert_array_equal(np.array(codes).reshape(2, lanes), prog.dense[1, 1])
    beat = pack_rows(prog)[prog.n_chunks]  # row 1, chunk 0
    assert [beat >> 8 * l & 0xFF for l in range(lanes)] == list(prog.rows[1, :lanes] & 0xFF)
    q = pack_requant(prog)[3]
    assert (q & 63, _signed(q >> 6 & (2**32 - 1), 32), _signed(q >> 38 & (2**64 - 1), 64),
            q >> 102) == (prog.shift[3], prog.multiplier[3], prog.bias[3], prog.dense_scale[3])


def test_stream_bits_by_hand():
    graph, node, env = random_layer("1:8", seed=2, kind="fc", c_in=20, c_out=3, density=0.0)
    cfg = EngineConfig(lanes=8, channels=2, structure="1:8")
    prog = lower_node(node, graph, env[node.input][0], cfg)[0]
    # 1 row, 3 chunks (20 -> 24 lanes), 2 groups (3 -> 4 channels), no outliers: 1 word a group
    bits = stream_bits(prog)
    word = 1 + cfg.chunk_bits + 2 * 1 * 1 * (8 + 3)
    assert bits == {"input_bits": 3 * 64, "row_buffer_read_bits": (2 * 3 + 2) * 64,
                    "dense_weight_bits": 2 * 3 * 16 * 2, "sparse_bits": 2 * word,
                    "requant_bits": 4 * (102 + 8)}
