"""The README's model zoo table: every zoo model (or the ones named), random weights, uniform
8-bit and memory-driven mixed bits under its benchmark budget, deployed on the benchmark's
emulated Cortex-M7: params, MACs, linked flash, arena, instructions of one inference, bit-exact on
the emulator and the host (:func:`mixq.zoo_demo.run_zoo_model`, the same flow as
``mixq demo --model NAME``).

    .venv/bin/python bench/zoo.py [--model NAME ...] [--out runs/zoo] [--emulate 1] [--json]
        [--mixed-fraction F [--mixed-only]]

Under its benchmark budget every zoo model fits at 8 bits (mixed = int8); ``--mixed-fraction
0.5`` gives the mixed model half the 8-bit model's flash instead (the benchmark's RAM).

The instruction count comes from the block-hook profile of one inference: minutes for the large
MCUNets (~1 M blocks/s); run it with ``nice``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from mixq.errors import MixqError
from mixq.models.zoo import zoo_names
from mixq.zoo_demo import run_zoo_model, zoo_table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", choices=zoo_names(),
                   help="zoo model (repeatable; default: all)")
    p.add_argument("--out", default="runs/zoo", help="output folder (one sub-folder per model)")
    p.add_argument("--emulate", type=int, default=1, help="inputs checked bit for bit (1)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--mixed-fraction", type=float, default=None,
                   help="flash budget of the mixed model: this fraction of the 8-bit model's "
                   "flash (default: the benchmark's budget)")
    p.add_argument("--mixed-only", action="store_true", help="skip the int8 rows")
    args = p.parse_args(argv)
    runs = []
    try:
        for name in args.model or zoo_names():
            runs += run_zoo_model(
                name, f"{args.out}/{name}", emulate=args.emulate,
                mixed_fraction=args.mixed_fraction,
                allocations=("mixed",) if args.mixed_only else ("int8", "mixed"))
            print(f"done {name}", file=sys.stderr, flush=True)
    except MixqError as e:
        print(f"zoo.py: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps([asdict(r) for r in runs]) if args.json else zoo_table(runs), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
