"""IR verifier: dataflow, shapes, dtype ranges, and a static int32 accumulator overflow bound."""

from __future__ import annotations

import numpy as np

from mixq.errors import MixqError
from mixq.ir.graph import (SPARSE_STRUCTURES, Add, AvgPool, Concat, Conv2d, FullyConnected, Graph,
                           Pool2d, Requant)
from mixq.quant.integer import INT32_MAX, MAX_SHIFT, MIN_SHIFT, qrange
from mixq.quant.sparsity import SparseStructure

INT64_LIMIT = 1 << 63


class IRError(MixqError):
    """An invalid integer graph."""


def accumulator_bound(fan_in: int, in_bits: int, in_signed: bool, w_bits: int,
                      ternary: bool) -> int:
    """Largest |acc| any input can produce: fan_in * max|x| * max|w| (from bit-widths).

    Example:
        >>> accumulator_bound(1024, 8, False, 8, False)
        33423360
        >>> accumulator_bound(9, 4, False, 2, True)
        135
    """
    x_max = max(abs(v) for v in qrange(in_bits, in_signed))
    w_max = 1 if ternary else max(abs(v) for v in qrange(w_bits, True))
    return fan_in * x_max * w_max


def _conv_out(size: int, k: int, s: int, before: int, after: int) -> int:
    return (size + before + after - k) // s + 1


def _check_requant(node, rq: Requant, channels: int, out_t, bound: int) -> None:
    for arr_name in ("bias", "multiplier", "shift"):
        arr = getattr(rq, arr_name)
        if arr.shape != (channels,):
            raise IRError(f"node '{node.name}': {arr_name} has shape {arr.shape}, "
                          f"expected ({channels},)")
    if rq.shift.min() < MIN_SHIFT or rq.shift.max() > MAX_SHIFT:
        raise IRError(f"node '{node.name}': shift outside [{MIN_SHIFT}, {MAX_SHIFT}]")
    if not (out_t.qmin <= rq.activation_min <= rq.activation_max <= out_t.qmax):
        raise IRError(f"node '{node.name}': clamp [{rq.activation_min}, {rq.activation_max}] "
                      f"outside the output range [{out_t.qmin}, {out_t.qmax}]")
    if bound > INT32_MAX:
        raise IRError(f"node '{node.name}': the accumulator may reach {bound} > int32 max; "
                      "lower the bit-widths or the fan-in of this layer")
    worst = bound * int(np.abs(rq.multiplier.astype(np.int64)).max(initial=0)) + int(
        np.abs(rq.bias).max(initial=0))
    if worst >= INT64_LIMIT:
        raise IRError(f"node '{node.name}': acc * multiplier + bias may overflow int64")


def _check_weights(node, w: np.ndarray) -> None:
    lo, hi = (-1, 1) if node.ternary else qrange(node.weight_bits, True)
    if node.ternary and node.weight_bits != 2:
        raise IRError(f"node '{node.name}': ternary weights must have weight_bits=2")
    if w.size and (w.min() < lo or w.max() > hi):
        raise IRError(f"node '{node.name}': weight codes outside [{lo}, {hi}]")


def _check_sparse(node, fan_in: int, x_max: int) -> int:
    """Check a dense+sparse layer's outliers; returns its accumulator bound."""
    sp = node.sparse
    w, v, mask = node.weight, sp.values, sp.mask
    if not node.ternary:
        raise IRError(f"node '{node.name}': sparse outliers need a ternary dense weight")
    if v.shape != w.shape or mask.shape != w.shape:
        raise IRError(f"node '{node.name}': outliers {v.shape} do not match weight {w.shape}")
    if not isinstance(sp.structure, SparseStructure):
        raise IRError(f"node '{node.name}': structure '{sp.structure}' is not one of "
                      f"{SPARSE_STRUCTURES}")
    if np.any(mask & (w != 0)) or np.any(~mask & (v != 0)):
        raise IRError(f"node '{node.name}': outliers must lie in the mask, off the ternary support")
    c_out = w.shape[0]
    if sp.dense_scale.shape != (c_out,) or sp.dense_scale.min(initial=0) < 0:
        raise IRError(f"node '{node.name}': dense_scale must be (C_out,) non-negative integers")
    per_row = mask.reshape(c_out, -1).sum(axis=1)
    problem = sp.structure.violation(mask)
    if problem:
        raise IRError(f"node '{node.name}': {problem}")
    k_max = int(sp.dense_scale.max(initial=0))
    return fan_in * x_max * k_max + int(per_row.max(initial=0)) * x_max * 128


def _check_pool2d(node: Pool2d, x, y) -> None:
    (kh, kw), (sh, sw), (t, b, l, r) = node.kernel, node.stride, node.padding
    if min(kh, kw, sh, sw) < 1 or min(t, b, l, r) < 0 or max(t, b) >= kh or max(l, r) >= kw:
        raise IRError(f"node '{node.name}': pool kernel {node.kernel}, stride {node.stride}, "
                      f"padding {node.padding}: padding must stay below the kernel size")
    h, w, c = x.shape
    expect = (_conv_out(h, kh, sh, t, b), _conv_out(w, kw, sw, l, r), c)
    if tuple(y.shape) != expect or (y.bits, y.signed) != (x.bits, x.signed):
        raise IRError(f"node '{node.name}': pool maps {x.shape} to {expect} with the same dtype, "
                      f"not {y.shape}")


