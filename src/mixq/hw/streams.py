"""Bit formats of the engine's on-chip buffers, and the packers that fill them.

All words are little-endian bit fields (field 0 in the lowest bits); Python ints carry them.

- **Row buffer / input stream** (``lanes * 8`` bits): one chunk of an im2col row, lane l in bits
  ``[8l, 8l+8)`` (two's complement for signed activations). Rows stream in chunk order; the
  engine keeps two rows (ping-pong banks) and re-reads a row once per channel group.
- **Dense weights** (``channels * lanes * b`` bits, address ``g * n_chunks + j``): the codes of
  channel i, lane l in bits ``[(i*lanes + l) * b, ...)``; ternary b = 2 (00: 0, 01: +1, 11: -1),
  int8 engine b = 8 (two's complement).
- **Requant** (address = padded output channel): shift (6) | multiplier (32, two's complement) |
  bias (64, two's complement) | k (``k_bits``, ternary engine only).
- **Sparse words** (one list per channel group, concatenated in group order; the same list serves
  every row): bit 0 ``last`` (last word of the group's pass), then the chunk index
  (``chunk_bits``), then the entries, ``entry_bits`` each: values (8 bits each; 4 for block1x4) |
  index | channel slot (absent for N:M). A word only refers to lanes of one chunk.

  * N:M: entry e = (i * lanes/M + q) * N + n is slot n of channel i's lane group q; its index is
    the in-group position (log2 M bits) -- the same small in-group index an N:M weight format
    stores. Chunks without outliers have no word.
  * unstructured / row: entries (value, lane, channel) in (channel, lane) order, ``sparse_units``
    per word.
  * block1x4: entries (4 values, block = lane // 4, channel), aligned 4-lane windows of the chunk
    (an IR block that straddles two windows becomes two entries).

  A group without any outlier still has one (empty, ``last``) word, so both paths see every pass.
"""

from __future__ import annotations

import numpy as np

from mixq.hw.config import HwConfigError
from mixq.hw.program import LayerProgram


def _to_unsigned(v: int, bits: int) -> int:
    return int(v) & ((1 << bits) - 1)


