"""The study's report (``mixq study``): rows summarized over seeds, ``report.md``, plots.

Rows come from :mod:`mixq.study.run` as ``report.json`` objects (one per model and seed, with the
deployment figures); this module only aggregates and renders them.
"""

from __future__ import annotations

import statistics

from mixq.report.render import _log_bytes_axis, figure_png, write_report_files

COLORS = {"float": "#7f7f7f", "int8": "#1f77b4", "int8-fit": "#2ca02c",
          "mixed-memory": "#d62728", "mixed-sensitivity": "#9467bd"}
MEANS = ("top1_float", "top1_fakequant", "top1_integer", "est_cycles", "est_latency_ms",
         "instructions")
WORST = ("flash_bytes", "ram_peak_bytes", "model_flash_bytes", "model_ram_bytes",
         "linked_flash_bytes", "deployed_flash_bytes", "arena_bytes", "static_ram_bytes",
         "stack_bytes", "io_bytes", "linked_ram_bytes")
PLOTS = (("linked_flash_bytes", "linked image flash (log scale)", "flash_bytes"),
         ("linked_ram_bytes", "RAM: arena + static + stack + io (log scale)", "ram_bytes"),
         ("est_latency_ms", "estimated latency ms on the emulated core", "latency_ms"))


def _mean_std(values) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), statistics.pstdev(values) if len(values) > 1 else 0.0


def summarize_runs(runs: list[dict]) -> list[dict]:
    """One row per model over its seeds: accuracy and latency mean (``<field>`` and
    ``<field>_std``, population std), footprints at their worst seed, ``fits``/``bitexact``
    only if every seed's does.

    Example:
        >>> runs = [{"seed": s, "name": "int8", "network": "n", "top1_integer": a, "fits": True,
        ...          "flash_bytes": 10 + s, "macs": 5} for s, a in ((0, 0.8), (1, 0.9))]
        >>> r = summarize_runs(runs)[0]
        >>> round(r["top1_integer"], 3), round(r["top1_integer_std"], 3), r["flash_bytes"], r["seeds"]
        (0.85, 0.05, 11, 2)
    """
    names = list(dict.fromkeys(r["name"] for r in runs))
    out = []
    for name in names:
        rows = [r for r in runs if r["name"] == name]
        first = rows[0]
        row = {"name": name, "network": first.get("network"), "seeds": len(rows),
               "macs": first.get("macs"), "fits": all(r["fits"] for r in rows)}
        for key in MEANS:
            if key in first:
                row[key], row[f"{key}_std"] = _mean_std(r.get(key) for r in rows)
        for key in WORST:
            if key in first:
                row[key] = max(r[key] for r in rows)
        if "integer_mismatches" in first:
            mism = [r["integer_mismatches"] for r in rows]
            row["integer_mismatches"] = None if None in mism else sum(mism)
        if "bitexact" in first:
            row["bitexact"] = all(r["bitexact"] for r in rows)
            row["emulated_samples"] = sum(r["emulated_samples"] for r in rows)
            row["clock_hz"] = first["clock_hz"]
        if "width" in first:
            row["width"] = first["width"]
        out.append(row)
    return out


def _pm(m: dict, key: str, scale: float = 100.0, fmt: str = ".2f") -> str:
    if m.get(key) is None:
        return "–"
    return f"{scale * m[key]:{fmt}} ± {scale * m[f'{key}_std']:{fmt}}"


def _ms(c: dict) -> str:
    """'8-bit / mixed' estimated ms of a candidate ('–' without a latency bound)."""
    if c.get("int8_latency_ms") is None:
        return "–"
    mixed = "–" if c.get("mixed_latency_ms") is None else f"{c['mixed_latency_ms']:.2f}"
    return f"{c['int8_latency_ms']:.2f} / {mixed}"


def _num(v) -> str:
    return "–" if v is None else f"{v:,}"


def headline(report: dict) -> str:
    """The comparison the study exists for: best mixed model vs the fitting 8-bit baseline."""
    models = {m["name"]: m for m in report["models"]}
    base = models.get("int8-fit")
    mixed = [m for m in report["models"] if m["name"].startswith("mixed") and m["fits"]]
    if base is None or not mixed:
        return "No fitting mixed model to compare with the 8-bit baseline."
    best = max(mixed, key=lambda m: m["top1_integer"])
    gain = 100 * (best["top1_integer"] - base["top1_integer"])
    return (f"Best fitting mixed model ({best['name']}, {best['network']}): "
            f"{100 * best['top1_integer']:.2f}% vs the best fitting 8-bit model "
            f"({base['network']}): {100 * base['top1_integer']:.2f}%, **{gain:+.2f} points** "
            f"(mean over {best['seeds']} seed(s); target: +1 point).")


