"""Intra-layer mixed precision in QAT: a dense ternary + sparse int8 weight quantizer.

Per output channel c the weight is approximated as

    W[c] ≈ alpha_c * T[c] + s_c * S[c],    alpha_c = k_c * s_c,  k_c integer in [1, 127]

with ``T`` in {-1, 0, 1} (dense, 0 on the outlier mask) and ``S`` int8 codes on the mask (0
elsewhere). Because alpha_c is an integer multiple of the sparse step, the layer's integer weight
is ``k_c * T + S`` at scale ``s_c`` and its accumulator is ``k_c * sum(x*T) + sum(x*S)``: exactly
:class:`mixq.ir.graph.SparseOutliers`.

How the numbers are chosen (per channel, or per layer for per-layer schemes):

- T and alpha: TWN (Li et al. 2016) on the non-outlier weights only: threshold
  ``0.7 * mean|w|`` over the positions off the mask, alpha = mean |w| above the threshold.
- s and k: the outliers' range sets a first step ``s0 = max|w_mask| / 127``; then
  ``k = clamp(floor(alpha / s0), 1, 127)`` and ``s = alpha / k``. Rounding k *down* makes
  ``s >= s0``, so the largest outlier still fits in [-127, 127]. If it exceeds 127 * alpha, k is
  1 and the row either clips it (s = alpha) or raises the ternary magnitude to s0
  (alpha = s = s0), whichever has the smaller squared error; the cap at 127 keeps k a byte (it only binds when every outlier is
  smaller than alpha, where a step of alpha / 127 is still fine). A channel without outliers
  gets k = 1, s = alpha; a channel without ternary weights gets alpha = s = s0.
- With an empty mask the quantizer is exactly TWN (:func:`mixq.quant.fake.ternary_quantize`):
  density 0 reproduces the pure ternary layer bit for bit.

:class:`SparseTernaryQuantizer` replaces a ternary layer's ``WeightQuantizer`` (see
:func:`make_dense_sparse`); the outlier mask is a buffer chosen from outside
(:mod:`mixq.intralayer.select`). ``codes_and_scale`` returns the *combined* integer weight
``k*T + S`` and the step ``s``, so the layer's integer-exact mode needs no change;
:func:`dense_sparse_parts` gives ``ir.capture`` the separate T, S, k and mask.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from mixq.errors import MixqError
from mixq.nn.modules import QuantConv, QuantLinear
from mixq.quant.fake import TWN_THRESHOLD, ste, ternary_codes_and_scale, ternary_quantize

SPARSE_QMIN, SPARSE_QMAX = -128, 127
MAX_DENSE_SCALE = 127  # k_c fits a byte


class Decomposition(NamedTuple):
    """Dense ternary + sparse int8 form of one weight tensor (torch layout, like the weight).

    Attributes:
        ternary: int64 {-1, 0, 1}, 0 on the mask.
        sparse: int64 codes in [-128, 127], 0 off the mask.
        dense_scale: int64 (C_out,) k_c in [1, 127].
        step: float (C_out,) sparse step s_c.
        alpha: float (C_out,) ternary magnitude alpha_c = k_c * s_c.
    """

    ternary: torch.Tensor
    sparse: torch.Tensor
    dense_scale: torch.Tensor
    step: torch.Tensor
    alpha: torch.Tensor


def _rows(t: torch.Tensor, per_channel: bool) -> torch.Tensor:
    return t.reshape(t.shape[0], -1) if per_channel else t.reshape(1, -1)


def _sparse_codes(flat: torch.Tensor, m: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    q = torch.clamp(torch.round(flat / step[:, None]), SPARSE_QMIN, SPARSE_QMAX)
    return (q * m).to(torch.int64)


def _row_error(flat, m, support, alpha, step) -> torch.Tensor:
    """Squared error per row of alpha*T + step*S (T on ``support``, S on ``m``)."""
    q = torch.sign(flat) * support * alpha[:, None] + _sparse_codes(flat, m, step) * step[:, None]
    return ((flat - q) ** 2).sum(dim=1)


def decompose(w: torch.Tensor, mask: torch.Tensor, per_channel: bool = True) -> Decomposition:
    """Split ``w`` into alpha * T + s * S with S on ``mask`` (see the module docstring).

    Args:
        w: float weights (C_out, ...).
        mask: bool, like ``w``: the outlier positions.
        per_channel: one (alpha, k, s) per output channel, else one per layer (broadcast to C_out).

    Returns:
        A :class:`Decomposition`.

    Example:
        >>> w = torch.tensor([[1.0, -0.9, 0.05, 4.0]])
        >>> d = decompose(w, torch.tensor([[False, False, False, True]]))
        >>> d.ternary.tolist(), d.sparse.tolist(), d.dense_scale.tolist()
        ([[1, -1, 0, 0]], [[0, 0, 0, 126]], [30])
        >>> round(float(d.alpha[0]), 3), round(float(d.step[0] * d.dense_scale[0]), 3)
        (0.95, 0.95)
    """
    w = w.detach()
    c_out = w.shape[0]
    if not bool(mask.any()):
        codes, alpha = ternary_codes_and_scale(w, per_channel)
        alpha = alpha.expand(c_out) if alpha.dim() == 0 else alpha
        ones = torch.ones(c_out, dtype=torch.int64)
        return Decomposition(codes, torch.zeros_like(codes), ones, alpha.clone(), alpha.clone())
    flat, m = _rows(w, per_channel), _rows(mask, per_channel)
    a, keep = flat.abs(), ~m
    # TWN on the positions that stay ternary.
    delta = TWN_THRESHOLD * (a * keep).sum(dim=1, keepdim=True) / keep.sum(dim=1,
                                                                            keepdim=True).clamp_min(1)
    support = (a > delta) & keep
    n_support = support.sum(dim=1)
    out_max = (a * m).amax(dim=1)
    s0 = out_max / SPARSE_QMAX
    alpha = (a * support).sum(dim=1) / n_support.clamp_min(1)
    # A row without ternary weights (all masked or all zero): T is 0, so alpha is free; use s0.
    alpha = torch.where(n_support > 0, alpha, s0).clamp_min(1e-8)
    ternary = (torch.sign(flat) * support).to(torch.int64)
    ratio = torch.floor(alpha / s0.clamp_min(1e-30))
    k = torch.where(out_max > 0, ratio.clamp(1, MAX_DENSE_SCALE), torch.ones_like(ratio))
    # Outliers beyond 127 * alpha (ratio < 1): either clip them (s = alpha) or raise the ternary
    # magnitude to s0 (alpha = s = s0), whichever reconstructs the row better.
    big = (ratio < 1) & (out_max > 0)
    if bool(big.any()):
        err_clip = _row_error(flat, m, support, alpha, alpha)
        err_raise = _row_error(flat, m, support, s0, s0)
        alpha = torch.where(big & (err_raise < err_clip), s0, alpha)
    step = alpha / k
    sparse = _sparse_codes(flat, m, step)
    if not per_channel:
        alpha, k, step = alpha.expand(c_out), k.expand(c_out), step.expand(c_out)
    return Decomposition(ternary.reshape(w.shape), sparse.reshape(w.shape),
                         k.to(torch.int64).clone(), step.clone(), alpha.clone())


def dense_sparse_quantize(w: torch.Tensor, mask: torch.Tensor, per_channel: bool = True
                          ) -> torch.Tensor:
    """Fake quantization ``alpha*T + s*S`` with a straight-through gradient to ``w``.

    Example:
        >>> w = torch.tensor([[1.0, -0.9, 0.05, 4.0]], requires_grad=True)
        >>> q = dense_sparse_quantize(w, torch.tensor([[False, False, False, True]]))
        >>> [round(v, 3) for v in q.tolist()[0]]
        [0.95, -0.95, 0.0, 3.99]
        >>> q.sum().backward(); w.grad.tolist()
        [[1.0, 1.0, 1.0, 1.0]]
    """
    if not bool(mask.any()):
        return ternary_quantize(w, per_channel)  # density 0: exactly TWN
    d = decompose(w, mask, per_channel)
    view = (-1,) + (1,) * (w.dim() - 1)
    q = (d.ternary.to(w.dtype) * d.alpha.to(w.dtype).reshape(view)
         + d.sparse.to(w.dtype) * d.step.to(w.dtype).reshape(view))
    return ste(w, q)


class SparseTernaryQuantizer(nn.Module):
    """Weight quantizer of a dense ternary + sparse int8 layer (drop-in for ``WeightQuantizer``).

    Args:
        weight_shape: shape of the layer's weight (torch layout: OIHW or (C_out, C_in)).
        per_channel: per-output-channel alpha, k and s (else per layer).
        structure: the outlier structure the mask follows (one of
            :data:`mixq.ir.graph.SPARSE_STRUCTURES`); recorded in the IR node.

    Attributes:
        mask: bool buffer like the weight; all False until a selection sets it.
        in_chw: for a fully connected layer fed by a flattened (C, H, W) map, that shape (the IR
            orders such a weight's columns (H, W, C)); None otherwise.
    """

    bits = 2
    ternary = True
    symmetric = True

    def __init__(self, weight_shape, per_channel: bool = True, structure: str = "unstructured"):
        super().__init__()
        self.per_channel = per_channel
        self.out_channels = int(weight_shape[0])
        self.structure = structure
        self.in_chw: tuple[int, int, int] | None = None
        self.register_buffer("mask", torch.zeros(tuple(weight_shape), dtype=torch.bool))

    def init_from(self, w: torch.Tensor) -> None:
        """Nothing to initialise (scales are computed from the weights); kept for the interface."""

    @torch.no_grad()
    def set_mask(self, mask) -> None:
        """Set the outlier positions (bool, like the weight)."""
        mask = torch.as_tensor(np.asarray(mask), dtype=torch.bool)
        if tuple(mask.shape) != tuple(self.mask.shape):
            raise MixqError(f"outlier mask {tuple(mask.shape)} does not match the weight "
                            f"{tuple(self.mask.shape)}")
        self.mask.copy_(mask)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return dense_sparse_quantize(w, self.mask, self.per_channel)

    @torch.no_grad()
    def decompose(self, w: torch.Tensor) -> Decomposition:
        return decompose(w, self.mask, self.per_channel)

    @torch.no_grad()
    def codes_and_scale(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Combined integer weight ``k*T + S`` (int64, like ``w``) and float64 steps s (C_out,)."""
        d = self.decompose(w)
        k = d.dense_scale.reshape((-1,) + (1,) * (w.dim() - 1))
        return d.ternary * k + d.sparse, d.step.to(torch.float64)

    def extra_repr(self):
        return (f"dense ternary + sparse int8, structure={self.structure}, "
                f"outliers={int(self.mask.sum())}/{self.mask.numel()}")


class DenseSparseParts(NamedTuple):
    """Integer parts of one dense+sparse layer (numpy, torch layout like the weight).

    Attributes:
        ternary: int64 {-1, 0, 1}; values: int64 int8 codes, 0 off ``mask``; mask: bool;
        dense_scale: int64 (C_out,) k_c; structure: the mask's structure name.
    """

    ternary: np.ndarray
    values: np.ndarray
    mask: np.ndarray
    dense_scale: np.ndarray
    structure: str


def is_dense_sparse(module: nn.Module) -> bool:
    """True for a QuantConv / QuantLinear whose weights use :class:`SparseTernaryQuantizer`."""
    return isinstance(module, (QuantConv, QuantLinear)) and isinstance(
        getattr(module, "wq", None), SparseTernaryQuantizer)


@torch.no_grad()
def dense_sparse_parts(module: nn.Module) -> DenseSparseParts | None:
    """The separate integer parts of a dense+sparse layer, or None.

    None for an ordinary layer, and for a dense+sparse layer without outliers (it is then a plain
    ternary layer, identical to one quantized by TWN).
    """
    if not is_dense_sparse(module) or not bool(module.wq.mask.any()):
        return None
    d = module.wq.decompose(module.effective_weight())
    return DenseSparseParts(d.ternary.numpy(), d.sparse.numpy(), module.wq.mask.numpy().copy(),
                            d.dense_scale.numpy(), module.wq.structure)


def make_dense_sparse(qat: nn.Module, names, structure: str = "unstructured") -> list[str]:
    """Give the named ternary layers of a QAT model a :class:`SparseTernaryQuantizer`.

    Args:
        qat: a :class:`mixq.nn.prepare.QuantModel`.
        names: layer names; each must be ternary in the model's allocation (w_bits 2, ternary).
        structure: the structure recorded on every layer's quantizer.

    Returns:
        The names, in the order given.

    Raises:
        MixqError: a name is not a weight layer or its allocation is not ternary.
    """
    names = list(names)
    for name in names:
        try:
            m = qat.gm.get_submodule(name)
        except AttributeError:
            raise MixqError(f"dense+sparse layer '{name}' is not a layer of the model") from None
        if not isinstance(m, (QuantConv, QuantLinear)):
            raise MixqError(f"dense+sparse layer '{name}' is not a weight layer")
        if not m.bits.ternary:
            raise MixqError(f"dense+sparse layer '{name}' must be ternary in the bit allocation "
                            "(w_bits=2, ternary=true)")
        m.wq = SparseTernaryQuantizer(tuple(m.weight.shape), m.bits.per_channel, structure)
    return names


def dense_sparse_layers(qat: nn.Module) -> dict[str, nn.Module]:
    """name -> module of every dense+sparse layer of a QAT model, in execution order."""
    out = {}
    for node in qat.gm.graph.nodes:
        if node.op == "call_module":
            m = qat.gm.get_submodule(node.target)
            if is_dense_sparse(m):
                out[node.target] = m
    return out
