"""``mixq export --format onnx``: an ``ir.Graph`` in standard ONNX operators, bit-exact.

Every IR tensor becomes an ONNX value of the same name, NHWC with a batch axis ``N``, in its
integer container: ``uint8`` for unsigned codes of up to 8 bits (u8/u4/u2), ``int8`` for signed
ones, ``int32`` above 8 bits. Sub-byte codes are held unpacked, one per element.

Each IR op is written with standard operators only, mirroring :mod:`mixq.ir.interpret`:

- convolution: ``ConvInteger`` (uint8/int8 activations x int8 weights, zero points 0, int32
  accumulator; NCHW inside, so a ``Transpose`` on each side);
- fully connected: ``Reshape`` to (N, H*W*C) (the IR's HWC flattening) + ``MatMulInteger``;
- ICN requantization ``clamp((acc * multiplier + bias) >> shift)``: int64 ``Mul`` and ``Add``,
  then the arithmetic shift as an exact floor division (below), then ``Clip``;
- global average pooling: int64 ``ReduceSum`` + ``n // 2`` + floor division by ``n``;
- residual add: int64 ``Mul``/``Add``/rounding term + floor shift + ``Clip``.

ONNX has no signed arithmetic shift (``BitShift`` takes unsigned types only) and integer ``Div``
truncates toward zero in onnxruntime, which differs from ``>>`` on negative values. The exporter
therefore writes ``floor(x / d)`` as ``Div(x - Mod(x, d), d)`` with ``Mod``'s ``fmod=0`` (result
has the divisor's sign, so ``x - Mod(x, d)`` is an exact multiple of ``d`` and any rounding mode of
``Div`` gives the same quotient). ``d = 2^shift`` with shift <= 62 fits int64.
"""

from __future__ import annotations

import numpy as np

from mixq.interop.onnx_build import OnnxBuilder, require_onnx
from mixq.ir.graph import (Add, AvgPool, Concat, Conv2d, FullyConnected, Graph, Pool2d, Requant,
                           TensorType)
from mixq.ir.interpret import pool2d_windows

OPSET = 17
BATCH = "N"


def container_dtype(t: TensorType) -> np.dtype:
    """numpy dtype that holds a tensor's codes in the exported graph.

    Example:
        >>> container_dtype(TensorType((4,), 4, False, 1.0)), container_dtype(TensorType((4,), 32, True, 1.0))
        (dtype('uint8'), dtype('int32'))
    """
    if t.bits <= 8:
        return np.dtype(np.int8 if t.signed else np.uint8)
    return np.dtype(np.int32)


def _elem_type(dtype: np.dtype) -> int:
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def floor_div(b: OnnxBuilder, x: str, divisor: np.ndarray, name: str) -> str:
    """``floor(x / divisor)`` for int64 ``x`` and a positive int64 ``divisor`` (exact, any sign)."""
    d = b.const(np.asarray(divisor, np.int64), f"{name}_divisor")
    rem = b.op("Mod", [x, d], fmod=0)
    return b.op("Div", [b.op("Sub", [x, rem]), d])


def _to_int64(b: OnnxBuilder, x: str) -> str:
    from onnx import TensorProto

    return b.op("Cast", [x], to=TensorProto.INT64)


def _clip_cast(b: OnnxBuilder, x: str, lo: int, hi: int, out: str, t: TensorType, name: str):
    lo_c = b.const(np.int64(lo), f"{name}_act_min")
    hi_c = b.const(np.int64(hi), f"{name}_act_max")
    y = b.op("Clip", [x, lo_c, hi_c])
    b.op("Cast", [y], out=out, to=_elem_type(container_dtype(t)))


def _requant(b: OnnxBuilder, acc64: str, rq: Requant, out: str, t: TensorType, name: str):
    """ICN: ``clamp((acc * multiplier + bias) >> shift, min, max)`` on channels-last int64."""
    prod = b.op("Mul", [acc64, b.const(rq.multiplier.astype(np.int64), f"{name}_multiplier")])
    total = b.op("Add", [prod, b.const(rq.bias.astype(np.int64), f"{name}_bias")])
    shifted = floor_div(b, total, np.left_shift(np.int64(1), rq.shift.astype(np.int64)), name)
    _clip_cast(b, shifted, rq.activation_min, rq.activation_max, out, t, name)


