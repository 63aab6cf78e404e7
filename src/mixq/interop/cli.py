"""``mixq export`` and ``mixq import``: a run's models out as ONNX/QONNX, a QONNX file in."""

from __future__ import annotations

from pathlib import Path


def _cmd_export(args) -> int:
    from mixq.interop.rundir import export_run_model

    path = export_run_model(args.run_dir, args.model, args.format, args.out)
    print(f"mixq export: wrote {path} ({args.format})")
    return 0


def _cmd_import(args) -> int:
    from mixq.interop.rundir import import_to_run_dir

    name, folder = import_to_run_dir(args.file, args.out, name=args.name)
    print(f"mixq import: wrote {folder}; deploy it with: mixq deploy {args.out} --model {name} "
          "--out DIR")
    return 0


def add_commands(sub) -> None:
    """Register ``export`` (and ``import``) on the ``mixq`` sub-parsers."""
    from mixq.interop.rundir import FORMATS

    e = sub.add_parser("export", help="write a run's model as QONNX (QAT) or ONNX (integer)")
    e.add_argument("run_dir", help="a run folder written by `mixq demo`")
    e.add_argument("--model", required=True, help="model name in the run (e.g. mixed, int8)")
    e.add_argument("--format", choices=FORMATS, required=True,
                   help="qonnx: the QAT model with Quant nodes; onnx: the integer graph in "
                        "standard operators (bit-exact in onnxruntime)")
    e.add_argument("--out", required=True, type=Path, help="output .onnx file")
    e.set_defaults(func=_cmd_export)

    i = sub.add_parser("import", help="read a QONNX file (e.g. exported by Brevitas) as an "
                       "integer graph in a run folder that `mixq deploy` takes")
    i.add_argument("file", type=Path, help="QONNX .onnx file")
    i.add_argument("--out", required=True, type=Path, help="run folder to write")
    i.add_argument("--name", default=None, help="model name (default: the file name)")
    i.set_defaults(func=_cmd_import)
