"""``mixq allocate``: per-layer bit allocation from the command line (scripts rely on its JSON)."""

from __future__ import annotations

import json

from mixq.cli import positive_int


def _cmd_allocate(args) -> int:
    from mixq.search.memory_driven import allocate_for_model

    result = allocate_for_model(args.model, args.width, args.resolution, args.num_classes,
                                args.flash, args.ram, args.granularity, args.delta)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{'layer':<24} {'kind':<5} {'w':>2} {'in':>3} {'out':>3}")
        for l in result["layers"]:
            print(f"{l['name']:<24} {l['kind']:<5} {l['w_bits']:>2} {l['in_bits']:>3} "
                  f"{l['out_bits']:>3}")
        print(f"flash {result['flash_bytes']} B (budget {args.flash}), "
              f"peak RAM {result['ram_peak_bytes']} B (budget {args.ram})")
    return 0


def add_commands(sub) -> None:
    """Register ``mixq allocate`` on the CLI's sub-parsers."""
    a = sub.add_parser("allocate", help="memory-driven per-layer bit allocation (Rusci et al. 2020)")
    a.add_argument("--model", required=True, help="mobilenet_v1, demo_net, ds_cnn or resnet8")
    a.add_argument("--width", type=float, default=None,
                   help="width multiplier (default: the model's)")
    a.add_argument("--resolution", type=positive_int, default=None,
                   help="input size (default: the model's)")
    a.add_argument("--num-classes", type=positive_int, default=None,
                   help="classes (default: the model's)")
    a.add_argument("--flash", type=positive_int, required=True, help="flash budget in bytes")
    a.add_argument("--ram", type=positive_int, required=True, help="RAM budget in bytes")
    a.add_argument("--granularity", choices=["per-channel", "per-layer"], default="per-channel",
                   help="MixPC (per-channel, ICN) or MixPL (per-layer)")
    a.add_argument("--delta", type=float, default=0.05, help="weight-cut tolerance δ (0.05)")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.set_defaults(func=_cmd_allocate)
