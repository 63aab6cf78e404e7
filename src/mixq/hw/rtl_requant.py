"""The ICN requantization unit: one output channel per cycle, pipelined, bit-exact with
:func:`mixq.quant.integer.requantize` (``y = clamp((acc * multiplier + bias) >> shift)``, int64
bias in product units including the rounding half; see docs/design-notes.md).

Pipeline (one channel enters per cycle once both hold banks of a pass are valid):

- R0: read the channel's parameter word (address = pass group * channels + channel) and pick
  its dense / sparse totals from the hold registers; after the last channel the holds are free.
- R1: ``acc = D * k + S`` (ternary engine; int8: ``acc = D``), truncated to int32 (the IR
  verifier bounds |acc| by int32).
- R2: ``p = acc * multiplier + bias`` (int64).
- R3: ``y = clamp(p >> shift, activation_min, activation_max)`` (arithmetic shift).
- R4: output register (``y_valid``, ``y_data``).
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mixq.hw.config import EngineConfig

LATENCY = 4  # cycles from R0 to y_valid


def _load(m: Module, cfg: EngineConfig, valid, stmts: list) -> None:
    """Registers of a pipeline stage: loaded every cycle as built; with ``cfg.clock_gating``
    only while the stage's ``valid`` (the flow then gates their clock; they are read only
    while valid, so outputs are unchanged)."""
    if not cfg.clock_gating:
        m.d.sync += stmts
        return
    with m.If(valid):
        m.d.sync += stmts


class Requant(wiring.Component):
    """Requantization unit and its pass sequencer (counts groups and rows for ``final``)."""

    def __init__(self, cfg: EngineConfig):
        self.cfg = cfg
        ternary = cfg.engine == "ternary_sparse"
        sig = {
            "start": In(1), "n_rows": In(cfg.row_bits), "n_groups": In(cfg.group_bits + 1),
            "act_min": In(signed(9)), "act_max": In(signed(9)),
            "d_valid": In(1), "d_hold": In(signed(cfg.acc_bits)).array(cfg.channels),
            "q_addr": Out(cfg.group_bits + cfg.channel_bits), "q_re": Out(1),
            "q_data": In(cfg.q_word_bits),
            "free": Out(1), "y_valid": Out(1), "y_data": Out(signed(9)), "y_final": Out(1),
        }
        if ternary:
            sig.update({"s_valid": In(1), "s_hold": In(signed(cfg.acc_bits)).array(cfg.channels)})
        super().__init__(sig)

    def elaborate(self, platform):
        m, cfg = Module(), self.cfg
        p = cfg.channels
        ternary = cfg.engine == "ternary_sparse"
        busy = Signal()
        ch = Signal(range(p), name="ch")
        grp = Signal(cfg.group_bits + 1, name="grp")
        row = Signal(cfg.row_bits, name="row")
        q_ptr = Signal(len(self.q_addr), name="q_ptr")
        both = self.d_valid & self.s_valid if ternary else self.d_valid
        active = Signal()
        m.d.comb += active.eq(busy | both)
        cur = Signal(range(p), name="cur")
        m.d.comb += [cur.eq(Mux(busy, ch, 0)), self.q_addr.eq(q_ptr), self.q_re.eq(active)]
        last_ch = cur == p - 1
        last_grp = grp == self.n_groups - 1
        m.d.comb += self.free.eq(active & last_ch)

        # R0 -> R1 registers
        v1, f1 = Signal(name="v1"), Signal(name="f1")
        d1 = Signal(signed(cfg.acc_bits), name="d1", reset_less=True)
        s1 = Signal(signed(cfg.acc_bits), name="s1", reset_less=True)
        m.d.sync += [v1.eq(active), f1.eq(active & last_ch & last_grp & (row == self.n_rows - 1))]
        with m.If(active):
            m.d.sync += d1.eq(Array(self.d_hold)[cur])
            if ternary:
                m.d.sync += s1.eq(Array(self.s_hold)[cur])
            m.d.sync += [busy.eq(~last_ch), ch.eq(Mux(last_ch, 0, cur + 1)),
                         q_ptr.eq(Mux(last_ch & last_grp, 0, q_ptr + 1))]
            with m.If(last_ch):
                m.d.sync += grp.eq(Mux(last_grp, 0, grp + 1))
                with m.If(last_grp):
                    m.d.sync += row.eq(row + 1)
        with m.If(self.start):
            m.d.sync += [busy.eq(0), ch.eq(0), grp.eq(0), row.eq(0), q_ptr.eq(0)]

        # R1: parameters arrive; merge the two paths
        q = self.q_data
        shift1, mult1 = q[0:6], q[6:38].as_signed()
        bias1 = q[38:102].as_signed()
        acc = Signal(signed(cfg.acc_bits), name="acc")
        if ternary:
            k1 = q[102:102 + cfg.k_bits]
            m.d.comb += acc.eq(d1 * k1 + s1)
        else:
            m.d.comb += acc.eq(d1)
        v2, f2 = Signal(name="v2"), Signal(name="f2")
        acc2 = Signal(signed(cfg.acc_bits), name="acc2", reset_less=True)
        mult2 = Signal(signed(32), name="mult2", reset_less=True)
        bias2 = Signal(signed(64), name="bias2", reset_less=True)
        shift2 = Signal(unsigned(6), name="shift2", reset_less=True)
        m.d.sync += [v2.eq(v1), f2.eq(f1)]
        # clock gating (architecture step 1): a stage's data registers load only with its valid
        # flag, so the flow can gate their clock; their outputs are only read while valid
        _load(m, cfg, v1, [acc2.eq(acc), mult2.eq(mult1), bias2.eq(bias1), shift2.eq(shift1)])

        # R2: product + bias (int64)
        v3, f3 = Signal(name="v3"), Signal(name="f3")
        prod3 = Signal(signed(64), name="prod3", reset_less=True)
        shift3 = Signal(unsigned(6), name="shift3", reset_less=True)
        m.d.sync += [v3.eq(v2), f3.eq(f2)]
        _load(m, cfg, v2, [prod3.eq(acc2 * mult2 + bias2), shift3.eq(shift2)])

        # R3: arithmetic shift and clamp
        shifted = Signal(signed(64), name="shifted")
        m.d.comb += shifted.eq(prod3 >> shift3)
        lo, hi = self.act_min, self.act_max
        y = Mux(shifted < lo, lo, Mux(shifted > hi, hi, shifted[:9].as_signed()))
        y_reg = Signal(signed(9), name="y_reg", reset_less=True)
        m.d.sync += [self.y_valid.eq(v3), self.y_final.eq(f3 & v3)]
        _load(m, cfg, v3, [y_reg.eq(y)])
        m.d.comb += self.y_data.eq(y_reg)
        return m
