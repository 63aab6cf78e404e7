"""``mixq report``: the accuracy / latency / size Pareto front of several ``mixq demo`` runs."""

from __future__ import annotations


def _cmd_report(args) -> int:
    from mixq.report.pareto import write_pareto_report

    points = write_pareto_report(args.run_dirs, args.out)
    front = [p for p in points if p.pareto]
    print(f"mixq report: {len(points)} models from {len(args.run_dirs)} run(s), {len(front)} on "
          f"the Pareto front; wrote {args.out}/pareto.md, pareto.json, pareto.png")
    for p in sorted(front, key=lambda p: -p.top1):
        lat = "" if p.latency_ms is None else f"  est. {p.latency_ms:.3f} ms ({p.latency_kind})"
        print(f"  {p.label:<32} top1 {p.top1:.3f}  flash {p.flash_bytes:>8} B{lat}")
    return 0


def add_commands(sub) -> None:
    """Register ``mixq report`` on the CLI's sub-parsers."""
    r = sub.add_parser("report", help="Pareto front (accuracy / estimated latency / flash) of "
                       "several runs written by `mixq demo`")
    r.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="folders written by mixq demo")
    r.add_argument("--out", required=True, help="output folder for pareto.md/json/png")
    r.set_defaults(func=_cmd_report)
