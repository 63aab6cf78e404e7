"""Run folders in and out: export a run's model to a standard format; import a QONNX file as a
run folder that ``mixq deploy`` takes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from mixq.deploy.rundir import model_graph_dirs
from mixq.errors import MixqError

FORMATS = ("qonnx", "onnx")


def export_run_model(run_dir, model: str, fmt: str, out) -> Path:
    """Write model ``model`` of ``run_dir`` as ``fmt`` to ``out`` (atomically); returns ``out``.

    Args:
        run_dir: a folder written by ``mixq demo`` (``models/<name>/graph.json`` ...).
        model: model name in the run (``int8``, ``mixed``, ``int8-fit``, ...).
        fmt: ``qonnx``: the QAT model (``qat.ckpt``) with QONNX Quant nodes; ``onnx``: the
            integer graph in standard ONNX operators.
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
    if fmt == "qonnx":
        from mixq.interop.qonnx_export import export_run_qonnx

        export_run_qonnx(dirs[model], out)
        return out
    from mixq.interop.onnx_int import export_graph_onnx
    from mixq.ir.serialize import load_graph

    export_graph_onnx(load_graph(dirs[model]), out)
    return out


def import_to_run_dir(path, out, name: str | None = None, samples: int = 100,
                      seed: int = 0) -> tuple[str, Path]:
    """Import a QONNX file into run folder ``out`` (``models/<name>/graph.json`` + ``.npz``).

    When ``out`` has no ``test_inputs.npz`` yet, ``samples`` seeded random input codes (labels -1)
    are written so that ``mixq deploy out`` checks the deployed model bit for bit on them.
    Nothing is written when the file cannot be imported.

    Returns:
        (model name, its graph folder).

    Raises:
        MixqError: one line listing every unsupported node or non-quantized tensor.
    """
    from mixq.deploy.deploy import random_inputs
    from mixq.fileio import write_bytes_atomic
    from mixq.interop.qonnx_import import import_qonnx
    from mixq.ir.serialize import save_graph

    graph = import_qonnx(path, name)
    folder = save_graph(graph, Path(out) / "models" / graph.name)
    if not (Path(out) / "test_inputs.npz").is_file():
        x = random_inputs(graph, samples, seed=seed).astype(np.uint8)
        buf = io.BytesIO()
        np.savez(buf, inputs=x, labels=np.full(len(x), -1, np.int64))
        write_bytes_atomic(Path(out) / "test_inputs.npz", buf.getvalue())
    return graph.name, folder
