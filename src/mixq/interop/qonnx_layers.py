"""One lowering per QONNX core op (the importer's dispatch table): Conv, Gemm, MatMul, Add and
global average pooling become IR nodes (see :mod:`mixq.interop.qonnx_import` for the rules).

Each lowering takes the importer, the core node, its folded ``BatchNormalization`` (or None), the
output :class:`TensorType` and clamp from the ``Quant`` after it, and returns
``(make_node(output_name), output_type)``, or None after recording a problem.
"""

from __future__ import annotations

import numpy as np

from mixq.interop.qonnx_icn import add_node, ir_bits, requant_params, safe_name
from mixq.ir.graph import AvgPool, Conv2d, FullyConnected, TensorType


def _batchnorm(imp, bn, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(g, h): the batch norm as ``g * v + h`` per channel (identity when ``bn`` is None)."""
    if bn is None:
        return np.ones(channels), np.zeros(channels)
    gamma, beta, mean, var = (imp.constant(i) for i in bn.input[1:5])
    g = gamma / np.sqrt(var + imp.m.attr(bn, "epsilon", 1e-5))
    return g, beta - g * mean


def _bias(imp, node, index: int, channels: int) -> np.ndarray:
    if len(node.input) > index and node.input[index]:
        return imp.constant(node.input[index]).reshape(-1) * np.ones(channels)
    return np.zeros(channels)


def _weight_fields(w, q) -> dict:
    ternary = q.bipolar or (q.bits == 2 and q.narrow)
    return {"weight_bits": 2 if ternary else ir_bits(q.bits), "ternary": bool(ternary)}


def _icn(imp, x_t: TensorType, q_w, bias, bn, t: TensorType, clamp, channels: int):
    s_w = np.broadcast_to(q_w.scale.reshape(-1), (channels,)).astype(np.float64)
    g, h = _batchnorm(imp, bn, channels)
    return requant_params(x_t.scale * s_w * g, g * bias + h, t.scale, clamp)


def lower_conv(imp, node, bn, t: TensorType, clamp, onnx_out: str):
    x = imp.activation(node.input[0], node)
    w = imp.weight(node.input[1], node)
    if x is None or w is None:
        return None
    (x_name, x_t), (codes, q_w) = x, w
    c_out, c_in_g = codes.shape[:2]
    groups = int(imp.m.attr(node, "group", 1))
    dil = imp.m.attr(node, "dilations", [1, 1])
    if imp.m.attr(node, "auto_pad", "NOTSET") != "NOTSET" or list(dil) != [1, 1]:
        imp.problems.append(f"node '{node.name}': auto_pad and dilation are not supported")
        return None
    if groups != 1 and not (groups == x_t.shape[-1] == c_out and c_in_g == 1):
        imp.problems.append(f"node '{node.name}': grouped convolution (group={groups}) is "
                            "supported only as depthwise")
        return None
    top, left, bottom, right = imp.m.attr(node, "pads", [0, 0, 0, 0])
    rq = _icn(imp, x_t, q_w, _bias(imp, node, 2, c_out), bn, t, clamp, c_out)
    weight = codes.transpose(0, 2, 3, 1)  # OIHW -> OHWI
    stride = tuple(imp.m.attr(node, "strides", [1, 1]))
    fields = _weight_fields(codes, q_w)

    def make(out):
        return Conv2d(safe_name(node.name), x_name, out, weight, rq, stride,
                      (top, bottom, left, right), groups, **fields)

    return make, t


def _fc(imp, node, bn, t, clamp, weight_kn: np.ndarray, q_w, x, bias):
    """FullyConnected from a (K, C_out) weight; reorders a CHW-flattened input to HWC."""
    x_name, x_t = x
    w = weight_kn.T  # (C_out, K)
    if len(x_t.shape) == 3:  # ONNX flattens (C, H, W); the IR flattens (H, W, C)
        h, wd, c = x_t.shape
        w = w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    c_out = w.shape[0]
    rq = _icn(imp, x_t, q_w, bias, bn, t, clamp, c_out)
    fields = _weight_fields(w, q_w)
    return (lambda out: FullyConnected(safe_name(node.name), x_name, out, w, rq, **fields)), t


def lower_gemm(imp, node, bn, t, clamp, onnx_out: str):
    x = imp.activation(node.input[0], node)
    w = imp.weight(node.input[1], node)
    if x is None or w is None:
        return None
    attrs = {k: imp.m.attr(node, k, d) for k, d in
             (("alpha", 1.0), ("beta", 1.0), ("transA", 0), ("transB", 0))}
    if attrs["alpha"] != 1.0 or attrs["beta"] != 1.0 or attrs["transA"]:
        imp.problems.append(f"node '{node.name}': Gemm with alpha/beta != 1 or transA")
        return None
    codes, q_w = w
    codes = codes.T if attrs["transB"] else codes  # (K, C_out); a per-channel scale is (C_out,)
    return _fc(imp, node, bn, t, clamp, codes, q_w, x, _bias(imp, node, 2, codes.shape[1]))


def lower_matmul(imp, node, bn, t, clamp, onnx_out: str):
    x = imp.activation(node.input[0], node)
    w = imp.weight(node.input[1], node)
    if x is None or w is None:
        return None
    codes, q_w = w
    return _fc(imp, node, bn, t, clamp, codes, q_w, x, np.zeros(codes.shape[1]))


def lower_add(imp, node, bn, t, clamp, onnx_out: str):
    a = imp.activation(node.input[0], node)
    b = imp.activation(node.input[1], node)
    if a is None or b is None:
        return None
    if bn is not None or a[1].shape != b[1].shape:
        imp.problems.append(f"node '{node.name}': Add needs two same-shape quantized inputs "
                            "and no batch norm after it")
        return None
    return add_node(safe_name(node.name), a[0], b[0], a[1].scale / t.scale, b[1].scale / t.scale,
                    clamp), t


def lower_pool(imp, node, bn, t, clamp, onnx_out: str):
    x = imp.activation(node.input[0], node)
    if x is None:
        return None
    x_name, x_t = x
    global_pool = node.op_type == "GlobalAveragePool"
    if node.op_type == "ReduceMean":
        axes = imp.m.attr(node, "axes")
        if axes is None and len(node.input) > 1:
            axes = imp.m.const(node.input[1])
        global_pool = axes is not None and sorted(int(a) % 4 for a in np.ravel(axes)) == [2, 3]
    if node.op_type == "AveragePool":
        k = list(imp.m.attr(node, "kernel_shape", []))
        pads = list(imp.m.attr(node, "pads", [0, 0, 0, 0]))
        global_pool = len(x_t.shape) == 3 and k == list(x_t.shape[:2]) and not any(pads)
    same_codes = (np.isclose(t.scale, x_t.scale, rtol=1e-6) and clamp[0] <= x_t.qmin
                  and clamp[1] >= x_t.qmax)
    if not global_pool or bn is not None or not same_codes or len(x_t.shape) != 3:
        imp.problems.append(f"node '{node.name}': only a global average pool re-quantized with "
                            "its input's quantizer is supported (Brevitas: share the act_quant)")
        return None
    out_t = TensorType((1, 1, x_t.shape[-1]), x_t.bits, x_t.signed, x_t.scale)
    return (lambda out: AvgPool(safe_name(node.name), x_name, out)), out_t


# One lowering per QONNX core op type (the importer's dispatch table).
LOWERINGS = {"Conv": lower_conv, "Gemm": lower_gemm, "MatMul": lower_matmul, "Add": lower_add,
             "GlobalAveragePool": lower_pool, "ReduceMean": lower_pool, "AveragePool": lower_pool}
