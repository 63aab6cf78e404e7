"""Whole networks on the PULP cluster: MACs per modelled cycle end to end and per layer kind.

Builds ``demo_net`` or MobileNetV1 (TF-slim, :func:`mixq.models.mobilenet_v1`; ``mbv1-W-R`` =
width W, resolution R, 10 classes, one input channel) with every layer 8-bit and random weights
calibrated on 4 random inputs (not trained: the cycles do not depend on the weights' values),
deploys it on the target, checks one input bit for bit on the functional Xpulp core and prints
the cluster cycles of the executed-program model (``deploy.json``'s ``cluster_model_cycles``:
slowest core with TCDM conflicts, fork/join, L1 tiling and DMA). Cycles are a MODEL.

    .venv/bin/python bench/pulp_network.py [--target gap8] [--networks mbv1-0.25-28,demo_net]
                                           [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

import mixq
from mixq.deploy.deploy import deploy
from mixq.deploy.network_bench import layer_rows
from mixq.errors import MixqError
from mixq.ir.capture import input_codes
from mixq.models import get_model, mobilenet_v1
from mixq.platform import get_platform


def build_model(name: str):
    """``demo_net`` or ``mbv1-W-R``; MixqError for anything else."""
    if name == "demo_net":
        return get_model("demo_net")
    parts = name.split("-")
    try:
        if len(parts) != 3 or parts[0] != "mbv1":
            raise ValueError
        return mobilenet_v1(width=float(parts[1]), resolution=int(parts[2]), num_classes=10,
                            in_channels=1)
    except ValueError:
        raise MixqError(f"unknown network '{name}': use demo_net or mbv1-WIDTH-RESOLUTION "
                        "(e.g. mbv1-0.25-28)") from None


def measure(name: str, platform, out_dir: Path) -> dict:
    """One row: network, target, MACs, cluster cycles, MAC/cycle, per-kind cycles."""
    torch.manual_seed(0)
    model = build_model(name)
    x = torch.rand(4, *getattr(model, "input_shape", (1, 8, 8)))
    huge = 1 << 40
    alloc = mixq.allocate(model, example_input=x[:1], flash_bytes=huge, ram_bytes=huge)
    qat = mixq.prepare(model, alloc, example_input=x[:1], calibration=x).eval()
    graph, codes = mixq.integerize(qat), input_codes(qat, x)
    result = deploy(graph, out_dir, platform, emulate=1, inputs=codes[:1], host_check=False)
    info = result.to_json()
    if not info["bitexact"]:
        raise MixqError(f"{name} is not bit-exact on {platform.name}")
    kinds: dict[str, list[int]] = {}
    for row in layer_rows(graph, result):
        k = kinds.setdefault(row.kind.value, [0, 0])
        k[0] += row.work if row.kind.value in ("conv", "pw", "dw", "fc") else 0
        k[1] += row.est_cycles
    macs, cycles = sum(layer["macs"] for layer in info["layers"]), info["cluster_model_cycles"]
    return {"network": name, "target": platform.name, "macs": macs, "cycles": cycles,
            "mac_per_cycle": round(macs / cycles, 3), "one_core_cycles": info["model_cycles"],
            "kinds": {k: {"macs": m, "cycles": c} for k, (m, c) in kinds.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="gap8", help="an Xpulp platform (default gap8)")
    ap.add_argument("--networks", default="demo_net,mbv1-0.1875-28,mbv1-0.25-28")
    ap.add_argument("--json", action="store_true", help="print one JSON list of rows")
    args = ap.parse_args(argv)
    try:
        platform = get_platform(args.target)
        names = [n for n in args.networks.split(",") if n]
        for n in names:
            build_model(n)
        rows = []
        with tempfile.TemporaryDirectory(prefix="mixq-pulp-net-") as tmp:
            for n in names:
                rows.append(measure(n, platform, Path(tmp) / n))
    except MixqError as e:
        print(f"mixq: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        kinds = ", ".join(f"{k} {v['cycles']:,} ({100 * v['cycles'] / r['cycles']:.0f}%)"
                          for k, v in r["kinds"].items())
        print(f"{r['network']} on {r['target']}: {r['macs']:,} MACs, {r['cycles']:,} cluster "
              f"cycles (model) = {r['mac_per_cycle']} MAC/cycle; one core "
              f"{r['one_core_cycles']:,}; per kind: {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
