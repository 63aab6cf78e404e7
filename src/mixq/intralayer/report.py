"""Sweep outputs: ``table.md``, ``accuracy_vs_bits.png`` and ``heatmap.png``.

Every figure is the mean over the seeds of a trial (top-1 of the integer model, which equals
the QAT integer-exact mode bit for bit). Deterministic bytes for the same records (no timestamps;
matplotlib's PNG metadata is stripped).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from mixq.fileio import write_text_atomic

TARGET_DENSITY = 0.02     # issue 4: ternary + at most 2% outliers ...
TARGET_POINTS = 0.01      # ... within 1 point of the 8-bit model's top-1 ...
TARGET_BITS = 2.5         # ... at no more than 2.5 effective bits per weight
REF_LABELS = {8: "8-bit", 4: "4-bit", 2: "2-bit"}


def _key(r: dict) -> tuple:
    return (r["kind"], r.get("bits"), r.get("density"), r.get("structure"), r.get("criterion"))


def aggregate(records) -> dict[tuple, dict]:
    """Mean of every numeric field over the seeds of each trial; key = (kind, bits, density,
    structure, criterion)."""
    groups = defaultdict(list)
    for r in records:
        groups[_key(r)].append(r)
    out = {}
    for key, rs in groups.items():
        mean = dict(rs[0])
        for f in ("top1_integer", "top1_fakequant", "bits_per_weight",
                  "bits_per_weight_dense_sparse", "achieved_density", "integer_mismatches"):
            vals = [r[f] for r in rs if r.get(f) is not None]
            mean[f] = float(np.mean(vals)) if vals else None
        mean["seeds"] = len(rs)
        mean["top1_std"] = float(np.std([r["top1_integer"] for r in rs]))
        out[key] = mean
    return out


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _top1(r: dict) -> str:
    """Mean top-1 %, with the standard deviation over seeds when there are several."""
    if r.get("seeds", 1) > 1:
        return f"{_pct(r['top1_integer'])}±{100 * r['top1_std']:.1f}"
    return _pct(r["top1_integer"])


def _bits(v) -> str:
    return "–" if v is None else f"{v:.2f}"


def build_table(records, cfg) -> str:
    """The markdown report of a sweep (``table.md``)."""
    agg = aggregate(records)
    refs = {k[1]: v for k, v in agg.items() if k[0] == "reference"}
    tern = next((v for k, v in agg.items() if k[0] == "ternary"), None)
    ds = {(k[2], k[3], k[4]): v for k, v in agg.items() if k[0] == "dense+sparse"}
    seeds = max((v["seeds"] for v in agg.values()), default=0)
    lines = [f"# Intra-layer mixed precision sweep ({cfg.dataset}, {cfg.model} width {cfg.width})",
             "",
             f"QAT {cfg.qat_epochs} epochs from a float model trained {cfg.float_epochs} epochs; "
             f"first/last layers {cfg.edge_bits}-bit, activations {cfg.act_bits}-bit; "
             f"{seeds} seed(s) per point (mean ± standard deviation over seeds). Top-1 of the "
             "integer model on the test split (%), effective "
             "bits per weight of the whole model (values + scales + indices, "
             "`mixq.intralayer.cost`).", "",
             "## Reference models", "",
             "| model | top-1 % | bits/weight (model) | bits/weight (middle layers) |",
             "|---|---|---|---|"]
    for b in sorted(refs, reverse=True):
        r = refs[b]
        lines.append(f"| {REF_LABELS.get(b, f'{b}-bit')} middle layers | {_top1(r)} "
                     f"| {_bits(r['bits_per_weight'])} | – |")
    if tern is not None:
        lines.append(f"| ternary (density 0) | {_top1(tern)} | "
                     f"{_bits(tern['bits_per_weight'])} | "
                     f"{_bits(tern['bits_per_weight_dense_sparse'])} |")
    densities = sorted({k[0] for k in ds})
    structures = [s for s in cfg.structures if any(k[1] == s for k in ds)]
    for crit in [c for c in cfg.criteria if any(k[2] == c for k in ds)]:
        lines += ["", f"## Dense ternary + sparse int8, criterion `{crit}`", "",
                  "Cells: top-1 % / bits per weight (whole model).", "",
                  "| structure | " + " | ".join(f"{100 * d:g}%" for d in densities) + " |",
                  "|---|" + "---|" * len(densities)]
        for s in structures:
            cells = []
            for d in densities:
                r = ds.get((d, s, crit))
                cells.append("–" if r is None else
                             f"{_top1(r)} / {_bits(r['bits_per_weight'])}")
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
    n_test = max((r.get("test_samples") or 0 for r in records), default=0)
    if n_test:
        lines += ["", f"Test split: {n_test} images (one image = {100 / n_test:.2f} points)."]
    lines += ["", *target_lines(refs.get(8), ds), ""]
    mism = sum(r.get("integer_mismatches") or 0 for r in records)
    lines.append(f"Integer check: {mism} mismatching test samples between the QAT integer-exact "
                 f"mode and `ir.interpret` over {len(records)} trials.")
    return "\n".join(lines) + "\n"


def target_lines(ref8: dict | None, ds: dict) -> list[str]:
    """The issue's target, checked honestly against the measured points."""
    out = ["## Target", "",
           f"Ternary + at most {100 * TARGET_DENSITY:g}% outliers within {100 * TARGET_POINTS:g} "
           f"point of the 8-bit model's top-1 at no more than {TARGET_BITS} effective bits per "
           "weight."]
    if ref8 is None or not ds:
        return out + ["", "Not measured (needs the 8-bit reference and dense+sparse trials)."]
    floor = ref8["top1_integer"] - TARGET_POINTS
    cand = [(k, v) for k, v in ds.items() if k[0] <= TARGET_DENSITY + 1e-12]
    acc_ok = [(k, v) for k, v in cand if v["top1_integer"] >= floor - 1e-12]
    both = [(k, v) for k, v in acc_ok if v["bits_per_weight"] <= TARGET_BITS]
    mid = [(k, v) for k, v in acc_ok if (v["bits_per_weight_dense_sparse"] or 99) <= TARGET_BITS]
    best = max(cand, key=lambda kv: kv[1]["top1_integer"], default=None)
    out += ["", f"- 8-bit reference: {_pct(ref8['top1_integer'])}%; accuracy bar "
                f"{_pct(floor)}%."]
    if best is not None:
        (d, s, c), v = best
        out.append(f"- Best at <= {100 * TARGET_DENSITY:g}%: {s} {100 * d:g}% {c}: "
                   f"{_pct(v['top1_integer'])}% at {_bits(v['bits_per_weight'])} bits/weight "
                   f"(middle layers {_bits(v['bits_per_weight_dense_sparse'])}).")
    out.append(f"- Accuracy part met by {len(acc_ok)} of {len(cand)} points; accuracy and "
               f"<= {TARGET_BITS} bits/weight over the whole model: {len(both)}; over the "
               f"dense+sparse layers only: {len(mid)}.")
    return out


def write_report(out, records, cfg) -> None:
    """Write ``table.md``, ``accuracy_vs_bits.png`` and ``heatmap.png`` into ``out``."""
    out = Path(out)
    write_text_atomic(out / "table.md", build_table(records, cfg))
    from mixq.intralayer.plots import plot_accuracy_vs_bits, plot_heatmap

    agg = aggregate(records)
    plot_accuracy_vs_bits(out / "accuracy_vs_bits.png", agg, cfg)
    plot_heatmap(out / "heatmap.png", agg, cfg)
