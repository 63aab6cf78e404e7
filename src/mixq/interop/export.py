"""Export a model of a run folder (``mixq demo`` output) to a standard format."""

from __future__ import annotations

from pathlib import Path

from mixq.deploy.rundir import model_graph_dirs
from mixq.errors import MixqError

FORMATS = ("onnx",)


def export_run_model(run_dir, model: str, fmt: str, out) -> Path:
    """Write model ``model`` of ``run_dir`` as ``fmt`` to ``out`` (atomically); returns ``out``.

    Args:
        run_dir: a folder written by ``mixq demo`` (``models/<name>/graph.json`` ...).
        model: model name in the run (``int8``, ``mixed``, ``int8-fit``, ...).
        fmt: ``onnx``: the integer graph in standard ONNX operators.
        out: output file.

    Raises:
        MixqError: not a run folder, unknown model or format.
    """
    if fmt not in FORMATS:
        raise MixqError(f"unknown export format '{fmt}'; use one of {', '.join(FORMATS)}")
    dirs = model_graph_dirs(run_dir)
    if model not in dirs:
        raise MixqError(f"run '{run_dir}' has no model '{model}'; it has {', '.join(dirs)}")
    out = Path(out)
    from mixq.interop.onnx_int import export_graph_onnx
    from mixq.ir.serialize import load_graph

    export_graph_onnx(load_graph(dirs[model]), out)
    return out
