"""Measure design points: throughput (cycle model), area (Yosys), energy (RTL activity replayed
on the netlist), with bit-exactness and the cycle model checked on every RTL run.

The benchmark layer is demo_net's last pointwise layer (8x8x64 -> 64; the largest layer of the
demo model) with outliers of the design point's structure and density, fed the activations
the synthetic demo graph produces there. The int8 engine runs a twin of that layer with
normal-distributed int8 weights on the same activations. Throughput comes from the cycle model
on all 64 output pixels; the RTL and gate-level simulations run the first ``bench_rows``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from mixq.errors import MixqError
from mixq.hw.config import EngineConfig
from mixq.hw.cyclemodel import CycleStats, program_cycles
from mixq.hw.energy import Calibration, RunEnergy, run_energy
from mixq.hw.gatesim import load_netlist
from mixq.hw.program import LayerProgram, lower_node, program_reference
from mixq.hw.sim import run_program_rtl
from mixq.hw.streams import stream_bits
from mixq.hw.synth import SynthResult, area_table
from mixq.hw.synthetic import demo_graph, int8_twin
from mixq.ir.interpret import interpret
from mixq.quant.kinds import LayerKind
from mixq.quant.sparsity import BLOCK, Family, SparseStructure


class HwMismatchError(MixqError):
    """The RTL disagreed with the integer reference or with the cycle model."""


def sparse_units_for(structure: str, density: float, lanes: int, channels: int) -> int:
    """Sparse entries per word for queue/block structures: twice the mean outliers per chunk
    (so words per pass rarely exceed chunks per pass); N:M engines size themselves.

    Example:
        >>> [sparse_units_for("unstructured", d, 16, 4) for d in (0.01, 0.02, 0.05)]
        [2, 3, 7]
        >>> [sparse_units_for("block1x4", d, 16, 4) for d in (0.01, 0.02, 0.05)]
        [1, 1, 2]
    """
    block = structure != "dense" and SparseStructure(structure).family is Family.BLOCK
    per_chunk = density * lanes * channels / (BLOCK if block else 1)
    return max(1, math.ceil(2 * per_chunk))


def design_config(engine: str, structure: str, density: float, lanes: int,
                  channels: int, clock_gating: bool = False) -> EngineConfig:
    """The engine built for a design point (``clock_gating``: architecture step 1)."""
    if engine == "int8":
        return EngineConfig(engine="int8", lanes=lanes, channels=channels, structure="dense",
                            clock_gating=clock_gating)
    return EngineConfig(lanes=lanes, channels=channels, structure=structure,
                        sparse_units=sparse_units_for(structure, density, lanes, channels),
                        clock_gating=clock_gating)


@dataclass(frozen=True)
class BenchLayer:
    """A benchmark layer: its graph, node, one input sample and the reference output."""

    graph: object
    node: object
    x: np.ndarray
    y: np.ndarray


def benchmark_layer(structure: str, density: float, seed: int = 0,
                    int8: bool = False) -> BenchLayer:
    """demo_net's last pointwise layer at ``structure``/``density`` (or its int8 twin)."""
    graph, x = demo_graph(structure, density, seed)
    env = interpret(graph, x, return_all=True)
    node = [n for n in graph.nodes if n.kind is LayerKind.PW][-1]
    if int8:
        graph, node, env = int8_twin(graph, node, env, seed)
    return BenchLayer(graph, node, env[node.input][0], env[node.output][0])


