"""Run a lowered layer on the RTL with Amaranth's simulator.

A small harness wraps the :class:`~mixq.hw.rtl_engine.Engine`: the four buffers (row buffer,
dense weights, sparse words, requant parameters) as memories initialised from
:mod:`mixq.hw.streams`, and an input-stream source that offers a new chunk every cycle. The
testbench starts the engine, collects the output stream and counts cycles, dense beats and
sparse words; optionally it records every engine port every cycle (the stimulus of the
gate-level activity simulation, :mod:`mixq.hw.gatesim`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from mixq.hw.cyclemodel import CycleStats
from mixq.hw.program import LayerProgram
from mixq.hw.rtl_engine import Engine
from mixq.hw.streams import pack_dense, pack_requant, pack_rows, pack_sparse


@dataclass
class RtlRun:
    """What one RTL simulation measured.

    Attributes:
        outputs: int64 (n_rows, n_groups * channels) output stream, in order.
        cycles: clock cycles from the cycle after ``start`` to the one where ``done`` is high.
        dense_beats: cycles the dense path issued a chunk (weight memory reads).
        sparse_words: sparse words read.
        trace: port name -> list of per-cycle values (unsigned bit patterns), when recorded.
    """

    outputs: np.ndarray
    cycles: int
    dense_beats: int
    sparse_words: int
    trace: dict = field(default_factory=dict)


class Harness(Elaboratable):
    """Engine + memories + input stream source for one program."""

    def __init__(self, prog: LayerProgram):
        self.prog, cfg = prog, prog.cfg
        self.engine = Engine(cfg)
        self.sparse_image = pack_sparse(prog) if cfg.family != "int8" else []
        self.rows_image = pack_rows(prog)

    def elaborate(self, platform):
        m, prog, cfg, e = Module(), self.prog, self.prog.cfg, self.engine
        m.submodules.engine = e

        def rom(name, shape, image, addr, re, data):
            mem = Memory(shape=shape, depth=max(len(image), 1), init=image)
            m.submodules[name] = mem
            port = mem.read_port()
            m.d.comb += [port.addr.eq(addr), port.en.eq(re), data.eq(port.data)]

        rb = Memory(shape=cfg.lanes * 8, depth=2 * cfg.max_chunks, init=[])
        m.submodules.rb = rb
        wr = rb.write_port()
        m.d.comb += [wr.addr.eq(e.rb_waddr), wr.data.eq(e.rb_wdata), wr.en.eq(e.rb_we)]
        ports = [("a", e.rb_raddr_a, e.rb_re_a, e.rb_rdata_a)]
        if cfg.family != "int8":
            ports.append(("b", e.rb_raddr_b, e.rb_re_b, e.rb_rdata_b))
            rom("sm", cfg.sparse_word_bits, self.sparse_image, e.s_addr, e.s_re, e.s_data)
        for _, addr, re, data in ports:
            rp = rb.read_port()
            m.d.comb += [rp.addr.eq(addr), rp.en.eq(re), data.eq(rp.data)]
        rom("wm", cfg.mac_lanes * cfg.weight_bits, pack_dense(prog), e.w_addr, e.w_re, e.w_data)
        rom("qm", cfg.q_word_bits, pack_requant(prog), e.q_addr, e.q_re, e.q_data)

        # input stream source: a new chunk offered every cycle until all rows are sent
        xs = Memory(shape=cfg.lanes * 8, depth=len(self.rows_image), init=self.rows_image)
        m.submodules.xs = xs
        xp = xs.read_port(domain="comb")
        ptr = Signal(range(len(self.rows_image) + 1))
        m.d.comb += [xp.addr.eq(ptr), e.x_data.eq(xp.data),
                     e.x_valid.eq(ptr < len(self.rows_image))]
        with m.If(e.x_valid & e.x_ready):
            m.d.sync += ptr.eq(ptr + 1)
        return m


def engine_ports(engine: Engine) -> dict[str, tuple[Signal, int, bool]]:
    """Port name -> (signal, width, is_input) of an engine."""
    out = {}
    for name, member in engine.signature.members.items():
        sig = getattr(engine, name)
        out[name] = (sig, len(sig), member.flow.value == "in")
    return out


def run_program_rtl(prog: LayerProgram, record: bool = False,
                    max_cycles: int = 1_000_000) -> RtlRun:
    """Simulate one program on the RTL.

    Args:
        prog: the lowered layer.
        record: also record every engine port every cycle (for activity simulation).
        max_cycles: give up (RuntimeError) after this many cycles.

    Returns:
        An :class:`RtlRun`.
    """
    h = Harness(prog)
    e, cfg = h.engine, prog.cfg
    ports = engine_ports(e) if record else {}
    trace = {name: [] for name in ports}
    result = {}

    def sample(ctx):
        for name, (sig, width, _) in ports.items():
            trace[name].append(ctx.get(sig) & ((1 << width) - 1))

    async def bench(ctx):
        ctx.set(e.n_rows, prog.n_rows)
        ctx.set(e.n_groups, prog.n_groups)
        ctx.set(e.n_chunks, prog.n_chunks)
        ctx.set(e.x_signed, int(prog.x_signed))
        ctx.set(e.act_min, prog.act_min)
        ctx.set(e.act_max, prog.act_max)
        if cfg.family != "int8":
            ctx.set(e.s_words, len(h.sparse_image))
        ctx.set(e.start, 1)
        sample(ctx)
        await ctx.tick()
        ctx.set(e.start, 0)
        outs, cycles, beats, words = [], 0, 0, 0
        while True:
            cycles += 1
            if record:
                sample(ctx)
            if ctx.get(e.y_valid):
                outs.append(ctx.get(e.y_data))
            if ctx.get(e.done):
                break
            beats += ctx.get(e.w_re)
            if cfg.family != "int8":
                words += ctx.get(e.s_re)
            if cycles >= max_cycles:
                raise RuntimeError(f"layer '{prog.name}' did not finish in {max_cycles} cycles")
            await ctx.tick()
        result.update(outs=outs, cycles=cycles, beats=beats, words=words)

    sim = Simulator(h)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    outs = np.array(result["outs"], np.int64)
    shape = (prog.n_rows, prog.n_groups * cfg.channels)
    if outs.size != shape[0] * shape[1]:
        raise RuntimeError(f"layer '{prog.name}': {outs.size} outputs, expected {shape}")
    return RtlRun(outs.reshape(shape), result["cycles"], result["beats"], result["words"], trace)


@dataclass(frozen=True, eq=False)
class LayerRun(CycleStats):
    """An IR layer run on the RTL: the timing (:class:`~mixq.hw.cyclemodel.CycleStats`, summed
    over the layer's programs) and ``outputs``, int64 output codes of one sample in the node's
    output shape."""

    outputs: np.ndarray


def run_layer_rtl(graph, node, x: np.ndarray, cfg) -> LayerRun:
    """Run one ``Conv2d``/``FullyConnected`` node of an IR graph on the RTL.

    Args:
        graph: the :class:`~mixq.ir.graph.Graph` holding ``node``.
        node: the layer.
        x: one sample of the node's input codes, (H, W, C) or (C,).
        cfg: the :class:`~mixq.hw.config.EngineConfig`.

    Returns:
        :class:`LayerRun`; ``outputs`` equal ``ir.interpret``'s for that sample.

    Example:
        >>> from mixq.hw.config import EngineConfig
        >>> from mixq.hw.synthetic import random_layer
        >>> g, node, env = random_layer("1:8", seed=0, kind="pw")
        >>> run = run_layer_rtl(g, node, env[node.input][0], EngineConfig(lanes=8, channels=2,
        ...                     structure="1:8"))
        >>> bool((run.outputs == env[node.output][0]).all()), run.cycles
        (True, 106)
    """
    from mixq.hw.program import lower_node, scatter_outputs

    progs = lower_node(node, graph, x, cfg)
    runs = [run_program_rtl(p) for p in progs]
    out = scatter_outputs(progs, [r.outputs for r in runs])
    return LayerRun(cycles=sum(r.cycles for r in runs),
                    dense_beats=sum(r.dense_beats for r in runs),
                    sparse_words=sum(r.sparse_words for r in runs),
                    macs=sum(p.macs for p in progs), peak_macs=cfg.mac_lanes,
                    outputs=out.reshape(graph.tensor(node.output).shape))
