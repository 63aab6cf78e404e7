"""``mixq hw report``: the accelerator's area, energy and throughput against a dense int8 engine."""

from __future__ import annotations

from pathlib import Path

from mixq.errors import ToolchainError


def _cmd_report(args) -> int:
    from mixq.hw.regfile import ReadStyle
    from mixq.hw.report import ReportConfig, run_report

    from mixq.hw.asic_report import default_liberty

    liberty = tuple(args.liberty) if args.liberty else tuple(default_liberty())
    for path in liberty:
        if not Path(path).is_file():
            raise ToolchainError(f"Liberty file {path} not found")
        if args.clock_gating:  # refuse a library without a gating cell before any work
            from mixq.hw.asic import icg_cell, mappable_cells
            from mixq.hw.liberty import Library

            lib = Library(path)
            icg_cell(lib, mappable_cells(lib))
    rc = ReportConfig(lanes=tuple(args.lanes), channels=args.channels, bench_rows=args.bench_rows,
                      seed=args.seed, jobs=args.jobs, graph=args.graph, liberty=liberty,
                      structures=tuple(args.structures), densities=tuple(args.densities),
                      clock_gating=args.clock_gating, regfile_words=args.regfile_words,
                      regfile_read=ReadStyle(args.regfile_read),
                      requant_registers=args.requant_registers)
    report = run_report(args.out, rc)
    print(f"mixq hw: wrote {args.out}/hw.json, hw.md and plots "
          f"({len(report['design_points'])} design points, {report['yosys_version']})")
    return 0


def add_commands(sub) -> None:
    """Register ``mixq hw report`` on the CLI's sub-parsers."""
    from mixq.args import non_negative_int, positive_int
    from mixq.hw.report import DENSITIES, STRUCTURES

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
    r.add_argument("--liberty", nargs="+", default=None, metavar="PATH",
                   help="standard-cell Liberty file(s) to map the engines to (default: sky130 HD "
                   "and IHP SG13G2 from ../shared/data/asic when present, else generic gates)")
    r.add_argument("--structures", nargs="+", default=list(STRUCTURES), choices=STRUCTURES,
                   help="outlier structures of the ternary design points (default: all)")
    r.add_argument("--densities", nargs="+", type=float, default=list(DENSITIES),
                   help="outlier densities (default 0.01 0.02 0.05)")
    r.add_argument("--clock-gating", action="store_true",
                   help="architecture step 1: gate the clock of every register with an enable "
                   "through the library's clock-gating cell, both engines (sky130: dlclkp; "
                   "see docs/accelerator-steps.md)")
    r.add_argument("--regfile-words", type=non_negative_int, default=0, metavar="WORDS",
                   help="architecture step 'memories': buffers of at most WORDS words become "
                   "flip-flop register files in standard cells, larger ones the smallest fitting "
                   "SRAM macros (50: the measured break-even on sky130 against IHP's 256x32 "
                   "macro, docs/accelerator-steps.md; default 0: every buffer SRAM)")
    r.add_argument("--regfile-read", choices=("decoded", "mux"), default="decoded",  # ReadStyle
                   help="how register files select the word they read: 'decoded' (one select "
                   "line per word, AND-OR; default) or 'mux' (a multiplexer tree on the address, "
                   "the first build of the memories step)")
    r.add_argument("--requant-registers", action="store_true",
                   help="architecture step 'requant constants stationary': the requantization "
                   "words (shift, multiplier, bias, k) in a register file whatever their count, "
                   "both engines (docs/accelerator-steps.md)")
    r.set_defaults(func=_cmd_report)
