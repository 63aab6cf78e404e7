"""``mixq export --format qonnx``: the QAT model as QONNX (the only torch user in ``interop``).

Every quantizer of the QAT model becomes a QONNX ``Quant`` node (zero point 0, ``ROUND`` = round
half to even, like PyTorch's fake quantization):

- network input: 8-bit unsigned, scale 1/255;
- weights: the QAT model's codes times its scales, behind a ``Quant`` with the same scale (per
  output channel where mixq's is, shape (C_out, 1, 1, 1)) and width; ternary weights are 2-bit
  ``narrow`` (codes {-1, 0, 1});
- activations: PACT as ``Relu`` + unsigned ``Quant`` (scale alpha / (2^b - 1)), signed LSQ as a
  signed ``Quant``;
- batch norm: folded into the conv's weight and bias for PL+FB, else a ``BatchNormalization``
  node (mixq's ICN integerizes it later; QONNX keeps it in float);
- global average pool: ``GlobalAveragePool`` + ``Quant`` with the input's quantizer and
  ``HALF_UP`` rounding (mixq's pool rounds half up).
"""

from __future__ import annotations

import numpy as np
import torch

from mixq.errors import MixqError
from mixq.interop.onnx_build import OnnxBuilder, require_onnx
from mixq.nn.intralayer import is_dense_sparse
from mixq.nn.modules import QuantAdd, QuantAvgPool, QuantConv, QuantFlatten, QuantLinear
from mixq.nn.prepare import QuantModel

QONNX_DOMAIN = "qonnx.custom_op.general"
OPSET = 13


def _quant(b: OnnxBuilder, x: str, scale, bits: int, signed: bool, narrow: bool = False,
           rounding: str = "ROUND", name: str = "q") -> str:
    scale_c = b.const(np.asarray(scale, np.float32), f"{name}_scale")
    zero = b.const(np.float32(0), f"{name}_zeropt")
    width = b.const(np.float32(bits), f"{name}_bitwidth")
    return b.op("Quant", [x, scale_c, zero, width], out=b.unique(f"{name}_out"),
                domain=QONNX_DOMAIN, signed=int(signed), narrow=int(narrow),
                rounding_mode=rounding)


def _act(b: OnnxBuilder, x: str, act, relu: bool, name: str) -> str:
    if relu:
        x = b.op("Relu", [x])
    return _quant(b, x, act.scale, act.bits, act.signed, name=f"{name}_act")


@torch.no_grad()
def _weight(b: OnnxBuilder, m, w: torch.Tensor, name: str) -> str:
    codes, scale = m.wq.codes_and_scale(w)
    shape = (-1,) + (1,) * (codes.dim() - 1)
    s = scale.reshape(shape) if m.bits.per_channel else scale[:1].reshape(())
    value = (codes.double() * scale.reshape(shape)).float().numpy()
    init = b.const(value, f"{name}_weight")
    return _quant(b, init, s.float().numpy(), m.bits.w_bits, True, narrow=m.bits.ternary,
                  name=f"{name}_weight")


def _conv(b: OnnxBuilder, m: QuantConv, x: str, in_hw, name: str) -> str:
    inputs = [x, _weight(b, m, m.effective_weight().detach(), name)]
    if m.bits.fold_bn:
        inputs.append(b.const(m._folded()[1].detach().float().numpy(), f"{name}_bias"))
    top, bottom, left, right = m.pads(*in_hw)
    y = b.op("Conv", inputs, pads=[top, left, bottom, right], strides=list(m.stride),
             group=m.groups, kernel_shape=list(m.weight.shape[2:]))
    if not m.bits.fold_bn:
        bn = m.bn
        params = [b.const(t.detach().float().numpy(), f"{name}_bn_{k}") for k, t in
                  (("scale", bn.weight), ("bias", bn.bias), ("mean", bn.running_mean),
                   ("var", bn.running_var))]
        y = b.op("BatchNormalization", [y, *params], epsilon=float(bn.eps))
    return _act(b, y, m.act, m.relu, name)


def _linear(b: OnnxBuilder, m: QuantLinear, x: str, name: str) -> str:
    w = _weight(b, m, m.weight.detach(), name)
    bias = b.const(m.bias.detach().float().numpy(), f"{name}_bias")
    return _act(b, b.op("Gemm", [x, w, bias], transB=1), m.act, False, name)


def _pool(b: OnnxBuilder, m: QuantAvgPool, x: str, name: str) -> str:
    src = m.source
    return _quant(b, b.op("GlobalAveragePool", [x]), src.scale, src.bits, src.signed,
                  rounding="HALF_UP", name=f"{name}_act")


