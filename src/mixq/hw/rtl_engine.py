"""The engine: controller and pipelines around the parts (dense path, sparse path, accumulators,
requant). Memories are outside (SRAM macros: synchronous read, one cycle, data held while the
read enable is low), so synthesis counts logic and registers only.

Schedule of one layer: for every im2col row r, for every channel group g (a *pass*), the dense
path reads the row's ``n_chunks`` chunks (one per cycle) and the sparse path the group's sparse
words (one per cycle, each naming a chunk). Stages:

- Loader: the input stream fills the ping-pong row buffer, row r into bank r % 2, one chunk per
  cycle, as soon as both paths have left row r - 2.
- Dense: D0 issues (row buffer port A, weight memory), D1 accumulates.
- Sparse: S0 issues the sparse memory read, S1 reads the word's chunk (row buffer port B), S2
  accumulates. Words are the same for every row, so S0 runs ahead freely.
- A path that finishes a pass while its previous totals still wait in the hold registers stalls;
  the requant unit frees both holds after reading the last channel of a pass.

Cycle counts follow from these rules alone; :mod:`mixq.hw.cyclemodel` replays them in Python.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mixq.hw.config import EngineConfig
from mixq.hw.rtl_parts import Accumulators, DensePath, SparsePath
from mixq.hw.rtl_requant import Requant


def engine_signature(cfg: EngineConfig) -> dict:
    """Ports of :class:`Engine` (names are the Verilog port names)."""
    sig = {
        "start": In(1), "busy": Out(1), "done": Out(1),
        "n_rows": In(cfg.row_bits), "n_groups": In(cfg.group_bits + 1),
        "n_chunks": In(cfg.chunk_bits + 1), "x_signed": In(1),
        "act_min": In(signed(9)), "act_max": In(signed(9)),
        "x_valid": In(1), "x_ready": Out(1), "x_data": In(cfg.lanes * 8),
        "rb_we": Out(1), "rb_waddr": Out(cfg.rb_addr_bits), "rb_wdata": Out(cfg.lanes * 8),
        "rb_re_a": Out(1), "rb_raddr_a": Out(cfg.rb_addr_bits), "rb_rdata_a": In(cfg.lanes * 8),
        "w_re": Out(1), "w_addr": Out(cfg.weight_addr_bits),
        "w_data": In(cfg.mac_lanes * cfg.weight_bits),
        "q_re": Out(1), "q_addr": Out(cfg.group_bits + cfg.channel_bits),
        "q_data": In(cfg.q_word_bits),
        "y_valid": Out(1), "y_data": Out(signed(9)),
    }
    if cfg.engine == "ternary_sparse":
        sig.update({
            "s_words": In(cfg.sparse_addr_bits + 1),
            "rb_re_b": Out(1), "rb_raddr_b": Out(cfg.rb_addr_bits),
            "rb_rdata_b": In(cfg.lanes * 8),
            "s_re": Out(1), "s_addr": Out(cfg.sparse_addr_bits),
            "s_data": In(cfg.sparse_word_bits),
        })
    return sig


class Engine(wiring.Component):
    """One accelerator engine (see the module docstring). Layer parameters (``n_rows``,
    ``n_groups``, ``n_chunks``, ``s_words``, ``x_signed``, ``act_min``, ``act_max``) must be held
    while ``busy``; ``start`` (one cycle) begins a layer, ``done`` pulses after its last output.
    """

    def __init__(self, cfg: EngineConfig):
        self.cfg = cfg
        super().__init__(engine_signature(cfg))

    def elaborate(self, platform):
        m, cfg = Module(), self.cfg
        ternary = cfg.engine == "ternary_sparse"
        m.submodules.dense = dense = DensePath(cfg)
        widths = [DensePath.partial_width(cfg)]
        if ternary:
            m.submodules.sparse = sparse = SparsePath(cfg)
            widths.append(SparsePath.partial_width(cfg))
        m.submodules.accum = acc = Accumulators(cfg, widths)
        m.submodules.requant = rq = Requant(cfg)

        running = Signal()
        m.d.comb += self.busy.eq(running)
        start = self.start & ~running
        with m.If(start):
            m.d.sync += running.eq(1)
        with m.If(rq.y_final):
            m.d.sync += running.eq(0)
        m.d.sync += self.done.eq(rq.y_final)
        m.d.comb += [self.y_valid.eq(rq.y_valid), self.y_data.eq(rq.y_data)]

        # requant unit
        m.d.comb += [rq.start.eq(start), rq.n_rows.eq(self.n_rows), rq.n_groups.eq(self.n_groups),
                     rq.act_min.eq(self.act_min), rq.act_max.eq(self.act_max),
                     rq.d_valid.eq(acc.hold_valid0), self.q_addr.eq(rq.q_addr),
                     self.q_re.eq(rq.q_re), rq.q_data.eq(self.q_data), acc.free.eq(rq.free)]
        m.d.comb += [rq.d_hold[i].eq(acc.hold0[i]) for i in range(cfg.channels)]

        last_chunk = self.n_chunks - 1
        last_group = self.n_groups - 1
        rb = cfg.chunk_bits

        # loader state and dense issue state
        ld_row = Signal(cfg.row_bits, name="ld_row")
        ld_j = Signal(rb, name="ld_j")
        d_row = Signal(cfg.row_bits, name="d_row")
        d_g = Signal(cfg.group_bits, name="d_g")
        d_j = Signal(rb, name="d_j")
        d_ptr = Signal(cfg.weight_addr_bits, name="d_ptr")
        d1_valid, d1_first, d1_last = Signal(name="d1_valid"), Signal(), Signal()

        d1_stall = Signal()
        m.d.comb += d1_stall.eq(d1_valid & d1_last & acc.hold_valid0 & ~rq.free)
        d_issue = Signal()
        m.d.comb += d_issue.eq(running & (d_row < self.n_rows) & (d_row < ld_row) & ~d1_stall)
        m.d.comb += [self.rb_re_a.eq(d_issue), self.rb_raddr_a.eq(Cat(d_j, d_row[0])),
                     self.w_re.eq(d_issue), self.w_addr.eq(d_ptr)]
        with m.If(d_issue):
            m.d.sync += [d1_valid.eq(1), d1_first.eq(d_j == 0), d1_last.eq(d_j == last_chunk)]
            with m.If(d_j == last_chunk):
                m.d.sync += d_j.eq(0)
                with m.If(d_g == last_group):
                    m.d.sync += [d_g.eq(0), d_row.eq(d_row + 1), d_ptr.eq(0)]
                with m.Else():
                    m.d.sync += [d_g.eq(d_g + 1), d_ptr.eq(d_ptr + 1)]
            with m.Else():
                m.d.sync += [d_j.eq(d_j + 1), d_ptr.eq(d_ptr + 1)]
        with m.Elif(~d1_stall):
            m.d.sync += d1_valid.eq(0)
        m.d.comb += [dense.x.eq(self.rb_rdata_a), dense.x_signed.eq(self.x_signed),
                     dense.w.eq(self.w_data),
                     acc.en0.eq(d1_valid & ~d1_stall), acc.first0.eq(d1_first),
                     acc.last0.eq(d1_last)]
        m.d.comb += [acc.partial0[i].eq(dense.partial[i]) for i in range(cfg.channels)]

        if ternary:
            s1_row = self._sparse(m, sparse, acc, rq, ld_row, start)
            left = Mux(d_row < s1_row, d_row, s1_row)
        else:
            left = d_row

        # loader: row ld_row goes to bank ld_row % 2 once both paths have left row ld_row - 2
        x_ready = Signal()
        m.d.comb += x_ready.eq(running & (ld_row < self.n_rows) & (ld_row < left + 2))
        fire = self.x_valid & x_ready
        m.d.comb += [self.x_ready.eq(x_ready), self.rb_we.eq(fire),
                     self.rb_waddr.eq(Cat(ld_j, ld_row[0])), self.rb_wdata.eq(self.x_data)]
        with m.If(fire):
            with m.If(ld_j == last_chunk):
                m.d.sync += [ld_j.eq(0), ld_row.eq(ld_row + 1)]
            with m.Else():
                m.d.sync += ld_j.eq(ld_j + 1)

        with m.If(start):
            m.d.sync += [ld_row.eq(0), ld_j.eq(0), d_row.eq(0), d_g.eq(0), d_j.eq(0),
                         d_ptr.eq(0), d1_valid.eq(0)]
        return m

    def _sparse(self, m, sparse, acc, rq, ld_row, start):
        """Sparse pipeline S0 (word read), S1 (chunk read), S2 (MACs); returns S1's row."""
        cfg = self.cfg
        s_ptr = Signal(cfg.sparse_addr_bits, name="s_ptr")
        s0_row = Signal(cfg.row_bits, name="s0_row")
        s1_valid, s1_first = Signal(name="s1_valid"), Signal(name="s1_first", init=1)
        s1_row = Signal(cfg.row_bits, name="s1_row")
        s1_g = Signal(cfg.group_bits, name="s1_g")
        s2_valid, s2_first, s2_last = Signal(name="s2_valid"), Signal(), Signal()

        s2_stall = Signal()
        m.d.comb += s2_stall.eq(s2_valid & s2_last & acc.hold_valid1 & ~rq.free)
        s1_hold = Signal()
        m.d.comb += s1_hold.eq(s1_valid & (~(s1_row < ld_row) | s2_stall))
        s_issue = Signal()
        m.d.comb += s_issue.eq(self.busy & (s0_row < self.n_rows) & ~s1_hold)
        m.d.comb += [self.s_re.eq(s_issue), self.s_addr.eq(s_ptr)]
        with m.If(s_issue):
            m.d.sync += s1_valid.eq(1)
            with m.If(s_ptr == self.s_words - 1):
                m.d.sync += [s_ptr.eq(0), s0_row.eq(s0_row + 1)]
            with m.Else():
                m.d.sync += s_ptr.eq(s_ptr + 1)
        with m.Elif(~s1_hold):
            m.d.sync += s1_valid.eq(0)

        word = self.s_data
        w_last, w_chunk = word[0], word[1:1 + cfg.chunk_bits]
        s1_adv = Signal()
        m.d.comb += s1_adv.eq(s1_valid & ~s1_hold)
        m.d.comb += [self.rb_re_b.eq(s1_adv), self.rb_raddr_b.eq(Cat(w_chunk, s1_row[0])),
                     sparse.entries.eq(word[1 + cfg.chunk_bits:]), sparse.load.eq(s1_adv),
                     sparse.x.eq(self.rb_rdata_b), sparse.x_signed.eq(self.x_signed)]
        with m.If(s1_adv):
            m.d.sync += [s2_valid.eq(1), s2_first.eq(s1_first), s2_last.eq(w_last),
                         s1_first.eq(w_last)]
            with m.If(w_last):
                with m.If(s1_g == self.n_groups - 1):
                    m.d.sync += [s1_g.eq(0), s1_row.eq(s1_row + 1)]
                with m.Else():
                    m.d.sync += s1_g.eq(s1_g + 1)
        with m.Elif(~s2_stall):
            m.d.sync += s2_valid.eq(0)

        m.d.comb += [acc.en1.eq(s2_valid & ~s2_stall), acc.first1.eq(s2_first),
                     acc.last1.eq(s2_last), rq.s_valid.eq(acc.hold_valid1)]
        m.d.comb += [acc.partial1[i].eq(sparse.partial[i]) for i in range(cfg.channels)]
        m.d.comb += [rq.s_hold[i].eq(acc.hold1[i]) for i in range(cfg.channels)]
        with m.If(start):
            m.d.sync += [s_ptr.eq(0), s0_row.eq(0), s1_valid.eq(0), s1_first.eq(1), s1_row.eq(0),
                         s1_g.eq(0), s2_valid.eq(0)]
        return s1_row