def _check_concat(node: Concat, xs, y) -> None:
    n = len(node.inputs)
    if n < 1 or len(node.multipliers) != n or len(node.shifts) != n:
        raise IRError(f"node '{node.name}': concat needs one (multiplier, shift) per input")
    if any(tuple(x.shape[:-1]) != tuple(y.shape[:-1]) for x in xs) or len(y.shape) not in (
            1, 3) or sum(x.shape[-1] for x in xs) != y.shape[-1]:
        raise IRError(f"node '{node.name}': concat of {[x.shape for x in xs]} along channels "
                      f"does not give {y.shape}")
    if any(not 0 <= s <= MAX_SHIFT or abs(m) > INT32_MAX
           for m, s in zip(node.multipliers, node.shifts)):
        raise IRError(f"node '{node.name}': concat multipliers/shifts out of range")
    if not (y.qmin <= node.activation_min <= node.activation_max <= y.qmax):
        raise IRError(f"node '{node.name}': clamp range outside the output range")


def verify(graph: Graph) -> Graph:
    """Check a graph; returns it unchanged or raises :class:`IRError` naming the node.

    Checks: every input defined before use and every tensor written once; shapes of every op;
    weight codes within their bit-width; requant arrays per channel with shifts in range; clamp
    ranges inside the output tensor's range; |acc| within int32 and |acc * multiplier| + |bias|
    within int64 for every input.
    """
    defined = set(graph.inputs)
    for name in graph.inputs:
        t = graph.tensor(name)
        if (t.bits, t.signed) != (8, False):
            raise IRError(f"graph input '{name}' must be u8 codes")
    for node in graph.nodes:
        for name in node.inputs:
            if name not in defined:
                raise IRError(f"node '{node.name}' reads '{name}' before it is written")
        if node.output in defined:
            raise IRError(f"node '{node.name}' writes '{node.output}' a second time")
        defined.add(node.output)
        x, y = graph.tensor(node.inputs[0]), graph.tensor(node.output)
        if isinstance(node, Conv2d):
            c_out, kh, kw, c_in_g = node.weight.shape
            h, w, c_in = x.shape
            if node.groups == 1 and c_in_g != c_in or node.groups > 1 and (
                    node.groups != c_in or c_out != c_in or c_in_g != 1):
                raise IRError(f"node '{node.name}': weight {node.weight.shape} does not fit "
                              f"input {x.shape} with groups={node.groups}")
            t, b, l, r = node.padding
            expect = (_conv_out(h, kh, node.stride[0], t, b), _conv_out(w, kw, node.stride[1], l, r),
                      c_out)
            if tuple(y.shape) != expect:
                raise IRError(f"node '{node.name}': output shape {y.shape}, expected {expect}")
            _check_weights(node, node.weight)
            bound = accumulator_bound(kh * kw * c_in_g, x.bits, x.signed, node.weight_bits,
                                      node.ternary)
            if node.sparse is not None:
                bound = _check_sparse(node, kh * kw * c_in_g, max(abs(x.qmin), abs(x.qmax)))
            _check_requant(node, node.requant, c_out, y, bound)
        elif isinstance(node, FullyConnected):
            c_out, fan_in = node.weight.shape
            if fan_in != x.numel or tuple(y.shape) != (c_out,):
                raise IRError(f"node '{node.name}': weight {node.weight.shape} does not map "
                              f"input {x.shape} to output {y.shape}")
            _check_weights(node, node.weight)
            bound = accumulator_bound(fan_in, x.bits, x.signed, node.weight_bits, node.ternary)
            if node.sparse is not None:
                bound = _check_sparse(node, fan_in, max(abs(x.qmin), abs(x.qmax)))
            _check_requant(node, node.requant, c_out, y, bound)
        elif isinstance(node, AvgPool):
            if tuple(y.shape) != (1, 1, x.shape[2]) or (y.bits, y.signed) != (x.bits, x.signed):
                raise IRError(f"node '{node.name}': global pool maps {x.shape} to (1, 1, C) "
                              "with the same dtype")
        elif isinstance(node, Add):
            xb = graph.tensor(node.input_b)
            if x.shape != xb.shape or x.shape != y.shape:
                raise IRError(f"node '{node.name}': add shapes {x.shape}, {xb.shape} -> {y.shape}")
            if not MIN_SHIFT <= node.shift <= MAX_SHIFT or max(
                    abs(node.multiplier_a), abs(node.multiplier_b)) > INT32_MAX:
                raise IRError(f"node '{node.name}': add multipliers/shift out of range")
            if not (y.qmin <= node.activation_min <= node.activation_max <= y.qmax):
                raise IRError(f"node '{node.name}': clamp range outside the output range")
        elif isinstance(node, Pool2d):
            _check_pool2d(node, x, y)
        elif isinstance(node, Concat):
            _check_concat(node, [graph.tensor(t) for t in node.inputs], y)
        else:
            raise IRError(f"unknown node type {type(node).__name__}")
    for name in graph.outputs:
        if name not in defined:
            raise IRError(f"graph output '{name}' is never written")
    return graph
