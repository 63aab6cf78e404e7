"""``mixq import FILE.onnx``: a QONNX network (as Brevitas exports it) becomes an ``ir.Graph``.

Every layer of the file is a *core* op (``Conv``, ``Gemm``/``MatMul``, ``Add``, a global average
pool) whose inputs are quantized tensors, followed by an optional ``BatchNormalization``, an
optional ``Relu`` and the ``Quant`` node that quantizes its output. Each such chain becomes one IR
node with the integer constants of :mod:`mixq.quant.integer`:

- weights: ``Quant`` on a constant -> int8 codes (per channel where the scale is), OHWI;
- Conv/Gemm: ``y = round((acc * s_x * s_w[c] * g[c] + b'[c]) / s_y)`` as ICN
  (``g``, ``b'``: the folded batch norm and bias), the ``Relu`` as ``activation_min = 0``;
- Add: :func:`mixq.quant.integer.add_multipliers` of ``s_a / s_y`` and ``s_b / s_y``;
- global average pool re-quantized with its input's quantizer -> ``AvgPool``.

Rounding: QONNX's ``ROUND`` is round half to *even*; mixq's integer ops round half *up*
(``+ 2^(shift-1)``, then ``>>``), and the Q31 multiplier differs from the real scale by < 2^-31
relative. The two agree except where ``v / s_y`` lies within that error of a tie (x.5), where a
code may differ by one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mixq.errors import MixqError
from mixq.interop.qonnx_icn import ir_bits, safe_name
from mixq.interop.qonnx_layers import LOWERINGS
from mixq.interop.qonnx_model import QonnxModel, QuantParams, load_qonnx, qonnx_from_proto
from mixq.ir.graph import Graph, TensorType
from mixq.ir.verify import verify

PASS_THROUGH = ("Identity", "Dropout")
POOL_OPS = ("GlobalAveragePool", "ReduceMean", "AveragePool")


class _Importer:
    def __init__(self, m: QonnxModel):
        self.m = m
        self.tensors: dict[str, TensorType] = {}
        self.ir_name: dict[str, str] = {}   # ONNX tensor -> IR tensor
        self.layout: dict[str, str] = {}    # ONNX tensor -> 'nchw' or 'flat'
        self.weights: dict[str, tuple[np.ndarray, QuantParams]] = {}  # Quant out -> codes, q
        self.nodes: list = []
        self.used: set[str] = set()         # core nodes turned into IR nodes
        self.problems: list[str] = []
        self.inputs: list[str] = []

    # -- helpers -------------------------------------------------------------------------------
    def skip_pass_through(self, name: str) -> str:
        p = self.m.producer.get(name)
        while p is not None and p.op_type in PASS_THROUGH:
            name = p.input[0]
            p = self.m.producer.get(name)
        return name

    def activation(self, name: str, user) -> tuple[str, TensorType] | None:
        """The IR tensor behind ONNX tensor ``name`` (a quantized activation), else a problem."""
        name = self.skip_pass_through(name)
        if name in self.ir_name:
            t = self.ir_name[name]
            return t, self.tensors[t]
        self.problems.append(f"input '{name}' of node '{user.name}' ({user.op_type}) is not a "
                             "quantized tensor (no Quant node before it)")
        return None

    def new_tensor(self, onnx_name: str, t: TensorType, layout: str) -> str:
        ir = f"t{len(self.tensors)}"
        self.tensors[ir] = t
        self.ir_name[onnx_name] = ir
        self.layout[onnx_name] = layout
        return ir

    def out_type(self, onnx_name: str, q: QuantParams) -> tuple[TensorType, str]:
        shape = self.m.shapes.get(onnx_name, ())
        if len(shape) == 4:
            return TensorType((shape[2], shape[3], shape[1]), ir_bits(q.bits), q.signed,
                              float(q.scale)), "nchw"
        return TensorType(tuple(shape[1:]), ir_bits(q.bits), q.signed, float(q.scale)), "flat"

    def weight(self, name: str, user) -> tuple[np.ndarray, QuantParams] | None:
        name = self.skip_pass_through(name)
        if name in self.weights:
            return self.weights[name]
        self.problems.append(f"weight '{name}' of node '{user.name}' ({user.op_type}) is not "
                             "quantized (no Quant node on a constant)")
        return None

    def constant(self, name: str) -> np.ndarray:
        """A float constant, or the dequantized value of a Quant on a constant (biases)."""
        name = self.skip_pass_through(name)
        if name in self.weights:
            codes, q = self.weights[name]
            return codes * q.scale.reshape(-1) if q.scale.size > 1 else codes * float(q.scale)
        value = self.m.const(name)
        if value is None:
            raise MixqError(f"tensor '{name}' should be a constant (a bias or a shape)")
        return value.astype(np.float64)

    # -- the walk ------------------------------------------------------------------------------
    def run(self, name: str) -> Graph:
        for node in self.m.graph.node:
            if node.op_type in ("Quant", "BipolarQuant"):
                self.visit_quant(node)
            elif node.op_type in ("Flatten", "Reshape"):
                self.visit_flatten(node)
        core_ops = ("Conv", "Gemm", "MatMul", "Add") + POOL_OPS
        for node in self.m.graph.node:
            if node.op_type in core_ops and node.name not in self.used:
                self.problems.append(f"output of node '{node.name}' ({node.op_type}) is not "
                                     "quantized (follow it by a Quant node: a quantized "
                                     "activation or Brevitas' output_quant)")
        outputs = []
        for o in self.m.graph.output:
            src = self.skip_pass_through(o.name)
            if src in self.ir_name:
                outputs.append(self.ir_name[src])
            else:
                self.problems.append(f"graph output '{o.name}' is not quantized")
        if not self.inputs:
            self.problems.append("the graph input is not quantized (start with a Quant node)")
        if self.problems:
            raise MixqError(f"{len(self.problems)} problem(s): " + "; ".join(self.problems))
        return verify(Graph(name, tuple(self.tensors.items()), tuple(self.nodes),
                            tuple(self.inputs), tuple(outputs)))

    def visit_quant(self, node) -> None:
        try:
            q = self.m.quant_params(node)
        except MixqError as e:
            self.problems.append(str(e))
            return
        src = self.skip_pass_through(node.input[0])
        value = self.m.const(src)
        if value is not None:  # a weight or bias
            self.weights[node.output[0]] = (q.codes(value), q)
            return
        if q.scale.size != 1:
            self.problems.append(f"node '{node.name}': per-channel activation scales are not "
                                 "supported (use a per-tensor activation quantizer)")
            return
        if q.bipolar:
            self.problems.append(f"node '{node.name}': bipolar activations are not supported")
            return
        if src in (i.name for i in self.m.graph.input):
            self.visit_input(node, q)
            return
        if src in self.ir_name:  # re-quantization of a quantized tensor: only the same quantizer
            t = self.tensors[self.ir_name[src]]
            if np.isclose(float(q.scale), t.scale, rtol=1e-6) and q.qmin <= t.qmin and \
                    q.qmax >= t.qmax:
                self.ir_name[node.output[0]] = self.ir_name[src]
                self.layout[node.output[0]] = self.layout[src]
            else:
                self.problems.append(f"node '{node.name}' re-quantizes a quantized tensor with "
                                     "another quantizer (not supported)")
            return
        self.visit_layer(node, q, src)

    def visit_input(self, node, q: QuantParams) -> None:
        if q.signed or q.bits > 8:
            self.problems.append(f"node '{node.name}': the network input must be quantized "
                                 "unsigned with at most 8 bits (Brevitas: Uint8ActPerTensorFloat)")
            return
        t, layout = self.out_type(node.output[0], q)
        if layout != "nchw":
            self.problems.append(f"node '{node.name}': the network input must be (N, C, H, W)")
            return
        t = TensorType(t.shape, 8, False, t.scale)  # the network input is u8 codes
        self.inputs.append(self.new_tensor(node.output[0], t, layout))

    def visit_flatten(self, node) -> None:
        src = self.skip_pass_through(node.input[0])
        if src in self.ir_name:
            shape = self.m.shapes.get(node.output[0], ())
            numel = self.tensors[self.ir_name[src]].numel
            if len(shape) != 2 or shape[1] != numel:
                self.problems.append(f"node '{node.name}' ({node.op_type}) must flatten to "
                                     f"(N, {numel}), got {shape}")
                return
            self.ir_name[node.output[0]] = self.ir_name[src]
            self.layout[node.output[0]] = "flat"

    def chain(self, src: str):
        """(core node, batch norm node or None, relu?) behind the tensor a Quant reads."""
        relu, bn = False, None
        p = self.m.producer.get(src)
        if p is not None and p.op_type == "Relu":
            relu, p = True, self.m.producer.get(self.skip_pass_through(p.input[0]))
        if p is not None and p.op_type == "BatchNormalization":
            bn, p = p, self.m.producer.get(self.skip_pass_through(p.input[0]))
        return p, bn, relu

    def visit_layer(self, node, q: QuantParams, src: str) -> None:
        core, bn, relu = self.chain(src)
        if core is None or core.op_type not in LOWERINGS:
            what = f"'{core.name}' ({core.op_type})" if core is not None else f"'{src}'"
            self.problems.append(f"node '{node.name}' quantizes {what}: mixq expects Conv, Gemm, "
                                 "MatMul, Add or a global average pool (+ BatchNormalization, "
                                 "Relu) before a Quant")
            return
        t, layout = self.out_type(node.output[0], q)
        lo = max(q.qmin, 0) if relu else q.qmin
        before = len(self.problems)
        ir_node = LOWERINGS[core.op_type](self, core, bn, t, (lo, q.qmax), node.output[0])
        if ir_node is None or len(self.problems) > before:
            return
        self.used.add(core.name)
        out = self.new_tensor(node.output[0], ir_node[1], layout)
        self.nodes.append(ir_node[0](out))


def import_qonnx(path, name: str | None = None) -> Graph:
    """Read a QONNX file (e.g. exported by Brevitas) as a verified integer graph.

    Args:
        path: the ``.onnx`` file.
        name: graph name (default: the file's stem).

    Returns:
        an :class:`mixq.ir.graph.Graph` with a u8 NHWC input.

    Raises:
        MixqError: one line listing every unsupported node or non-quantized tensor.
    """
    return _Importer(load_qonnx(path)).run(name or safe_name(Path(path).stem))


def import_qonnx_proto(proto, name: str = "model") -> tuple[Graph, dict[str, str]]:
    """Like :func:`import_qonnx` on an ``onnx.ModelProto``; also returns, for every IR tensor,
    the ONNX tensor (a ``Quant`` output, after qonnx's cleanup) it holds the codes of, so that
    each layer can be checked against qonnx's execution of the same proto."""
    imp = _Importer(qonnx_from_proto(proto))
    graph = imp.run(name)
    onnx_of: dict[str, str] = {}
    for onnx_name, ir in imp.ir_name.items():
        onnx_of.setdefault(ir, onnx_name)
    return graph, onnx_of

