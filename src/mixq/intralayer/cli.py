"""``mixq intralayer sweep``: the density x structure x criterion search from the command line."""

from __future__ import annotations

from mixq.args import add_data_arguments, comma_list, non_negative_int, positive_int
from mixq.engine import EngineKind
from mixq.engine.device import add_device_argument


def _cmd_sweep(args) -> int:
    from mixq.engine import make_engine
    from mixq.intralayer.sweep import SweepConfig, run_sweep

    options = dict(dataset=args.dataset, data_root=args.data_root, model=args.model,
                   width=args.width, seeds=tuple(range(args.seeds)))
    if args.epochs is not None:
        options["qat_epochs"] = args.epochs
    for name in ("float_epochs", "train_samples", "test_samples", "densities", "structures", "criteria",
                 "reference_bits"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    cfg = SweepConfig.quick_preset(**options) if args.quick else SweepConfig(**options)
    engine = make_engine(args.engine, workers=args.workers, address=args.ray_address,
                         max_retries=args.max_retries)
    with engine:  # connects first: an unreachable cluster writes nothing
        records = run_sweep(args.out, cfg, engine=engine, device=args.device)
    print(f"mixq intralayer sweep: {len(records)} trials in {args.out}/results.jsonl; wrote "
          f"table.md, accuracy_vs_bits.png, heatmap.png")
    return 0


def add_engine_arguments(p) -> None:
    """--engine, --ray-address, --max-retries: where a multi-trial command runs its trials."""
    p.add_argument("--engine", choices=[k.value for k in EngineKind], default="local",
                   help="local: worker processes here (default); ray: Ray tasks, on a local Ray "
                   "instance or the cluster at --ray-address")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster: HOST:PORT of the head (`ray start --head`), "
                   "ray://HOST:PORT (Ray Client) or auto (default: $RAY_ADDRESS, else a local "
                   "instance)")
    p.add_argument("--max-retries", type=non_negative_int, default=3,
                   help="Ray: re-runs of a trial whose worker process died (3)")


def add_commands(sub) -> None:
    """Register ``mixq intralayer sweep`` on the CLI's sub-parsers."""
    p = sub.add_parser("intralayer", help="intra-layer mixed precision: dense ternary + sparse "
                       "int8 weights")
    isub = p.add_subparsers(dest="intralayer_command", required=True)
    s = isub.add_parser("sweep", help="accuracy vs effective bits over outlier density x "
                        "structure x criterion (resumable)")
    s.add_argument("--out", default="runs/intralayer", help="output folder (default "
                   "runs/intralayer); an interrupted sweep resumes there")
    s.add_argument("--quick", action="store_true",
                   help="densities 0/1/5%%, short training (a smoke test, minutes)")
    s.add_argument("--workers", type=non_negative_int, default=None,
                   help="parallel worker processes (default: CPU cores; 0: in-process); with "
                   "--engine ray, the CPUs of a local Ray instance")
    add_engine_arguments(s)
    add_device_argument(s)
    add_data_arguments(s)
    s.add_argument("--model", default="demo_net", help="model name (default demo_net)")
    s.add_argument("--width", type=float, default=1.0, help="width multiplier (1.0)")
    s.add_argument("--seeds", type=positive_int, default=1, help="QAT seeds per point (1)")
    s.add_argument("--epochs", type=positive_int, default=None,
                   help="QAT epochs per trial (default 10, --quick 3)")
    s.add_argument("--float-epochs", type=positive_int, default=None,
                   help="float pre-training epochs (default 20, --quick 6)")
    s.add_argument("--train-samples", type=positive_int, default=None,
                   help="train on the first N training samples (default: all)")
    s.add_argument("--test-samples", type=positive_int, default=None,
                   help="measure on the first N test samples (default: all)")
    s.add_argument("--densities", type=comma_list(float), default=None, metavar="D,D,...",
                   help="outlier densities (default 0,0.0025,0.005,0.01,0.02,0.05,0.1; 0 adds "
                   "the pure ternary model)")
    s.add_argument("--structures", type=comma_list(str), default=None, metavar="S,S,...",
                   help="outlier structures (default: all of unstructured,row,1:16,1:8,2:8,"
                   "block1x4)")
    s.add_argument("--criteria", type=comma_list(str), default=None, metavar="C,C,...",
                   help="outlier criteria: magnitude, fisher, refit (default magnitude,fisher)")
    s.add_argument("--reference-bits", type=comma_list(int), default=None, metavar="B,B,...",
                   help="uniform-precision reference models (default 8,4,2)")
    s.set_defaults(func=_cmd_sweep)
