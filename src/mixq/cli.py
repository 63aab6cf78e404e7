"""The ``mixq`` command. It parses arguments and calls public functions; it holds no logic.

Every user error (``MixqError``) is printed as one line ``mixq: error: ...`` with a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mixq.args import ZOO_MODEL_NAMES, add_data_arguments, non_negative_int, positive_int
from mixq.errors import MixqError
from mixq.engine.device import add_device_argument


# Sub-commands defined next to the code they call: each module has add_commands(subparsers).
COMMAND_MODULES = ("mixq.search.cli", "mixq.intralayer.cli", "mixq.report.cli", "mixq.hw.cli",
                   "mixq.interop.cli", "mixq.study.cli")


def _cmd_zoo_demo(args) -> int:
    from mixq.zoo_demo import run_zoo_model, zoo_table

    runs = run_zoo_model(args.model, args.out, target=args.target, flash_bytes=args.flash,
                         ram_bytes=args.ram, emulate=2 if args.emulate is None else args.emulate,
                         seed=args.seed)
    print(f"mixq demo: wrote {args.out}/report.md, report.json")
    print(zoo_table(runs), end="")
    return 0


def _cmd_demo(args) -> int:
    from mixq.pipeline import DemoConfig, run_demo

    if args.model is not None:
        return _cmd_zoo_demo(args)
    cfg = DemoConfig(dataset=args.dataset, data_root=args.data_root, seed=args.seed,
                     quick=args.quick, flash_bytes=args.flash, ram_bytes=args.ram,
                     emulate=DemoConfig.emulate if args.emulate is None else args.emulate,
                     target=args.target or DemoConfig.target, width=args.width,
                     granularity=args.granularity, allocation=args.allocation,
                     device=args.device)
    report = run_demo(args.out, cfg)
    from mixq.train.distributed import is_writer

    if not is_writer():  # torchrun: rank 0 wrote and reports
        return 0
    print(f"mixq demo: wrote {args.out}/report.md, report.json, tradeoff.png")
    for m in report["models"]:
        top1 = m["top1_integer"] if m["top1_integer"] is not None else m["top1_float"]
        linked = "linked_flash_bytes" in m  # built for the target; the float model is not
        line = (f"  {m['name']:<9} top-1 {100 * top1:5.1f}%  "
                f"{'linked ' if linked else 'model  '}flash "
                f"{m['linked_flash_bytes' if linked else 'flash_bytes']:>7,} B  "
                f"RAM {m['linked_ram_bytes' if linked else 'ram_peak_bytes']:>6,} B  "
                f"fits={'yes' if m['fits'] else 'no'}")
        if "est_latency_ms" in m:
            line += (f"  bit-exact={'yes' if m['bitexact'] else 'NO'}  "
                     f"~{m['est_latency_ms']:.2f} ms on {m.get('cpu', args.target)} (estimate)")
        if "est_cluster_latency_ms" in m:
            line += f", ~{m['est_cluster_latency_ms']:.3f} ms on the cluster (estimate)"
        print(line)
    return 0


def _cmd_deploy(args) -> int:
    from mixq.deploy.rundir import deploy_run_dir, excluded_kernels_arg
    from mixq.platform import get_platform

    exclude = None if args.exclude_kernels is None else excluded_kernels_arg(args.exclude_kernels)
    results = deploy_run_dir(args.run_dir, get_platform(args.target), out=args.out,
                             emulate=args.emulate, models=args.model, exclude=exclude)
    for name, d in results.items():
        print(f"{name}: bitexact={d.bitexact} ({d.samples} samples, {d.mismatches} "
              f"mismatches), flash {d.flash_bytes} B, arena {d.arena_bytes} B, "
              f"{d.instructions} instructions, ~{d.est_cycles} cycles (estimate)")
    return 0 if all(d.bitexact for d in results.values()) else 1


def _close_on_target(args, platform, flash: int, ram: int) -> dict:
    """``mixq allocate --target``: the memory-driven allocation of the zoo model closed on the
    target's linked build (:func:`mixq.api.allocate_on_target`); each round on stderr."""
    import torch

    from mixq.api import allocate_on_target
    from mixq.models import get_model
    from mixq.search.memory import layer_shapes
    from mixq.search.memory_driven import allocation_summary

    model = get_model(args.model, width=args.width, resolution=args.resolution,
                      num_classes=args.num_classes).eval()
    closed = allocate_on_target(
        model, example_input=torch.zeros((1, *model.input_shape)), flash_bytes=flash,
        ram_bytes=ram, target=platform, granularity=args.granularity,
        on_step=lambda s: print(f"mixq: {s}", file=sys.stderr, flush=True))
    return {**allocation_summary(layer_shapes(model), closed.allocation),
            "basis": f"linked build on {platform.name}", "fit": closed.fit.to_json(),
            "excluded_kernels": sorted(closed.excluded_kernels),
            "steps": [s.to_json() for s in closed.steps]}


