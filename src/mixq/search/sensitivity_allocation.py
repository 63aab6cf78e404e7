"""Latency-aware, sensitivity-driven bit allocation as an exact integer program (HiGHS).

Choose per layer i a weight precision w_i and per activation tensor a precision t_k (8, 4, 2;
the network input and the logits stay 8-bit) to

    minimise   sum_i Omega_w(i, w_i) + sum_{i < n-1} Omega_a(i, t_{i+1})     (sensitivity proxy)
    subject to flash(w, t) <= flash budget                                  (Rusci et al. 2020)
               in_bytes(t_i) + out_bytes(t_{i+1}) <= RAM budget for every layer (chain model)
               sum_i latency_i(w_i, t_i, t_{i+1}) <= latency budget          (optional)

as HAWQ-V3 does (Yao et al., ICML 2021, Sec. 3.3: an integer linear program over per-layer bit
choices). The model: one binary per layer and (w, t_in, t_out) choice, exactly one per layer,
consecutive layers agreeing on the tensor between them; flash includes the per-layer overhead of
the scheme (:func:`mixq.quant.spec.scheme_for`), so per-layer (MixPL) accounting is exact too.
HiGHS (``highspy``) solves it to proven optimality (relative and absolute MIP gaps 0), and the
result is re-checked with :mod:`mixq.search.memory` before it is returned.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from typing import Callable, Optional, Sequence

import numpy as np

from mixq.errors import MixqError
from mixq.quant.spec import BitAllocation, LayerBits, scheme_for
from mixq.search.memory import (LayerShape, MemoryBudget, flash_bytes, layer_flash_bytes,
                                layer_ram_bytes, ram_peak_bytes)
from mixq.search.memory_driven import BudgetError

BITS = (8, 4, 2)
LatencyFn = Callable[[LayerShape, int, int, int], float]  # (shape, w, in, out) -> cycles


def _combos(shapes, i: int, bits) -> list[tuple[int, int, int]]:
    n = len(shapes)
    ins = (8,) if i == 0 else bits
    outs = (8,) if i == n - 1 else bits
    return [(w, a, o) for w in bits for a in ins for o in outs]


def allocation_latency(shapes, allocation: BitAllocation, latency: LatencyFn) -> float:
    """Sum of the per-layer latencies of ``allocation`` (same units as ``latency``)."""
    return float(sum(latency(s, l.w_bits, l.in_bits, l.out_bits)
                     for s, l in zip(shapes, allocation.layers)))


def _costs(sensitivity, shapes) -> list[tuple[dict, dict]]:
    names = [s.name for s in shapes]
    if [s.name for s in sensitivity] != names:
        raise MixqError("sensitivity layers do not match the network's weight layers: "
                        f"{[s.name for s in sensitivity]} vs {names}")
    return [(s.weight_cost, s.act_cost) for s in sensitivity]


def _diagnose(shapes, budget, latency, latency_budget, granularity, bits, combos) -> BudgetError:
    n = len(shapes)
    for i, c in enumerate(combos):
        if not c:
            low = min(layer_ram_bytes(shapes[i], a, o) for _, a, o in _combos(shapes, i, bits))
            return BudgetError(f"RAM budget {budget.ram_bytes} bytes cannot be met: layer "
                               f"'{shapes[i].name}' needs at least {low} bytes of input + output "
                               "activations; raise the RAM budget or use a smaller model")
    per_layer = [min(layer_flash_bytes(shapes[i], LayerBits(shapes[i].name, shapes[i].kind, w, a,
                                                            o, scheme_for(granularity, w, o)),
                                       last=(i == n - 1)) for w, a, o in combos[i])
                 for i in range(n)]
    if sum(per_layer) > budget.flash_bytes:
        big = max(range(n), key=per_layer.__getitem__)
        return BudgetError(f"flash budget {budget.flash_bytes} bytes cannot be met: with 2-bit "
                           f"weights the network still needs {sum(per_layer)} bytes, layer "
                           f"'{shapes[big].name}' alone {per_layer[big]}; raise the flash budget")
    if latency is not None and latency_budget is not None:
        fastest = [min(latency(shapes[i], *c) for c in combos[i]) for i in range(n)]
        if sum(fastest) > latency_budget:
            slow = max(range(n), key=fastest.__getitem__)
            return BudgetError(f"latency budget {latency_budget:,.0f} cycles cannot be met: the "
                               f"fastest allocation takes {sum(fastest):,.0f} cycles, layer "
                               f"'{shapes[slow].name}' at least {fastest[slow]:,.0f}; raise "
                               "the latency budget")
    return BudgetError(f"flash {budget.flash_bytes} B, RAM {budget.ram_bytes} B"
                       + (f" and latency {latency_budget:,.0f} cycles" if latency_budget else "")
                       + " cannot be met together; raise one of the budgets")


def allocate_sensitivity(shapes: Sequence[LayerShape], budget: MemoryBudget, sensitivity,
                         granularity: str = "per-channel", latency: Optional[LatencyFn] = None,
                         latency_budget: Optional[float] = None, bits=BITS,
                         time_limit_s: float = 120.0) -> BitAllocation:
    """The allocation with the smallest sensitivity proxy that meets every budget.

    Args:
        shapes: :class:`LayerShape` of every weight layer in forward order (a chain).
        budget: flash and RAM bytes.
        sensitivity: one :class:`mixq.search.sensitivity.LayerSensitivity` (or any object with
            ``name``, ``weight_cost`` and ``act_cost`` dicts keyed by bits) per layer.
        granularity: 'per-channel' (MixPC) or 'per-layer' (MixPL) overhead model.
        latency: ``f(shape, w_bits, in_bits, out_bits)`` -> estimated cycles of the layer
            (e.g. :func:`mixq.platform.latency.latency_function`), required with a latency budget.
        latency_budget: cycles; None for no latency constraint.
        bits: precision choices.
        time_limit_s: HiGHS time limit (the problem has at most 27 binaries per layer).

    Returns:
        a :class:`BitAllocation` meeting the flash, RAM and latency budgets.

    Raises:
        BudgetError: no allocation meets the budgets (the message names the binding budget
            and layer), or the solver stopped before proving optimality.
        MixqError: mismatched sensitivity, a latency budget without a latency model.

    Example:
        >>> from types import SimpleNamespace as S
        >>> s = (LayerShape("c", "conv", (8, 8, 1), (8, 8, 16), 144, 16, 9216),
        ...      LayerShape("f", "fc", (1, 1, 16), (1, 1, 10), 160, 10, 160))
        >>> sens = [S(name="c", weight_cost={8: 0, 4: 5, 2: 9}, act_cost={8: 0, 4: 1, 2: 3}),
        ...         S(name="f", weight_cost={8: 0, 4: 1, 2: 2}, act_cost={8: 0, 4: 0, 2: 0})]
        >>> a = allocate_sensitivity(s, MemoryBudget(flash_bytes=470, ram_bytes=600), sens)
        >>> [(l.name, l.w_bits, l.in_bits, l.out_bits) for l in a.layers]
        [('c', 8, 8, 4), ('f', 4, 4, 8)]
    """
    import highspy

    shapes = tuple(shapes)
    n = len(shapes)
    if n == 0:
        raise MixqError("cannot allocate bits for a network without weight layers")
    if latency_budget is not None and latency is None:
        raise MixqError("a latency budget needs a latency model; pick a target that has one")
    scheme_for(granularity, 8, 8)
    costs = _costs(sensitivity, shapes)
    combos = [[c for c in _combos(shapes, i, bits)
               if layer_ram_bytes(shapes[i], c[1], c[2]) <= budget.ram_bytes] for i in range(n)]
    if any(not c for c in combos):
        raise _diagnose(shapes, budget, latency, latency_budget, granularity, bits, combos)
    cols = [(i, c) for i in range(n) for c in combos[i]]
    cost = np.array([costs[i][0][c[0]] + (costs[i][1][c[2]] if i < n - 1 else 0.0)
                     for i, c in cols], dtype=float)
    cost = cost / max(float(np.abs(cost).max()), 1e-30) * 1e3  # well-scaled objective
    rows: list[tuple[dict, float, float]] = []
    for i in range(n):  # exactly one choice per layer
        rows.append(({j: 1.0 for j, (k, _) in enumerate(cols) if k == i}, 1.0, 1.0))
    for k in range(1, n):  # layer k-1's output is layer k's input
        for b in bits:
            coef = {j: 1.0 for j, (i, c) in enumerate(cols) if i == k - 1 and c[2] == b}
            coef.update({j: -1.0 for j, (i, c) in enumerate(cols) if i == k and c[1] == b})
            if coef:
                rows.append((coef, 0.0, 0.0))
    flash = [layer_flash_bytes(shapes[i], LayerBits(shapes[i].name, shapes[i].kind, c[0], c[1],
                                                    c[2], scheme_for(granularity, c[0], c[2])),
                               last=(i == n - 1)) for i, c in cols]
    rows.append(({j: float(f) for j, f in enumerate(flash)}, -highspy.kHighsInf,
                 float(budget.flash_bytes)))
    if latency_budget is not None:
        lat = [float(latency(shapes[i], *c)) for i, c in cols]
        rows.append(({j: v for j, v in enumerate(lat)}, -highspy.kHighsInf,
                     float(latency_budget)))
    z = _solve(highspy, cost, rows, time_limit_s)
    if z is None:
        raise _diagnose(shapes, budget, latency, latency_budget, granularity, bits, combos)
    chosen = {i: c for j, (i, c) in enumerate(cols) if z[j] > 0.5}
    alloc = BitAllocation(tuple(LayerBits(s.name, s.kind, chosen[i][0], chosen[i][1],
                                          chosen[i][2], scheme_for(granularity, chosen[i][0],
                                                                   chosen[i][2]))
                                for i, s in enumerate(shapes)), granularity)
    # Re-check with the memory model itself: the solver's tolerances must not leak out.
    ok = (flash_bytes(shapes, alloc) <= budget.flash_bytes
          and ram_peak_bytes(shapes, alloc) <= budget.ram_bytes
          and (latency_budget is None
               or allocation_latency(shapes, alloc, latency) <= latency_budget)
          and all(a.out_bits == b.in_bits for a, b in zip(alloc.layers, alloc.layers[1:])))
    if not ok:
        raise AssertionError("integer program returned an allocation outside the budgets")
    return alloc


@contextlib.contextmanager
def _c_stdout_to_stderr():
    """Send what C code writes to file descriptor 1 to stderr while the block runs.

    HiGHS' constructor prints its banner with C stdio before any option can silence it; on
    stdout it broke ``mixq allocate --json``.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        ctypes.CDLL(None).fflush(None)  # C stdio buffers go out while fd 1 is still stderr
        os.dup2(saved, 1)
        os.close(saved)


def _solve(highspy, cost: np.ndarray, rows, time_limit_s: float):
    """Solve min cost.z, z binary, lower <= A z <= upper; None when infeasible."""
    with _c_stdout_to_stderr():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 0.0)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cost), len(rows)
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(len(cost))
    lp.col_upper_ = np.ones(len(cost))
    lp.row_lower_ = np.array([r[1] for r in rows], dtype=float)
    lp.row_upper_ = np.array([r[2] for r in rows], dtype=float)
    starts, index, value = [0], [], []
    for coef, _, _ in rows:
        for j in sorted(coef):
            index.append(j)
            value.append(coef[j])
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value, dtype=float)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * len(cost)
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kOptimal:
        return np.asarray(h.getSolution().col_value)
    if status in (highspy.HighsModelStatus.kInfeasible,
                  highspy.HighsModelStatus.kUnboundedOrInfeasible):
        return None
    raise BudgetError(f"the integer program stopped with status '{h.modelStatusToString(status)}'"
                      " before proving an optimum; raise the time limit")


__all__ = ["allocate_sensitivity", "allocation_latency"]
