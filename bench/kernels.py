"""Instructions per MAC of mixq's kernels on the emulated Cortex-M7 (arm-none-eabi-gcc -O3).

Default cases (issue 3): pointwise 1x1 16x16x64->64, depthwise 3x3 16x16x64 (pad 1), conv 3x3
16x16x16->32 (pad 1). ``--shape KIND:HxWxCIN:COUT:KHxKW:sS`` (repeatable) measures any layer
instead, TF 'same' padding: KIND conv, pw, dw, fc (over the flattened HxWxCIN input), maxpool,
avgpool, add (pool and add rows count per output element). Each at w8a8, w4a8, w2a8,
ternary-a8, w4a4, w2a2 unless ``--precisions`` says otherwise. Counts are executed
instructions of the kernel call only (Unicorn), after a bit-exact check against the
interpreter; they are not cycles.

    .venv/bin/python bench/kernels.py [--kernels armv7em|ref] [--layers pw1x1,dw3x3] [--json]
    .venv/bin/python bench/kernels.py --shape conv:32x32x3:16:3x3:s2 --shape fc:1x1x256:10:1x1:s1 \\
        --precisions w8a8,w2a2 --json

Reference points, measured the same way: CMSIS-NN int8 about 2.0 (pointwise), 8.0 (depthwise
3x3), 2.1 (conv 3x3) instructions/MAC; CMix-NN sub-byte about 2.0-2.1 with per-layer and
2.4-2.7 with per-channel requantization; the README's kernel table has the other shapes.
"""

from __future__ import annotations

import argparse
import sys

from mixq.deploy.kernel_bench import (CASES, PRECISIONS, LayerCase, add_kernels_argument,
                                      case_precisions, format_table, measure_case,
                                      parse_precisions, print_rows)
from mixq.errors import MixqError

ROW_KEYS = ("layer", "w_bits", "a_bits", "macs", "instructions", "shape")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_kernels_argument(ap)
    ap.add_argument("--layers", default=",".join(CASES), help="comma-separated subset of "
                    f"{','.join(CASES)} (ignored with --shape)")
    ap.add_argument("--shape", action="append", default=[],
                    help="KIND:HxWxCIN:COUT:KHxKW:sS, repeatable (e.g. conv:32x32x3:16:3x3:s2)")
    ap.add_argument("--precisions", default=None,
                    help="comma-separated subset of w8a8,w4a8,w2a8,wta8,w4a4,w2a2")
    ap.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    args = ap.parse_args(argv)
    try:
        precisions = parse_precisions(args.precisions) if args.precisions else PRECISIONS
        if args.shape:
            cases = [LayerCase.parse(s) for s in args.shape]
        else:
            unknown = [n for n in args.layers.split(",") if n not in CASES]
            if unknown:
                raise MixqError(f"unknown layer '{unknown[0]}': use one of {','.join(CASES)} "
                                "or --shape")
            cases = [CASES[n] for n in args.layers.split(",")]
        rows = []
        for case in cases:
            for w_bits, a_bits in case_precisions(case, precisions):
                rows.append(measure_case(case, w_bits, a_bits, kernels=args.kernels))
                if not args.json:
                    print(f"  measured {case.layer} {case.shape} w{w_bits}a{a_bits}",
                          file=sys.stderr, flush=True)
    except MixqError as e:
        print(f"mixq: error: {e}", file=sys.stderr)
        return 2
    print_rows([{k: r[k] for k in ROW_KEYS} for r in rows] if args.json else rows, args.json,
               f"instructions per MAC, emulated Cortex-M7, arm-none-eabi-gcc -O3, "
               f"kernels '{args.kernels.value}' (instruction counts, not cycles)",
               "" if args.json else format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