def build_parser() -> argparse.ArgumentParser:
    from mixq import __version__
    from mixq.platform import known_platforms

    p = argparse.ArgumentParser(prog="mixq", description="Mixed low-precision networks from "
                                "PyTorch training to Cortex-M microcontrollers.")
    p.add_argument("--version", action="version", version=f"mixq {__version__}")
    targets = (f"{', '.join(known_platforms())} or a platform .toml file")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="train float, 8-bit and mixed-precision models; report")
    d.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    add_data_arguments(d)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--quick", action="store_true", help="few epochs (smoke test)")
    d.add_argument("--flash", type=positive_int, default=None, help="flash budget in bytes")
    d.add_argument("--ram", type=positive_int, default=None, help="RAM budget in bytes")
    d.add_argument("--width", type=float, default=1.0, help="demo_net width multiplier (1.0)")
    d.add_argument("--granularity", choices=["per-channel", "per-layer"], default="per-channel",
                   help="MixPC (per-channel, ICN) or MixPL (per-layer)")
    d.add_argument("--allocation", default=None,
                   help="JSON bit allocation for the mixed model (default: memory-driven)")
    d.add_argument("--target", default=None,
                   help=f"deployment target: {targets} (default stm32h7; a --model's benchmark "
                   "target)")
    d.add_argument("--emulate", type=non_negative_int, default=None,
                   help="test inputs run on the emulated Cortex-M7 (0: no deployment; default "
                   "100, 2 with --model)")
    d.add_argument("--model", default=None,
                   help=f"a zoo model instead of the trained demo_net: {', '.join(ZOO_MODEL_NAMES)}"
                   "; random weights, uniform 8-bit and memory-driven mixed bits under its "
                   "benchmark's budget (or --flash/--ram), deployed bit-exact (no training)")
    add_device_argument(d)
    d.set_defaults(func=_cmd_demo)

    e = sub.add_parser("deploy", help="generate C, build for the target, run bit-exact on the "
                       "emulated Cortex-M7")
    e.add_argument("run_dir", help="a run folder written by `mixq demo`")
    e.add_argument("--target", default="stm32h7", help=f"{targets} (default stm32h7)")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--emulate", type=positive_int, default=100,
                   help="number of test inputs checked bit for bit on the emulator (>= 1, 100)")
    e.add_argument("--model", action="append",
                   help="only this model (repeatable): a folder under RUN_DIR/models, for a demo "
                   "run int8, int8-fit, mixed, w2a2 (default: all)")
    e.add_argument("--exclude-kernels", default=None, metavar="NAMES|ALLOCATION.json",
                   help="kernel variants not to use ('function/variant', comma-separated), or "
                   "an allocation JSON whose excluded_kernels to honour (written by `mixq "
                   "allocate --target T --json`: the code-size trades its linked build made); "
                   "default: each model's allocation.json in RUN_DIR")
    e.set_defaults(func=_cmd_deploy)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    sub.choices["allocate"].set_defaults(close_on_target=_close_on_target)
    return p


def main(argv=None) -> int:
    """Entry point of the ``mixq`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MixqError as e:
        print(f"mixq: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("mixq: interrupted; finished artifacts and checkpoints are kept", file=sys.stderr)
        return 130
