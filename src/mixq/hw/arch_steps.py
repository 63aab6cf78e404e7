"""Architecture steps toward the targets, priced from measured parts.

Each step changes the engines' buffer traffic, storage or clocking; its figures re-price the
measured standard-cell design points of ``mixq hw report`` (:mod:`mixq.hw.asic_report`): logic
energy from the gate-level replay, flip-flop clock energy and activity, SRAM access counts and
per-access energies from the macros' Liberty files, latch and mux cell areas from the
library. The RTL is not changed by these steps: the figures are a model on measured parts, not
a new measurement. Steps are cumulative and applied to both engines where they apply (so the
baseline gets every improvement the ternary engine gets); both keep ``lanes x channels`` MACs
per cycle at one clock: equal throughput, equal clock.

1. ``as built``: the measured design points.
2. ``weight-stationary``: loop order channel group outer, output pixels inner. A group's weights
   (``chunks x lanes x channels`` codes) and requantization words are read from SRAM once per
   group and held in a latch array (area: latch cells per bit plus a ``chunks``:1 mux per weight
   bit and a ``channels``:1 mux per requant bit; their leakage every cycle); weight and requant
   reads per MAC fall by the layer's number of output pixels. Rows are then needed once per
   group, so the two-row ping-pong buffer becomes an SRAM holding the layer's whole input
   (``sram_alternatives`` of the point: the macro picked for that depth, the same reads and
   writes). Not counted: latch writes (once per group) and the read-out muxes' switching.
3. ``one row-buffer copy`` (ternary only): the sparse path takes the chunk the dense path read
   (an N:M word belongs to one chunk) from a ``lanes x 8``-bit register clocked every cycle,
   instead of a second single-port copy of the row buffer: the copy's reads, writes, area and
   leakage go.
4. ``clock-gated flip-flops``: a flip-flop gets a clock edge only in the cycles its value
   changes (the measured toggle rate) plus one clock-gating cell per 8 flip-flops clocked every
   cycle (priced as one flip-flop's clock pin): an ideal fine-grained gating, a lower bound.
"""

from __future__ import annotations

STEPS = ("as built", "weight-stationary", "one row-buffer copy", "clock-gated flip-flops")
ICG_SHARE = 1 / 8  # one clock-gating cell per 8 flip-flops, clocked every cycle


def _buffer_pj_per_mac(buf: dict, macs: int, reads: float, writes: float) -> float:
    return (reads * buf["read_pj"] + writes * buf["write_pj"]) / macs


def _step_costs(p: dict, lib: dict, step: int) -> dict:
    """Energy split (pJ/MAC) and area per MAC/cycle (um^2) of one point after ``step``."""
    split = dict(p["energy_split_pj_per_mac"])
    macs, cycles = p["macs_simulated"], p["cycles_simulated"]
    mpc = macs / cycles
    leak_per_mac = {k: b["leakage_nw"] * p["period_ns"] * 1e-3 / mpc
                    for k, b in p["sram_buffers"].items()}
    bufs = p["sram_buffers"]
    access = p["access"]
    loop = p["loop"]
    reads = {k: float(b["reads"]) for k, b in bufs.items()}
    writes = {k: float(b["writes"]) for k, b in bufs.items()}
    sram_area = {k: b["area_um2"] for k, b in bufs.items()}
    extra_area = extra_leak = extra_ff = 0.0
    ternary = p["engine"] != "int8"
    clock = p["clock_pj_per_mac"]
    ff_clock_per_ff_cycle = clock * mpc / max(p["flip_flops"], 1)
    if step >= 1:
        for k in ("weights", "requant"):
            reads[k] /= loop["rows_layer"]
        whole = p["sram_alternatives"]["activations_whole_layer"]
        bufs = dict(bufs, activations=whole)
        sram_area["activations"] = whole["area_um2"]
        leak_per_mac["activations"] = whole["leakage_nw"] * p["period_ns"] * 1e-3 / mpc
        w_bits = loop["chunks"] * p["lanes"] * p["channels"] * p["weight_bits"]
        q_bits = p["channels"] * p["q_word_bits"]
        muxes = (p["lanes"] * p["channels"] * p["weight_bits"] * (loop["chunks"] - 1)
                 + p["q_word_bits"] * (p["channels"] - 1))
        extra_area += (w_bits + q_bits) * lib["latch_um2"] + muxes * lib["mux2_um2"]
        nw = (w_bits + q_bits) * lib["latch_leakage_nw"] + muxes * lib["mux2_leakage_nw"]
        extra_leak += nw * p["period_ns"] * 1e-3 / mpc
    if step >= 2 and ternary and bufs["activations"].get("copies", 1) == 2:
        rb = bufs["activations"]
        reads["activations"] -= access.get("rb_re_b", 0)
        sram_area["activations"] /= 2
        leak_per_mac["activations"] /= 2
        extra_ff += p["lanes"] * 8 * ff_clock_per_ff_cycle / mpc  # the shared chunk register
        extra_area += p["lanes"] * 8 * lib["latch_um2"] * 2  # a flip-flop ~ two latches
        rb = dict(rb, write_pj=rb["write_pj"] / 2)
        bufs = dict(bufs, activations=rb)
    if step >= 3:
        gated = clock * min(1.0, p["ff_toggle_rate"] + ICG_SHARE)
        split["flip_flops_clock"] -= clock - gated
        extra_ff *= min(1.0, p["ff_toggle_rate"] + ICG_SHARE)
    split["sram"] = sum(_buffer_pj_per_mac(bufs[k], macs, reads[k], writes[k])
                        + leak_per_mac[k] for k in bufs)
    split["flip_flops_clock"] += extra_ff
    split["leakage"] += extra_leak
    area = p["logic_area_um2"] + extra_area + sum(sram_area.values())
    return {"split": split, "energy_pj_per_mac": sum(split.values()),
            "area_per_mac_um2": area / p["mac_per_cycle"]}


