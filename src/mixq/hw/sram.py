"""On-chip buffers as SRAM macros (IHP SG13G2 single-port macros, from their Liberty files).

Each buffer of the engine (weights, the activation row buffer, the sparse words, the requant
parameters) is built from copies of one macro: ``ceil(width / macro bits)`` macros side by side
per bank, ``ceil(depth / macro words)`` banks; the macro kind giving the least area is chosen.
An access activates one bank, so its energy is the macro's per-access energy (the ``A_CLK``
internal power in the read or write state) times the macros side by side. The ternary engine
reads the row buffer twice per cycle (dense and sparse paths) from single-port macros, so its
row buffer is two copies written together. Macro leakage (mean of the ``leakage_power`` states)
counts every cycle.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from mixq.hw.config import EngineConfig
from mixq.hw.liberty import Library, LibertyError


@dataclass(frozen=True)
class Macro:
    """One SRAM macro: name, words x bits, area (um^2), read/write energy (pJ), leakage (nW)."""

    name: str
    words: int
    bits: int
    area_um2: float
    read_pj: float
    write_pj: float
    leakage_nw: float


def _state_energy(clk, state: str) -> float:
    want = state.replace(" ", "")
    for ip in clk.sub("internal_power"):
        if (ip.attr("when") or "").replace(" ", "") == want:
            rise = ip.sub("rise_power")
            fall = ip.sub("fall_power")
            val = sum(float(g.attrs["values"][0]) for g in rise + fall if "values" in g.attrs)
            return val
    raise LibertyError(f"no A_CLK internal power for state '{state}'")


def read_macro(path) -> Macro:
    """Read one IHP SRAM macro Liberty file."""
    lib = Library(path)
    name = next(iter(lib.raw))
    cell = lib.cell(name)
    mem = cell.sub("memory")
    clk = [p for p in cell.sub("pin") if p.args and p.args[0] == "A_CLK"]
    if not mem or not clk:
        raise LibertyError(f"{Path(path).name}: not a single-port SRAM macro (memory group and "
                           "A_CLK pin expected)")
    words = 1 << int(mem[0].attr("address_width"))
    return Macro(name, words, int(mem[0].attr("word_width")), float(cell.attr("area")),
                 _state_energy(clk[0], "A_MEN & !A_WEN & A_REN"),
                 _state_energy(clk[0], "A_MEN & A_WEN & !A_REN"), lib.leakage_nw(name))


def find_macros(folder) -> list[Macro]:
    """Every ``RM_*.lib[.gz]`` macro in ``folder`` (empty when none)."""
    files = sorted(p for p in Path(folder).glob("RM_*.lib*") if re.search(r"\.lib(\.gz)?$", p.name))
    return [read_macro(p) for p in files]


@dataclass(frozen=True)
class Buffer:
    """A buffer built from macros, with its access counts of one run."""

    name: str
    width: int
    depth: int
    copies: int
    macro: Macro
    reads: int
    writes: int

    @property
    def side(self) -> int:
        return math.ceil(self.width / self.macro.bits)

    @property
    def banks(self) -> int:
        return math.ceil(self.depth / self.macro.words)

    @property
    def n_macros(self) -> int:
        return self.side * self.banks * self.copies

    @property
    def area_um2(self) -> float:
        return self.n_macros * self.macro.area_um2

    @property
    def access_pj(self) -> float:
        """Energy of the run's accesses (pJ); writes go to every copy."""
        return self.side * (self.reads * self.macro.read_pj +
                            self.writes * self.copies * self.macro.write_pj)

    def leakage_pj(self, cycles: int, period_ns: float) -> float:
        return self.n_macros * self.macro.leakage_nw * cycles * period_ns * 1e-3

    def as_dict(self) -> dict:
        return {"width": self.width, "depth": self.depth, "macro": self.macro.name,
                "macros": self.n_macros, "copies": self.copies,
                "area_um2": round(self.area_um2, 1), "reads": self.reads, "writes": self.writes,
                "access_pj": round(self.access_pj, 3),
                "read_pj": round(self.side * self.macro.read_pj, 4),
                "write_pj": round(self.side * self.copies * self.macro.write_pj, 4),
                "leakage_nw": round(self.n_macros * self.macro.leakage_nw, 3)}


def pick_macro(macros: list[Macro], width: int, depth: int) -> Macro:
    """The macro kind that builds a width x depth buffer in the least area.

    Example:
        >>> m = [Macro("a", 256, 32, 50.0, 26, 33, 1), Macro("b", 1024, 64, 264.0, 92, 111, 1)]
        >>> pick_macro(m, 128, 64).name, pick_macro(m, 128, 1024).name
        ('a', 'b')
    """
    if not macros:
        raise LibertyError("no SRAM macro Liberty files (RM_*.lib.gz) found")
    return min(macros, key=lambda m: (math.ceil(width / m.bits) * math.ceil(depth / m.words)
                                      * m.area_um2, m.read_pj))


def buffer_shapes(cfg: EngineConfig, n_chunks: int, n_groups: int,
                  sparse_words: int) -> list[tuple[str, int, int, int]]:
    """(name, width bits, depth words, copies) of every buffer an engine needs for a layer of
    ``n_chunks`` x ``n_groups`` passes: the widths the engine reads per access (ternary weights
    2 bits each, ``lanes x channels`` of them per word), the row buffer two banks of
    ``n_chunks`` words (two copies for the ternary engine's two single-port reads).

    Example:
        >>> from mixq.hw.config import EngineConfig
        >>> buffer_shapes(EngineConfig(lanes=16, channels=4), 4, 16, 20)
        [('weights', 128, 64, 1), ('activations', 128, 8, 2), ('requant', 110, 64, 1), \
('sparse', 55, 20, 1)]
    """
    specs = [("weights", cfg.mac_lanes * cfg.weight_bits, n_chunks * n_groups, 1),
             ("activations", cfg.lanes * 8, 2 * n_chunks, 2 if cfg.slots else 1),
             ("requant", cfg.q_word_bits, n_groups * cfg.channels, 1)]
    if cfg.slots:
        specs.append(("sparse", cfg.sparse_word_bits, max(sparse_words, 1), 1))
    return specs


BUFFER_ACCESS = {"weights": (("w_re",), ()), "activations": (("rb_re_a", "rb_re_b"), ("rb_we",)),
                 "requant": (("q_re",), ()), "sparse": (("s_re",), ())}


def engine_buffers(cfg: EngineConfig, macros: list[Macro], n_chunks: int, n_groups: int,
                   sparse_words: int, access: dict, skip=()) -> list[Buffer]:
    """The buffers of :func:`buffer_shapes` as SRAM macros (those named in ``skip`` left out).

    Args:
        access: counts of one run: ``w_re``, ``rb_we``, ``rb_re_a``, ``rb_re_b``, ``s_re``,
            ``q_re`` (cycles with each enable high).
    """
    out = []
    for name, w, d, copies in buffer_shapes(cfg, n_chunks, n_groups, sparse_words):
        if name in skip:
            continue
        reads, writes = BUFFER_ACCESS[name]
        out.append(Buffer(name, w, d, copies, pick_macro(macros, w, d),
                          sum(access.get(k, 0) for k in reads),
                          sum(access.get(k, 0) for k in writes)))
    return out
