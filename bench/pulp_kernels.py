"""MACs per modelled cycle of mixq's PULP kernels on the functional Xpulp core, 1 and 8 cores.

Each layer runs bit-exact against the interpreter on the functional Xpulp machine (Unicorn RV32
plus a Python interpreter for the Xpulp code), the 8 cores' programs one after the other; its
executed instructions are timed with the RI5CY pipeline model of mixq.deploy.xpulp_timing: on
one core (all programs in turn) and on the cluster (the slowest core with its TCDM bank-conflict
stalls + fork/join, operands in L1; --json rows add l2_cycles: the layer tiled into L1 and moved
from L2 by the DMA, mixq.deploy.cluster_timing). Cycles are a MODEL, not a measurement.

    .venv/bin/python bench/pulp_kernels.py [--layers conv3x3,pw,fc] [--isa xpulpv2,xpulpnn] [--json]

conv3x3-16 is our reading of the PULP-NN paper's benchmark layer (3x3, 16x16x32 -> 64, 4.7 M
MACs): a few minutes per row on the functional core.
"""

from __future__ import annotations

import argparse
import json
import sys

from mixq.deploy.pulp_bench import CASES, ISA_OF, PRECISIONS, format_rows, measure_layer

KEYS = ("layer", "w_bits", "a_bits", "macs", "cores", "cycles", "mac_per_cycle", "isa")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default=",".join(CASES),
                    help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument("--isa", default="xpulpv2,xpulpnn", help="xpulpv2 and/or xpulpnn")
    ap.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    args = ap.parse_args(argv)
    sets = {isa: ks for ks, isa in ISA_OF.items()}
    wanted = args.isa.split(",")
    for name in wanted + args.layers.split(","):
        if name not in sets and name not in CASES:
            print(f"mixq: error: unknown layer or isa '{name}'; layers {', '.join(CASES)}, "
                  f"isas {', '.join(sets)}", file=sys.stderr)
            return 2
    rows = []
    for layer in args.layers.split(","):
        for isa in wanted:
            for w_bits, a_bits in PRECISIONS:
                rows.extend(measure_layer(layer, w_bits, a_bits, sets[isa]))
                if not args.json:
                    print(f"  measured {layer} {isa} w{w_bits}a{a_bits}", file=sys.stderr,
                          flush=True)
    if args.json:
        print(json.dumps([{k: r[k] for k in KEYS} for r in rows]))
    else:
        print("MAC per cycle, 1 RI5CY core and the cluster, cycles from the RI5CY pipeline MODEL "
              "over the executed instructions (bit-exact run on the functional Xpulp core)")
        print(format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
