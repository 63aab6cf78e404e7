"""Intra-layer mixed precision on the demo model: accuracy and effective bits per structure at
1% and 5% outlier density, the storage of wider dense+sparse layers, then instructions per MAC of the dense+sparse kernels against the w8a8
and the pure ternary kernels on the demo model's pointwise layer shapes.

Part 1 runs (or reuses) sweep trials: fisher criterion, every structure, plus the 8-bit and
ternary references, with the sweep's default recipe (digits, demo_net, 10 QAT epochs). Point
``--from`` at a full sweep folder (``mixq intralayer sweep --out DIR``) to reuse its trials
instead of training (same recipe required). Part 2 comes from the deployment side
(:func:`mixq.deploy.intralayer_bench.measure_intralayer`: emulated Cortex-M7, instruction counts,
bit-exact check first) and is skipped with a note when that module or the cross toolchain is
missing.

    .venv/bin/python bench/intralayer.py [--from runs/intralayer] [--out runs/intralayer-bench]
        [--workers N] [--seeds N] [--no-kernels] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

from mixq.errors import MixqError
from mixq.intralayer.report import aggregate
from mixq.intralayer.structures import STRUCTURES
from mixq.intralayer.sweep import SweepConfig, run_sweep

DENSITIES = (0.01, 0.05)


def accuracy_rows(records) -> list[dict]:
    """One row per structure (and the references) from sweep records (mean over seeds)."""
    agg = aggregate(records)
    rows = []
    for key, v in sorted(agg.items(), key=lambda kv: str(kv[0])):
        kind, bits, density, structure, criterion = key
        if kind == "dense+sparse" and (criterion != "fisher" or density not in DENSITIES):
            continue
        label = {"reference": f"w{bits}", "ternary": "ternary"}.get(kind, structure)
        rows.append({"model": label, "density": density, "top1": v["top1_integer"],
                     "bits_per_weight": v["bits_per_weight"],
                     "bits_per_weight_dense_sparse": v["bits_per_weight_dense_sparse"],
                     "achieved_density": v["achieved_density"]})
    return rows


def print_accuracy(rows) -> None:
    print("Accuracy (integer model, top-1 %, mean over seeds) and effective bits per weight "
          "(whole model; in brackets: the dense+sparse middle layers), criterion fisher")
    refs = [r for r in rows if r["model"] in ("w8", "w4", "w2", "ternary")]
    for r in refs:
        mid = r["bits_per_weight_dense_sparse"]
        print(f"  {r['model']:<12} {100 * r['top1']:5.1f}%  {r['bits_per_weight']:.2f} bits/w"
              + (f" ({mid:.2f})" if mid else ""))
    print(f"  {'structure':<12} " + "  ".join(f"{f'{100 * d:g}% top-1 / bits (mid) / actual':<34}"
                                              for d in DENSITIES))
    for s in STRUCTURES:
        cells = []
        for d in DENSITIES:
            r = next((x for x in rows if x["model"] == s and x["density"] == d), None)
            cells.append("-".ljust(34) if r is None else
                         f"{100 * r['top1']:5.1f}% / {r['bits_per_weight']:.2f} "
                         f"({r['bits_per_weight_dense_sparse']:.2f}) / "
                         f"{100 * r['achieved_density']:.2f}%".ljust(34))
        print(f"  {s:<12} " + "  ".join(cells))


STORAGE_SHAPES = {"demo pw3 64->64": (64, 1, 1, 64), "MobileNetV1 pw 256->256": (256, 1, 1, 256),
                  "MobileNetV1 pw 1024->1024": (1024, 1, 1, 1024)}
STORAGE_DENSITIES = (0.01, 0.02, 0.05)


def storage_rows(seed: int = 0) -> list[dict]:
    """Effective bits per weight of single dense+sparse layers (random scores, no training):
    how the storage overhead (scales, indices) shrinks on wider layers than demo_net's."""
    import numpy as np

    from mixq.intralayer.cost import dense_sparse_cost
    from mixq.intralayer.structures import build_mask, max_density

    rng = np.random.default_rng(seed)
    rows = []
    for name, shape in STORAGE_SHAPES.items():
        scores = rng.random(shape)
        for s in STRUCTURES:
            for d in STORAGE_DENSITIES:
                if d > max_density(s):
                    continue
                c = dense_sparse_cost(name, build_mask(scores, s, d), s, shape[0])
                rows.append({"layer": name, "structure": s, "density": d,
                             "bits_per_weight": c.bits_per_weight})
    return rows