def _conv_acc(b: OnnxBuilder, x_nchw: str, weight_ohwi: np.ndarray, node: Conv2d,
              tag: str) -> str:
    """int64 NHWC accumulator of ``ConvInteger`` with IR weights (C_out, KH, KW, C_in/groups)."""
    w = b.const(np.ascontiguousarray(weight_ohwi.transpose(0, 3, 1, 2)), f"{node.name}_{tag}")
    top, bottom, left, right = node.padding
    acc = b.op("ConvInteger", [x_nchw, w], pads=[top, left, bottom, right],
               strides=list(node.stride), group=node.groups)
    return _to_int64(b, b.op("Transpose", [acc], perm=[0, 2, 3, 1]))


def _with_sparse(b: OnnxBuilder, acc_of, node, name: str) -> str:
    """acc = acc_of(weight), or ``dense_scale * acc_of(T) + acc_of(S)`` for a dense+sparse layer."""
    dense = acc_of(node.weight, "weight")
    if node.sparse is None:
        return dense
    k = b.const(node.sparse.dense_scale.astype(np.int64), f"{name}_dense_scale")
    return b.op("Add", [b.op("Mul", [dense, k]), acc_of(node.sparse.values, "sparse_values")])


def _emit_conv(b: OnnxBuilder, node: Conv2d, graph: Graph) -> None:
    x = b.op("Transpose", [node.input], perm=[0, 3, 1, 2])  # (N, H, W, C) -> (N, C, H, W)
    acc = _with_sparse(b, lambda w, tag: _conv_acc(b, x, w, node, tag), node, node.name)
    _requant(b, acc, node.requant, node.output, graph.tensor(node.output), node.name)


def _emit_fc(b: OnnxBuilder, node: FullyConnected, graph: Graph) -> None:
    flat = b.op("Reshape", [node.input, b.const(np.array([0, -1], np.int64), "flatten_shape")])

    def acc_of(w, tag):
        wt = b.const(np.ascontiguousarray(w.T), f"{node.name}_{tag}")  # (C_in, C_out)
        return _to_int64(b, b.op("MatMulInteger", [flat, wt]))

    acc = _with_sparse(b, acc_of, node, node.name)
    _requant(b, acc, node.requant, node.output, graph.tensor(node.output), node.name)


