"""Reading a QONNX file: what each node is, which tensors are quantized, the quantizer parameters.

A QONNX ``Quant`` node (Pappalardo et al. 2022, "QONNX") computes, with ``rounding_mode`` ROUND
(round half to even) and zero point z::

    y = (clip(round(x / scale + z), qmin, qmax) - z) * scale

where [qmin, qmax] follows ``bitwidth``, ``signed`` and ``narrow`` (narrow drops the most negative
code). ``BipolarQuant`` gives ``scale * (+1 if x >= 0 else -1)``. numpy only; ``onnx`` and
``qonnx`` are imported lazily.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixq.errors import MixqError

QUANT_OPS = ("Quant", "BipolarQuant")
# Every op type the importer understands (anything else is listed in one error).
SUPPORTED_OPS = QUANT_OPS + ("Conv", "Gemm", "MatMul", "Add", "Relu", "BatchNormalization",
                             "GlobalAveragePool", "ReduceMean", "AveragePool", "Flatten",
                             "Reshape", "Identity", "Dropout")


@dataclass(frozen=True)
class QuantParams:
    """One quantizer: ``real = code * scale`` with integer codes in [qmin, qmax].

    Attributes:
        scale: float64 scalar or per-channel array.
        bits: declared bit width (1 for bipolar).
        signed: two's complement codes.
        narrow: the most negative code is not used (symmetric range).
        bipolar: codes are {-1, +1} (``BipolarQuant``).
        rounding: QONNX rounding mode (``ROUND`` = half to even).
    """

    scale: np.ndarray
    bits: int
    signed: bool
    narrow: bool = False
    bipolar: bool = False
    rounding: str = "ROUND"

    @property
    def qmin(self) -> int:
        """Smallest code.

        Example:
            >>> QuantParams(np.float64(1), 4, True, narrow=True).qmin
            -7
        """
        if self.bipolar:
            return -1
        if not self.signed:
            return 0
        return -(1 << (self.bits - 1)) + (1 if self.narrow else 0)

    @property
    def qmax(self) -> int:
        """Largest code."""
        if self.bipolar:
            return 1
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1 - int(
            self.narrow)

    def codes(self, x: np.ndarray) -> np.ndarray:
        """Integer codes of real values ``x`` (QONNX semantics: round half to even, clip).

        Example:
            >>> QuantParams(np.float64(0.5), 2, True).codes(np.array([0.25, 0.75, -9.0]))
            array([ 0,  1, -2])
        """
        if self.bipolar:
            return np.where(np.asarray(x) >= 0, 1, -1).astype(np.int64)
        q = np.round(np.asarray(x, np.float64) / self.scale)
        return np.clip(q, self.qmin, self.qmax).astype(np.int64)


class QonnxModel:
    """A QONNX graph after qonnx's cleanup (constants folded, shapes inferred, unique names).

    Args:
        model: an ``onnx.ModelProto``.
    """

    def __init__(self, model):
        from onnx import numpy_helper

        self.proto = model
        self.graph = model.graph
        self.consts = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        for n in self.graph.node:
            if n.op_type == "Constant":
                self.consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        self.producer = {o: n for n in self.graph.node for o in n.output}
        self.consumers: dict[str, list] = {}
        for n in self.graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.shapes = {}
        for vi in list(self.graph.input) + list(self.graph.value_info) + list(self.graph.output):
            dims = vi.type.tensor_type.shape.dim
            self.shapes[vi.name] = tuple(d.dim_value for d in dims)

    def attr(self, node, name: str, default=None):
        """A node attribute's value (strings decoded), or ``default``."""
        from onnx import helper

        for a in node.attribute:
            if a.name == name:
                v = helper.get_attribute_value(a)
                return v.decode() if isinstance(v, bytes) else v
        return default

    def const(self, name: str) -> np.ndarray | None:
        """The constant behind tensor ``name`` (initializer or Constant node), else None."""
        return self.consts.get(name)

    def quant_params(self, node) -> QuantParams:
        """Parameters of a ``Quant`` / ``BipolarQuant`` node (its scale etc. must be constants).

        Raises:
            MixqError: non-constant parameters, a non-zero zero point, or a non-integer width.
        """
        if node.op_type == "BipolarQuant":
            scale = self.const(node.input[1])
            if scale is None:
                raise MixqError(f"node '{node.name}': BipolarQuant scale is not a constant")
            return QuantParams(scale.astype(np.float64), 1, True, bipolar=True)
        params = [self.const(i) for i in node.input[1:4]]
        if any(p is None for p in params):
            raise MixqError(f"node '{node.name}': Quant scale, zero point and bit width must be "
                            "constants")
        scale, zeropt, bits = params
        if np.any(zeropt != 0):
            raise MixqError(f"node '{node.name}': zero point {zeropt.ravel()[:4]} is not 0; mixq "
                            "codes are symmetric (zero point 0)")
        if bits.size != 1 or float(bits) != int(bits) or not 1 <= int(bits) <= 8:
            raise MixqError(f"node '{node.name}': bit width {bits.ravel()[:4]} is not an "
                            "integer in [1, 8]")
        return QuantParams(scale.astype(np.float64), int(bits), bool(self.attr(node, "signed", 1)),
                           bool(self.attr(node, "narrow", 0)),
                           rounding=self.attr(node, "rounding_mode", "ROUND"))


