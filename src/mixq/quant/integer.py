"""The integer arithmetic of mixq, written once (numpy only, no torch import).

Every integer op of the deployed graph requantizes its int32 accumulator with the same rule
(Integer Channel Normalization, ICN; Rusci et al. 2020, eq. 5):

    y = clamp((acc * multiplier + bias) >> shift, activation_min, activation_max)

with ``acc`` int32, ``multiplier`` an int32 (|multiplier| in [2^30, 2^31) or 0), ``shift`` the
total right shift in [1, 62], ``bias`` an int64 in *product* units that already holds the rounding
half ``2^(shift-1)``, the product and the sum in int64, ``>>`` an arithmetic shift (floor).

Why the bias is added after the multiply: a bias rounded to whole accumulator units (CMSIS-NN's
``acc + bias``) errs by up to half an accumulator unit, which at 2-bit weights and activations is a
large fraction of an output step: measured on the demo net, 6% of the first 2-bit depthwise
layer's codes differed from the fake-quantized model, and the error compounded to a 2-bit integer
model far worse than its QAT accuracy. In product units the bias error is below 2^-30 of an output
step. On Cortex-M it costs nothing extra: one SMLAL computes ``acc * multiplier + bias``.

:func:`requantize` works unchanged on numpy arrays and on torch int64 tensors (it uses only
operators and ``.clip``), so ``ir/interpret.py``, the QAT model's integer-exact evaluation mode and
(mirrored by hand) the C kernels all share one definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MIN_SHIFT = 1
MAX_SHIFT = 62


def qrange(bits: int, signed: bool) -> tuple[int, int]:
    """Integer code range of a ``bits``-bit tensor.

    Args:
        bits: number of bits (2, 4, 8, or 32).
        signed: two's complement range if True, else unsigned.

    Returns:
        (qmin, qmax), inclusive.

    Example:
        >>> qrange(8, False), qrange(4, True), qrange(2, True)
        ((0, 255), (-8, 7), (-2, 1))
    """
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


class CodeRange:
    """Mixin: ``qmin``/``qmax`` of anything with ``bits`` and ``signed`` (tensor types,
    activation quantizers)."""

    bits: int
    signed: bool

    @property
    def qmin(self) -> int:
        return qrange(self.bits, self.signed)[0]

    @property
    def qmax(self) -> int:
        return qrange(self.bits, self.signed)[1]


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Fixed-point form ``(multiplier, shift)`` of a real scale: real ≈ multiplier * 2^-shift.

    Args:
        real: the real requantization scale (any sign; usually s_in * s_w / s_out).

    Returns:
        multiplier: int32 with |multiplier| in [2^30, 2^31) (or 0 for a zero scale).
        shift: total right shift in [1, 62].

    Raises:
        ValueError: if ``real`` is not finite or too large (|real| >= 2^30).

    Example:
        >>> quantize_multiplier(0.5)
        (1073741824, 31)
        >>> m, s = quantize_multiplier(0.0123)
        >>> abs(m * 2.0**-s - 0.0123) < 1e-11
        True
        >>> quantize_multiplier(0.0)
        (0, 31)
    """
    if not math.isfinite(real):
        raise ValueError(f"requantization scale must be finite, got {real}")
    if real == 0.0:
        return 0, 31
    mant, exp = math.frexp(real)  # real = mant * 2^exp, |mant| in [0.5, 1)
    multiplier = int(round(mant * (1 << 31)))
    if abs(multiplier) == (1 << 31):
        multiplier //= 2
        exp += 1
    shift = 31 - exp
    if shift < MIN_SHIFT:
        raise ValueError(f"requantization scale {real} is too large for a Q31 multiplier")
    if shift > MAX_SHIFT:
        # Tiny scale: keep shift at its maximum and let the multiplier shrink (may reach 0).
        multiplier = int(round(real * 2.0**MAX_SHIFT))
        shift = MAX_SHIFT
    return multiplier, shift


