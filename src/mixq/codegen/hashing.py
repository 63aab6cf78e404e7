"""Content hash of an integer graph (names, tensor types, node fields and weight bytes)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from mixq.ir.graph import Graph


def _canonical(value):
    """A JSON-able, order-stable view of IR values (floats exact via float.hex)."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"dtype": data.dtype.str, "shape": list(data.shape),
                "sha256": hashlib.sha256(data.tobytes()).hexdigest()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _canonical(getattr(value, f.name))
                  for f in dataclasses.fields(value) if not f.name.startswith("_")}
        return {"type": type(value).__name__, **fields}
    if isinstance(value, (tuple, list)):
        return [_canonical(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value).hex()
    if isinstance(value, str) or value is None:
        return value
    raise TypeError(f"cannot hash a {type(value).__name__} inside a graph")


def model_hash(graph: Graph) -> str:
    """sha256 hex digest of the graph's content (no timestamps, no paths).

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> def make():
        ...     b = GraphBuilder((4, 4, 3), seed=1)
        ...     return b.build(b.conv(b.input, 4))
        >>> model_hash(make()) == model_hash(make()), len(model_hash(make()))
        (True, 64)
    """
    text = json.dumps(_canonical(graph), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
