"""``mixq allocate``: per-layer bit allocation from the command line (scripts rely on its JSON)."""

from __future__ import annotations

import json

from mixq.args import MODEL_NAMES, ZOO_MODEL_NAMES, add_data_arguments, positive_int
from mixq.engine.device import add_device_argument


def _platform_budget(args):
    """(platform or None, flash bytes, RAM bytes): --flash/--ram, else the target's spec, else
    (no --target) a zoo model's benchmark budget and target."""
    from mixq.errors import MixqError

    platform = None
    target, flash, ram = args.target, args.flash, args.ram
    if target is None and args.model in ZOO_MODEL_NAMES:
        from mixq.models.zoo import zoo_entry

        entry = zoo_entry(args.model)
        target, flash, ram = entry.target, flash or entry.flash_bytes, ram or entry.ram_bytes
    if target is not None:
        from mixq.platform.spec import get_platform

        platform = get_platform(target)
    flash = flash or (platform.flash_bytes if platform else None)
    ram = ram or (platform.ram_bytes if platform else None)
    if flash is None or ram is None:
        raise MixqError("give the budget with --flash and --ram (bytes), or a --target whose "
                        "platform spec has them")
    if args.latency_ms is not None and args.method != "sensitivity":
        raise MixqError("the memory-driven rule has no latency constraint; use --method "
                        "sensitivity with --latency-ms")
    if args.latency_ms is not None and platform is None:
        raise MixqError("--latency-ms needs a --target (its latency model estimates cycles)")
    return platform, flash, ram


def _float_model(args):
    """The trained float model and its dataset: --checkpoint, or demo_net trained here."""
    from mixq.data import load_dataset
    from mixq.errors import MixqError
    from mixq.models import get_model
    from mixq.train import TrainConfig, train
    from mixq.train.checkpoint import load_weights

    if not args.checkpoint and args.model != "demo_net":
        raise MixqError(f"--method sensitivity needs trained weights for {args.model}: pass "
                        "--checkpoint FILE (a mixq checkpoint or torch.save(model.state_dict()))")
    data = load_dataset(args.dataset, args.data_root)
    extra = {} if args.model != "demo_net" else {"in_channels": data.input_shape[0]}
    model = get_model(args.model, width=args.width, resolution=args.resolution,
                      num_classes=args.num_classes or data.num_classes, **extra)
    if tuple(model.input_shape) != tuple(data.input_shape):
        raise MixqError(f"dataset '{args.dataset}' has inputs {tuple(data.input_shape)} but "
                        f"{args.model} expects {tuple(model.input_shape)}; pass --dataset, "
                        "--data-root and --resolution that match")
    if args.checkpoint:
        load_weights(args.checkpoint, model)
    else:  # demo_net: the demo's float pre-training (same config, same seed)
        import torch

        torch.manual_seed(args.seed)
        model = get_model(args.model, width=args.width, resolution=args.resolution,
                          num_classes=args.num_classes or data.num_classes, **extra)
        train(model, data, TrainConfig(epochs=args.train_epochs, lr=3e-3, seed=args.seed),
              desc="float (for sensitivity)", device=args.device, mixed_precision=True)
        model.cpu()
    return model, data


def _sensitivity_allocation(args, platform, flash: int, ram: int):
    from mixq.search.memory import MemoryBudget, layer_shapes
    from mixq.search.sensitivity import estimate_sensitivity
    from mixq.search.sensitivity_allocation import allocate_sensitivity

    model, data = _float_model(args)
    shapes = layer_shapes(model)
    sens = estimate_sensitivity(model, data.train.x[:args.samples], data.train.y[:args.samples],
                                granularity=args.granularity, estimator=args.estimator,
                                seed=args.seed)
    latency = budget_cycles = None
    if platform is not None and (args.latency_ms is not None or not args.json):
        from mixq.platform.latency import latency_function

        latency, clock = latency_function(platform, shapes)
        if args.latency_ms is not None:
            budget_cycles = args.latency_ms * clock / 1e3
    alloc = allocate_sensitivity(shapes, MemoryBudget(flash, ram), sens, args.granularity,
                                 latency if budget_cycles is not None else None, budget_cycles)
    return shapes, alloc


MEMORY_MODEL_BASIS = "memory model (Rusci et al. 2020); not checked against a linked build"


