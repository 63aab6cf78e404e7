"""hw.md and the plots of ``mixq hw report``, rendered from the hw.json content only."""

from __future__ import annotations

import io
from pathlib import Path

from mixq.fileio import write_bytes_atomic
from mixq.hw.synth import BLOCK_ORDER

AREA_TARGET, ENERGY_TARGET, TARGET_DENSITY = 0.5, 0.35, 0.02
NM = ("1:16", "1:8", "2:8")


def generic_points(report: dict) -> list[dict]:
    """The design points measured on generic gates (the standard-cell ones are rendered by
    :mod:`mixq.hw.report_asic`)."""
    return [p for p in report["design_points"] if p.get("library", "generic") == "generic"]


def comparisons(report: dict) -> list[dict]:
    """Each ternary point against the int8 point of the same lanes, at equal throughput.

    ``area_ratio`` = (area / MAC-per-cycle) of the ternary engine over that of the int8 engine,
    i.e. the area ratio once both are scaled to the same throughput; ``mac_array_ratio`` the
    same for datapath + sparse path + accumulators only.
    """
    pts = generic_points(report)
    base = {p["lanes"]: p for p in pts if p["engine"] == "int8"}
    rows = []
    for p in pts:
        if p["engine"] == "int8":
            continue
        b = base[p["lanes"]]

        def per_tp(q, blocks=None):
            area = q["area_nand2"] if blocks is None else sum(
                q["area_blocks_nand2"][k] for k in blocks)
            return area / q["mac_per_cycle"]

        array = ("datapath", "sparse path", "accumulators")
        rows.append({
            "lanes": p["lanes"], "structure": p["structure"], "density": p["density"],
            "mac_per_cycle": p["mac_per_cycle"], "int8_mac_per_cycle": b["mac_per_cycle"],
            "area_ratio": per_tp(p) / per_tp(b),
            "mac_array_ratio": per_tp(p, array) / per_tp(b, array),
            "energy_ratio": p["energy_pj_per_mac"] / b["energy_pj_per_mac"],
            "dynamic_ratio": p["dynamic_pj_per_mac"] / b["dynamic_pj_per_mac"],
            "inference_energy_ratio": p["engine_layers_energy_nj"] / _layers_energy(b, p),
            "inference_latency_ratio": p["engine_layers_cycles"] / _layers_cycles(b, p),
        })
    return rows


def _engine_layer_names(p):
    return {l["name"] for l in p["inference_layers"] if l["engine"] == p["engine"]}


def _layers_energy(base, p):
    names = _engine_layer_names(p)
    return sum(l["energy_pj"] for l in base["inference_layers"] if l["name"] in names) / 1000


def _layers_cycles(base, p):
    names = _engine_layer_names(p)
    return sum(l["cycles"] for l in base["inference_layers"] if l["name"] in names)


def _verdict(rows: list[dict]) -> list[str]:
    lines = []
    for lanes in sorted({r["lanes"] for r in rows}):
        at = [r for r in rows if r["lanes"] == lanes and r["structure"] in NM
              and abs(r["density"] - TARGET_DENSITY) < 1e-9]
        for r in at:
            a_ok = "met" if r["area_ratio"] <= AREA_TARGET else "NOT met"
            e_ok = "met" if r["energy_ratio"] <= ENERGY_TARGET else "NOT met"
            lines.append(f"- {lanes} lanes, {r['structure']} at 2%: area {r['area_ratio']:.2f}x "
                         f"(target <= {AREA_TARGET}x: {a_ok}), energy/MAC "
                         f"{r['energy_ratio']:.2f}x (target <= {ENERGY_TARGET}x: {e_ok}); "
                         f"MAC-array area alone {r['mac_array_ratio']:.2f}x.")
    return lines


def fan_in_scaled_ratio(report: dict, point: dict, fan_in: int) -> float:
    """Energy-per-MAC ratio against int8 if the layer had ``fan_in`` inputs per output: the
    requant unit's energy (one operation per output) scaled by benchmark fan-in / ``fan_in``,
    every other measured term kept. A derived estimate, not a simulation."""
    k = report["config"]["benchmark_fan_in"]
    base = next(p for p in generic_points(report)
                if p["engine"] == "int8" and p["lanes"] == point["lanes"])

    def scaled(p):
        rq = p["energy_blocks_pj_per_mac"].get("requant", 0.0)
        return p["energy_pj_per_mac"] - rq * (1 - k / fan_in)

    return scaled(point) / scaled(base)


def _requant_note(report: dict) -> list[str]:
    k = report["config"]["benchmark_fan_in"]
    lines = []
    for p in generic_points(report):
        if p["engine"] == "int8" or p["structure"] not in NM or abs(
                p["density"] - TARGET_DENSITY) > 1e-9:
            continue
        share = p["energy_blocks_pj_per_mac"].get("requant", 0.0) / p["energy_pj_per_mac"]
        lines.append(f"- {p['structure']} at 2%, {p['lanes']} lanes: requant is {share:.0%} of "
                     f"the energy per MAC at fan-in {k}; with fan-in 576 (3x3x64) the ratio "
                     f"would be about {fan_in_scaled_ratio(report, p, 576):.2f}x (requant energy "
                     f"scaled by {k}/576, other terms as measured).")
    return lines