def architecture_steps(report: dict) -> list[dict]:
    """Every step for every (library, lanes, structure, density) of the report's measured
    standard-cell points: ternary and int8 energy splits and the ternary/int8 ratios.

    Returns:
        one row per point and step: ``library``, ``lanes``, ``structure``, ``density``,
        ``step``, ``area_ratio`` and ``energy_ratio`` (both engines after the step),
        ``*_vs_built_int8`` (the ternary engine after the step against the int8 engine as
        built: what a comparison with an unimproved baseline would claim), ``ternary`` and
        ``int8`` splits (pJ/MAC). Points measured with real clock gating (the report's
        ``config.clock_gating``) skip the modelled 'clock-gated flip-flops' step; reports
        with register files (``config.regfile_words`` or ``requant_registers``) have no
        modelled steps.
    """
    cfg = report.get("config", {})
    if cfg.get("regfile_words") or cfg.get("requant_registers"):
        return []  # the modelled steps re-price SRAM buffers; register files are measured
    steps = STEPS[:-1] if report.get("config", {}).get("clock_gating") else STEPS
    pts = [p for p in report["design_points"] if "loop" in p]
    libs = report.get("libraries", {})
    base = {(p["library"], p["lanes"]): p for p in pts if p["engine"] == "int8"}
    rows = []
    for p in pts:
        b = base.get((p["library"], p["lanes"]))
        lib = libs.get(p["library"], {})
        if p["engine"] == "int8" or b is None or "latch_um2" not in lib:
            continue
        built = _step_costs(b, lib, 0)
        for i, name in enumerate(steps):
            t, i8 = _step_costs(p, lib, i), _step_costs(b, lib, i)
            rows.append({"library": p["library"], "lanes": p["lanes"],
                         "structure": p["structure"], "density": p["density"], "step": name,
                         "area_ratio": t["area_per_mac_um2"] / i8["area_per_mac_um2"],
                         "energy_ratio": t["energy_pj_per_mac"] / i8["energy_pj_per_mac"],
                         "area_ratio_vs_built_int8":
                             t["area_per_mac_um2"] / built["area_per_mac_um2"],
                         "energy_ratio_vs_built_int8":
                             t["energy_pj_per_mac"] / built["energy_pj_per_mac"],
                         "ternary": t["split"], "int8": i8["split"],
                         "ternary_pj_per_mac": t["energy_pj_per_mac"],
                         "int8_pj_per_mac": i8["energy_pj_per_mac"]})
    return rows


def steps_markdown(report: dict) -> list[str]:
    """hw.md lines: the steps table (empty when no standard-cell points were measured)."""
    rows = architecture_steps(report)
    if not rows:
        return []
    out = ["### Architecture steps (modelled on the measured parts)", "",
           "Cumulative; applied to both engines where they apply; equal throughput and clock. "
           "The RTL is unchanged: each step re-prices the measured points "
           "(`mixq.hw.arch_steps` says what each step assumes).", "",
           "| library | lanes | structure | density | step | area ratio | energy/MAC ratio | "
           "against int8 as built: area / energy | "
           "ternary logic / FF+clock / SRAM / leakage pJ/MAC | int8 logic / FF+clock / SRAM / "
           "leakage pJ/MAC |", "|---|---|---|---|---|---|---|---|---|---|"]
    keys = ("logic", "flip_flops_clock", "sram", "leakage")
    for r in rows:
        t = " / ".join(f"{r['ternary'][k]:.2f}" for k in keys)
        b = " / ".join(f"{r['int8'][k]:.2f}" for k in keys)
        out.append(f"| {r['library']} | {r['lanes']} | {r['structure']} | {r['density']:.0%} | "
                   f"{r['step']} | {r['area_ratio']:.2f} | {r['energy_ratio']:.2f} | "
                   f"{r['area_ratio_vs_built_int8']:.2f} / {r['energy_ratio_vs_built_int8']:.2f} | "
                   f"{t} | {b} |")
    return out + [""]