def quantize_multipliers(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vector form of :func:`quantize_multiplier`.

    Args:
        real: float array of scales, shape (C,).

    Returns:
        (multiplier int64 (C,), shift int64 (C,)).

    Example:
        >>> quantize_multipliers(np.array([0.5, 0.25]))
        (array([1073741824, 1073741824]), array([31, 32]))
    """
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(real, dtype=np.float64).ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int64)
    shift = np.array([p[1] for p in pairs], dtype=np.int64)
    return mult, shift


def rounding_term(shift: np.ndarray) -> np.ndarray:
    """The round-half-up addend ``1 << (shift - 1)`` as int64 (numpy).

    Example:
        >>> rounding_term(np.array([1, 31]))
        array([         1, 1073741824])
    """
    shift = np.asarray(shift, dtype=np.int64)
    return np.left_shift(np.int64(1), shift - 1)


def icn_bias(bias_acc_units: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """int64 bias of :func:`requantize`: ``round(bias_acc_units * multiplier) + 2^(shift-1)``.

    Args:
        bias_acc_units: real-valued bias in accumulator units, (C,).
        multiplier, shift: from :func:`quantize_multipliers`, (C,).

    Returns:
        int64 (C,), clipped to +-2^61 (reachable only with a degenerate BN gamma ~ 0).

    Example:
        >>> icn_bias(np.array([1.0, -0.25]), np.array([1 << 30, 1 << 30]), np.array([31, 31]))
        array([2147483648,  805306368])
    """
    b = np.clip(np.round(np.asarray(bias_acc_units, np.float64) * multiplier), -2.0**61, 2.0**61)
    return b.astype(np.int64) + rounding_term(shift)


def requantize(acc, bias, multiplier, shift, activation_min: int, activation_max: int):
    """ICN requantization (the one rule above); numpy arrays or torch int64 tensors.

    Args:
        acc: int64 accumulator values (int32 range), channels last: shape (..., C).
        bias: int64 (C,) bias in product units, rounding half included (:func:`icn_bias`).
        multiplier: int64 (C,) Q31 multipliers from :func:`quantize_multipliers`.
        shift: int64 (C,) total right shifts in [1, 62].
        activation_min, activation_max: inclusive output code range.

    Returns:
        int64 codes in [activation_min, activation_max], same shape as ``acc``.

    Example:
        >>> acc = np.array([[10, -10], [1000, 3]], dtype=np.int64)
        >>> m, s = quantize_multipliers(np.array([0.5, 0.5]))
        >>> requantize(acc, icn_bias(np.array([1, 0]), m, s), m, s, -128, 127)
        array([[  6,  -5],
               [127,   2]])
    """
    return ((acc * multiplier + bias) >> shift).clip(activation_min, activation_max)


def frozen_array(a: np.ndarray, dtype) -> np.ndarray:
    """A read-only contiguous copy (or view) of ``a`` as ``dtype`` (for frozen records)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Requant:
    """Per-output-channel ICN parameters (:func:`requantize`):
    ``y = clamp((acc * multiplier + bias) >> shift, activation_min, activation_max)``.

    Attributes:
        bias: int64 (C,) in product units, rounding half 2^(shift-1) included.
        multiplier: int32 (C,) Q31 multiplier.
        shift: (C,) total right shift in [1, 62].
        activation_min, activation_max: output code range (clamp).
    """

    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    activation_min: int
    activation_max: int

    def __post_init__(self):
        object.__setattr__(self, "bias", frozen_array(self.bias, np.int64))
        object.__setattr__(self, "multiplier", frozen_array(self.multiplier, np.int32))
        object.__setattr__(self, "shift", frozen_array(self.shift, np.int32))

    def apply(self, acc: np.ndarray) -> np.ndarray:
        """Output codes of an int64 accumulator (..., C) (numpy; the QAT integer-exact path
        passes the same arrays as torch tensors to :func:`requantize`)."""
        return requantize(acc.astype(np.int64), self.bias.astype(np.int64),
                          self.multiplier.astype(np.int64), self.shift.astype(np.int64),
                          self.activation_min, self.activation_max)


def avgpool_divide(total, count):
    """Integer average: ``floor((total + count // 2) / count)`` (round half up), the one rounding
    rule of every average pool (global and windowed; ir.interpret, the QAT integer-exact mode and
    the C kernels ``mixq_avgpool_any`` / ``mixq_avgpool2d_any``).

    ``count`` is the window's divisor: H * W for a global pool; for a windowed pool k_h * k_w
    (``count_include_pad``, PyTorch's default: padded taps count as zeros) or the number of taps
    inside the input. Works on numpy arrays and torch int64 tensors (``//`` is floor division in
    both); ``count`` may be an array broadcast against ``total``.

    Example:
        >>> avgpool_divide(np.array([0, 7, 8, -7]), 4)
        array([ 0,  2,  2, -2])
        >>> avgpool_divide(np.array([5, 5]), np.array([2, 4]))
        array([3, 1])
    """
    return (total + count // 2) // count


@dataclass(frozen=True)
class Rescale:
    """Codes of one scale moved to another (a concat input to the concat's common scale):

        y = clamp((x * multiplier + r) >> shift, activation_min, activation_max)

    with ``r = 2^(shift-1)`` (round half up) and int64 intermediates; :data:`IDENTITY`
    ``(multiplier, shift) = (1, 0)`` (``r = 0``) when the two scales are equal.

    Example:
        >>> Rescale.from_ratio(1.0).identity, Rescale.from_ratio(0.5)
        (True, Rescale(multiplier=1073741824, shift=31))
        >>> Rescale.from_ratio(0.5).apply(np.array([3, -3, 255]), -128, 127)
        array([  2,  -1, 127])
    """

    multiplier: int
    shift: int

    @classmethod
    def from_ratio(cls, ratio: float) -> "Rescale":
        """The rescale for ``ratio = scale_in / scale_out`` (identity when it is exactly 1)."""
        if ratio == 1.0:
            return cls(1, 0)
        return cls(*quantize_multiplier(ratio))

    @property
    def identity(self) -> bool:
        return (self.multiplier, self.shift) == (1, 0)

    def apply(self, x, activation_min: int, activation_max: int):
        """Rescaled codes of int64 ``x`` (numpy array or torch int64 tensor)."""
        r = (1 << (self.shift - 1)) if self.shift > 0 else 0
        return ((x * self.multiplier + r) >> self.shift).clip(activation_min, activation_max)


def concat_format(inputs, out_bits: int) -> tuple[bool, float]:
    """(signed, scale) of a channel concat's output: the common scale every input is rescaled to.

    The rule: when every input has the same (bits, signed, scale) and ``out_bits`` is that
    width, the output keeps them (each :class:`Rescale` is the identity, so the concat may be
    zero-copy). Otherwise the output is signed if any input is, and its scale is the largest
    magnitude any input can hold, ``max_i scale_i * max(|qmin_i|, qmax_i)``, over the output's
    ``qmax``: no input code is clipped, the finer inputs lose their extra resolution.

    Args:
        inputs: (bits, signed, scale) of each input, in concat order.
        out_bits: the output's code width (the consumer's input bits).

    Example:
        >>> concat_format([(8, False, 0.1), (8, False, 0.1)], 8)
        (False, 0.1)
        >>> concat_format([(8, False, 0.1), (4, False, 2.0)], 8)
        (False, 0.11764705882352941)
    """
    inputs = [(int(b), bool(s), float(sc)) for b, s, sc in inputs]
    signed = any(s for _, s, _ in inputs)
    if all(i == inputs[0] for i in inputs) and inputs[0][0] == out_bits:
        return inputs[0][1], inputs[0][2]
    reach = max(sc * max(abs(v) for v in qrange(b, s)) for b, s, sc in inputs)
    return signed, reach / qrange(out_bits, signed)[1]


def add_multipliers(ratio_a: float, ratio_b: float) -> tuple[int, int, int]:
    """Fixed-point form of ``y = a * ratio_a + b * ratio_b`` with one shared shift.

    Returns:
        (multiplier_a, multiplier_b, shift): int32 multipliers (the larger in [2^30, 2^31)) and
        the total right shift in [1, 62], used as
        ``(a * multiplier_a + b * multiplier_b + (1 << (shift - 1))) >> shift``.

    Example:
        >>> add_multipliers(0.5, 0.25)
        (1073741824, 536870912, 31)
    """
    big = max(abs(ratio_a), abs(ratio_b))
    if not math.isfinite(big) or big == 0.0:
        raise ValueError(f"add scales must be finite and non-zero, got {ratio_a}, {ratio_b}")
    _, shift = quantize_multiplier(big)
    ma, mb = int(round(ratio_a * 2.0**shift)), int(round(ratio_b * 2.0**shift))
    if max(abs(ma), abs(mb)) >= (1 << 31):
        shift -= 1
        ma, mb = int(round(ratio_a * 2.0**shift)), int(round(ratio_b * 2.0**shift))
    return ma, mb, shift


@dataclass(frozen=True)
class AddRequant:
    """The integer residual-add rule, written once (interpret, the QAT integer-exact mode and the
    C ``mixq_add_params_t`` all read these five constants):

        y = clamp((a * multiplier_a + b * multiplier_b + (1 << (shift - 1))) >> shift, min, max)

    with int32 multipliers, ``shift`` in [1, 62] and int64 intermediates.

    Example:
        >>> rule = AddRequant.from_ratios(0.5, 0.25, 0, 255)
        >>> rule.apply(np.array([10, 200]), np.array([4, 100]))
        array([  6, 125])
    """

    multiplier_a: int
    multiplier_b: int
    shift: int
    activation_min: int
    activation_max: int

    @classmethod
    def from_ratios(cls, ratio_a: float, ratio_b: float, activation_min: int,
                    activation_max: int) -> "AddRequant":
        """The rule for ``y = a * ratio_a + b * ratio_b`` (ratios = input scale / output scale).

        Raises:
            ValueError: the ratios do not fit int32 multipliers with a shift in [1, 62].
        """
        ma, mb, shift = add_multipliers(ratio_a, ratio_b)
        if max(abs(ma), abs(mb)) > INT32_MAX or not MIN_SHIFT <= shift <= MAX_SHIFT:
            raise ValueError("residual add scales out of the int32 multiplier range")
        return cls(ma, mb, shift, activation_min, activation_max)

    def apply(self, a, b):
        """Output codes of int64 code arrays ``a`` and ``b`` (numpy arrays or torch int64
        tensors: only operators and ``.clip`` are used)."""
        total = a * self.multiplier_a + b * self.multiplier_b + (1 << (self.shift - 1))
        return (total >> self.shift).clip(self.activation_min, self.activation_max)