def chunk_entries(prog: LayerProgram, g: int, j: int) -> list[list[tuple]]:
    """The sparse words of chunk j of group g, each a list of entries (family-specific tuples).

    N:M words are lists of ``slots`` entries (value, in-group index) or None; queue entries are
    (value, lane, channel); block entries are ((v0, v1, v2, v3), block, channel).
    """
    cfg = prog.cfg
    mask, vals = prog.mask[g, j], prog.outliers[g, j]  # (P, L)
    if not mask.any():
        return []
    if cfg.family == "nm":
        n, m = cfg.nm
        per_ch = cfg.lanes // m
        lists = {(i, q): [l for l in range(q * m, (q + 1) * m) if mask[i, l]]
                 for i in range(cfg.channels) for q in range(per_ch)}
        n_words = max(-(-len(v) // n) for v in lists.values())
        words = []
        for w in range(n_words):
            word = [None] * cfg.slots
            for (i, q), lanes in lists.items():
                for k, l in enumerate(lanes[w * n:(w + 1) * n]):
                    word[(i * per_ch + q) * n + k] = (int(vals[i, l]), l - q * m)
            words.append(word)
        return words
    if cfg.family == "queue":
        entries = [(int(vals[i, l]), int(l), int(i)) for i, l in zip(*np.nonzero(mask))]
    else:
        entries = []
        for i in range(cfg.channels):
            for b in range(cfg.lanes // 4):
                if mask[i, 4 * b:4 * b + 4].any():
                    entries.append((tuple(int(v) for v in vals[i, 4 * b:4 * b + 4]), b, i))
    s = cfg.slots
    return [entries[k:k + s] for k in range(0, len(entries), s)]


def sparse_words(prog: LayerProgram) -> list[list[tuple[int, bool, list]]]:
    """Per group, its words as (chunk, last, entries); at least one word per group."""
    out = []
    for g in range(prog.n_groups):
        words = [(j, False, e) for j in range(prog.n_chunks) for e in chunk_entries(prog, g, j)]
        if not words:
            words = [(0, False, [])]
        chunk, _, entries = words[-1]
        words[-1] = (chunk, True, entries)
        out.append(words)
    total = sum(len(w) for w in out)
    if total > prog.cfg.sparse_depth:
        raise HwConfigError(f"layer '{prog.name}': {total} sparse words exceed the sparse "
                            f"buffer ({prog.cfg.sparse_depth}); enlarge sparse_depth")
    return out


def words_per_group(prog: LayerProgram) -> np.ndarray:
    """int64 (n_groups,): sparse words per pass (what the cycle model needs)."""
    if prog.cfg.family == "int8":
        return np.zeros(prog.n_groups, np.int64)
    return np.array([len(w) for w in sparse_words(prog)], np.int64)


def _pack_entry(cfg, entry) -> int:
    if entry is None:
        return 0
    if cfg.family == "nm":
        value, idx = entry
        return _to_unsigned(value, 8) | idx << 8
    values, idx, chan = entry
    values = values if cfg.family == "block" else (values,)
    word = 0
    for n, v in enumerate(values):
        word |= _to_unsigned(v, 8) << 8 * n
    return word | idx << 8 * cfg.block | chan << 8 * cfg.block + cfg.index_bits


def pack_sparse(prog: LayerProgram) -> list[int]:
    """Sparse memory image: every group's words in order (``s_words`` per row)."""
    cfg = prog.cfg
    image = []
    for words in sparse_words(prog):
        for chunk, last, entries in words:
            word = int(last) | int(chunk) << 1
            base = 1 + cfg.chunk_bits
            for e, entry in enumerate(entries):
                word |= _pack_entry(cfg, entry) << base + e * cfg.entry_bits
            image.append(word)
    return image


def pack_rows(prog: LayerProgram) -> list[int]:
    """Input stream: ``n_rows * n_chunks`` beats of ``lanes`` 8-bit codes."""
    lanes = prog.cfg.lanes
    beats = prog.rows.reshape(-1, lanes) & 0xFF  # (R, J*L) -> (R*J, L)
    shifts = np.arange(lanes, dtype=object) * 8
    return [int(sum(int(v) << int(s) for v, s in zip(row, shifts))) for row in beats]


def pack_dense(prog: LayerProgram) -> list[int]:
    """Dense weight memory image, address ``g * n_chunks + j``."""
    cfg = prog.cfg
    b = cfg.weight_bits
    codes = prog.dense & ((1 << b) - 1)  # ternary -1 -> 0b11, int8 two's complement
    image = []
    for g in range(prog.n_groups):
        for j in range(prog.n_chunks):
            flat = codes[g, j].reshape(-1)  # (P, L) -> (P*L,), channel-major
            image.append(int(sum(int(c) << (n * b) for n, c in enumerate(flat) if c)))
    return image


def pack_requant(prog: LayerProgram) -> list[int]:
    """Requant parameter memory image, one word per padded output channel."""
    cfg = prog.cfg
    image = []
    for c in range(prog.n_groups * cfg.channels):
        word = (int(prog.shift[c]) | _to_unsigned(prog.multiplier[c], 32) << 6
                | _to_unsigned(prog.bias[c], 64) << 38)
        if cfg.engine != "int8":
            word |= int(prog.dense_scale[c]) << 102
        image.append(word)
    return image


def stream_bits(prog: LayerProgram) -> dict[str, int]:
    """Bits the engine reads from its buffers for the whole program (memory traffic).

    Example:
        >>> from mixq.hw.synthetic import random_layer
        >>> from mixq.hw.config import EngineConfig
        >>> from mixq.hw.program import lower_node
        >>> g, node, env = random_layer("1:8", kind="pw")
        >>> cfg = EngineConfig(lanes=8, channels=2, structure="1:8")
        >>> prog = lower_node(node, g, env[node.input][0], cfg)[0]
        >>> sorted(stream_bits(prog))
        ['dense_weight_bits', 'input_bits', 'requant_bits', 'row_buffer_read_bits', 'sparse_bits']
    """
    cfg = prog.cfg
    r, g, j = prog.n_rows, prog.n_groups, prog.n_chunks
    words = int(words_per_group(prog).sum())
    return {
        "input_bits": r * j * cfg.lanes * 8,
        "row_buffer_read_bits": r * (g * j + words) * cfg.lanes * 8,
        "dense_weight_bits": r * g * j * cfg.mac_lanes * cfg.weight_bits,
        "sparse_bits": r * words * (cfg.sparse_word_bits if cfg.family != "int8" else 0),
        "requant_bits": r * g * cfg.channels * cfg.q_word_bits,
    }
