"""Sweep plots: accuracy vs effective bits per weight, and a density x structure heatmap.

Inputs are :func:`mixq.intralayer.report.aggregate` dicts keyed by
(kind, bits, density, structure, criterion). PNGs are written atomically without metadata.
"""

from __future__ import annotations

import io
from pathlib import Path

from mixq.fileio import write_bytes_atomic

REF_STYLE = {8: ("8-bit", "s"), 4: ("4-bit", "D"), 2: ("2-bit", "v")}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    _pyplot().close(fig)
    write_bytes_atomic(path, buf.getvalue())


def _criteria(agg: dict, cfg) -> list[str]:
    return [c for c in cfg.criteria if any(k[0] == "dense+sparse" and k[4] == c for k in agg)]


def plot_accuracy_vs_bits(path, agg: dict, cfg) -> None:
    """Top-1 vs whole-model effective bits per weight: one line per structure (starting at the
    pure ternary point), one panel per criterion, with the 8/4/2-bit and ternary references."""
    plt = _pyplot()
    crits = _criteria(agg, cfg) or ["-"]
    fig, axes = plt.subplots(1, len(crits), figsize=(6.2 * len(crits), 4.4), squeeze=False,
                             sharey=True)
    tern = next((v for k, v in agg.items() if k[0] == "ternary"), None)
    refs = {k[1]: v for k, v in agg.items() if k[0] == "reference"}
    for ax, crit in zip(axes[0], crits):
        for s in cfg.structures:
            pts = sorted((k[2], v) for k, v in agg.items()
                         if k[0] == "dense+sparse" and k[3] == s and k[4] == crit)
            if tern is not None:
                pts = [(0.0, tern)] + pts
            if len(pts) < 2:
                continue
            ax.plot([v["bits_per_weight"] for _, v in pts],
                    [100 * v["top1_integer"] for _, v in pts], marker="o", ms=3.5, lw=1.3,
                    label=s)
        for b, v in sorted(refs.items(), reverse=True):
            label, marker = REF_STYLE.get(b, (f"{b}-bit", "x"))
            ax.plot(v["bits_per_weight"], 100 * v["top1_integer"], marker, color="black", ms=7,
                    mfc="none", label=label)
            ax.annotate(label, (v["bits_per_weight"], 100 * v["top1_integer"]),
                        textcoords="offset points", xytext=(5, -10), fontsize=8)
        if tern is not None:
            ax.plot(tern["bits_per_weight"], 100 * tern["top1_integer"], "*", color="black",
                    ms=10, label="ternary")
        if 8 in refs:
            ax.axhline(100 * refs[8]["top1_integer"] - 1, color="grey", ls=":", lw=1,
                       label="8-bit - 1 point")
        ax.set_title(f"criterion: {crit}")
        ax.set_xlabel("effective bits per weight (whole model: values + scales + indices)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("top-1 % (integer model)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Dense ternary + sparse int8 on {cfg.dataset} / {cfg.model}", fontsize=10)
    fig.tight_layout()
    _save(fig, Path(path))


def plot_heatmap(path, agg: dict, cfg) -> None:
    """Top-1 over density (columns) x structure (rows), one panel per criterion; density 0 is
    the pure ternary model; '–' where the structure does not allow the density."""
    plt = _pyplot()
    import numpy as np

    crits = _criteria(agg, cfg) or ["-"]
    tern = next((v for k, v in agg.items() if k[0] == "ternary"), None)
    densities = sorted({k[2] for k in agg if k[0] == "dense+sparse"} |
                       ({0.0} if tern is not None else set()))
    structures = list(cfg.structures)
    fig, axes = plt.subplots(1, len(crits), figsize=(1.1 * len(densities) * len(crits) + 2.5,
                                                     0.45 * len(structures) + 1.8),
                             squeeze=False)
    grids = []
    for crit in crits:
        grid = np.full((len(structures), len(densities)), np.nan)
        for i, s in enumerate(structures):
            for j, d in enumerate(densities):
                v = tern if d == 0.0 else agg.get(("dense+sparse", None, d, s, crit))
                if v is not None:
                    grid[i, j] = 100 * v["top1_integer"]
        grids.append(grid)
    finite = np.concatenate([g[np.isfinite(g)] for g in grids])
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 100.0)
    for ax, crit, grid in zip(axes[0], crits, grids):  # one color scale for every panel
        im = ax.imshow(grid, cmap="viridis", aspect="auto", vmin=lo, vmax=hi)
        for i in range(len(structures)):
            for j in range(len(densities)):
                txt = "–" if np.isnan(grid[i, j]) else f"{grid[i, j]:.1f}"
                ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                        color="white" if np.isnan(grid[i, j]) or grid[i, j] < (lo + hi) / 2
                        else "black")
        ax.set_xticks(range(len(densities)), [f"{100 * d:g}%" for d in densities])
        ax.set_yticks(range(len(structures)), structures)
        ax.set_xlabel("outlier density")
        ax.set_title(f"top-1 %, criterion: {crit}", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    _save(fig, Path(path))
