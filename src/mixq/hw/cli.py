"""``mixq hw report``: the accelerator's area, energy and throughput against a dense int8 engine."""

from __future__ import annotations


def _cmd_report(args) -> int:
    from mixq.hw.report import ReportConfig, run_report

    rc = ReportConfig(lanes=tuple(args.lanes), channels=args.channels, bench_rows=args.bench_rows,
                      seed=args.seed, jobs=args.jobs, graph=args.graph)
    report = run_report(args.out, rc)
    print(f"mixq hw: wrote {args.out}/hw.json, hw.md and plots "
          f"({len(report['design_points'])} design points, {report['yosys_version']})")
    return 0


def add_commands(sub) -> None:
    """Register ``mixq hw report`` on the CLI's sub-parsers."""
    from mixq.cli import positive_int

    hw = sub.add_parser("hw", help="accelerator for dense-ternary + sparse-int8 layers")
    hw_sub = hw.add_subparsers(dest="hw_command", required=True)
    r = hw_sub.add_parser("report", help="synthesize (yosys), simulate and compare the "
                          "ternary+sparse engine with a dense int8 engine")
    r.add_argument("--out", default="runs/hw", help="output folder (default runs/hw)")
    r.add_argument("--lanes", type=positive_int, nargs="+", default=[16],
                   help="activation lanes per cycle, one or more (default 16)")
    r.add_argument("--channels", type=positive_int, default=4,
                   help="output channels in parallel (default 4)")
    r.add_argument("--bench-rows", type=positive_int, default=8,
                   help="output pixels simulated on RTL and gates per design point (default 8)")
    r.add_argument("--jobs", type=positive_int, default=2, help="yosys processes at a time")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--graph", default=None,
                   help="also estimate this saved IR graph per inference (a folder with "
                   "graph.json, e.g. runs/demo/models/mixed)")
    r.set_defaults(func=_cmd_report)