def truncate(prog: LayerProgram, rows: int) -> LayerProgram:
    """The first ``rows`` rows of a program, with the layer's MACs scaled to those rows (every
    row is one output pixel of all channels; exact for the pointwise benchmark layer)."""
    kept = prog.rows[:rows]
    return replace(prog, rows=kept, out_index=prog.out_index[:rows],
                   macs=prog.macs * len(kept) // max(len(prog.rows), 1))


@dataclass
class PointResult:
    """Measurements of one design point on its benchmark layer."""

    cfg: EngineConfig
    structure: str
    density: float
    full: CycleStats
    bench: CycleStats
    energy: RunEnergy
    synth: SynthResult
    bits: dict
    run: object = None  # the RTL run (with its port trace) of the benchmark rows
    prog: object = None  # the benchmark rows' program

    @property
    def energy_pj_per_mac(self) -> float:
        return self.energy.total_pj / self.bench.macs

    def as_dict(self) -> dict:
        cfg, e = self.cfg, self.energy
        area = area_table(self.synth)
        return {
            "engine": cfg.engine, "structure": self.structure, "density": self.density,
            "lanes": cfg.lanes, "channels": cfg.channels,
            "mac_per_cycle": round(self.full.mac_per_cycle, 4),
            "area_nand2": round(self.synth.area_nand2, 1),
            "energy_pj_per_mac": round(self.energy_pj_per_mac, 6),
            "sparse_units": cfg.slots, "sparse_macs": cfg.sparse_macs, "label": cfg.label,
            "utilization": round(self.full.utilization, 4),
            "cycles_benchmark_layer": self.full.cycles,
            "stall_cycles_benchmark_layer": self.full.stall_cycles,
            "cells": self.synth.total_cells, "flip_flops": self.synth.flip_flops,
            "area_blocks_nand2": {b: v["area_nand2"] for b, v in area.items()},
            "dynamic_pj_per_mac": round(e.dynamic_pj / self.bench.macs, 6),
            "leakage_pj_per_mac": round(e.leakage_pj / self.bench.macs, 6),
            "energy_blocks_pj_per_mac": {b: round(v / self.bench.macs, 6)
                                         for b, v in sorted(e.per_block_pj.items())},
            "busy_cycle_pj": round(e.busy_pj, 4), "idle_cycle_pj": round(e.idle_pj, 4),
            "buffer_bits_per_mac": {k: round(v / self.full.macs, 4) for k, v in self.bits.items()},
            "rtl_cycles_simulated": self.bench.cycles, "bitexact": True,
            "cycle_model_matches_rtl": True,
        }


def check_run(prog: LayerProgram, run, layer: BenchLayer | None = None) -> CycleStats:
    """Raise :class:`HwMismatchError` unless the RTL run is bit-exact and the cycle model
    reproduces its cycles, beats and words; returns the model's stats."""
    ref = program_reference(prog)
    if not np.array_equal(run.outputs, ref):
        raise HwMismatchError(f"{prog.cfg.label}: RTL outputs differ from the reference on "
                              f"'{prog.name}' ({int((run.outputs != ref).sum())} codes)")
    if layer is not None:
        keep = prog.out_index >= 0
        if not np.array_equal(run.outputs[keep], layer.y.reshape(-1)[prog.out_index[keep]]):
            raise HwMismatchError(f"{prog.cfg.label}: RTL outputs differ from ir.interpret")
    model = program_cycles(prog)
    if (model.cycles, model.dense_beats, model.sparse_words) != (
            run.cycles, run.dense_beats, run.sparse_words):
        raise HwMismatchError(f"{prog.cfg.label}: cycle model {model.cycles} cycles, RTL "
                              f"{run.cycles} on '{prog.name}'")
    return model


def measure_point(cfg: EngineConfig, structure: str, density: float, layer: BenchLayer,
                  synth: SynthResult, cal: Calibration, bench_rows: int = 8,
                  netlist=None) -> PointResult:
    """Throughput, area and energy of one design point (see the module docstring)."""
    prog = lower_node(layer.node, layer.graph, layer.x, cfg)[0]
    full = program_cycles(prog)
    short = truncate(prog, bench_rows)
    run = run_program_rtl(short, record=True)
    bench = check_run(short, run, layer)
    netlist = netlist or load_netlist(synth.netlist)
    energy = run_energy(netlist, run.trace, synth.area_nand2, cal)
    return PointResult(cfg, structure, density, full, bench, energy, synth, stream_bits(prog),
                       run, short)
