"""Integer constants shared by the QONNX lowerings: ICN from real scales, residual adds, IR
widths and names."""

from __future__ import annotations

import re

import numpy as np

from mixq.ir.graph import Add, Requant
from mixq.quant.integer import add_multipliers, quantize_multipliers, rounding_term


def ir_bits(bits: int) -> int:
    """IR container width for a declared bit width (2, 4 or 8; codes keep their range)."""
    return 2 if bits <= 2 else 4 if bits <= 4 else 8


def safe_name(name: str) -> str:
    """An ONNX name as an IR name (non-word characters become '_')."""
    return re.sub(r"\W", "_", name)


def requant_params(eff_scale: np.ndarray, eff_bias: np.ndarray, out_scale: float,
                   clamp: tuple[int, int]) -> Requant:
    """ICN constants for ``y = round((acc * eff_scale + eff_bias) / out_scale)`` clamped.

    Example:
        >>> rq = requant_params(np.array([0.5]), np.array([1.0]), 1.0, (0, 255))
        >>> int((np.int64(5) * rq.multiplier[0] + rq.bias[0]) >> rq.shift[0])  # round(3.5)
        4
    """
    mult, shift = quantize_multipliers(np.asarray(eff_scale, np.float64) / out_scale)
    bias = np.clip(np.round(np.asarray(eff_bias, np.float64) / out_scale * np.exp2(shift)),
                   -2.0**61, 2.0**61).astype(np.int64) + rounding_term(shift)
    return Requant(bias, mult, shift, clamp[0], clamp[1])


def add_node(name: str, a: str, b: str, ra: float, rb: float, clamp):
    """Builder of an IR :class:`Add` (output name filled in later)."""
    ma, mb, shift = add_multipliers(ra, rb)
    return lambda out: Add(name, a, b, out, ma, mb, shift, clamp[0], clamp[1])