def render_markdown(report: dict, plots: list[str]) -> str:
    """The report text."""
    pts, cal, cfg = generic_points(report), report["calibration"], report["config"]
    rows = comparisons(report)
    out = ["# Dense-ternary + sparse-int8 accelerator vs dense int8 engine", "",
           f"Generated by `mixq hw report`: {len(pts)} design points, "
           f"{cfg['channels']} output channels in parallel, lanes {cfg['lanes']}, synthesis by "
           f"{report['yosys_version']} (generic gates, NAND2-eq areas from NanGate 45 nm X1 "
           "cells). Every RTL run below was bit-exact against `ir.interpret` and matched the "
           "Python cycle model cycle for cycle.", "",
           "## Target (2% outliers, N:M structure)", ""]
    out += _verdict(rows) + [""]
    out += ["The requantization unit does one 32x32 multiply, a 64-bit add and a 64-bit shift per "
            "output, whatever the fan-in, and both engines have it; so does leakage of that "
            "fixed area. The benchmark layer has a small fan-in, which makes these fixed costs "
            "large:", ""] + _requant_note(report) + [""]
    out += ["## Equal throughput: ternary+sparse engine / int8 engine", "",
            "Area ratio = (area / MAC per cycle) over the same for int8, on the benchmark layer "
            "(demo_net's 8x8x64->64 pointwise layer). Energy ratio = energy per MAC "
            "(dynamic + leakage). Inference ratios cover the layers the ternary engine runs "
            "(every depthwise and pointwise layer of demo_net; the 8-bit first conv and "
            "classifier run on the int8 engine in both systems).", "",
            "| lanes | structure | density | MAC/cycle (int8) | area ratio | MAC-array area ratio "
            "| energy/MAC ratio | dynamic only | inference energy ratio | latency ratio |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["lanes"], r["density"], r["structure"])):
        out.append(f"| {r['lanes']} | {r['structure']} | {r['density']:.0%} | "
                   f"{r['mac_per_cycle']:.1f} ({r['int8_mac_per_cycle']:.1f}) | "
                   f"{r['area_ratio']:.2f} | {r['mac_array_ratio']:.2f} | "
                   f"{r['energy_ratio']:.2f} | {r['dynamic_ratio']:.2f} | "
                   f"{r['inference_energy_ratio']:.2f} | {r['inference_latency_ratio']:.2f} |")
    out += ["", "## Design points", "",
            "| engine | structure | density | lanes | sparse MACs | MAC/cycle | utilization | "
            "area (NAND2-eq) | pJ/MAC | of which leakage | inference cycles | inference nJ |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in pts:
        out.append(f"| {p['engine']} | {p['structure']} | {p['density']:.0%} | {p['lanes']} | "
                   f"{p['sparse_macs']} | {p['mac_per_cycle']:.2f} | {p['utilization']:.0%} | "
                   f"{p['area_nand2']:,.0f} | {p['energy_pj_per_mac']:.4f} | "
                   f"{p['leakage_pj_per_mac']:.4f} | {p['inference_cycles']:,} | "
                   f"{p['inference_energy_nj']:.1f} |")
    k = cfg["benchmark_fan_in"]
    bound = sorted({(p["lanes"], p["channels"]) for p in pts if p["lanes"] * p["channels"] > k})
    if bound:
        names = ", ".join(f"{lanes} lanes x {ch} channels" for lanes, ch in bound)
        out += ["", f"The requant unit emits one output per cycle, so a layer of fan-in {k} runs "
                f"at most {k} MACs per cycle: the engines of {names} (both kinds) are "
                "requant-bound on the benchmark layer (see their utilization); a second requant "
                "unit would lift this at its area."]
    gi = report.get("graph_inference")
    if gi:
        out += ["", f"## Per inference of graph '{gi['graph']}' ({gi['graph_hash']})", "",
                "Ternary layers on the engine named, other weight layers on the int8 engine of "
                "the same lanes; one random input.", "",
                "| engine | structure | density | lanes | cycles | MACs | energy (nJ) |",
                "|---|---|---|---|---|---|---|"]
        for r in gi["points"]:
            out.append(f"| {r['engine']} | {r['structure']} | {r['density']:.0%} | {r['lanes']} "
                       f"| {r['cycles']:,} | {r['macs']:,} | {r['energy_nj']:.1f} |")
    out += ["", "## Area by block (NAND2-eq, from Yosys `stat`)", "",
            "| engine | " + " | ".join(BLOCK_ORDER) + " | total | cells | flip-flops |",
            "|---|" + "---|" * (len(BLOCK_ORDER) + 3)]
    seen = set()
    for p in pts:
        if p["label"] in seen:
            continue
        seen.add(p["label"])
        blocks = " | ".join(f"{p['area_blocks_nand2'][b]:,.0f}" for b in BLOCK_ORDER)
        out.append(f"| {p['label']} | {blocks} | {p['area_nand2']:,.0f} | {p['cells']:,} | "
                   f"{p['flip_flops']:,} |")
    cols = list(BLOCK_ORDER) + ["input wires"]
    out += ["", "## Energy per MAC by block (pJ, dynamic; benchmark layer)", "",
            "| engine | structure | density | " + " | ".join(cols) + " | leakage |",
            "|---|---|---|" + "---|" * (len(cols) + 1)]
    for p in pts:
        eb = p["energy_blocks_pj_per_mac"]
        out.append(f"| {p['engine']} | {p['structure']} | {p['density']:.0%} | "
                   + " | ".join(f"{eb.get(k, 0):.4f}" for k in cols)
                   + f" | {p['leakage_pj_per_mac']:.4f} |")
    out += ["", "## How the energy is estimated", "",
            "Switching activity: the RTL run of the benchmark layer (first "
            f"{cfg['bench_rows']} output pixels) is replayed on the synthesized gate netlist "
            "(zero delay; the netlist's outputs are checked against the RTL every cycle); every "
            "net's toggles are weighted by (1 + fanout). The energy per unit of load, "
            f"{cal['e_unit_pj'] * 1000:.3f} fJ, is calibrated so that the same flow reproduces "
            f"{cal['reference']}:", "",
            "| op | reference pJ | modelled pJ | e_unit it alone implies (fJ) | cells |",
            "|---|---|---|---|---|"]
    ref = {"add8": 0.03, "add32": 0.1, "mul8": 0.2, "mul32": 3.1}
    for op in ref:
        out.append(f"| {op} | {ref[op]} | {cal['modelled_pj'][op]:.3f} | "
                   f"{cal['implied_e_unit_pj'][op] * 1000:.3f} | {cal['cells'][op]} |")
    out += ["", f"Leakage: {report['sources']['leakage']}; "
            f"{cfg['clock_hz'] / 1e6:.0f} MHz clock assumed.", "",
            "**Included:** all gates and flip-flops of the engine (datapath, sparse path, "
            "accumulators, requant, control) and their fanout load. **Left out:** the on-chip "
            "buffers (SRAM accesses; `buffer_bits_per_mac` in hw.json gives the bits moved per "
            "MAC: ternary weights are 2 bits against 8), the clock tree and flip-flop clock "
            "pins, wire capacitance beyond fanout, glitches beyond those folded into the "
            "calibration, and the host. Per-inference energy scales the benchmark layer's "
            "per-cycle energies (busy / idle) by each layer's cycle counts.", "",
            "**Caveats.** Yosys maps multipliers to array multipliers (no Booth recoding), which "
            "makes the int8 engine larger than a commercial flow would; `abc -fast` is used "
            "because ABC's default script did not finish on the int8 multiplier array. The "
            "requantization unit (32x32 multiplier, 64-bit shifter) is the same fixed cost in "
            "both engines, so the ratios improve with more lanes and channels.", ""]
    from mixq.hw.report_asic import asic_markdown

    out += asic_markdown(report)
    out += [f"![{Path(p).stem}]({Path(p).name})" for p in plots] + [""]
    return "\n".join(out)


def render_plots(report: dict, out: Path) -> list[str]:
    """Ratio plots and area breakdown; returns the file names written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = comparisons(report)
    files = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, target, title in ((axes[0], "area_ratio", AREA_TARGET, "area at equal throughput"),
                                   (axes[1], "energy_ratio", ENERGY_TARGET, "energy per MAC")):
        for s in sorted({r["structure"] for r in rows}):
            pts = sorted((r["density"], r[key]) for r in rows if r["structure"] == s
                         and r["lanes"] == rows[0]["lanes"])
            ax.plot([100 * d for d, _ in pts], [v for _, v in pts], marker="o", label=s)
        ax.axhline(target, color="k", ls="--", lw=0.8, label=f"target {target}x at 2%")
        ax.axvline(2, color="gray", ls=":", lw=0.8)
        ax.set(xlabel="outlier density (%)", ylabel="ternary+sparse / int8", title=title)
        ax.set_ylim(bottom=0)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    files.append(_save(fig, out / "hw_ratios.png"))
    plt.close(fig)

    labels, seen = [], {}
    for p in generic_points(report):
        seen.setdefault(p["label"], p)
    fig, ax = plt.subplots(figsize=(10, 4))
    bottom = [0.0] * len(seen)
    for b in BLOCK_ORDER:
        vals = [p["area_blocks_nand2"][b] for p in seen.values()]
        ax.bar(range(len(seen)), vals, bottom=bottom, label=b)
        bottom = [x + y for x, y in zip(bottom, vals)]
    labels = [k.replace("ternary_sparse-", "t+s ") for k in seen]
    ax.set_xticks(range(len(seen)), labels, rotation=30, ha="right", fontsize=7)
    ax.set(ylabel="NAND2-eq (Yosys)", title="area by block")
    ax.legend(fontsize=7)
    fig.tight_layout()
    files.append(_save(fig, out / "hw_area_blocks.png"))
    plt.close(fig)
    return files


def _save(fig, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    write_bytes_atomic(path, buf.getvalue())
    return str(path)
