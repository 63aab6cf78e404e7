"""Instructions per MAC of mixq's kernels on the emulated Cortex-M7 (arm-none-eabi-gcc -O3).

Cases (issue 3): pointwise 1x1 16x16x64->64, depthwise 3x3 16x16x64 (pad 1), conv 3x3
16x16x16->32 (pad 1), each at w8a8, w4a8, w2a8, ternary-a8, w4a4, w2a2. Counts are executed
instructions of the kernel call only (Unicorn), after a bit-exact check against the interpreter;
they are not cycles.

    .venv/bin/python bench/kernels.py [--kernels armv7em|ref] [--layers pw1x1,dw3x3] [--json]

Reference points, measured the same way (issue 3): CMSIS-NN int8 about 2.0 (pointwise),
8.0 (depthwise 3x3), 2.1 (conv 3x3) instructions/MAC; CMix-NN sub-byte about 2.0-2.1 with
per-layer and 2.4-2.7 with per-channel requantization.
"""

from __future__ import annotations

import argparse
import sys

from mixq.deploy.kernel_bench import (CASES, PRECISIONS, add_kernels_argument, format_table,
                                      measure_case, print_rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_kernels_argument(ap)
    ap.add_argument("--layers", default=",".join(CASES), help="comma-separated subset of "
                    f"{','.join(CASES)}")
    ap.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    args = ap.parse_args(argv)
    rows = []
    for name in args.layers.split(","):
        for w_bits, a_bits in PRECISIONS:
            row = measure_case(CASES[name], w_bits, a_bits, kernels=args.kernels)
            rows.append(row)
            if not args.json:
                print(f"  measured {name} w{w_bits}a{a_bits}", file=sys.stderr, flush=True)
    keys = ("layer", "w_bits", "a_bits", "macs", "instructions")
    print_rows([{k: r[k] for k in keys} for r in rows] if args.json else rows, args.json,
               f"instructions per MAC, emulated Cortex-M7, arm-none-eabi-gcc -O3, "
               f"kernels '{args.kernels.value}' (instruction counts, not cycles)",
               "" if args.json else format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
