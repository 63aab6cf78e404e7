"""Energy from switching activity: per-net toggles x a calibrated energy per unit of load, plus
leakage from the synthesized area.

Dynamic energy of a run = ``e_unit * sum over nets of toggles * (1 + fanout)``: a net's toggle
charges its driver's output and the ``fanout`` gate inputs it drives. ``e_unit`` (pJ per unit of
load) is calibrated so that the same flow (Yosys generic gates, zero-delay toggles) reproduces
the 45 nm operation energies of Horowitz, "Computing's energy problem (and what we can do about
it)", ISSCC 2014 (0.9 V): 8-bit add 0.03 pJ, 32-bit add 0.1 pJ, 8-bit multiply 0.2 pJ, 32-bit
multiply 3.1 pJ -- the geometric mean of the four implied values, each reported so the spread
is visible. Because those figures are measured, the calibration folds the glitch activity of
adders and multipliers into ``e_unit``; other logic gets the same factor.

Leakage: NanGate FreePDK45 Open Cell Library, typical corner (1.1 V, 25 C): INV_X1
``cell_leakage_power`` 14.353 nW on 0.532 um^2, scaled by area to 21.5 nW per NAND2 equivalent
(0.798 um^2), at an assumed clock of 250 MHz.

Included: every gate and flip-flop of the synthesized engine (datapath, sparse path,
accumulators, requant, control) and the load of its nets. Left out: the on-chip buffers (SRAM
reads and writes; :func:`mixq.hw.streams.stream_bits` reports the bits moved instead), the clock
tree and flip-flop clock pins, wire capacitance beyond the fanout-weighted load, glitches beyond
those folded into the calibration, and the host processor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mixq.hw.gatesim import (Activity, Netlist, block_sums, busy_idle, load_netlist,
                             simulate_activity)
from mixq.hw.synth import BLOCKS, synthesize_verilog

# Horowitz, ISSCC 2014, Fig. 1.1.9 (45 nm, 0.9 V): energy per operation in pJ.
HOROWITZ_PJ = {"add8": 0.03, "add32": 0.1, "mul8": 0.2, "mul32": 3.1}
HOROWITZ_SOURCE = ("M. Horowitz, 'Computing's energy problem (and what we can do about it)', "
                   "ISSCC 2014, 45 nm: 8b add 0.03 pJ, 32b add 0.1 pJ, 8b mult 0.2 pJ, "
                   "32b mult 3.1 pJ")
# NanGate FreePDK45 typical: INV_X1 leakage 14.353 nW / 0.532 um^2, x 0.798 um^2 (NAND2_X1).
LEAKAGE_NW_PER_NAND2 = 14.353 * 0.798 / 0.532
LEAKAGE_SOURCE = ("NanGate FreePDK45 Open Cell Library, typical corner: INV_X1 "
                  "cell_leakage_power 14.353 nW (0.532 um^2), scaled by area per NAND2_X1")
CLOCK_HZ = 250e6
CALIBRATION_OPS = 400


class _Op(wiring.Component):
    """A combinational unsigned adder or multiplier (the calibration circuits)."""

    def __init__(self, kind: str, width: int):
        self.kind = kind
        out = width + 1 if kind == "add" else 2 * width
        super().__init__({"a": In(width), "b": In(width), "y": Out(out)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(self.a + self.b if self.kind == "add" else self.a * self.b)
        return m


@dataclass(frozen=True)
class Calibration:
    """``e_unit`` in pJ per unit of switched load, and what each reference op implied."""

    e_unit_pj: float
    implied_pj: dict  # op -> e_unit that op alone would give
    load_per_op: dict  # op -> (1 + fanout)-weighted toggles per operation
    cells: dict  # op -> synthesized cell count

    def as_dict(self) -> dict:
        return {"e_unit_pj": self.e_unit_pj, "implied_e_unit_pj": self.implied_pj,
                "load_per_op": self.load_per_op, "cells": self.cells,
                "reference": HOROWITZ_SOURCE,
                "modelled_pj": {op: self.e_unit_pj * self.load_per_op[op] for op in HOROWITZ_PJ}}


def calibrate(folder, seed: int = 0) -> Calibration:
    """Synthesize the four reference operations, run random operands, fit ``e_unit``.

    Args:
        folder: synthesis work folder (results are cached there).
        seed: seed of the random operands.
    """
    from amaranth.back import verilog

    rng = np.random.default_rng(seed)
    implied, loads, cells = {}, {}, {}
    for op in HOROWITZ_PJ:
        kind, width = op[:3], int(op[3:])
        src = verilog.convert(_Op(kind, width), name="top", emit_src=False)
        result = synthesize_verilog(src, folder, f"calib-{op}")
        net = load_netlist(result.netlist)
        a = [int(v) for v in rng.integers(0, 1 << width, CALIBRATION_OPS, dtype=np.uint64)]
        b = [int(v) for v in rng.integers(0, 1 << width, CALIBRATION_OPS, dtype=np.uint64)]
        y = [x + z if kind == "add" else x * z for x, z in zip(a, b)]
        act = simulate_activity(net, {"a": a, "b": b, "y": y})
        loads[op] = float(act.weighted.sum() / (CALIBRATION_OPS - 1))
        implied[op] = HOROWITZ_PJ[op] / loads[op]
        cells[op] = result.total_cells
    e_unit = float(np.exp(np.mean(np.log(list(implied.values())))))
    return Calibration(e_unit, implied, loads, cells)


@dataclass(frozen=True)
class RunEnergy:
    """Energy of one simulated run (pJ).

    Attributes:
        dynamic_pj: switching energy; leakage_pj: leakage over ``cycles``.
        per_block_pj: dynamic energy by block of the driving cell ('input wires': nets driven
            by the engine's inputs, i.e. the load the buffers see).
        busy_pj, idle_pj: mean dynamic energy of a cycle in which the dense path issued a
            chunk, and of one in which it did not.
        cycles: cycles simulated.
    """

    dynamic_pj: float
    leakage_pj: float
    per_block_pj: dict
    busy_pj: float
    idle_pj: float
    cycles: int

    @property
    def total_pj(self) -> float:
        return self.dynamic_pj + self.leakage_pj


def leakage_pj_per_cycle(area_nand2: float) -> float:
    """Leakage energy of one clock cycle (pJ) of an area in NAND2 equivalents.

    Example:
        >>> round(leakage_pj_per_cycle(10000), 3)
        0.861
    """
    return area_nand2 * LEAKAGE_NW_PER_NAND2 * 1e-9 / CLOCK_HZ * 1e12


def run_energy(netlist: Netlist, trace: dict, area_nand2: float, cal: Calibration) -> RunEnergy:
    """Energy of an RTL run replayed on the engine's netlist (see the module docstring)."""
    act: Activity = simulate_activity(netlist, trace)
    load = act.toggles.astype(np.float64) * (1 + netlist.fanout)
    blocks = block_sums(netlist, load * cal.e_unit_pj, BLOCKS)
    cycles = len(act.weighted)
    per = act.weighted * cal.e_unit_pj
    busy, idle = busy_idle(per, trace)
    return RunEnergy(float(per.sum()), leakage_pj_per_cycle(area_nand2) * cycles, blocks,
                     busy, idle, cycles)
