"""Whole networks on the emulated Cortex-M7 against the best published engine (issue 15).

Deploys the MLPerf Tiny reference networks (KWS DS-CNN, VWW MobileNetV1-0.25 96x96, IC
ResNet-8; :mod:`mixq.models.zoo_mlperf`) and MobileNetV1 0.25_160 (1000 classes) with random
weights at two precisions: ``int8`` (every layer 8-bit) and ``mixed`` (the memory-driven
allocation of Rusci et al. under 0.6x the int8 weight flash, same RAM: the largest layers get 4- or
2-bit weights). Each is checked bit for bit on the emulator and the host, then counted; the
estimated cycles (the platform's cycle model and memory assumptions, see ``deploy.json``'s
``memory_model``) are compared with the published measurement
(:data:`mixq.deploy.network_bench.REFERENCES`).

    .venv/bin/python bench/networks.py [--json] [--layers] [--target stm32f746]
                                       [--networks kws_dscnn,ic_resnet8] [--bits int8,mixed]

Takes about a minute per network on a quiet machine (capture, calibration, build, emulation).
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
from mixq.deploy.network_bench import (BITS, REFERENCES, format_layers, format_networks,
                                       kind_summary, layer_rows, network_row)
from mixq.errors import MixqError
from mixq.ir.capture import input_codes
from mixq.models import get_model
from mixq.models.zoo_mlperf import MobileNetV1VWW
from mixq.platform import get_platform
from mixq.search.memory import flash_bytes, layer_shapes, ram_peak_bytes

MIXED_FLASH_FRACTION = 0.6
NETWORKS = {
    "kws_dscnn": lambda: get_model("mlperf_kws_dscnn"),
    "vww_mobilenet_v1": lambda: get_model("mlperf_vww_mobilenet_v1"),
    "ic_resnet8": lambda: get_model("mlperf_ic_resnet8"),
    "mobilenet_v1_025_160": lambda: MobileNetV1VWW(num_classes=1000, width=0.25,
                                                   resolution=160),
}


def build_graph(network: str, bits: str, seed: int = 0):
    """(integer graph, input codes) of ``network`` at ``bits`` with random weights."""
    torch.manual_seed(seed)
    model = NETWORKS[network]()
    x = torch.rand(4, *model.input_shape)
    huge = 1 << 40
    alloc = mixq.allocate(model, example_input=x[:1], flash_bytes=huge, ram_bytes=huge)
    if bits == "mixed":
        shapes = layer_shapes(model)
        alloc = mixq.allocate(model, example_input=x[:1],
                              flash_bytes=int(flash_bytes(shapes, alloc) * MIXED_FLASH_FRACTION),
                              ram_bytes=ram_peak_bytes(shapes, alloc))
    qat = mixq.prepare(model, alloc, example_input=x[:1], calibration=x).eval()
    return mixq.integerize(qat), input_codes(qat, x)


def _names(text: str, known, what: str) -> list[str]:
    names = [n for n in text.split(",") if n]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise MixqError(f"unknown {what} {bad or [text]}; known: {', '.join(known)}")
    return names


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON list of rows")
    ap.add_argument("--layers", action="store_true", help="add the per-layer table")
    ap.add_argument("--target", default="stm32f746", help="platform (default stm32f746)")
    ap.add_argument("--networks", default=",".join(NETWORKS), help="comma-separated subset")
    ap.add_argument("--bits", default=",".join(BITS), help="int8, mixed or both")
    args = ap.parse_args(argv)
    try:
        networks = _names(args.networks, REFERENCES, "network(s)")
        precisions = _names(args.bits, BITS, "bits")
        platform = get_platform(args.target)
    except MixqError as e:
        print(f"mixq: error: {e}", file=sys.stderr)
        return 2
    rows, out = [], []
    with tempfile.TemporaryDirectory(prefix="mixq-networks-") as tmp:
        for network in networks:
            for bits in precisions:
                graph, codes = build_graph(network, bits)
                result = deploy(graph, Path(tmp) / f"{network}-{bits}", platform, emulate=2,
                                inputs=codes)
                row = network_row(network, bits, result)
                rows.append(row)
                layers = layer_rows(graph, result)
                entry = row.to_json()
                if args.layers:
                    entry["layers"] = [{"name": r.name, "kind": r.kind.value,
                                        "kernel": r.kernel, "work": r.work,
                                        "instructions": r.instructions,
                                        "est_cycles": r.est_cycles} for r in layers]
                entry["kinds"] = {k.value: v[2] for k, v in kind_summary(layers).items()}
                out.append(entry)
                print(f"  measured {network} {bits}: {row.instructions:,} instructions, "
                      f"~{row.est_cycles:,} cycles, {row.est_ms} ms, ratio {row.ratio}, "
                      f"bit-exact {row.bitexact}", file=sys.stderr, flush=True)
                if not args.json:
                    if args.layers:
                        print(f"\n{network} {bits}\n{format_layers(layers)}\n")
    if args.json:
        print(json.dumps(out))
    else:
        print(f"target {platform.name}: estimated cycles ({result.cycle_model}) vs. the published "
              "measurement")
        print(format_networks(rows))
    return 0 if all(r.bitexact for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
