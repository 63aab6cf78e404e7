"""``mixq export`` and ``mixq import``: a run's models out as ONNX/QONNX, a QONNX file in."""

from __future__ import annotations

from pathlib import Path


def _cmd_export(args) -> int:
    from mixq.interop.export import export_run_model

    path = export_run_model(args.run_dir, args.model, args.format, args.out)
    print(f"mixq export: wrote {path} ({args.format})")
    return 0


def add_commands(sub) -> None:
    """Register ``export`` (and ``import``) on the ``mixq`` sub-parsers."""
    from mixq.interop.export import FORMATS

    e = sub.add_parser("export", help="write a run's model as QONNX (QAT) or ONNX (integer)")
    e.add_argument("run_dir", help="a run folder written by `mixq demo`")
    e.add_argument("--model", required=True, help="model name in the run (e.g. mixed, int8)")
    e.add_argument("--format", choices=FORMATS, required=True,
                   help="qonnx: the QAT model with Quant nodes; onnx: the integer graph in "
                        "standard operators (bit-exact in onnxruntime)")
    e.add_argument("--out", required=True, type=Path, help="output .onnx file")
    e.set_defaults(func=_cmd_export)
