"""Parameters of the accelerator: one frozen dataclass, every derived width in one place.

Two engines are built from the same parts (:mod:`mixq.hw.rtl_engine`):

- ``ternary_sparse``: a dense ternary datapath (add / subtract / skip, no multipliers) plus a
  sparse path of a few int8 MAC units fed by the outlier stream of a dense+sparse layer
  (:class:`mixq.ir.graph.SparseOutliers`).
- ``int8``: the baseline, the same datapath with one 8-bit multiplier per lane and channel and
  no sparse path. Both read ``lanes`` activations per cycle (the same input bandwidth).

The sparse path's shape follows the layer structure chosen by the intra-layer search:

- ``nm`` (structures 'N:M'): one MAC per slot, ``channels * lanes / M * N`` slots, each bound to
  a fixed (channel, group of M lanes); an entry carries only its in-group index (log2 M bits),
  so the index decoder is an M:1 mux and products need no routing.
- ``queue`` ('unstructured', 'row'): ``sparse_units`` MACs take entries (value, lane, channel)
  from a word stream; the index decoder is an L:1 mux and products are routed to channels. A
  chunk with more outliers than ``sparse_units`` needs more words: the path may stall.
- ``block`` ('block1x4'): ``sparse_units`` units of 4 MACs take aligned 1x4 blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

from mixq.errors import MixqError
from mixq.quant.sparsity import SPARSE_STRUCTURES, Family, SparseStructure

ENGINES = ("ternary_sparse", "int8")


class HwConfigError(MixqError):
    """An accelerator configuration or a layer that does not fit it."""


def _log2(n: int) -> int:
    return max(1, (n - 1).bit_length())


def _is_pow2(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


@dataclass(frozen=True)
class EngineConfig:
    """An accelerator design point.

    Attributes:
        engine: 'ternary_sparse' or 'int8'.
        lanes: activations read per cycle (power of two, >= 4).
        channels: output channels computed in parallel (power of two).
        structure: outlier structure the sparse path is built for (one of
            :data:`mixq.ir.graph.SPARSE_STRUCTURES`); 'dense' for the int8 engine.
        sparse_units: entries per sparse word for 'queue' (int8 MACs) and 'block' (units of 4
            MACs) structures; ignored for N:M (one MAC per slot).
        max_chunks: row-buffer words per bank (power of two): the longest im2col row is
            ``max_chunks * lanes`` activations.
        max_groups: channel groups (power of two): at most ``max_groups * channels`` outputs.
        row_bits: width of the row counter (at most 2**row_bits - 1 rows per layer).
        sparse_depth: sparse-word memory depth (power of two).
        k_bits: width of the unsigned dense scale k (ternary magnitude / sparse step; the
            intra-layer decomposition keeps k in [1, 127]).
        acc_bits: accumulator width (int32 as everywhere in mixq).
        clock_gating: architecture step 1 (docs/accelerator-steps.md): the requantization
            pipeline's registers load only with their stage's valid flag, and the standard-cell
            flow (:mod:`mixq.hw.asic`) clocks every register with an enable through an
            integrated clock-gating cell of the library; off by default (the engine as built).

    Example:
        >>> c = EngineConfig(lanes=16, channels=4, structure="1:16")
        >>> c.family, c.sparse_macs, c.mac_lanes
        ('nm', 4, 64)
        >>> EngineConfig(engine="int8", lanes=8, channels=2, structure="dense").sparse_macs
        0
    """

    engine: str = "ternary_sparse"
    lanes: int = 16
    channels: int = 4
    structure: str = "1:16"
    sparse_units: int = 4
    max_chunks: int = 64
    max_groups: int = 64
    row_bits: int = 16
    sparse_depth: int = 4096
    k_bits: int = 8
    acc_bits: int = 32
    clock_gating: bool = False

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise HwConfigError(f"engine '{self.engine}' is not one of {ENGINES}")
        for name in ("lanes", "channels", "max_chunks", "max_groups", "sparse_depth"):
            if not _is_pow2(getattr(self, name)):
                raise HwConfigError(f"{name}={getattr(self, name)} must be a power of two")
        if self.lanes < 4:
            raise HwConfigError("lanes must be at least 4")
        if self.engine == "int8":
            if self.structure != "dense":
                raise HwConfigError("the int8 engine has structure 'dense'")
            return
        if self.structure not in SPARSE_STRUCTURES:
            raise HwConfigError(f"structure '{self.structure}' is not one of {SPARSE_STRUCTURES}")
        nm = SparseStructure(self.structure).nm
        if nm is not None and (not _is_pow2(nm[1]) or self.lanes % nm[1]):
            raise HwConfigError(f"lanes={self.lanes} must be a multiple of M for "
                                f"'{self.structure}'")
        if nm is None and self.sparse_units < 1:
            raise HwConfigError("sparse_units must be at least 1")

    # -- derived ------------------------------------------------------------------------------

    @property
    def family(self) -> str:
        """'int8', 'nm', 'queue' or 'block' (see the module docstring)."""
        if self.engine == "int8":
            return "int8"
        return {Family.NM: "nm", Family.BLOCK: "block", Family.UNSTRUCTURED: "queue",
                Family.ROW: "queue"}[SparseStructure(self.structure).family]

    @property
    def nm(self) -> tuple[int, int]:
        """(N, M) of an N:M engine."""
        return SparseStructure(self.structure).nm

    @property
    def slots(self) -> int:
        """Entries per sparse word (N:M: one per (channel, group, n) slot)."""
        if self.family == "nm":
            n, m = self.nm
            return self.channels * (self.lanes // m) * n
        return 0 if self.family == "int8" else self.sparse_units

    @property
    def block(self) -> int:
        """Lanes per sparse entry: 4 for block1x4, else 1."""
        return 4 if self.family == "block" else 1

    @property
    def sparse_macs(self) -> int:
        """Number of 8-bit multipliers in the sparse path."""
        return self.slots * self.block

    @property
    def mac_lanes(self) -> int:
        """Dense weight positions handled per cycle: lanes x channels (peak MAC/cycle)."""
        return self.lanes * self.channels

    @property
    def weight_bits(self) -> int:
        """Bits per dense weight code: 2 (ternary) or 8."""
        return 8 if self.engine == "int8" else 2

    @property
    def chunk_bits(self) -> int:
        return _log2(self.max_chunks)

    @property
    def group_bits(self) -> int:
        return _log2(self.max_groups)

    @property
    def channel_bits(self) -> int:
        return _log2(self.channels)

    @property
    def index_bits(self) -> int:
        """Index bits per sparse entry: in-group index (N:M), lane (queue) or block (block)."""
        if self.family == "nm":
            return _log2(self.nm[1])
        return _log2(self.lanes // self.block)

    @property
    def entry_bits(self) -> int:
        """Bits per sparse entry: values, index and (except N:M) the channel slot."""
        chan = 0 if self.family == "nm" else self.channel_bits
        return 8 * self.block + self.index_bits + chan

    @property
    def sparse_word_bits(self) -> int:
        """Sparse word: last flag, chunk index, then the entries (LSB first)."""
        return 1 + self.chunk_bits + self.slots * self.entry_bits

    @property
    def sparse_addr_bits(self) -> int:
        return _log2(self.sparse_depth)

    @property
    def weight_addr_bits(self) -> int:
        return self.chunk_bits + self.group_bits

    @property
    def rb_addr_bits(self) -> int:
        """Row buffer: two banks (ping-pong) of ``max_chunks`` words."""
        return self.chunk_bits + 1

    @property
    def q_word_bits(self) -> int:
        """Requant word: shift (6) | multiplier (32) | bias (64) | k (k_bits, ternary only)."""
        return 6 + 32 + 64 + (0 if self.engine == "int8" else self.k_bits)

    @property
    def label(self) -> str:
        """Short name of the hardware, e.g. 'ternary_sparse-1:16-L16xP4', 'int8-L16xP4',
        'int8-L16xP4-cg' (clock-gated); 'unstructured' and 'row' share one engine ('queue')."""
        steps = "-cg" if self.clock_gating else ""
        if self.engine == "int8":
            return f"int8-L{self.lanes}xP{self.channels}{steps}"
        kind = {"nm": self.structure, "queue": "queue", "block": "block1x4"}[self.family]
        extra = "" if self.family == "nm" else f"-S{self.sparse_units}"
        return f"ternary_sparse-{kind}{extra}-L{self.lanes}xP{self.channels}{steps}"
