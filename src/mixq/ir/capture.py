"""Integerization: a trained QAT model becomes an ``ir.Graph`` (the only torch user in ``ir``).

The graph is built from the same integer constants (``integer_params``) that the QAT model's
integer-exact evaluation mode uses, so ``ir.interpret(integerize(m))`` equals that mode bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch

from mixq.errors import MixqError
from mixq.ir.graph import (Add, AvgPool, Concat, Conv2d, FullyConnected, Graph, Pool2d,
                           SparseOutliers, TensorType)
from mixq.ir.verify import verify
from mixq.nn.intralayer import dense_sparse_parts
from mixq.nn.modes import eval_mode
from mixq.nn.modules import (Codes, IntegerLayer, QuantAdd, QuantAvgPool, QuantConv, QuantFlatten,
                             QuantLinear)
from mixq.nn.modules_dataflow import QuantConcat, QuantPool2d
from mixq.nn.prepare import QuantModel


def _per_sample_shape(c: Codes) -> tuple[int, ...]:
    shape = tuple(c.codes.shape[1:])
    return shape[1:] + shape[:1] if len(shape) == 3 else shape  # (C, H, W) -> (H, W, C)


def _tensor_type(c: Codes) -> TensorType:
    return TensorType(_per_sample_shape(c), c.bits, c.signed, float(c.scale))


def _weight_and_sparse(m, p: IntegerLayer, layout) -> tuple[np.ndarray, SparseOutliers | None]:
    """The node's weight (IR layout) and, for a dense+sparse layer, its outliers (intra-layer
    mixed precision: the layer's integer weight k*T + S is split into T and S)."""
    parts = dense_sparse_parts(m)
    if parts is None:
        return layout(p.weight), None
    return layout(parts.ternary), SparseOutliers(layout(parts.values), parts.dense_scale,
                                                 parts.structure, layout(parts.mask))


def _check_prepared(model, function: str) -> None:
    """One-line error for a model that skipped :func:`mixq.nn.prepare` (was an AttributeError)."""
    if not isinstance(model, QuantModel):
        raise MixqError(f"{function} needs a QAT model, got a plain {type(model).__name__}; "
                        "run mixq.nn.prepare(model, allocation) first (and train it)")


def integerize(model: QuantModel, input_shape: tuple[int, int, int] | None = None,
               name: str = "model") -> Graph:
    """Capture the integer-only graph of a QAT model.

    Args:
        model: a :class:`mixq.nn.prepare.QuantModel` (its BN statistics and scales are read as
            they are; call it after training, in eval mode).
        input_shape: (C, H, W) of one input; defaults to ``model.input_shape``.
        name: graph name.

    Returns:
        A verified :class:`mixq.ir.graph.Graph` whose input is u8 NHWC codes.

    Raises:
        MixqError: ``model`` was not prepared (:func:`mixq.nn.prepare`), the input shape is
            unknown, or the graph fails verification.

    Example:
        >>> integerize(torch.nn.Linear(4, 2))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: integerize needs a QAT model, got a plain Linear; run mixq.nn...
    """
    _check_prepared(model, "integerize")
    shape = input_shape or model.input_shape
    if shape is None:
        raise MixqError("integerize needs the input shape: pass input_shape=(C, H, W)")
    with eval_mode(model):
        steps, out = model.integer_steps(torch.zeros((1,) + tuple(shape)))
    in_name = model.input_tensor_name
    c_in = Codes(torch.zeros((1,) + tuple(shape)), model.input_quant.scale, 8, False)
    tensors: dict[str, TensorType] = {in_name: _tensor_type(c_in)}
    alias: dict[str, str] = {}
    nodes = []
    out_name = in_name
    for i, step in enumerate(steps):
        ins = [alias.get(n, n) for n in step.inputs]
        out_name = f"t{i}_{step.name.replace('.', '_')}"
        m = step.module
        if isinstance(m, QuantFlatten):
            alias[step.key] = ins[0]
            out_name = ins[0]
            continue
        tensors[out_name] = _tensor_type(step.output)
        alias[step.key] = out_name
        if isinstance(m, QuantConv):
            x = step.input_codes[0]
            p = m.integer_params(x.scale, tuple(x.codes.shape[-2:]))
            w, sparse = _weight_and_sparse(m, p, lambda a: a.transpose(0, 2, 3, 1))
            nodes.append(Conv2d(step.name, ins[0], out_name, w, p.requant, p.stride, p.pads,
                                p.groups, p.weight_bits, p.ternary, sparse))
        elif isinstance(m, QuantLinear):
            p = m.integer_params(step.input_codes[0].scale)
            src = tensors[ins[0]]

            def fc_layout(w, src=src):
                if len(src.shape) == 3:  # torch flattens (C, H, W); the IR flattens (H, W, C)
                    h, wd, c = src.shape
                    return w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(
                        w.shape[0], -1)
                return w

            w, sparse = _weight_and_sparse(m, p, fc_layout)
            nodes.append(FullyConnected(step.name, ins[0], out_name, w, p.requant,
                                        p.weight_bits, p.ternary, sparse))
        elif isinstance(m, QuantAvgPool):
            nodes.append(AvgPool(step.name, ins[0], out_name))
        elif isinstance(m, QuantPool2d):
            nodes.append(Pool2d(step.name, ins[0], out_name, tuple(m.kernel_size), tuple(m.stride),
                                tuple(m.padding), m.maximum, m.count_include_pad))
        elif isinstance(m, QuantConcat):
            rescales, _, _ = m.rescales(step.input_codes)
            out_t = tensors[out_name]
            nodes.append(Concat(step.name, tuple(ins), out_name,
                                tuple(r.multiplier for r in rescales),
                                tuple(r.shift for r in rescales), out_t.qmin, out_t.qmax))
        elif isinstance(m, QuantAdd):
            rule = m.integer_rule(step.input_codes[0].scale, step.input_codes[1].scale)
            nodes.append(Add.from_rule(step.name, ins[0], ins[1], out_name, rule))
        else:
            raise MixqError(f"cannot integerize layer '{step.name}' ({type(m).__name__})")
    graph = Graph(name, tuple(tensors.items()), tuple(nodes), (in_name,), (out_name,))
    verify(graph)
    return graph


def integer_codes(model: QuantModel, x: torch.Tensor) -> np.ndarray:
    """Output codes (int64, (N, ...) channels last) of the QAT model's integer-exact mode."""
    _check_prepared(model, "integer_codes")
    out = model.integer_forward(x)
    codes = out.codes
    if codes.dim() == 4:
        codes = codes.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
    return codes.round().to(torch.int64).numpy()


def input_codes(model: QuantModel, x: torch.Tensor) -> np.ndarray:
    """u8 NHWC network-input codes of float input ``x`` (N, C, H, W) or (N, F) in [0, 1]."""
    _check_prepared(model, "input_codes")
    codes = model.input_quant.codes(x)
    if codes.dim() == 4:
        codes = codes.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
    return codes.numpy().astype(np.uint8)
