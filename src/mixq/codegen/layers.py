"""C definitions of one layer: packed weights, requantization arrays and the parameter struct."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixq.codegen import kernels_ref
from mixq.codegen.csource import c_array, c_comment_text, c_int, c_struct
from mixq.codegen.kernels import Kernel, node_dtypes
from mixq.ir.graph import Add, AvgPool, Concat, Conv2d, FullyConnected, Graph, Pool2d, TensorType
from mixq.quant.integer import AddRequant
from mixq.quant.kinds import LayerKind

REFERENCE_PACKERS = {
    LayerKind.CONV: kernels_ref.pack_conv_weights,
    LayerKind.PW: kernels_ref.pack_conv_weights,
    LayerKind.DW: kernels_ref.pack_dw_weights,
    LayerKind.FC: kernels_ref.pack_fc_weights,
}


@dataclass(frozen=True)
class LayerCode:
    """C text of one layer.

    Attributes:
        params_type: C struct type of the parameters.
        params_symbol: name of the const parameter struct.
        definitions: C definitions (arrays + struct) for ``mixq_weights.c``.
        comment: one-line description (safe inside a C comment).
        macs: multiply-accumulates per inference (0 for pool and add).
        flash_bytes: packed weight + bias/multiplier/shift bytes.
        input_array: the kernel takes its inputs as one array of pointers (concat), not one
            argument each.
    """

    params_type: str
    params_symbol: str
    definitions: str
    comment: str
    macs: int
    flash_bytes: int
    input_array: bool = False


@dataclass(frozen=True)
class PackCode:
    """Input packing / output unpacking parameters."""

    symbol: str
    definitions: str


def _hwc(t: TensorType) -> tuple[int, int, int]:
    """(H, W, C) of a feature map, (1, 1, C) of a vector."""
    return tuple(t.shape) if len(t.shape) == 3 else (1, 1, t.shape[-1])


def _format(prefix: str, t: TensorType) -> dict:
    return {f"{prefix}_bits": t.bits, f"{prefix}_signed": int(t.signed)}


def _add_fields(rule: AddRequant) -> dict:
    """The ``mixq_add_params_t`` constants of the integer add rule (same order as the struct)."""
    return {"multiplier_a": rule.multiplier_a, "multiplier_b": rule.multiplier_b,
            "shift": rule.shift, "act_min": rule.activation_min, "act_max": rule.activation_max}


def layer_code(index: int, node, graph: Graph, kernel: Kernel,
               out_pixel_stride: int = 0) -> LayerCode:
    """The :class:`LayerCode` of node ``index`` run by ``kernel``; ``out_pixel_stride`` (bytes
    between output pixels, 0: dense) for a conv or pool writing into a zero-copy concat."""
    sym = f"mixq_l{index}"
    tin = graph.tensor(node.inputs[0])
    tout = graph.tensor(node.output)
    comment = c_comment_text(
        f"layer {index} {node.name}: {node.kind} {' '.join(node_dtypes(node, graph))}, "
        f"{tuple(tin.shape)} -> {tuple(tout.shape)}, {kernel.function}"
    )
    try:
        code = LAYER_CODE[type(node)]
    except KeyError:
        raise TypeError(f"unknown IR node type {type(node).__name__}") from None
    if out_pixel_stride:
        return code(sym, node, graph, kernel, comment, out_pixel_stride=out_pixel_stride)
    return code(sym, node, graph, kernel, comment)


def _pool(sym: str, node: AvgPool, graph: Graph, kernel: Kernel, comment: str) -> LayerCode:
    tin, tout = graph.tensor(node.input), graph.tensor(node.output)
    h, w, c = _hwc(tin)
    fields = {"in_h": h, "in_w": w, "c": c, **_format("in", tin), **_format("out", tout)}
    return LayerCode("mixq_pool_params_t", f"{sym}_params",
                     c_struct("mixq_pool_params_t", f"{sym}_params", fields), comment, 0, 0)


def _add(sym: str, node: Add, graph: Graph, kernel: Kernel, comment: str) -> LayerCode:
    h, w, c = _hwc(graph.tensor(node.input_a))
    fields = {
        "pixels": h * w, "c": c,
        **_format("a", graph.tensor(node.input_a)), **_format("b", graph.tensor(node.input_b)),
        **_format("out", graph.tensor(node.output)),
        **_add_fields(node.rule),
    }
    return LayerCode("mixq_add_params_t", f"{sym}_params",
                     c_struct("mixq_add_params_t", f"{sym}_params", fields), comment, 0, 0)


def _pool2d(sym: str, node: Pool2d, graph: Graph, kernel: Kernel, comment: str,
            out_pixel_stride: int = 0) -> LayerCode:
    tin, tout = graph.tensor(node.input), graph.tensor(node.output)
    h, w, c = _hwc(tin)
    out_h, out_w, _ = _hwc(tout)
    fields = {"in_h": h, "in_w": w, "c": c, "out_h": out_h, "out_w": out_w,
              "k_h": node.kernel[0], "k_w": node.kernel[1],
              "stride_h": node.stride[0], "stride_w": node.stride[1],
              "pad_top": node.padding[0], "pad_left": node.padding[2],
              "count_include_pad": int(node.count_include_pad),
              **_format("in", tin), **_format("out", tout), "out_pixel_stride": out_pixel_stride}
    return LayerCode("mixq_pool2d_params_t", f"{sym}_params",
                     c_struct("mixq_pool2d_params_t", f"{sym}_params", fields), comment, 0, 0)


def _concat(sym: str, node: Concat, graph: Graph, kernel: Kernel, comment: str) -> LayerCode:
    tout = graph.tensor(node.output)
    h, w, c = _hwc(tout)
    rows = []
    for t, r in zip(node.inputs, node.rescales):
        tin = graph.tensor(t)
        values = (tin.shape[-1], tin.bits, int(tin.signed), r.multiplier, r.shift)
        rows.append("    {" + ", ".join(c_int(v) for v in values) + "},")
    inputs = "\n".join([f"static const mixq_concat_input_t {sym}_inputs[{len(rows)}] = {{",
                        *rows, "};"])
    fields = {"pixels": h * w, "n_inputs": len(node.inputs), "out_c": c,
              **_format("out", tout), "act_min": node.activation_min,
              "act_max": node.activation_max, "inputs": f"{sym}_inputs"}
    definitions = "\n".join([inputs, c_struct("mixq_concat_params_t", f"{sym}_params", fields)])
    return LayerCode("mixq_concat_params_t", f"{sym}_params", definitions, comment, 0, 0,
                     input_array=True)


def _weighted(sym: str, node, graph: Graph, kernel: Kernel, comment: str,
              out_pixel_stride: int = 0) -> LayerCode:
    tin, tout = graph.tensor(node.input), graph.tensor(node.output)
    packer = kernel.pack_weights or REFERENCE_PACKERS[node.kind]
    blob = np.asarray(packer(node, graph), dtype=np.uint8).ravel()
    rq = node.requant
    in_h, in_w, in_c = _hwc(tin)
    out_h, out_w, out_c = _hwc(tout)
    if isinstance(node, Conv2d):
        _, k_h, k_w, _ = node.weight.shape
        stride, pad = node.stride, node.padding
        macs = int(node.weight.size) * out_h * out_w
    else:
        k_h, k_w, stride, pad = in_h, in_w, (1, 1), (0, 0, 0, 0)
        macs = int(node.weight.size)
    fields = {
        "in_h": in_h, "in_w": in_w, "in_c": in_c,
        "out_h": out_h, "out_w": out_w, "out_c": out_c,
        "k_h": k_h, "k_w": k_w, "stride_h": stride[0], "stride_w": stride[1],
        "pad_top": pad[0], "pad_left": pad[2],
        **_format("in", tin),
        "w_bits": node.weight_bits, "w_ternary": int(node.ternary),
        **_format("out", tout),
        "act_min": rq.activation_min, "act_max": rq.activation_max,
        "weight": f"{sym}_weight", "bias": f"{sym}_bias",
        "multiplier": f"{sym}_multiplier", "shift": f"{sym}_shift",
        "out_pixel_stride": out_pixel_stride,
    }
    definitions = "\n".join([
        c_array("uint8_t", f"{sym}_weight", blob, attributes="MIXQ_ALIGN4"),
        c_array("int64_t", f"{sym}_bias", rq.bias),
        c_array("int32_t", f"{sym}_multiplier", rq.multiplier),
        c_array("int32_t", f"{sym}_shift", rq.shift),
        c_struct("mixq_conv_params_t", f"{sym}_params", fields),
    ])
    flash = int(blob.size) + 12 * out_c
    return LayerCode("mixq_conv_params_t", f"{sym}_params", definitions, comment, macs, flash)


# Code generation's dispatch table: IR node type -> (symbol, node, graph, kernel, comment) ->
# LayerCode. (Which kernel runs a node is the registry's matter: mixq.codegen.kernels.)
LAYER_CODE = {Conv2d: _weighted, FullyConnected: _weighted, AvgPool: _pool, Add: _add,
              Pool2d: _pool2d, Concat: _concat}


def pack_code(symbol: str, t: TensorType) -> PackCode:
    """Parameters packing/unpacking tensor ``t`` to/from one code per byte."""
    h, w, c = _hwc(t)
    fields = {"pixels": h * w, "c": c, "bits": t.bits, "is_signed": int(t.signed)}
    return PackCode(symbol, c_struct("mixq_pack_params_t", symbol, fields))
