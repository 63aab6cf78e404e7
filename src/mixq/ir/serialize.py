"""Save and load an ``ir.Graph``: structure as JSON (``graph.json``), constants as ``graph.npz``.

Both files are written atomically and deterministically (sorted keys, no timestamps).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path

import numpy as np

from mixq.errors import MixqError
from mixq.fileio import write_bytes_atomic, write_text_atomic
from mixq.ir.graph import (
    Add,
    AvgPool,
    Concat,
    Conv2d,
    FullyConnected,
    Graph,
    Pool2d,
    Requant,
    SparseOutliers,
    TensorType,
)
from mixq.ir.verify import verify

FORMAT_VERSION = 1
_NODE_TYPES = {c.__name__: c for c in (Conv2d, FullyConnected, AvgPool, Add, Pool2d, Concat)}
_ARRAYS = ("weight",)
_RQ_ARRAYS = ("bias", "multiplier", "shift")
_SP_ARRAYS = ("values", "mask", "dense_scale")


def _node_to_json(node, arrays: dict) -> dict:
    d = {"op": type(node).__name__}
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if f.name in _ARRAYS:
            arrays[f"{node.name}/{f.name}"] = v
            d[f.name] = f"{node.name}/{f.name}"
        elif isinstance(v, Requant):
            for a in _RQ_ARRAYS:
                arrays[f"{node.name}/{a}"] = getattr(v, a)
            d[f.name] = {"activation_min": v.activation_min, "activation_max": v.activation_max}
        elif isinstance(v, SparseOutliers):
            for a in _SP_ARRAYS:
                arrays[f"{node.name}/sparse/{a}"] = getattr(v, a)
            d[f.name] = {"structure": v.structure}
        else:
            d[f.name] = list(v) if isinstance(v, tuple) else v
    return d


def _node_from_json(d: dict, arrays) -> object:
    d = dict(d)
    cls = _NODE_TYPES.get(d.pop("op", None))
    if cls is None:
        raise MixqError("graph.json has an unknown op; was it written by a newer mixq?")
    for k, v in d.items():
        if k in _ARRAYS:
            d[k] = arrays[v]
        elif k == "requant":
            d[k] = Requant(**{a: arrays[f"{d['name']}/{a}"] for a in _RQ_ARRAYS}, **v)
        elif k == "sparse" and v is not None:
            d[k] = SparseOutliers(**{a: arrays[f"{d['name']}/sparse/{a}"] for a in _SP_ARRAYS},
                                  **v)
        elif isinstance(v, list):
            d[k] = tuple(v)
    return cls(**d)


def graph_to_files(graph: Graph) -> tuple[str, bytes]:
    """(JSON text, npz bytes) of a graph."""
    arrays: dict[str, np.ndarray] = {}
    doc = {
        "format": FORMAT_VERSION,
        "name": graph.name,
        "inputs": list(graph.inputs),
        "outputs": list(graph.outputs),
        "tensors": [{"name": n, "shape": list(t.shape), "bits": t.bits, "signed": t.signed,
                     "scale": t.scale} for n, t in graph.tensors],
        "nodes": [_node_to_json(n, arrays) for n in graph.nodes],
    }
    buf = io.BytesIO()
    np.savez(buf, **{k: arrays[k] for k in sorted(arrays)})
    return json.dumps(doc, indent=1, sort_keys=True) + "\n", buf.getvalue()


def graph_hash(graph: Graph) -> str:
    """sha256 (hex, first 16 chars) of the graph's content: structure and constants."""
    text, _ = graph_to_files(graph)
    h = hashlib.sha256(text.encode())
    for node in graph.nodes:
        for a in ("weight",):
            if hasattr(node, a):
                h.update(np.ascontiguousarray(getattr(node, a)).tobytes())
        if hasattr(node, "requant"):
            for a in _RQ_ARRAYS:
                h.update(getattr(node.requant, a).tobytes())
        if getattr(node, "sparse", None) is not None:
            for a in _SP_ARRAYS:
                h.update(np.ascontiguousarray(getattr(node.sparse, a)).tobytes())
    return h.hexdigest()[:16]


def save_graph(graph: Graph, folder) -> Path:
    """Write ``folder/graph.json`` and ``folder/graph.npz``; returns the folder."""
    folder = Path(folder)
    text, blob = graph_to_files(graph)
    write_bytes_atomic(folder / "graph.npz", blob)
    write_text_atomic(folder / "graph.json", text)
    return folder


def load_graph(folder) -> Graph:
    """Read a graph written by :func:`save_graph` and verify it.

    Raises:
        MixqError: missing or corrupt files, or a graph that fails verification.
    """
    folder = Path(folder)
    jpath, npath = folder / "graph.json", folder / "graph.npz"
    for p in (jpath, npath):
        if not p.is_file():
            raise MixqError(f"{p} not found; integerize a model first (mixq demo writes one)")
    try:
        doc = json.loads(jpath.read_text())
        with np.load(npath) as z:
            arrays = {k: z[k] for k in z.files}
        tensors = tuple((t["name"], TensorType(tuple(t["shape"]), t["bits"], t["signed"],
                                               t["scale"])) for t in doc["tensors"])
        nodes = tuple(_node_from_json(n, arrays) for n in doc["nodes"])
        graph = Graph(doc["name"], tensors, nodes, tuple(doc["inputs"]), tuple(doc["outputs"]))
    except MixqError:
        raise
    except Exception as e:
        raise MixqError(f"{folder}: corrupt graph files ({type(e).__name__}: {e}); "
                        "re-run integerization") from None
    return verify(graph)