def _emit_avgpool(b: OnnxBuilder, node: AvgPool, graph: Graph) -> None:
    h, w, _ = graph.tensor(node.input).shape
    n = h * w
    axes = b.const(np.array([1, 2], np.int64), "pool_axes")
    total = b.op("ReduceSum", [_to_int64(b, node.input), axes], keepdims=1)
    half = b.op("Add", [total, b.const(np.int64(n // 2), f"{node.name}_half")])
    t = graph.tensor(node.output)
    _clip_cast(b, floor_div(b, half, np.int64(n), node.name), t.qmin, t.qmax, node.output, t,
               node.name)


def _emit_add(b: OnnxBuilder, node: Add, graph: Graph) -> None:
    def scaled(x, m, tag):
        return b.op("Mul", [_to_int64(b, x), b.const(np.int64(m), f"{node.name}_{tag}")])

    total = b.op("Add", [scaled(node.input_a, node.multiplier_a, "multiplier_a"),
                         scaled(node.input_b, node.multiplier_b, "multiplier_b")])
    rounded = b.op("Add", [total, b.const(np.int64(1 << (node.shift - 1)), f"{node.name}_half")])
    shifted = floor_div(b, rounded, np.int64(1 << node.shift), node.name)
    _clip_cast(b, shifted, node.activation_min, node.activation_max, node.output,
               graph.tensor(node.output), node.name)


def _emit_pool2d(b: OnnxBuilder, node: Pool2d, graph: Graph) -> None:
    """Window max or sum in float (exact for codes and sums below 2^24), then the integer rule."""
    from onnx import TensorProto

    x = b.op("Cast", [b.op("Transpose", [node.input], perm=[0, 3, 1, 2])], to=TensorProto.FLOAT)
    top, bottom, left, right = node.padding
    pads = [top, left, bottom, right]
    t = graph.tensor(node.output)
    if node.maximum:  # ONNX MaxPool never picks a padded position
        y = b.op("MaxPool", [x], kernel_shape=list(node.kernel), strides=list(node.stride),
                 pads=pads)
        y = _to_int64(b, b.op("Transpose", [y], perm=[0, 2, 3, 1]))
        _clip_cast(b, y, t.qmin, t.qmax, node.output, t, node.name)
        return
    c = t.shape[-1]
    ones = b.const(np.ones((c, 1, *node.kernel), np.float32), f"{node.name}_window")
    total = b.op("Conv", [x, ones], pads=pads, strides=list(node.stride), group=c)
    total = _to_int64(b, b.op("Transpose", [total], perm=[0, 2, 3, 1]))
    if node.count_include_pad:
        count = np.int64(node.kernel[0] * node.kernel[1])
    else:  # taps inside the input, per output pixel: (H_out, W_out, 1)
        ones_in = np.ones((1, *graph.tensor(node.input).shape[:2], 1), np.int64)
        count = pool2d_windows(ones_in, node.kernel, node.stride, node.padding, 0).sum(
            axis=(-2, -1))[0]
    half = b.op("Add", [total, b.const(count // 2, f"{node.name}_half")])
    _clip_cast(b, floor_div(b, half, count, node.name), t.qmin, t.qmax, node.output, t,
               node.name)


def _emit_concat(b: OnnxBuilder, node: Concat, graph: Graph) -> None:
    parts = []
    for i, (name, r) in enumerate(zip(node.inputs, node.rescales)):
        x = b.op("Mul", [_to_int64(b, name), b.const(np.int64(r.multiplier), f"{node.name}_m{i}")])
        if r.shift > 0:
            x = b.op("Add", [x, b.const(np.int64(1 << (r.shift - 1)), f"{node.name}_half{i}")])
        parts.append(floor_div(b, x, np.int64(1 << r.shift), f"{node.name}_{i}"))
    total = b.op("Concat", parts, axis=-1)
    _clip_cast(b, total, node.activation_min, node.activation_max, node.output,
               graph.tensor(node.output), node.name)


# One emitter per IR node type (the ONNX exporter's dispatch table).
EMITTERS = {Conv2d: _emit_conv, FullyConnected: _emit_fc, AvgPool: _emit_avgpool, Add: _emit_add,
            Pool2d: _emit_pool2d, Concat: _emit_concat}


def _value_info(name: str, t: TensorType):
    from onnx import helper

    return helper.make_tensor_value_info(name, _elem_type(container_dtype(t)),
                                         [BATCH, *t.shape])


def graph_to_onnx(graph: Graph):
    """The ONNX ``ModelProto`` of an integer graph (standard opset 17 operators only).

    Args:
        graph: a verified integer graph.

    Returns:
        an ``onnx.ModelProto``: input ``graph.inputs[0]`` (N, H, W, C) in its container dtype,
        output ``graph.outputs[0]`` likewise; ``onnxruntime`` runs it bit-exact against
        :func:`mixq.ir.interpret.interpret`.
    """
    onnx = require_onnx()
    from onnx import helper

    b = OnnxBuilder(graph.name)
    for name, _ in graph.tensors:
        b.reserve(name)
    for node in graph.nodes:
        EMITTERS[type(node)](b, node, graph)
    g = helper.make_graph(b.nodes, graph.name,
                          [_value_info(n, graph.tensor(n)) for n in graph.inputs],
                          [_value_info(n, graph.tensor(n)) for n in graph.outputs],
                          b.initializers,
                          value_info=[_value_info(node.output, graph.tensor(node.output))
                                      for node in graph.nodes
                                      if node.output not in graph.outputs])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mixq")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def export_graph_onnx(graph: Graph, path) -> None:
    """Write :func:`graph_to_onnx` of ``graph`` to ``path`` atomically (deterministic bytes)."""
    from mixq.fileio import write_bytes_atomic

    write_bytes_atomic(path, graph_to_onnx(graph).SerializeToString(deterministic=True))
