"""A small ONNX graph builder: unique names, constants as initializers, one node per call.

Used by the integer-graph exporter and the QONNX exporter; ``onnx`` is imported lazily so that
importing mixq never needs it.
"""

from __future__ import annotations

import numpy as np

from mixq.errors import MixqError


def require_onnx():
    """The ``onnx`` module, or a one-line MixqError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise MixqError("ONNX support needs the 'onnx' package: pip install -e '.[dev]'") from None
    return onnx


class OnnxBuilder:
    """Collects ONNX nodes and initializers under unique names.

    Example:
        >>> b = OnnxBuilder("g")
        >>> y = b.op("Add", [b.const(np.int64(1), "one"), b.const(np.int64(2), "two")])
        >>> [n.op_type for n in b.nodes], y
        (['Add'], 'add')
    """

    def __init__(self, name: str):
        self.name = name
        self.nodes: list = []
        self.initializers: list = []
        self._used: set[str] = set()

    def unique(self, base: str) -> str:
        """``base``, or ``base_<k>`` with the smallest free k (``base`` taken)."""
        name, k = base, 0
        while name in self._used:
            name, k = f"{base}_{k}", k + 1
        self._used.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claim an exact value name (graph inputs and IR tensor names)."""
        if name in self._used:
            raise MixqError(f"ONNX value name '{name}' used twice")
        self._used.add(name)
        return name

    def const(self, value, name: str) -> str:
        """Add a constant initializer (numpy array or scalar, dtype kept); returns its name."""
        from onnx import numpy_helper

        out = self.unique(name)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), out))
        return out

    def op(self, op_type: str, inputs: list[str], out: str | None = None, domain: str = "",
           **attrs) -> str:
        """Append a node with one output; returns the output name."""
        from onnx import helper

        out = out if out is not None else self.unique(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.unique(f"n_{out}"),
                                           domain=domain, **attrs))
        return out
