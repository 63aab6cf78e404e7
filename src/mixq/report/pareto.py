"""Accuracy / latency / size Pareto front of several runs (``mixq report``).

A run is a folder written by ``mixq demo`` (its ``report.json``). Every model of every run
becomes a point: integer top-1 (float top-1 for the float model), flash bytes (the memory
model's), and latency: the PULP cluster estimate when the run was deployed to a cluster target,
else the emulated single-core estimate; latencies are estimates and runs deployed to different
targets are not comparable (the target is part of each point's label). A point is on the front
when no other point is at least as accurate, as small and as fast, and strictly better in one
(a model that was not deployed counts as infinitely slow).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from mixq.errors import MixqError
from mixq.fileio import write_bytes_atomic, write_json_atomic, write_text_atomic


@dataclass(frozen=True)
class RunPoint:
    """One model of one run.

    Attributes:
        run: the run's label (its folder name, made unique).
        model: model name in the run ('int8', 'mixed', ...).
        target: deployment target, or '' when the run was not deployed.
        top1: integer top-1 (float top-1 for the float model), in [0, 1].
        flash_bytes: flash of the memory model.
        latency_ms: estimated latency, or None when not deployed.
        latency_kind: 'cluster' (PULP cluster model), 'core' (emulated core) or ''.
        pareto: on the front.
    """

    run: str
    model: str
    target: str
    top1: float
    flash_bytes: int
    latency_ms: Optional[float]
    latency_kind: str
    pareto: bool = False

    @property
    def label(self) -> str:
        return f"{self.run}:{self.model}" + (f"@{self.target}" if self.target else "")


def _report_file(path: Path) -> Path:
    return path if path.is_file() else path / "report.json"


def load_points(run_dirs) -> list[RunPoint]:
    """Points of every model of every run (folders written by ``mixq demo``, or report.json).

    Raises:
        MixqError: a folder without report.json, or a corrupt one.
    """
    points, labels = [], {}
    for run in run_dirs:
        path = _report_file(Path(run))
        if not path.is_file():
            raise MixqError(f"{path} not found; pass folders written by `mixq demo`")
        try:
            report = json.loads(path.read_text())
            models = report["models"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise MixqError(f"{path} is not a mixq report (no 'models' list); re-run "
                            "`mixq demo`") from None
        base = path.parent.name or str(path.parent)
        labels[base] = labels.get(base, 0) + 1
        label = base if labels[base] == 1 else f"{base}#{labels[base]}"
        target = report.get("config", {}).get("target", "") if any(
            "est_latency_ms" in m for m in models) else ""
        for m in models:
            top1 = m.get("top1_integer")
            top1 = m.get("top1_float") if top1 is None else top1
            if top1 is None:
                continue
            if "est_cluster_latency_ms" in m:
                lat, kind = float(m["est_cluster_latency_ms"]), "cluster"
            elif "est_latency_ms" in m:
                lat, kind = float(m["est_latency_ms"]), "core"
            else:
                lat, kind = None, ""
            points.append(RunPoint(label, m["name"], target if lat is not None else "",
                                   float(top1), int(m["flash_bytes"]), lat, kind))
    if not points:
        raise MixqError("no models with an accuracy in the given runs")
    return points


def _dominates(a: RunPoint, b: RunPoint) -> bool:
    inf = float("inf")
    lat_a = inf if a.latency_ms is None else a.latency_ms
    lat_b = inf if b.latency_ms is None else b.latency_ms
    return (a.top1 >= b.top1 and a.flash_bytes <= b.flash_bytes and lat_a <= lat_b
            and (a.top1 > b.top1 or a.flash_bytes < b.flash_bytes or lat_a < lat_b))


def pareto_front(points: list[RunPoint]) -> list[RunPoint]:
    """``points`` with ``pareto`` set: accuracy up, flash down, latency down.

    A model without a latency (not deployed) counts as infinitely slow: it is on the front only
    when it is more accurate or smaller than every faster point.

    Example:
        >>> p = [RunPoint("a", "m", "", 0.9, 100, 1.0, "core"),
        ...      RunPoint("b", "m", "", 0.8, 200, 2.0, "core"),
        ...      RunPoint("c", "m", "", 0.7, 50, 3.0, "core")]
        >>> [(x.run, x.pareto) for x in pareto_front(p)]
        [('a', True), ('b', False), ('c', True)]
    """
    return [RunPoint(**{**asdict(p), "pareto": not any(_dominates(q, p)
                                                       for q in points if q is not p)})
            for p in points]


def render_table(points: list[RunPoint]) -> str:
    """Markdown: every point, front first, then by accuracy."""
    lines = ["# mixq report: accuracy / latency / size", "",
             "Latencies are estimates (cluster: PULP cluster model; core: emulated single core); "
             "runs deployed to different targets are not comparable.", "",
             "| run:model@target | Pareto | top-1 | flash B | est. latency ms | latency from |",
             "|---|---|---|---|---|---|"]
    for p in sorted(points, key=lambda p: (not p.pareto, -p.top1, p.flash_bytes, p.label)):
        lat = "–" if p.latency_ms is None else f"{p.latency_ms:.3f}"
        lines.append(f"| {p.label} | {'yes' if p.pareto else ''} | {100 * p.top1:.1f}% | "
                     f"{p.flash_bytes:,} | {lat} | {p.latency_kind or '–'} |")
    return "\n".join(lines) + "\n"


def render_plot(points: list[RunPoint]) -> bytes:
    """PNG: accuracy vs estimated latency and accuracy vs flash, the front as a step line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_lat = [p for p in points if p.latency_ms is not None]
    panels = [("flash_bytes", "flash bytes (log)")]
    if with_lat:
        panels.insert(0, ("latency_ms", "estimated latency ms (log; an estimate)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.4), squeeze=False)
    runs = sorted({p.run for p in points})
    cmap = plt.get_cmap("tab10")
    for ax, (key, xlabel) in zip(axes[0], panels):
        pts = with_lat if key == "latency_ms" else points
        labels: dict = {}
        for p in pts:  # stars: on the 3-objective front
            xy = (getattr(p, key), 100 * p.top1)
            ax.scatter(*xy, color=cmap(runs.index(p.run) % 10), marker="*" if p.pareto else "o",
                       s=120 if p.pareto else 40, edgecolors="k", alpha=0.8)
            labels.setdefault(xy, []).append(p.label)
        for xy, names in labels.items():  # one label per position (identical points share it)
            ax.annotate("\n".join(names), xy, textcoords="offset points", xytext=(6, -3),
                        fontsize=7)
        xs, ys, best = [], [], -1.0
        for x, y in sorted(labels, key=lambda v: (v[0], -v[1])):  # this panel's 2-D front
            if y > best:
                best = y
                xs.append(x)
                ys.append(y)
        ax.step(xs, ys, where="post", color="k", lw=1, ls="--",
                label="best accuracy at this cost")
        ax.legend(fontsize=7, loc="lower right")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("top-1 accuracy %")
        ax.grid(alpha=0.3)
        ax.margins(x=0.2, y=0.1)
    axes[0][0].set_title("accuracy vs estimated latency" if with_lat else "accuracy vs flash")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def write_pareto_report(run_dirs, out) -> list[RunPoint]:
    """Read the runs, mark the front, write ``pareto.json``, ``pareto.md``, ``pareto.png``.

    Raises:
        MixqError: unreadable runs (see :func:`load_points`).
    """
    points = pareto_front(load_points(run_dirs))
    out = Path(out)
    write_json_atomic(out / "pareto.json", {"note": "latencies are estimates",
                                            "points": [asdict(p) for p in points]})
    write_text_atomic(out / "pareto.md", render_table(points))
    write_bytes_atomic(out / "pareto.png", render_plot(points))
    return points


__all__ = ["RunPoint", "load_points", "pareto_front", "render_plot", "render_table",
           "write_pareto_report"]
