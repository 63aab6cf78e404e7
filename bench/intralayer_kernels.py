"""Instructions per MAC of dense-ternary + sparse-int8 kernels on the emulated Cortex-M7.

Layers as in bench/kernels.py (pointwise 1x1 16x16x64->64, conv 3x3 16x16x16->32 pad 1; on
request depthwise 3x3 16x16x64 pad 1), 8-bit
activations, every outlier structure at 1% and 5% density, against the w8a8 and the pure ternary
kernels on the same shapes. Counts are executed instructions of the kernel call only (Unicorn,
arm-none-eabi-gcc -O3) after a bit-exact check against the interpreter; they are not cycles.
"flash B" is the layer's packed weights + dense_scale + outlier entries + requantization arrays
as the kernel stores them; "index bits" the compact format's cost (mixq.codegen.sparse_formats).

    .venv/bin/python bench/intralayer_kernels.py [--kernels armv7em|ref] [--layers pw1x1,dw3x3]
        [--structures unstructured,2:8] [--densities 0.01,0.05] [--json]
"""

from __future__ import annotations

import argparse
import sys

from mixq.deploy.intralayer_bench import (
    DENSITIES,
    LAYERS,
    format_intralayer_table,
    measure_intralayer,
)
from mixq.deploy.kernel_bench import add_kernels_argument, print_rows
from mixq.ir.graph import SPARSE_STRUCTURES


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_kernels_argument(ap)
    ap.add_argument("--layers", default=",".join(LAYERS), help="comma-separated, of "
                    f"{','.join(LAYERS)},dw3x3")
    ap.add_argument("--structures", default=",".join(SPARSE_STRUCTURES))
    ap.add_argument("--densities", default=",".join(str(d) for d in DENSITIES))
    ap.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    args = ap.parse_args(argv)
    rows = measure_intralayer(args.layers.split(","), args.structures.split(","),
                              [float(d) for d in args.densities.split(",")], kernels=args.kernels)
    print_rows(rows, args.json, f"instructions per MAC, emulated Cortex-M7, arm-none-eabi-gcc "
               f"-O3, kernels '{args.kernels.value}', 8-bit activations (instruction counts, "
               "not cycles)", "" if args.json else format_intralayer_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
