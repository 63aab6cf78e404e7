"""Report files: ``report.json`` (stable field names), ``report.md`` and ``tradeoff.png``."""

from __future__ import annotations

import io
from pathlib import Path

from mixq.fileio import write_bytes_atomic, write_json_atomic, write_text_atomic

COLORS = {"float": "#7f7f7f", "int8": "#1f77b4", "int8-fit": "#2ca02c", "mixed": "#d62728"}


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _num(v) -> str:
    return "–" if v is None else f"{v:,}"


def _accuracy(m: dict) -> float:
    return m["top1_integer"] if m.get("top1_integer") is not None else m["top1_float"]


def render_markdown(report: dict) -> str:
    """The human-readable report (a table per concern)."""
    b = report["budget"]
    lines = [
        f"# mixq demo report ({report.get('dataset', '')})", "",
        f"Budget: flash **{b['flash_bytes']:,} B**, RAM **{b['ram_bytes']:,} B**. "
        "*fits* is decided by the linked build for the target: the ELF image (code + weights + "
        "constants) within the flash, and the arena + static RAM + stack bound + input/logits "
        "buffers within the RAM. The *model* columns are the memory model of Rusci et al. 2020 "
        "(packed weights + per-layer overhead; peak of one layer's input + output), which the "
        "allocator uses; the float model is never built, its *fits* is the memory model's.", "",
        "| model | top-1 float | top-1 fake-quant | top-1 integer | model flash B "
        "| linked flash B | model RAM B | linked RAM B | MACs | fits | integer mismatches |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in report["models"]:
        lines.append(f"| {m['name']} | {_pct(m['top1_float'])} | {_pct(m['top1_fakequant'])} | "
                     f"{_pct(m['top1_integer'])} | {_num(m['flash_bytes'])} | "
                     f"{_num(m.get('linked_flash_bytes'))} | {_num(m['ram_peak_bytes'])} | "
                     f"{_num(m.get('linked_ram_bytes'))} | {_num(m['macs'])} | "
                     f"{'yes' if m['fits'] else 'no'} | {_num(m['integer_mismatches'])} |")
    linked = [m for m in report["models"] if "linked_ram_bytes" in m]
    if linked:
        lines += ["", "Linked RAM = arena + static RAM + stack bound + io buffers: " + "; ".join(
            f"{m['name']} {m['arena_bytes']:,} + {m['static_ram_bytes']:,} + "
            f"{m['stack_bytes']:,} + {m['io_bytes']:,}" for m in linked) + "."]
    if report.get("fit_steps"):
        lines += ["", "The mixed allocation, closed on the linked build (each round: allocate "
                  "under the model budget, build, tighten by the measured excess):", ""]
        for st in report["fit_steps"]:
            f, mb = st["fit"], st["model_budget"]
            lines.append(f"{st['step']}. model budget {mb['flash_bytes']:,} B / "
                         f"{mb['ram_bytes']:,} B -> model {st['model_flash_bytes']:,} B / "
                         f"{st['model_ram_bytes']:,} B; linked {f['flash_bytes']:,} B / "
                         f"{f['ram_bytes']:,} B (over by {st['flash_excess']:,} B / "
                         f"{st['ram_excess']:,} B)")
    for r in report.get("references", []):
        lines += ["", f"Reference: a uniform **{r['name']}** model of the same network reaches "
                  f"{_pct(r['top1_integer'])} top-1 (integer; {_pct(r['top1_fakequant'])} "
                  f"fake-quant) at {r['flash_bytes']:,} B flash and {r['ram_peak_bytes']:,} B RAM: "
                  "precision has to be placed where it matters, not cut uniformly."]
    deployed = [m for m in report["models"] if "instructions" in m]
    if deployed:
        clock = deployed[0]["clock_hz"] / 1e6
        cpu = deployed[0].get("cpu", "")
        core = ("RV32IMC core" if cpu == "rv32imc" else "RI5CY core (Xpulp)"
                if cpu.startswith("ri5cy") else "Cortex-M7")
        cluster = all("est_cluster_latency_ms" in m for m in deployed)
        lines += ["", f"## On the emulated {core} (cycles and latency are estimates at "
                  f"{clock:.0f} MHz)", "",
                  "| model | bit-exact | samples | ELF flash B | arena B | arena lower bound B "
                  "| instructions | est. cycles | est. latency ms |"
                  + (" est. cluster latency ms |" if cluster else ""),
                  "|---|---|---|---|---|---|---|---|---|" + ("---|" if cluster else "")]
        for m in deployed:
            lines.append(f"| {m['name']} | {'yes' if m['bitexact'] else 'NO'} | "
                         f"{m['emulated_samples']} | {_num(m['deployed_flash_bytes'])} | "
                         f"{_num(m['arena_bytes'])} | {_num(m['arena_lower_bound_bytes'])} | "
                         f"{_num(m['instructions'])} | {_num(m['est_cycles'])} | "
                         f"{m['est_latency_ms']:.3f} |"
                         + (f" {m['est_cluster_latency_ms']:.3f} |" if cluster else ""))
        if cluster:
            m = deployed[0]
            how = ("the executed Xpulp programs timed per core with TCDM bank conflicts, L1 "
                   "tiling and double-buffered DMA: a model of mixq.deploy.cluster_timing"
                   if cpu.startswith("ri5cy") else
                   "PULP-NN-style kernels, L1 tiling and double-buffered DMA: an estimate of "
                   "mixq.deploy.cluster (the single-core figures come from the emulated "
                   "RV32IMC run)")
            lines += ["", f"Est. cluster latency: {m['cluster_cores']} cores at "
                      f"{m['cluster_clock_hz'] / 1e6:.0f} MHz, {how}; not a measurement."]
    lines += ["", "## Bit allocation of each quantized model", ""]
    for m in report["models"]:
        if m.get("bits"):
            bits = ", ".join(f"{l['name']} w{l['w_bits']}a{l['out_bits']}" for l in m["bits"])
            lines.append(f"- **{m['name']}**: {bits}")
    lines += ["", "![trade-off](tradeoff.png)", ""]
    return "\n".join(lines)


def byte_label(value: float, _pos=None) -> str:
    """Short tick label for a byte count: '500 B', '5 kB', '20 kB', '2 MB' (k = 1,000).

    Example:
        >>> [byte_label(v) for v in (500, 5000, 20000, 1500, 2_000_000)]
        ['500 B', '5 kB', '20 kB', '1.5 kB', '2 MB']
    """
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.3g} B"


