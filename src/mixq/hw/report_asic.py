"""The standard-cell part of hw.md: per library, each engine's area by block (um^2), fmax, and
energy per MAC split into logic, flip-flops/clock, SRAM and leakage; ternary/int8 ratios
against the targets."""

from __future__ import annotations

AREA_TARGET, ENERGY_TARGET, TARGET_DENSITY = 0.5, 0.35, 0.02
NM = ("1:16", "1:8", "2:8")
SPLIT = ("logic", "flip_flops_clock", "sram", "leakage")


def asic_comparisons(report: dict) -> list[dict]:
    """Ternary / int8 ratios per library, lanes, structure and density (equal throughput: the
    same lanes x channels per cycle, at the library's common clock)."""
    pts = [p for p in report["design_points"] if p.get("library", "generic") != "generic"]
    base = {(p["library"], p["lanes"]): p for p in pts if p["engine"] == "int8"}
    rows = []
    for p in pts:
        b = base.get((p["library"], p["lanes"]))
        if p["engine"] == "int8" or b is None:
            continue
        per_mac_area = p["area_um2"] / p["mac_per_cycle"]
        rows.append({
            "library": p["library"], "lanes": p["lanes"], "structure": p["structure"],
            "density": p["density"],
            "area_ratio": per_mac_area / (b["area_um2"] / b["mac_per_cycle"]),
            "logic_area_ratio": (p["logic_area_um2"] / p["mac_per_cycle"])
            / (b["logic_area_um2"] / b["mac_per_cycle"]),
            "energy_ratio": p["energy_pj_per_mac"] / b["energy_pj_per_mac"],
            "logic_energy_ratio": p["logic_energy_pj_per_mac"] / b["logic_energy_pj_per_mac"],
            "mac_per_cycle": p["mac_per_cycle"], "int8_mac_per_cycle": b["mac_per_cycle"]})
    return rows


def asic_verdict(rows: list[dict]) -> list[str]:
    """One line per library and lanes: are both targets met at 2% N:M?"""
    out = []
    for r in rows:
        if r["structure"] not in NM or abs(r["density"] - TARGET_DENSITY) > 1e-9:
            continue
        a_ok, e_ok = r["area_ratio"] <= AREA_TARGET, r["energy_ratio"] <= ENERGY_TARGET
        out.append(f"- {r['library']}, {r['lanes']} lanes, {r['structure']} at 2%: area "
                   f"{r['area_ratio']:.2f}x ({'met' if a_ok else 'NOT met'}, target "
                   f"<= {AREA_TARGET}x), energy/MAC {r['energy_ratio']:.2f}x "
                   f"({'met' if e_ok else 'NOT met'}, target <= {ENERGY_TARGET}x); logic only "
                   f"(no SRAM): area {r['logic_area_ratio']:.2f}x, energy "
                   f"{r['logic_energy_ratio']:.2f}x.")
    return out


def asic_markdown(report: dict) -> list[str]:
    """hw.md lines of the standard-cell design points (empty when there are none)."""
    pts = [p for p in report["design_points"] if p.get("library", "generic") != "generic"]
    if not pts:
        return ["## Standard cells", "", "No Liberty files were given or found in "
                "`../shared/data/asic`: only the generic-gate estimate above.", ""]
    out = ["## Standard cells (Liberty libraries)", "",
           "Each engine mapped with Yosys (`dfflibmap`, `abc -liberty`), timed with OpenSTA, "
           "the benchmark run replayed on the mapped netlist (bit-exact against the RTL every "
           "cycle) and priced with the library's internal-power tables, pin capacitances, "
           "wire-load model and leakage; " + (
               "clock gating (`--clock-gating`): flip-flops with an enable are clocked through "
               "the library's clock-gating cell and their clock pins count only in enabled "
               "cycles, the others every cycle. " if report.get("config", {}).get("clock_gating")
               else "flip-flop clock pins count every cycle. ") +
           "Buffers are " + ("register files in standard cells up to "
                             f"{report['config']['regfile_words']} words, larger ones "
                             if report.get("config", {}).get("regfile_words") else "") +
           "IHP SG13G2 SRAM macros (energy per access x accesses, area per macro). Equal "
           "throughput: both engines do lanes x channels MACs per cycle and each library's "
           "points run at one common clock, the slowest engine's fmax (equal clock); leakage is "
           "counted at that clock.", "", "### Targets (2% outliers, N:M)", ""]
    rows = asic_comparisons(report)
    out += asic_verdict(rows) + ["", "### Ratios, ternary+sparse / int8", "",
                                 "| library | lanes | structure | density | area | logic area "
                                 "| energy/MAC | logic energy/MAC |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['library']} | {r['lanes']} | {r['structure']} | {r['density']:.0%} | "
                   f"{r['area_ratio']:.2f} | {r['logic_area_ratio']:.2f} | "
                   f"{r['energy_ratio']:.2f} | {r['logic_energy_ratio']:.2f} |")
    blocks = list(pts[0]["area_blocks_um2"])
    out += ["", "### Design points", "",
            "| library | engine | structure | density | lanes | fmax MHz | clock MHz | logic um^2 "
            "| SRAM um^2 | " + " | ".join(f"{b} um^2" for b in blocks) + " | "
            + " | ".join(f"{k} pJ/MAC" for k in SPLIT) + " | total pJ/MAC |",
            "|" + "---|" * (10 + len(blocks) + len(SPLIT))]
    for p in pts:
        split = p["energy_split_pj_per_mac"]
        out.append(f"| {p['library']} | {p['engine']} | {p['structure']} | {p['density']:.0%} | "
                   f"{p['lanes']} | {p['fmax_mhz']:.1f} | {p['clock_mhz']:.1f} | "
                   f"{p['logic_area_um2']:.0f} | {p['sram_area_um2']:.0f} | "
                   + " | ".join(f"{p['area_blocks_um2'][b]:.0f}" for b in blocks) + " | "
                   + " | ".join(f"{split[k]:.4f}" for k in SPLIT)
                   + f" | {p['energy_pj_per_mac']:.4f} |")
    for name, lib in report.get("libraries", {}).items():
        if not lib.get("sram_macros"):
            out += ["", f"**{name}: no SRAM macro Liberty files (RM_*.lib) were found: its "
                    "buffers are left out of area and energy.**"]
    from mixq.hw.arch_steps import steps_markdown
    from mixq.hw.memories import memories_markdown

    out += [""] + memories_markdown(report) + steps_markdown(report)
    out += ["", "SRAM buffers per engine (macro, count, accesses of the benchmark run) are in "
            "hw.json (`sram_buffers`). Left out: clock-tree buffers (ideal clock), glitches "
            "(zero-delay replay), routing beyond the library's wire-load model.", ""]
    return out
