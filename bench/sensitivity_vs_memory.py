"""Sensitivity-driven (HAWQ-V3-style ILP) vs memory-driven (Rusci et al.) allocation, same budget.

Demo task (issue 6): demo_net on the embedded digits, the demo's default budget (55% of the
8-bit flash, 50% of its peak RAM), the demo's float model and QAT recipe. Both allocations meet
the same flash and RAM budget; each is QAT-trained from the same float weights with the same
config and seed, integerized, and its integer top-1 printed (the target: sensitivity >= memory).
The estimated GAP8 cluster latency of each allocation is printed too (an estimate).

    .venv/bin/python bench/sensitivity_vs_memory.py [--seeds 0]
        [--float-checkpoint runs/demo/models/float/float.ckpt] [--estimator hutchinson|fisher] [--latency-ms X --target gap8] [--quick]

Without a float checkpoint the float model is trained first (the demo's 20 epochs, seeded).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from mixq.data import load_dataset
from mixq.platform.latency import latency_function
from mixq.platform.spec import get_platform
from mixq.ir.capture import input_codes, integerize
from mixq.ir.interpret import interpret
from mixq.models import get_model
from mixq.nn import prepare
from mixq.pipeline import DemoConfig, default_budget
from mixq.search.memory import flash_bytes, layer_shapes, ram_peak_bytes
from mixq.search.memory_driven import allocate_bits
from mixq.search.sensitivity import estimate_sensitivity
from mixq.search.sensitivity_allocation import allocate_sensitivity, allocation_latency
from mixq.train import TrainConfig, evaluate, train
from mixq.train.checkpoint import load_checkpoint

DEFAULT_CKPT = Path("runs/demo/models/float/float.ckpt")


def _float_model(data, cfg: DemoConfig, ckpt):
    c, h, _ = data.input_shape
    torch.manual_seed(cfg.seed)
    model = get_model("demo_net", num_classes=data.num_classes, width=cfg.width, resolution=h,
                      in_channels=c)
    if ckpt is not None and Path(ckpt).is_file():
        load_checkpoint(ckpt, model)
        print(f"float model: {ckpt}")
    else:
        train(model, data, cfg.float_config, desc="float")
    return model


def _qat_top1(float_model, alloc, data, cfg: DemoConfig, seed: int) -> tuple[float, float]:
    qat = prepare(copy.deepcopy(float_model), alloc,
                  calibration=data.train.x[:cfg.calibration_samples])
    qcfg = cfg.qat_config
    train(qat, data, TrainConfig(epochs=qcfg.epochs, lr=qcfg.lr, seed=seed), desc="QAT")
    qat.eval()
    graph = integerize(qat, tuple(data.input_shape))
    codes = interpret(graph, input_codes(qat, data.test.x))
    top1_int = float((codes.argmax(-1) == data.test.y.numpy()).mean())
    return evaluate(qat, data.test), top1_int


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--float-checkpoint", default=str(DEFAULT_CKPT))
    ap.add_argument("--seeds", default="0", help="comma-separated QAT seeds (0)")
    ap.add_argument("--estimator", default="hutchinson", choices=["hutchinson", "fisher"])
    ap.add_argument("--samples", type=int, default=512, help="sensitivity samples (512)")
    ap.add_argument("--target", default="gap8", help="platform of the latency estimate")
    ap.add_argument("--latency-ms", type=float, default=None,
                    help="also a sensitivity allocation under this latency budget")
    ap.add_argument("--quick", action="store_true", help="1 QAT epoch (smoke run)")
    args = ap.parse_args(argv)
    cfg = DemoConfig(quick=args.quick)
    data = load_dataset(cfg.dataset)
    float_model = _float_model(data, cfg, args.float_checkpoint)
    shapes = layer_shapes(float_model, tuple(data.input_shape))
    budget = default_budget(shapes, cfg)
    platform = get_platform(args.target)
    latency, clock = latency_function(platform, shapes)
    t0 = time.perf_counter()
    sens = estimate_sensitivity(float_model, data.train.x[:args.samples],
                                data.train.y[:args.samples], granularity=cfg.granularity,
                                estimator=args.estimator)
    print(f"sensitivity ({args.estimator}, {args.samples} samples): "
          f"{time.perf_counter() - t0:.1f} s")
    allocs = {"memory": allocate_bits(shapes, budget, cfg.granularity),
              "sensitivity": allocate_sensitivity(shapes, budget, sens, cfg.granularity)}
    if args.latency_ms is not None:
        allocs[f"sensitivity@{args.latency_ms}ms"] = allocate_sensitivity(
            shapes, budget, sens, cfg.granularity, latency, args.latency_ms * clock / 1e3)
    print(f"budget: flash {budget.flash_bytes} B, RAM {budget.ram_bytes} B; float top-1 "
          f"{evaluate(float_model, data.test):.4f}")
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for name, alloc in allocs.items():
        bits = " ".join(f"{l.name}:w{l.w_bits}a{l.out_bits}" for l in alloc.layers)
        print(f"{name}: {bits}")
        results = [_qat_top1(float_model, alloc, data, cfg, s) for s in seeds]
        proxy = sum(s.weight_cost[l.w_bits] + (s.act_cost[l.out_bits] if i < len(shapes) - 1
                                               else 0.0)
                    for i, (s, l) in enumerate(zip(sens, alloc.layers)))
        rows.append((name, flash_bytes(shapes, alloc), ram_peak_bytes(shapes, alloc),
                     allocation_latency(shapes, alloc, latency) / clock * 1e3, proxy,
                     sum(r[0] for r in results) / len(results),
                     sum(r[1] for r in results) / len(results)))
    print(f"\ndemo_net on digits, QAT {cfg.qat_config.epochs} epochs, seeds {seeds} "
          f"(latency: estimate on {platform.name})")
    print(f"{'method':<22} {'flash B':>8} {'RAM B':>7} {'est. ms':>8} {'proxy':>9} "
          f"{'top1 fq':>8} {'top1 int':>9}")
    for name, fl, ram, ms, proxy, fq, it in rows:
        print(f"{name:<22} {fl:>8} {ram:>7} {ms:>8.3f} {proxy:>9.4f} {fq:>8.4f} {it:>9.4f}")
    gain = rows[1][6] - rows[0][6]
    print(f"sensitivity - memory (integer top-1): {gain:+.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