def render_study_markdown(report: dict) -> str:
    """``report.md`` of a study."""
    b, left, sel = report["budget"], report["model_budget"], report["selection"]
    bound = f", latency **{b['latency_ms']:g} ms** (estimate)" if "latency_ms" in b else ""
    lines = [f"# mixq study: {report['dataset']} on {report['platform']}", "",
             f"Budget: flash **{b['flash_bytes']:,} B** (linked image), RAM "
             f"**{b['ram_bytes']:,} B** (arena + static RAM + stack bound + io buffers){bound}; for the memory model: flash "
             f"{left['flash_bytes']:,} B, RAM {left['ram_bytes']:,} B. Data: "
             f"{report['train_samples']:,} training / {report['test_samples']:,} test images. "
             f"Top-1: {report['accuracy_source']}.", "", headline(report), "",
             "## Results (mean ± std over seeds)", "",
             "| model | network | top-1 integer % | top-1 fake-quant % | top-1 float % | "
             "flash B (model) | linked flash B | peak RAM B (model) | arena B | linked RAM B | "
             "est. cycles | fits (linked) | bit-exact |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in report["models"]:
        bit = "–" if "bitexact" not in m else ("yes" if m["bitexact"] else "NO")
        lines.append(f"| {m['name']} | {m['network']} | {_pm(m, 'top1_integer')} | "
                     f"{_pm(m, 'top1_fakequant')} | {_pm(m, 'top1_float')} | "
                     f"{_num(m['flash_bytes'])} | {_num(m.get('linked_flash_bytes'))} | "
                     f"{_num(m['ram_peak_bytes'])} | {_num(m.get('arena_bytes'))} | "
                     f"{_num(m.get('linked_ram_bytes'))} | {_pm(m, 'est_cycles', 1.0, ',.0f')} | {'yes' if m['fits'] else 'no'} | "
                     f"{bit} |")
    lines += ["", "![trade-off](study.png)", "", "## Network selection", "", sel["rule"] + ".", "",
              "| candidate | MACs | weights | 8-bit flash B | 8-bit RAM B | fits 8-bit | "
              "mixed mean w bits | fits mixed | est. ms 8-bit / mixed | role |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for c in sel["candidates"]:
        label = f"{c['family']} w{c['width']:g} {c['resolution']}x{c['resolution']}"
        role = " + ".join(r for r, x in (("chosen", sel["chosen"]), ("baseline", sel["baseline"]))
                          if x == label)
        lines.append(f"| {label} | {c['macs']:,} | {c['weight_count']:,} | "
                     f"{c['int8_flash_bytes']:,} | {c['int8_ram_bytes']:,} | "
                     f"{'yes' if c['fits_int8'] else 'no'} | {c['mean_w_bits']:.2f} | "
                     f"{'yes' if c['fits_mixed'] else 'no'} | {_ms(c)} | {role} |")
    lines += ["", "## Every seed", "", "| seed | model | top-1 integer % | linked flash B | "
              "linked RAM B | fits | bit-exact | mismatches (interpret vs QAT integer) |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        bit = "–" if "bitexact" not in r else ("yes" if r["bitexact"] else "NO")
        top1 = r["top1_integer"] if r["top1_integer"] is not None else r["top1_float"]
        lines.append(f"| {r['seed']} | {r['name']} | {100 * top1:.2f} | "
                     f"{_num(r.get('linked_flash_bytes'))} | {_num(r.get('linked_ram_bytes'))} | "
                     f"{'yes' if r['fits'] else 'no'} | {bit} | {_num(r['integer_mismatches'])} |")
    lines += ["", "## Bit allocations (seed 0)", ""]
    for r in report["runs"]:
        if r["seed"] == 0 and r.get("bits"):
            bits = ", ".join(f"{l['name']} w{l['w_bits']}a{l['out_bits']}" for l in r["bits"])
            lines.append(f"- **{r['name']}** ({r['network']}): {bits}")
    return "\n".join(lines + [""])


def plot_study(report: dict) -> bytes:
    """PNG: top-1 (integer, mean ± std) vs linked flash, vs arena, vs estimated cycles, with the
    budget lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in report["models"] if "bitexact" in m]
    fig, axes = plt.subplots(1, len(PLOTS), figsize=(15, 4.4))
    for ax, (key, label, budget_key) in zip(axes, PLOTS):
        for m in models:
            ax.errorbar(m[key], 100 * m["top1_integer"], yerr=100 * m["top1_integer_std"],
                        fmt="o", ms=8, capsize=4, color=COLORS.get(m["name"], "k"),
                        label=f"{m['name']} ({m['network']})")
        if budget_key in report["budget"]:
            value = report["budget"][budget_key]
            ax.axvline(value, ls="--", color="k", lw=1, label=f"budget {value:,}"
                       + (" ms" if budget_key == "latency_ms" else " B"))
        if budget_key == "latency_ms":
            clock = models[0]["clock_hz"] if models else 0
            label += f" (cycles at {clock / 1e6:.0f} MHz)"
        ax.set_xlabel(label)
        ax.set_ylabel("top-1 % (integer model, mean ± std)")
        ax.grid(alpha=0.3)
        ax.margins(x=0.2, y=0.2)
        if budget_key != "latency_ms":
            ax.set_xscale("log")
            _log_bytes_axis(ax)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{report['dataset']} on {report['platform']}")
    fig.tight_layout()
    return figure_png(fig, dpi=100)


def summary_lines(report: dict) -> list[str]:
    """What ``mixq study`` prints: the selection and one line per model."""
    sel = report["selection"]
    lines = [f"  chosen {sel['chosen']}, 8-bit baseline {sel['baseline']}"]
    for m in report["models"]:
        key = "top1_integer" if m.get("top1_integer") is not None else "top1_float"
        text = f"  {m['name']:<17} {m['network']:<18} top-1 {_pm(m, key)} %"
        if "linked_flash_bytes" in m:
            text += (f"  linked flash {m['linked_flash_bytes']:>9,} B  RAM "
                     f"{m['linked_ram_bytes']:>7,} B  fits={'yes' if m['fits'] else 'no'}  "
                     f"bit-exact={'yes' if m['bitexact'] else 'NO'}")
        lines.append(text)
    return lines + ["  " + headline(report)]


def write_study_report(out, report: dict) -> None:
    """Write report.json, report.md and study.png into ``out`` (atomically)."""
    write_report_files(out, report, render_study_markdown(report),
                       {"study.png": plot_study(report)})
