"""Amaranth parts shared by both engines: lanes, the dense datapath, the sparse path, the
accumulators. Each part is its own module, so Yosys reports its area separately.

Numbers: activations arrive as 8-bit codes and are widened to 9-bit signed (zero- or
sign-extended by ``x_signed``); ternary codes are 2 bits (00: 0, 01: +1, 11: -1); outlier and
int8 weights are two's complement 8 bits; accumulators are ``acc_bits`` two's complement.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mixq.hw.config import EngineConfig


def adder_tree(m: Module, terms: list, name: str):
    """Balanced tree of adders; each level's sums are named signed signals.

    Returns the root (signed, one bit wider per level; unsigned inputs get a sign bit).
    """
    level = 0

    def width(v):
        return len(v) + (0 if v.shape().signed else 1)

    while len(terms) > 1:
        nxt = []
        for k in range(0, len(terms) - 1, 2):
            a, b = terms[k], terms[k + 1]
            s = Signal(signed(max(width(a), width(b)) + 1), name=f"{name}_l{level}_{k // 2}")
            m.d.comb += s.eq(a + b)
            nxt.append(s)
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms, level = nxt, level + 1
    return terms[0]


def widen_lanes(m: Module, data, x_signed, lanes: int, name: str) -> list:
    """Split ``lanes * 8`` bits into 9-bit signed lanes (zero- or sign-extended)."""
    out = []
    for l in range(lanes):
        byte = data[8 * l:8 * l + 8]
        x = Signal(signed(9), name=f"{name}{l}")
        m.d.comb += x.eq(Cat(byte, byte[7] & x_signed))
        out.append(x)
    return out


class DensePath(wiring.Component):
    """Dense datapath: per channel, ``lanes`` terms into an adder tree (combinational).

    Ternary engine: each term is +x, -x or 0, no multiplier. A negated lane enters the tree as
    ``~x`` and the tree adds the count of negated lanes once at its root (``-x == ~x + 1``), so
    a lane costs a conditional inversion and an AND instead of a negator.
    int8 engine: each term is x * w (9 x 8-bit signed multiplier).
    """

    def __init__(self, cfg: EngineConfig):
        self.cfg = cfg
        pw = self.partial_width(cfg)
        super().__init__({
            "x": In(cfg.lanes * 8), "x_signed": In(1),
            "w": In(cfg.mac_lanes * cfg.weight_bits),
            "partial": Out(signed(pw)).array(cfg.channels),
        })

    @staticmethod
    def partial_width(cfg: EngineConfig) -> int:
        term = 10 if cfg.engine == "ternary_sparse" else 17
        return term + 1 + (cfg.lanes - 1).bit_length()

    def elaborate(self, platform):
        m, cfg = Module(), self.cfg
        xs = widen_lanes(m, self.x, self.x_signed, cfg.lanes, "x")
        b = cfg.weight_bits
        for i in range(cfg.channels):
            terms, negs = [], []
            for l, x in enumerate(xs):
                code = self.w[(i * cfg.lanes + l) * b:(i * cfg.lanes + l + 1) * b]
                if cfg.engine == "ternary_sparse":
                    t = Signal(signed(9), name=f"t{i}_{l}")
                    flipped = (x.as_unsigned() ^ code[1].replicate(9)).as_signed()
                    m.d.comb += t.eq(Mux(code[0], flipped, 0))
                    negs.append(code[0] & code[1])
                else:
                    t = Signal(signed(17), name=f"p{i}_{l}")
                    m.d.comb += t.eq(x * code.as_signed())
                terms.append(t)
            total = adder_tree(m, terms, f"tree{i}")
            if negs:
                total = total + adder_tree(m, negs, f"negs{i}")
            m.d.comb += self.partial[i].eq(total)
        return m


class SparsePath(wiring.Component):
    """Sparse path: an entry register, index decoders (lane muxes), int8 MACs, channel routing.

    ``load`` captures a word's entries; the products use the registered entries and the chunk
    on ``x`` (the row buffer's second read port), so one word is processed per cycle.
    """

    def __init__(self, cfg: EngineConfig):
        self.cfg = cfg
        super().__init__({
            "entries": In(cfg.slots * cfg.entry_bits), "load": In(1),
            "x": In(cfg.lanes * 8), "x_signed": In(1),
            "partial": Out(signed(self.partial_width(cfg))).array(cfg.channels),
        })

    @staticmethod
    def partial_width(cfg: EngineConfig) -> int:
        return 17 + (max(cfg.sparse_macs, 2) - 1).bit_length()

    def elaborate(self, platform):
        m, cfg = Module(), self.cfg
        held = Signal(len(self.entries), reset_less=True)  # datapath registers: no reset
        with m.If(self.load):
            m.d.sync += held.eq(self.entries)
        xs = Array(widen_lanes(m, self.x, self.x_signed, cfg.lanes, "x"))
        eb, per_ch = cfg.entry_bits, [[] for _ in range(cfg.channels)]
        for e in range(cfg.slots):
            field = held[e * eb:(e + 1) * eb]
            idx = field[8 * cfg.block:8 * cfg.block + cfg.index_bits]
            prods = []
            for n in range(cfg.block):
                if cfg.family == "nm":  # in-group index: an M:1 mux inside the slot's group
                    n_, m_ = cfg.nm
                    q = (e // n_) % (cfg.lanes // m_)
                    lane = Array(xs[q * m_:(q + 1) * m_])[idx]
                elif cfg.family == "block":
                    lane = Array(xs[n::4])[idx]
                else:
                    lane = xs[idx]
                p = Signal(signed(17), name=f"prod{e}_{n}")
                m.d.comb += p.eq(field[8 * n:8 * n + 8].as_signed() * lane)
                prods.append(p)
            unit = adder_tree(m, prods, f"unit{e}") if len(prods) > 1 else prods[0]
            if cfg.family == "nm":  # fixed wiring: slot -> its channel
                per_ch[e // (cfg.slots // cfg.channels)].append(unit)
                continue
            chan = field[8 * cfg.block + cfg.index_bits:]
            for i in range(cfg.channels):
                r = Signal(signed(len(unit)), name=f"route{e}_{i}")
                m.d.comb += r.eq(Mux(chan == i, unit, 0))
                per_ch[i].append(r)
        for i, terms in enumerate(per_ch):
            m.d.comb += self.partial[i].eq(adder_tree(m, terms, f"sum{i}"))
        return m


class Accumulators(wiring.Component):
    """Per path and channel an ``acc_bits`` accumulator and a hold register (+ valid flag).

    A path's beat with ``en`` adds its partial sums (``first`` restarts the sum); on ``last`` the
    total goes to the hold register, which the requant unit reads while the path goes on with
    its next pass. ``free`` (the requant unit read the last channel) releases the holds.
    """

    def __init__(self, cfg: EngineConfig, widths: list[int]):
        self.cfg = cfg
        sig = {"free": In(1)}
        for k, w in enumerate(widths):
            sig.update({f"en{k}": In(1), f"first{k}": In(1), f"last{k}": In(1),
                        f"partial{k}": In(signed(w)).array(cfg.channels),
                        f"hold{k}": Out(signed(cfg.acc_bits)).array(cfg.channels),
                        f"hold_valid{k}": Out(1)})
        self.n_paths = len(widths)
        super().__init__(sig)

    def elaborate(self, platform):
        m, cfg = Module(), self.cfg
        for k in range(self.n_paths):
            en, first, last = (getattr(self, f"{n}{k}") for n in ("en", "first", "last"))
            valid = getattr(self, f"hold_valid{k}")
            with m.If(self.free):
                m.d.sync += valid.eq(0)
            for i in range(cfg.channels):
                acc = Signal(signed(cfg.acc_bits), name=f"acc{k}_{i}", reset_less=True)
                hold = Signal(signed(cfg.acc_bits), name=f"hold{k}_{i}", reset_less=True)
                total = Signal(signed(cfg.acc_bits), name=f"total{k}_{i}")
                m.d.comb += [total.eq(Mux(first, 0, acc) + getattr(self, f"partial{k}")[i]),
                             getattr(self, f"hold{k}")[i].eq(hold)]
                with m.If(en):
                    m.d.sync += acc.eq(total)
                    with m.If(last):
                        m.d.sync += hold.eq(total)
            with m.If(en & last):
                m.d.sync += valid.eq(1)
        return m