def _cmd_allocate(args) -> int:
    from mixq.models import MODELS, get_model
    from mixq.search.memory_driven import allocate_for_model, allocation_summary

    if args.model not in MODELS:
        get_model(args.model)  # the one-line error listing the known names

    platform, flash, ram = _platform_budget(args)
    close = getattr(args, "close_on_target", None)  # set by mixq.cli (it may build)
    if args.method == "sensitivity":
        shapes, alloc = _sensitivity_allocation(args, platform, flash, ram)
        result = {**allocation_summary(shapes, alloc), "basis": MEMORY_MODEL_BASIS}
    elif args.target is not None and close is not None:
        # an explicit --target closes on its build; a zoo model's implicit one does not
        result = close(args, platform, flash, ram)
    else:
        result = {**allocate_for_model(args.model, args.width, args.resolution,
                                       args.num_classes, flash, ram, args.granularity,
                                       args.delta), "basis": MEMORY_MODEL_BASIS}
    args.flash, args.ram = flash, ram
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{'layer':<24} {'kind':<5} {'w':>2} {'in':>3} {'out':>3}")
        for l in result["layers"]:
            print(f"{l['name']:<24} {l['kind']:<5} {l['w_bits']:>2} {l['in_bits']:>3} "
                  f"{l['out_bits']:>3}")
        print(f"flash {result['flash_bytes']} B (budget {args.flash}), "
              f"peak RAM {result['ram_peak_bytes']} B (budget {args.ram}): {result['basis']}")
        if "fit" in result:
            f = result["fit"]
            print(f"linked image {f['flash_bytes']} B, RAM {f['ram_bytes']} B = arena "
                  f"{f['arena_bytes']} + static {f['static_ram_bytes']} + stack "
                  f"{f['stack_bytes']} + io {f['io_bytes']} (after {len(result['steps'])} "
                  "step(s))")
            if result["excluded_kernels"]:
                print("kernel variants given up for flash (`mixq deploy --exclude-kernels` "
                      f"them): {','.join(result['excluded_kernels'])}")
        if platform is not None and (platform.cluster or platform.cycles_per_mac):
            print(_latency_line(args, platform, result))
    return 0


def _latency_line(args, platform, result: dict) -> str:
    """'est. latency ... on <target> (estimate)' for the printed allocation."""
    from mixq.platform.latency import latency_function
    from mixq.models import get_model
    from mixq.quant.spec import BitAllocation
    from mixq.search.memory import layer_shapes
    from mixq.search.sensitivity_allocation import allocation_latency

    shapes = layer_shapes(get_model(args.model, width=args.width, resolution=args.resolution,
                                    num_classes=args.num_classes))
    alloc = BitAllocation.from_dict({"granularity": args.granularity, "layers": result["layers"]})
    latency, clock = latency_function(platform, shapes)
    cycles = allocation_latency(shapes, alloc, latency)
    return (f"est. latency {cycles / clock * 1e3:.3f} ms on {platform.name} "
            f"({cycles:,.0f} cycles at {clock / 1e6:.0f} MHz; an estimate)")


def add_commands(sub) -> None:
    """Register ``mixq allocate`` on the CLI's sub-parsers."""
    a = sub.add_parser("allocate", help="per-layer bit allocation: memory-driven (Rusci et al. "
                       "2020) or sensitivity-driven with a latency budget (HAWQ-V3-style ILP)")
    a.add_argument("--model", required=True,
                   help=f"{', '.join(MODEL_NAMES)}; a zoo model without --target/--flash/--ram "
                   "takes its benchmark's budget and target (mixq.models.zoo)")
    a.add_argument("--width", type=float, default=None,
                   help="width multiplier (default: the model's)")
    a.add_argument("--resolution", type=positive_int, default=None,
                   help="input size (default: the model's)")
    a.add_argument("--num-classes", type=positive_int, default=None,
                   help="classes (default: the model's)")
    a.add_argument("--flash", type=positive_int, default=None,
                   help="flash budget in bytes (default: the --target's, or the zoo model's)")
    a.add_argument("--ram", type=positive_int, default=None,
                   help="RAM budget in bytes (default: the --target's, or the zoo model's)")
    a.add_argument("--granularity", choices=["per-channel", "per-layer"], default="per-channel",
                   help="MixPC (per-channel, ICN) or MixPL (per-layer)")
    a.add_argument("--delta", type=float, default=0.05, help="weight-cut tolerance δ (0.05)")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.add_argument("--method", choices=["memory", "sensitivity"], default="memory",
                   help="memory: Rusci et al.'s rule; sensitivity: minimise a Hessian/Fisher x "
                   "quantization-error proxy under flash, RAM and latency budgets (exact ILP)")
    a.add_argument("--target", default=None,
                   help="platform name or .toml file: default budgets and the latency model; "
                   "with --method memory the allocation is closed on its linked build (image "
                   "within the flash, arena + static RAM + stack + io within the RAM); "
                   "without it, the paper's memory model alone decides")
    a.add_argument("--latency-ms", type=float, default=None,
                   help="latency budget in ms on --target (an estimate; sensitivity only)")
    a.add_argument("--checkpoint", default=None,
                   help="trained float weights for the sensitivity: a mixq checkpoint or "
                   "torch.save(model.state_dict()); without it demo_net is float-trained first, "
                   "other models need one")
    add_data_arguments(a, use="data for the sensitivity")
    a.add_argument("--samples", type=positive_int, default=512,
                   help="training samples the sensitivity is estimated on (512)")
    a.add_argument("--estimator", choices=["hutchinson", "fisher"], default="hutchinson",
                   help="weight sensitivity: Hessian trace (HAWQ-V3) or empirical Fisher")
    a.add_argument("--train-epochs", type=positive_int, default=20,
                   help="float epochs when demo_net is trained for the sensitivity (20)")
    a.add_argument("--seed", type=int, default=0)
    add_device_argument(a)
    a.set_defaults(func=_cmd_allocate)
