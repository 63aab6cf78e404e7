"""``mixq study``: argument parsing only (:func:`mixq.study.run.run_study` does the work)."""

from __future__ import annotations

from dataclasses import replace

from mixq.args import add_data_arguments, positive_int


def _cmd_study(args) -> int:
    from mixq.report.study import summary_lines
    from mixq.study.run import StudyConfig, run_study

    given = {k: v for k, v in {
        "platform": args.platform, "dataset": args.dataset, "data_root": args.data_root,
        "flash_bytes": args.flash, "ram_bytes": args.ram, "latency_ms": args.latency_ms,
        "seeds": args.seeds,
        "train_samples": args.train_samples, "test_samples": args.test_samples,
        "float_epochs": args.float_epochs, "qat_epochs": args.qat_epochs,
        "emulate": args.emulate, "device": args.device,
        "methods": tuple(args.method) if args.method else None}.items() if v is not None}
    cfg = StudyConfig.quick(**given) if args.quick else StudyConfig(**given)
    if args.widths:
        cfg = replace(cfg, space=replace(cfg.space, widths=tuple(args.widths)))
    if args.max_macs:
        cfg = replace(cfg, space=replace(cfg.space, max_macs=args.max_macs))
    report = run_study(args.out, cfg)
    print(f"mixq study: wrote {args.out}/report.md, report.json, study.png")
    print("\n".join(summary_lines(report)))
    return 0 if all(m.get("bitexact", True) for m in report["models"]) else 1


def add_commands(sub) -> None:
    """Add ``mixq study`` to the CLI's sub-parsers."""
    from mixq.engine.device import add_device_argument
    from mixq.platform import known_platforms

    s = sub.add_parser("study", help="choose a network for a platform, retrain it with mixed "
                       "precision, deploy it bit-exact, compare with the best 8-bit one that fits")
    s.add_argument("--platform", default=None, help=f"{', '.join(known_platforms())} or a "
                   "platform .toml file (default stm32h7)")
    add_data_arguments(s, default=None)
    s.add_argument("--out", default="runs/study", help="output folder (default runs/study)")
    s.add_argument("--quick", action="store_true", help="one seed, a data subset, one epoch, "
                   "small networks: a smoke run (minutes), not a result")
    s.add_argument("--seeds", type=positive_int, default=None, help="repetitions (default 3)")
    s.add_argument("--flash", type=positive_int, default=None,
                   help="flash budget in bytes for the linked image (default: the platform's)")
    s.add_argument("--ram", type=positive_int, default=None,
                   help="RAM budget in bytes (default: the platform's)")
    s.add_argument("--latency-ms", type=float, default=None,
                   help="latency bound in ms for the selection (estimated on the platform)")
    s.add_argument("--train-samples", type=positive_int, default=None,
                   help="train on a fixed subset of this many images (default all)")
    s.add_argument("--test-samples", type=positive_int, default=None,
                   help="evaluate on a fixed subset of this many images (default all)")
    s.add_argument("--float-epochs", type=positive_int, default=None, help="default 2")
    s.add_argument("--qat-epochs", type=positive_int, default=None, help="default 1")
    s.add_argument("--emulate", type=positive_int, default=None,
                   help="test inputs checked bit for bit on the emulated core (default 20)")
    s.add_argument("--method", action="append", choices=["memory", "sensitivity"],
                   help="mixed allocation(s) (repeatable; default both)")
    s.add_argument("--widths", type=float, nargs="+", default=None,
                   help="candidate width multipliers (default 0.125 ... 0.5)")
    s.add_argument("--max-macs", type=positive_int, default=None,
                   help="leave out candidates above this many MACs (default 3,000,000)")
    add_device_argument(s)
    s.set_defaults(func=_cmd_study)
