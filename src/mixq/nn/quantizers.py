"""Quantizer modules: activations (PACT, signed LSQ, network input) and weights.

Every activation quantizer exposes ``bits``, ``signed``, ``scale`` (a Python float, the real value
of one code) and ``qmin``/``qmax``; these are exactly what integerization reads.
"""

from __future__ import annotations

import torch
from torch import nn

from mixq.quant.fake import (
    asymmetric_quantize,
    lsq_quantize,
    mse_weight_scale,
    pact_quantize,
    ternary_codes_and_scale,
    ternary_quantize,
    weight_codes,
)
from mixq.quant.integer import CodeRange, qrange

MIN_ALPHA = 1e-3


class ActQuantizer(CodeRange, nn.Module):
    """Common interface of activation quantizers."""

    bits: int
    signed: bool

    @property
    def scale(self) -> float:
        raise NotImplementedError

    def calibrate(self, x: torch.Tensor) -> None:
        """Initialise the range from float activations ``x`` (called by ``prepare``)."""


class PACT(ActQuantizer):
    """PACT activation (Choi et al. 2018): unsigned ``bits``-bit codes in [0, 2^b - 1] over
    [0, alpha], alpha learned; replaces the ReLU.

    ``max_alpha`` is the ceiling of a bounded ReLU (6 for ReLU6, M for Hardtanh(0, M) or
    ``clamp(x, 0, M)``): the float model already clips there, so the learned clip never exceeds it
    (a free PACT bound).

    Example:
        >>> q = PACT(4, alpha=1.5)
        >>> q.scale, q.qmax
        (0.1, 15)
        >>> PACT(8, alpha=9.0, max_alpha=6.0).clip().item()
        6.0
    """

    signed = False

    def __init__(self, bits: int, alpha: float = 6.0, max_alpha: float | None = None):
        super().__init__()
        self.bits = bits
        self.max_alpha = None if max_alpha is None else float(max_alpha)
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))

    def clip(self) -> torch.Tensor:
        if self.max_alpha is not None:
            return self.alpha.clamp(MIN_ALPHA, self.max_alpha)
        return self.alpha.clamp_min(MIN_ALPHA)

    @property
    def scale(self) -> float:
        return float(self.clip().detach()) / ((1 << self.bits) - 1)

    def calibrate(self, x):
        # A high percentile rather than the max: outliers would waste low-bit levels.
        v = torch.quantile(x.detach().flatten()[:200_000].float(), 0.999).item()
        self.alpha.data.fill_(max(v, MIN_ALPHA * 10))

    def forward(self, x):
        return pact_quantize(x, self.clip(), self.bits)

    def extra_repr(self):
        return f"bits={self.bits}"


class SignedQuantizer(ActQuantizer):
    """Signed symmetric activation quantizer with a learned step (LSQ), e.g. logits or a conv
    output before a residual add. Codes in [-2^(b-1), 2^(b-1) - 1].
    """

    signed = True

    def __init__(self, bits: int, scale: float = 0.1):
        super().__init__()
        self.bits = bits
        self.step = nn.Parameter(torch.tensor(float(scale)))

    @property
    def scale(self) -> float:
        return float(self.step.detach().abs().clamp_min(1e-8))

    def calibrate(self, x):
        v = x.detach().abs().max().item()
        self.step.data.fill_(max(v, 1e-6) / self.qmax)

    def forward(self, x):
        return lsq_quantize(x, self.step.abs().clamp_min(1e-8), self.qmin, self.qmax)

    def extra_repr(self):
        return f"bits={self.bits}"


class InputQuantizer(ActQuantizer):
    """Network input: values in [0, 1] become u8 codes, scale 1/255."""

    signed = False
    bits = 8

    @property
    def scale(self) -> float:
        return 1.0 / 255.0

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """u8 codes (as int64) of a float input in [0, 1]: clamp(round(x * 255), 0, 255)."""
        return torch.clamp(torch.round(x * 255.0), 0, 255).to(torch.int64)

    def forward(self, x):
        scale = torch.tensor([self.scale], dtype=x.dtype, device=x.device)
        zero = torch.zeros(1, dtype=torch.int32, device=x.device)
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255)


class WeightQuantizer(nn.Module):
    """Weight fake quantizer: symmetric signed (learned LSQ scale, MSE initialisation),
    ternary (TWN, computed scale) or asymmetric (min/max; not integerizable).

    Args:
        bits: 8, 4 or 2.
        per_channel: one scale per output channel, else one per layer.
        out_channels: number of output channels (axis 0 of the weight).
        ternary: {-1, 0, 1} codes (bits must be 2).
        symmetric: zero point 0 (required for integerization).
    """

    def __init__(self, bits: int, per_channel: bool, out_channels: int, ternary: bool = False,
                 symmetric: bool = True):
        super().__init__()
        self.bits, self.per_channel, self.ternary, self.symmetric = bits, per_channel, ternary, symmetric
        self.out_channels = out_channels
        self.step = nn.Parameter(torch.ones(out_channels if per_channel else ()))
        self.register_buffer("initialized", torch.tensor(False))

    def init_from(self, w: torch.Tensor, search: bool = True) -> None:
        """Set the learned scale to the MSE-optimal one for ``w`` (``search=False``: max|w|
        over the largest code, no search)."""
        scale = mse_weight_scale(w, self.bits, self.per_channel, steps=40 if search else 1)
        self.step.data.copy_(scale)
        self.initialized.fill_(True)

    def _scale(self) -> torch.Tensor:
        return self.step.abs().clamp_min(1e-8)

    def forward(self, w):
        if self.ternary:
            return ternary_quantize(w, self.per_channel)
        if not self.symmetric:
            return asymmetric_quantize(w, self.bits, self.per_channel)
        if not bool(self.initialized):
            self.init_from(w)
        s = self._scale()
        if self.per_channel:
            s = s.reshape((-1,) + (1,) * (w.dim() - 1))
        qmin, qmax = qrange(self.bits, True)
        return lsq_quantize(w, s, qmin, qmax)

    @torch.no_grad()
    def codes_and_scale(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer codes (int64, like ``w``) and float64 per-output-channel scales (C_out,)."""
        if not self.symmetric:
            raise ValueError("asymmetric weights cannot be integerized: use symmetric weights")
        if self.ternary:
            codes, scale = ternary_codes_and_scale(w, self.per_channel)
        else:
            if not bool(self.initialized):
                self.init_from(w)
            scale = self._scale().detach()
            codes = weight_codes(w, scale, self.bits)
        scale = scale.to(torch.float64).expand(self.out_channels).clone()
        return codes, scale

    def extra_repr(self):
        kind = "ternary" if self.ternary else f"bits={self.bits}"
        return f"{kind}, per_channel={self.per_channel}"