def print_storage(rows) -> None:
    print("\nStorage of one dense+sparse layer (bits per weight: 2-bit codes + outliers + "
          "16-bit alpha and 8-bit k per channel + deployed index format), random masks:")
    print(f"  {'layer':<26} {'structure':<13} " + " ".join(f"{f'{100 * d:g}%':>6}"
                                                       for d in STORAGE_DENSITIES))
    for layer in STORAGE_SHAPES:
        for s in STRUCTURES:
            cells = [next((f"{r['bits_per_weight']:6.2f}" for r in rows if r["layer"] == layer
                           and r["structure"] == s and r["density"] == d), f"{'-':>6}")
                     for d in STORAGE_DENSITIES]
            print(f"  {layer:<26} {s:<13} " + " ".join(cells))


def demo_layer_cases(cfg: SweepConfig):
    """LayerCase of every pointwise layer of the sweep's model (the shapes the kernels run)."""
    from mixq.deploy.kernel_bench import LayerCase
    from mixq.intralayer.trial import float_model, sweep_dataset
    from mixq.search.memory import layer_shapes

    data = sweep_dataset(cfg.dataset, cfg.data_root, tuple(cfg.dataset_options))
    cases = []
    for s in layer_shapes(float_model(cfg, data), data.input_shape):
        if s.kind == "pw":
            cases.append((s.name, LayerCase("pw1x1", s.in_shape[0], s.in_shape[2],
                                            s.out_shape[2])))
    return cases


def kernel_rows(cfg: SweepConfig) -> list[dict] | None:
    try:
        from mixq.deploy.intralayer_bench import measure_intralayer
    except ImportError:
        print("\nKernels: mixq.deploy.intralayer_bench is not available yet (deployment side of "
              "issue 4); instructions per MAC skipped.")
        return None
    rows = []
    for name, case in demo_layer_cases(cfg):
        try:
            got = measure_intralayer([case], STRUCTURES, DENSITIES)
        except MixqError as e:
            print(f"\nKernels: not measured ({e})")
            return None
        rows += [{**r, "layer": f"{name} ({case.hw}x{case.hw}x{case.c_in}->{case.c_out})"}
                 for r in got]
    return rows


def print_kernels(rows) -> None:
    from mixq.deploy.intralayer_bench import format_intralayer_table

    print("\nInstructions per MAC on the emulated Cortex-M7 (arm-none-eabi-gcc -O3, armv7em "
          "kernels, 8-bit activations; instruction counts, not cycles), demo_net pointwise "
          "shapes, random outlier masks:")
    print(format_intralayer_table(rows))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", default=None,
                    help="reuse the trials of this sweep folder (default recipe)")
    ap.add_argument("--out", default="runs/intralayer-bench", help="where new trials go")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (CPU cores)")
    ap.add_argument("--seeds", type=int, default=1, help="QAT seeds per point (mean)")
    ap.add_argument("--no-kernels", action="store_true", help="skip the kernel measurements")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    cfg = SweepConfig(densities=(0.0,) + DENSITIES, criteria=("fisher",), reference_bits=(8, 2),
                      seeds=tuple(range(args.seeds)))
    try:
        records = run_sweep(args.source or args.out, cfg, workers=args.workers,
                            report=args.source is None)
        acc = accuracy_rows(records)
        kernels = None if args.no_kernels else kernel_rows(cfg)
    except MixqError as e:
        print(f"bench/intralayer.py: error: {e}", file=sys.stderr)
        return 2
    storage = storage_rows()
    if args.json:
        print(json.dumps({"accuracy": acc, "storage": storage, "kernels": kernels}))
        return 0
    print_accuracy(acc)
    print_storage(storage)
    if kernels:
        print_kernels(kernels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
