"""Small buffers as register files in standard cells (architecture step "memories").

A buffer of at most ``regfile_words`` words (``mixq hw report --regfile-words``) is built as a
flip-flop register file instead of SRAM macros: the buffer is written as Verilog with the
engine's own memory ports (synchronous read, data held while the read enable is low, like the
macro it replaces), mapped by the same standard-cell flow as the engine (:mod:`mixq.hw.asic`;
with ``clock_gating`` every word's flip-flops are clocked through one gating cell driven by
its write enable), and the engine's recorded run is replayed on it: its read data must equal
the data the RTL's memory gave the engine in every cycle (bit-exact), and its energy comes from
the toggles and Liberty tables like the engine's logic, clock pins included.

Buffers the engine only reads (weights, requantization words, sparse words) are loaded first,
one word per cycle through a load port; as for the macros (whose writes of preloaded data are
not charged) the load is left out: the energy is that of (load + run) minus (load alone).

Threshold (words, not bits: a read's energy is set by the read multiplexer tree, whose depth
is the word count). Measured on sky130 HD with clock gating (docs/accelerator-steps.md), the
read energy per bit is 0.14 pJ at 8 words, 0.55 pJ at 49 words and 1.1 pJ at 64 words, against
0.81 pJ for the 256 x 32 IHP macro; area is about 31 um^2 per bit against 49,488 um^2 / (32 x
depth) for one macro column: equal at about 50 words. ``regfile_words=50`` is the step's
setting; the measured area and energy of each buffer are reported either way. Those figures are
for the multiplexer-tree read; the decoded read (:class:`ReadStyle`, the default since step 3)
costs about a sixth of it per read, so a 64-word file beats the macro too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mixq.hw.asic import map_verilog
from mixq.hw.gatesim import load_netlist
from mixq.hw.power import asic_run_energy, net_energy

# name -> (write port (enable, address, data) or None: loaded through ld_*, read ports)
PORTS = {"weights": (None, [("w_re", "w_addr", "w_data")]),
         "activations": (("rb_we", "rb_waddr", "rb_wdata"),
                         [("rb_re_a", "rb_raddr_a", "rb_rdata_a"),
                          ("rb_re_b", "rb_raddr_b", "rb_rdata_b")]),
         "requant": (None, [("q_re", "q_addr", "q_data")]),
         "sparse": (None, [("s_re", "s_addr", "s_data")])}
LOAD = ("ld_we", "ld_addr", "ld_data")


@dataclass(frozen=True)
class RegFile:
    """A register file of ``depth`` words of ``width`` bits.

    Attributes:
        index: address bit positions that select the word, lowest first (the row buffer's
            bank bit sits above the engine's whole chunk field).
        addr_width: width of the engine's address ports.
        write: (enable, address, data) port names, or None (loaded through :data:`LOAD`).
        reads: (enable, address, data) port names of each read port.
    """

    name: str
    width: int
    depth: int
    addr_width: int
    index: tuple
    write: tuple | None
    reads: tuple

    @property
    def bits(self) -> int:
        return self.width * self.depth


def in_registers(shapes: list[tuple], regfile_words: int, always=()) -> list[str]:
    """Names of the buffers (:func:`mixq.hw.sram.buffer_shapes`) of at most ``regfile_words``
    words (one copy of each: a register file has as many read ports as needed), and those
    named in ``always`` whatever their count (``("requant",)``: requant constants stationary).

    Example:
        >>> shapes = [("weights", 512, 64, 1), ("activations", 128, 8, 2), ("sparse", 55, 49, 1),
        ...           ("requant", 110, 64, 1)]
        >>> in_registers(shapes, 50), in_registers(shapes, 64)[:3], in_registers(shapes, 0)
        (['activations', 'sparse'], ['weights', 'activations', 'sparse'], [])
        >>> in_registers(shapes, 50, always=("requant",)), in_registers(shapes, 0, ("requant",))
        (['activations', 'sparse', 'requant'], ['requant'])
    """
    return [name for name, _, d, _ in shapes if d <= regfile_words or name in always]


def regfile_for(name: str, cfg, width: int, depth: int, two_reads: bool) -> RegFile:
    """The register file replacing buffer ``name`` of :func:`mixq.hw.sram.buffer_shapes`.

    Example:
        >>> from mixq.hw.config import EngineConfig
        >>> rf = regfile_for("activations", EngineConfig(), 128, 8, True)
        >>> rf.depth, rf.index, len(rf.reads)
        (8, (0, 1, 6), 2)
    """
    write, reads = PORTS[name]
    reads = tuple(reads if two_reads else reads[:1])
    if name == "activations":  # address = Cat(chunk, bank): chunk bits, then the bank bit
        low = max(1, (depth // 2 - 1).bit_length())
        return RegFile(name, width, 2 << low, cfg.rb_addr_bits,
                       tuple(range(low)) + (cfg.chunk_bits,), write, reads)
    widths = {"weights": cfg.weight_addr_bits, "requant": cfg.group_bits + cfg.channel_bits,
              "sparse": cfg.sparse_addr_bits}
    low = max(1, (depth - 1).bit_length())
    return RegFile(name, width, depth, widths[name], tuple(range(low)), write, reads)


class ReadStyle(StrEnum):
    """How a register file selects the word it reads (``mixq hw report --regfile-read``).

    ``MUX``: a multiplexer tree on the address (what Yosys builds from a memory array); every
    address change switches the selects of the whole first level. ``DECODED``: the address is
    decoded to one select line per word (a module of its own, so the mapper keeps the lines)
    and each data bit is the OR of the words' bits ANDed with their select: a read that moves
    to the next word switches two select lines and the AND-OR paths of the bits that differ.
    Measured on sky130 HD, clock-gated, 64 x 110 requant words read in turn: 122.8 pJ per read
    as a multiplexer tree, 18.5 pJ decoded, against 104.0 pJ for four IHP 256x32 macros; area
    218k, 199k and 198k um^2 (docs/accelerator-steps.md, step 3).
    """

    MUX = "mux"
    DECODED = "decoded"


def _index(rf: RegFile, port: str) -> str:
    if rf.index == tuple(range(len(rf.index))):
        return f"{port}[{len(rf.index) - 1}:0]"
    return "{" + ", ".join(f"{port}[{b}]" for b in reversed(rf.index)) + "}"


def regfile_verilog(rf: RegFile, read: ReadStyle = ReadStyle.MUX) -> str:
    """Verilog module ``top`` of a register file (ports named as the engine's); with
    ``read=DECODED`` also its modules ``rf_dec`` and ``rf_read`` (:class:`ReadStyle`).

    Example:
        >>> from mixq.hw.config import EngineConfig
        >>> rf = regfile_for("requant", EngineConfig(), 110, 64, False)
        >>> v = regfile_verilog(rf)
        >>> "reg [109:0] mem [0:63];" in v, "q_data <= mem[q_addr[5:0]];" in v
        (True, True)
        >>> v = regfile_verilog(rf, ReadStyle.DECODED)
        >>> "rf_dec dec_q_data (.a(q_addr[5:0]), .sel(sel_q_data));" in v
        True
    """
    we, wa, wd = rf.write or LOAD
    ports = ["input clk", f"input {we}", f"input [{rf.addr_width - 1}:0] {wa}",
             f"input [{rf.width - 1}:0] {wd}"]
    for re, ra, rd in rf.reads:
        ports += [f"input {re}", f"input [{rf.addr_width - 1}:0] {ra}",
                  f"output reg [{rf.width - 1}:0] {rd}"]
    decl = ",\n".join(f"  {p}" for p in ports)
    inits = "".join(f"  initial {rd} = 0;\n" for _, _, rd in rf.reads)
    if read is ReadStyle.MUX:
        body = [f"  reg [{rf.width - 1}:0] mem [0:{rf.depth - 1}];",
                "  always @(posedge clk) begin",
                f"    if ({we}) mem[{_index(rf, wa)}] <= {wd};"]
        body += [f"    if ({re}) {rd} <= mem[{_index(rf, ra)}];" for re, ra, rd in rf.reads]
        return (f"module top (\n{decl}\n);\n{inits}" + "\n".join(body) + "\n  end\nendmodule\n")
    return _decoded_modules(rf) + f"module top (\n{decl}\n);\n{inits}" + _decoded_body(rf)


def _decoded_modules(rf: RegFile) -> str:
    w, d, a = rf.width, rf.depth, len(rf.index)
    return (f"module rf_dec (input [{a - 1}:0] a, output [{d - 1}:0] sel);\n"
            f"  assign sel = {d}'d1 << a;\nendmodule\n"
            f"module rf_read (input [{d - 1}:0] sel, input [{w * d - 1}:0] words, "
            f"output [{w - 1}:0] data);\n  integer i;\n  reg [{w - 1}:0] acc;\n"
            f"  always @* begin\n    acc = {w}'d0;\n    for (i = 0; i < {d}; i = i + 1)\n"
            f"      acc = acc | ({{{w}{{sel[i]}}}} & words[i * {w} +: {w}]);\n  end\n"
            "  assign data = acc;\nendmodule\n")


def _decoded_body(rf: RegFile) -> str:
    w, d = rf.width, rf.depth
    we, wa, wd = rf.write or LOAD
    lines = [f"  wire [{len(rf.index) - 1}:0] widx = {_index(rf, wa)};"]
    for i in range(d):  # one register per word: its write enable gates its clock
        lines += [f"  reg [{w - 1}:0] m{i};",
                  f"  always @(posedge clk) if ({we} && widx == {len(rf.index)}'d{i}) m{i} <= {wd};"]
    words = "{" + ", ".join(f"m{i}" for i in reversed(range(d))) + "}"
    for re, ra, rd in rf.reads:
        lines += [f"  wire [{d - 1}:0] sel_{rd};", f"  wire [{w - 1}:0] word_{rd};",
                  f"  rf_dec dec_{rd} (.a({_index(rf, ra)}), .sel(sel_{rd}));",
                  f"  rf_read read_{rd} (.sel(sel_{rd}), .words({words}), .data(word_{rd}));",
                  f"  always @(posedge clk) if ({re}) {rd} <= word_{rd};"]
    return "\n".join(lines) + "\nendmodule\n"


def regfile_trace(rf: RegFile, trace: dict, image: list[int] | None) -> dict:
    """The run's trace of ``rf``'s ports, after ``len(image)`` load cycles (``image``: the
    words of a preloaded buffer, None for the row buffer); ``w_re`` kept for the busy/idle
    split of :func:`mixq.hw.power.asic_run_energy`."""
    names = [n for port in ((rf.write or ()),) + rf.reads for n in port] + ["w_re"]
    load = len(image or [])
    out = {n: [0] * load + list(trace[n]) for n in names if n in trace}
    if image:
        cycles = len(next(iter(trace.values())))
        out[LOAD[0]] = [1] * load + [0] * cycles
        out[LOAD[1]] = list(range(load)) + [0] * cycles
        out[LOAD[2]] = list(image) + [0] * cycles
    return out


def measure_regfile(rf: RegFile, trace: dict, image, liberty, models, lib, work,
                    period_ns: float, clock_gating: bool,
                    read: ReadStyle = ReadStyle.DECODED) -> dict:
    """Map ``rf``, replay the run on it (bit-exact) and price it.

    Returns:
        ``area_um2``, ``logic_pj``, ``ff_clock_pj``, ``leakage_pj`` of the run (load excluded),
        ``cells``, ``flip_flops``, ``fmax_mhz``.
    """
    res = map_verilog(regfile_verilog(rf, read), liberty, work,
                      f"rf-{rf.name}-{rf.width}x{rf.depth}-{read}", clock_gating=clock_gating)
    net = load_netlist(res.netlist, models)
    ne = net_energy(net, lib)
    full = asic_run_energy(net, ne, regfile_trace(rf, trace, image), period_ns, {})
    cycles = full.cycles - len(image or [])
    logic, ff = full.logic_pj, full.ff_clock_pj
    if image:
        load = {k: v[:len(image)] for k, v in regfile_trace(rf, trace, image).items()}
        pre = asic_run_energy(net, ne, load, period_ns, {})
        logic, ff = logic - pre.logic_pj, ff - pre.ff_clock_pj
    return {"area_um2": res.area_um2, "logic_pj": logic, "ff_clock_pj": ff,
            "leakage_pj": ne.leakage_nw * period_ns * 1e-3 * cycles, "cells": len(net.cells),
            "flip_flops": int(len(net.ffs)), "fmax_mhz": res.fmax_mhz}