def _cleanup(proto):
    """qonnx's cleanup passes (those of ``qonnx.util.cleanup``) that keep the user's tensor and
    node names, so that errors name what the user sees; unnamed nodes get qonnx's names."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (GiveUniqueNodeNames, GiveUniqueParameterTensors,
                                              RemoveStaticGraphInputs, RemoveUnusedTensors)
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

    for n in proto.graph.node:
        if n.op_type in ("Quant", "BipolarQuant", "Trunc"):
            n.domain = "qonnx.custom_op.general"
    model = ModelWrapper(proto)
    names = [n.name for n in proto.graph.node]
    if not all(names) or len(set(names)) != len(names):
        model = model.transform(GiveUniqueNodeNames())
    for t in (InferShapes(), GiveUniqueParameterTensors(),
              FoldConstants(exclude_op_types=["Quant", "BipolarQuant"]),
              FoldTransposeIntoQuantInit(), RemoveUnusedTensors(), RemoveStaticGraphInputs(),
              InferShapes()):
        model = model.transform(t)
    return model.model


def load_qonnx(path) -> QonnxModel:
    """Read a QONNX file; see :func:`qonnx_from_proto`.

    Raises:
        MixqError: the file is missing or not a valid ONNX model, qonnx is not installed, or
            the graph has unsupported nodes (all listed in one line).
    """
    try:
        import onnx
    except ImportError:
        raise MixqError("importing QONNX needs the 'onnx' and 'qonnx' packages: "
                        "pip install -e '.[dev]'") from None
    try:
        proto = onnx.load(str(path))
    except FileNotFoundError:
        raise MixqError(f"{path} not found") from None
    except Exception as e:
        raise MixqError(f"{path} is not an ONNX model ({type(e).__name__})") from None
    return qonnx_from_proto(proto, str(path))


def qonnx_from_proto(proto, where: str = "model") -> QonnxModel:
    """Check a QONNX ``ModelProto`` for unsupported ops and normalise it with qonnx's own
    cleanup passes (constant folding that keeps the Quant nodes, shape inference).

    Raises:
        MixqError: one line listing every unsupported node, or qonnx is missing.
    """
    try:
        import qonnx  # noqa: F401
    except ImportError:
        raise MixqError("importing QONNX needs the 'qonnx' package: pip install -e '.[dev]'") \
            from None
    unknown = [f"'{n.name or n.output[0]}' ({n.op_type})" for n in proto.graph.node
               if n.op_type not in SUPPORTED_OPS + ("Constant",)]
    if unknown:
        raise MixqError(f"{where}: {len(unknown)} unsupported node(s): {', '.join(unknown)}; mixq "
                        f"imports {', '.join(SUPPORTED_OPS)}")
    try:
        cleaned = _cleanup(proto)
    except Exception as e:
        raise MixqError(f"{where}: qonnx cleanup failed ({type(e).__name__}: {e})") from None
    return QonnxModel(cleaned)
