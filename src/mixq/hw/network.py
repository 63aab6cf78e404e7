"""Whole-network estimates with the cycle model: latency and energy per inference.

Every ``Conv2d``/``FullyConnected`` layer is lowered for the engine that runs it -- dense-ternary
(+ sparse) layers on the ternary engine, 8-bit layers (demo_net's first conv and classifier) on
the int8 engine -- and timed with :mod:`mixq.hw.cyclemodel`. Energy per layer is
``busy_pj * dense beats + idle_pj * other cycles + leakage * cycles`` with the per-cycle energies
measured on the design point's benchmark layer (:mod:`mixq.hw.evaluate`), i.e. the activity of
one real layer stands for every layer. Pooling and residual adds are left to the host and not
counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixq.hw.config import EngineConfig
from mixq.hw.cyclemodel import program_cycles
from mixq.hw.energy import leakage_pj_per_cycle
from mixq.hw.program import lower_node
from mixq.ir.graph import WEIGHT_OPS, Graph
from mixq.ir.interpret import interpret


@dataclass(frozen=True)
class EngineCost:
    """An engine and its measured per-cycle energies (pJ) and area (NAND2-eq)."""

    cfg: EngineConfig
    busy_pj: float
    idle_pj: float
    area_nand2: float

    def energy_pj(self, cycles: int, beats: int) -> float:
        return (self.busy_pj * beats + self.idle_pj * (cycles - beats)
                + leakage_pj_per_cycle(self.area_nand2) * cycles)


def network_estimate(graph: Graph, x: np.ndarray, ternary: EngineCost | None,
                     int8: EngineCost) -> dict:
    """Per-layer and total cycles, MACs and energy of one inference.

    Args:
        graph: the integer graph.
        x: one input batch (the first sample is used).
        ternary: the ternary engine, or None to run every layer on ``int8``.
        int8: the int8 engine (8-bit layers; every layer when ``ternary`` is None).

    Returns:
        {"layers": [{"name", "engine", "cycles", "macs", "energy_pj"}], "cycles", "macs",
        "energy_nj", "engine_layers": totals over the layers the ternary engine runs}.
    """
    env = interpret(graph, x[:1], return_all=True)
    layers = []
    for node in graph.nodes:
        if not isinstance(node, WEIGHT_OPS):
            continue
        cost = ternary if ternary is not None and node.ternary else int8
        progs = lower_node(node, graph, env[node.input][0], cost.cfg)
        cycles = beats = macs = 0
        for p in progs:
            s = program_cycles(p)
            cycles, beats, macs = cycles + s.cycles, beats + s.dense_beats, macs + s.macs
        layers.append({"name": node.name, "kind": str(node.kind), "engine": cost.cfg.engine,
                       "cycles": cycles, "macs": macs,
                       "energy_pj": round(cost.energy_pj(cycles, beats), 3)})

    def total(rows):
        return {"cycles": sum(r["cycles"] for r in rows), "macs": sum(r["macs"] for r in rows),
                "energy_nj": round(sum(r["energy_pj"] for r in rows) / 1000, 4)}

    engine_rows = [r for r in layers if ternary is None or r["engine"] == ternary.cfg.engine]
    return {"layers": layers, **total(layers), "engine_layers": total(engine_rows)}