def _add(b: OnnxBuilder, m: QuantAdd, a: str, c: str, name: str) -> str:
    return _act(b, b.op("Add", [a, c]), m.act, m.relu, name)


def qat_to_qonnx(model: QuantModel, input_shape: tuple[int, int, int] | None = None,
                 name: str = "model"):
    """The QONNX ``ModelProto`` of a QAT model (its eval-mode fake-quantized forward).

    Args:
        model: a :class:`mixq.nn.prepare.QuantModel` (any mode; eval statistics are exported).
        input_shape: (C, H, W); defaults to ``model.input_shape``.
        name: graph name.

    Returns:
        an ``onnx.ModelProto``: float input ``input`` (1, C, H, W) in [0, 1], output the
        dequantized logits, Quant nodes in the ``qonnx.custom_op.general`` domain.

    Raises:
        MixqError: a layer QONNX cannot express (intra-layer dense+sparse layers).
    """
    onnx = require_onnx()
    from onnx import TensorProto, helper

    shape = tuple(input_shape or model.input_shape)
    was_training = model.training
    model.eval()
    try:
        steps, _ = model.integer_steps(torch.zeros((1,) + shape))
    finally:
        model.train(was_training)
    b = OnnxBuilder(name)
    b.reserve("input")
    env = {model.input_tensor_name: _quant(b, "input", model.input_quant.scale, 8, False,
                                           name="input")}
    for step in steps:
        m, ins = step.module, [env[k] for k in step.inputs]
        label = step.name.replace(".", "_")
        if is_dense_sparse(m):
            raise MixqError(f"layer '{step.name}' is an intra-layer dense+sparse layer: QONNX has "
                            "no form for it; export it with --format onnx")
        if isinstance(m, QuantFlatten):
            env[step.key] = b.op("Flatten", ins, axis=1)
        elif isinstance(m, QuantConv):
            env[step.key] = _conv(b, m, ins[0], tuple(step.input_codes[0].codes.shape[-2:]),
                                  label)
        elif isinstance(m, QuantLinear):
            env[step.key] = _linear(b, m, ins[0], label)
        elif isinstance(m, QuantAvgPool):
            env[step.key] = _pool(b, m, ins[0], label)
        elif isinstance(m, QuantAdd):
            env[step.key] = _add(b, m, ins[0], ins[1], label)
        else:
            raise MixqError(f"layer '{step.name}' ({type(m).__name__}) has no QONNX export")
    out = env[steps[-1].key]
    g = helper.make_graph(b.nodes, name,
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                         [1, *shape])],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT,
                                                         [1, *steps[-1].output.codes.shape[1:]])],
                          b.initializers)
    proto = helper.make_model(g, producer_name="mixq",
                              opset_imports=[helper.make_opsetid("", OPSET),
                                             helper.make_opsetid(QONNX_DOMAIN, 1)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto


def load_run_qat(folder) -> tuple[QuantModel, tuple[int, int, int]]:
    """The trained QAT model of one model folder of a run (``qat.ckpt`` + ``allocation.json``;
    the architecture from the checkpoint's model id, the shapes from ``graph.json``).

    Returns:
        (QAT model in eval mode, input shape (C, H, W)).

    Raises:
        MixqError: missing or corrupt files, or a model that is not a registered network.
    """
    from pathlib import Path

    from mixq.ir.serialize import load_graph
    from mixq.models import get_model
    from mixq.nn import prepare
    from mixq.quant.spec import BitAllocation
    from mixq.train.checkpoint import load_checkpoint, read_checkpoint

    folder = Path(folder)
    graph = load_graph(folder)
    h, w, c = graph.tensor(graph.inputs[0]).shape
    model_id = read_checkpoint(folder / "qat.ckpt").get("model_id") or {}
    if "model" not in model_id:
        raise MixqError(f"{folder / 'qat.ckpt'} names no model architecture; re-run the QAT")
    float_model = get_model(model_id["model"], width=model_id.get("width"), resolution=h,
                            in_channels=c, num_classes=graph.tensor(graph.outputs[0]).shape[-1])
    qat = prepare(float_model, BitAllocation.load(folder / "allocation.json"))
    load_checkpoint(folder / "qat.ckpt", qat)
    return qat.eval(), (c, h, w)


def export_run_qonnx(folder, path) -> None:
    """Write the QONNX file of a run's model folder to ``path`` atomically."""
    from mixq.fileio import write_bytes_atomic

    qat, shape = load_run_qat(folder)
    proto = qat_to_qonnx(qat, shape, name=folder.name.replace("-", "_"))
    write_bytes_atomic(path, proto.SerializeToString(deterministic=True))