def _log_bytes_axis(ax) -> None:
    """Label a log x axis of byte counts (call once its limits are set): short labels on evenly
    spaced values within one decade, on 1-2-5 ticks up to two decades, on powers of ten beyond,
    minor ticks unlabelled
    (matplotlib's default labelled the 2..9 x 10^k minor ticks too, and they overlapped)."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    lo, hi = ax.get_xlim()
    decades = math.log10(hi / lo)
    if decades < 1:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    else:
        subs = (1.0, 2.0, 5.0) if decades <= 2 else (1.0,)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=12))
    ax.xaxis.set_major_formatter(FuncFormatter(byte_label))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_figure(report: dict):
    """The matplotlib Figure of :func:`render_plot` (the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = report["models"]
    deployed = [m for m in models if "est_latency_ms" in m]
    cluster = bool(deployed) and all("est_cluster_latency_ms" in m for m in deployed)
    lat_key = "est_cluster_latency_ms" if cluster else "est_latency_ms"
    fig, axes = plt.subplots(1, 2 if deployed else 1, figsize=(11 if deployed else 6, 4.2),
                             squeeze=False)
    ax = axes[0][0]
    def flash(m):  # the linked image where built (the float model: its fp32 weights)
        return m.get("linked_flash_bytes", m["flash_bytes"])

    def ram(m):
        return m.get("linked_ram_bytes", m["ram_peak_bytes"])

    ram_max = max(ram(m) for m in models)
    for m in models:
        ax.scatter(flash(m), 100 * _accuracy(m), s=40 + 400 * ram(m) / ram_max,
                   color=COLORS.get(m["name"], "k"), alpha=0.75, edgecolors="k")
        ax.annotate(f"{m['name']}\nRAM {ram(m):,} B", (flash(m), 100 * _accuracy(m)),
                    textcoords="offset points", xytext=(8, -4), fontsize=8)
    ax.axvline(report["budget"]["flash_bytes"], ls="--", color="k", lw=1,
               label=f"flash budget (RAM budget {report['budget']['ram_bytes']:,} B)")
    ax.set_xscale("log")
    ax.set_xlabel("flash: linked image; float: fp32 weights (log scale; 1 kB = 1,000 B)")
    ax.set_ylabel("top-1 accuracy % (integer model; float for float)")
    ax.set_title("accuracy vs flash (marker area ~ RAM)")
    ax.grid(alpha=0.3)
    ax.margins(x=0.25, y=0.15)
    _log_bytes_axis(ax)
    ax.legend(fontsize=7, loc="lower right")
    if deployed:
        ax2 = axes[0][1]
        fmax = max(m["deployed_flash_bytes"] for m in deployed)
        for m in deployed:
            ax2.scatter(m[lat_key], 100 * _accuracy(m),
                        s=40 + 400 * m["deployed_flash_bytes"] / fmax,
                        color=COLORS.get(m["name"], "k"), alpha=0.75, edgecolors="k")
            ax2.annotate(f"{m['name']}\nflash {m['deployed_flash_bytes']:,} B",
                         (m[lat_key], 100 * _accuracy(m)), textcoords="offset points",
                         xytext=(8, -4), fontsize=8)
        if cluster:
            ax2.set_xlabel(f"estimated latency ms, {deployed[0]['cluster_cores']}-core cluster "
                           f"at {deployed[0]['cluster_clock_hz'] / 1e6:.0f} MHz (model; estimate)")
        else:
            ax2.set_xlabel(f"estimated latency ms at {deployed[0]['clock_hz'] / 1e6:.0f} MHz "
                           "(emulated Cortex-M7; estimate)")
        ax2.set_ylabel("top-1 accuracy %")
        ax2.set_title("accuracy vs latency (marker area ~ flash)")
        ax2.grid(alpha=0.3)
        ax2.margins(x=0.25, y=0.15)
    fig.tight_layout()
    return fig


def figure_png(fig, dpi: int = 110) -> bytes:
    """The PNG bytes of a matplotlib Figure, without metadata (same figure, same bytes); the
    figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def render_plot(report: dict) -> bytes:
    """PNG: accuracy vs flash (marker area ~ peak RAM, budget lines) and, when deployed,
    accuracy vs estimated latency (marker area ~ flash)."""
    return figure_png(plot_figure(report))


def write_report_files(out, report: dict, markdown: str, plots: dict[str, bytes]) -> None:
    """Write ``report.json``, ``report.md`` and each plot (file name -> PNG) into ``out``,
    each atomically."""
    out = Path(out)
    write_json_atomic(out / "report.json", report)
    write_text_atomic(out / "report.md", markdown)
    for name, png in plots.items():
        write_bytes_atomic(out / name, png)


def write_report(out, report: dict) -> None:
    """Write report.json, report.md and tradeoff.png into ``out`` (atomically)."""
    write_report_files(out, report, render_markdown(report), {"tradeoff.png": render_plot(report)})
