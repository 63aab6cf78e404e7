"""Per-engine memory breakdown: every buffer, the memory it is built in (SRAM macros or a
register file in standard cells, :mod:`mixq.hw.regfile`), its area, energy per access and
accesses per MAC, so a reader sees which buffer moves the ternary/int8 ratio."""

from __future__ import annotations

from mixq.hw.sram import BUFFER_ACCESS


def memory_rows(bufs: list, rfs: dict, access: dict, macs: int, cycles: int,
                period_ns: float) -> list[dict]:
    """One row per buffer of a design point.

    Args:
        bufs: :class:`mixq.hw.sram.Buffer` (macros); rfs: name -> (RegFile, measured dict of
            :func:`mixq.hw.regfile.measure_regfile`); access: enable-high cycles per port.

    Returns:
        dicts: ``buffer``, ``words``, ``bits``, ``memory`` ('register file' or 'SRAM'),
        ``cells`` (macro name x count, or flip-flops), ``area_um2``, ``pj_per_access`` (dynamic
        energy / accesses; a register file's includes its clock in idle cycles),
        ``accesses``, ``accesses_per_mac``, ``pj_per_mac`` (leakage included).

    Example:
        >>> from mixq.hw.sram import Buffer, Macro
        >>> m = Macro("m", 256, 32, 100.0, 2.0, 3.0, 0.0)
        >>> row = memory_rows([Buffer("weights", 64, 16, 1, m, 10, 0)], {}, {}, 40, 10, 1.0)[0]
        >>> row["cells"], row["area_um2"], row["pj_per_access"], row["accesses_per_mac"]
        ('m x 2', 200.0, 4.0, 0.25)
    """
    rows = []
    for b in bufs:
        n = b.reads + b.writes
        pj = b.access_pj + b.leakage_pj(cycles, period_ns)
        rows.append({"buffer": b.name, "words": b.depth, "bits": b.width, "memory": "SRAM",
                     "cells": f"{b.macro.name} x {b.n_macros}", "area_um2": round(b.area_um2, 1),
                     "pj_per_access": round(b.access_pj / max(n, 1), 4), "accesses": n,
                     "accesses_per_mac": round(n / macs, 4), "pj_per_mac": round(pj / macs, 4)})
    for name, (rf, m) in rfs.items():
        reads, writes = BUFFER_ACCESS[name]
        n = sum(access.get(k, 0) for k in reads + writes)
        dyn = m["logic_pj"] + m["ff_clock_pj"]
        rows.append({"buffer": name, "words": rf.depth, "bits": rf.width,
                     "memory": "register file", "cells": f"{m['flip_flops']} flip-flops",
                     "area_um2": round(m["area_um2"], 1),
                     "pj_per_access": round(dyn / max(n, 1), 4), "accesses": n,
                     "accesses_per_mac": round(n / macs, 4),
                     "pj_per_mac": round((dyn + m["leakage_pj"]) / macs, 4)})
    order = list(BUFFER_ACCESS)
    return sorted(rows, key=lambda r: order.index(r["buffer"]))


def memories_markdown(report: dict) -> list[str]:
    """hw.md table of every standard-cell point's buffers (:func:`memory_rows`)."""
    pts = [p for p in report["design_points"] if p.get("memories")]
    if not pts:
        return []
    cfg = report.get("config", {})
    bits = cfg.get("regfile_words", 0)
    requant = " and the requantization words (`--requant-registers`)" \
        if cfg.get("requant_registers") else ""
    read = cfg.get("regfile_read", "mux")
    out = ["### Memories per engine", "",
           (f"Buffers of at most {bits} words{requant} are register files in standard cells "
            f"({read} read; mapped, replayed bit-exact, priced like the logic; counted in its "
            "area and energy), the others IHP SRAM macros." if bits or requant else
            "Every buffer is built from IHP SRAM macros (`--regfile-words` makes small ones "
            "register files)."),
           "", "| library | engine | structure | buffer | words x bits | memory | cells | um^2 "
           "| pJ/access | accesses/MAC | pJ/MAC |", "|" + "---|" * 11]
    for p in pts:
        for m in p["memories"]:
            out.append(f"| {p['library']} | {p['engine']} | {p['structure']} | {m['buffer']} | "
                       f"{m['words']} x {m['bits']} | {m['memory']} | {m['cells']} | "
                       f"{m['area_um2']:,.0f} | {m['pj_per_access']:.2f} | "
                       f"{m['accesses_per_mac']:.4f} | {m['pj_per_mac']:.3f} |")
    return out + [""]
