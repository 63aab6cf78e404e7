"""Fake quantization with straight-through estimators (torch).

Conventions: codes have zero point 0 unless stated; ``real = code * scale``. Signed symmetric
b-bit weights use the full two's complement range [-2^(b-1), 2^(b-1) - 1]; ternary weights use
{-1, 0, 1}; activations after ReLU are unsigned [0, 2^b - 1] (PACT).
"""

from __future__ import annotations

import torch

from mixq.quant.integer import qrange

# Ternary Weight Networks (Li et al. 2016): threshold = 0.7 * mean|w|.
TWN_THRESHOLD = 0.7


class _STE(torch.autograd.Function):
    """Forward the quantized value exactly, pass the gradient straight through to ``x``."""

    @staticmethod
    def forward(ctx, x, q):
        return q

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Straight-through estimator: the value of ``q`` (exactly), the gradient of ``x``.

    ``x + (q - x).detach()`` is not exact in floating point (3.7 may come out as 3.6999998).

    Example:
        >>> x = torch.tensor([0.3], requires_grad=True)
        >>> y = ste(x, torch.round(x.detach()))
        >>> y.sum().backward(); y.tolist(), x.grad.tolist()
        ([0.0], [1.0])
    """
    return _STE.apply(x, q.detach())


class _PACT(torch.autograd.Function):
    """PACT (Choi et al. 2018): y = round(clamp(x, 0, alpha) / s) * s with s = alpha / (2^b - 1).

    Gradients: straight-through for x inside (0, alpha); d y / d alpha = 1 where x >= alpha.
    """

    @staticmethod
    def forward(ctx, x, alpha, levels: int):
        scale = (alpha / levels).reshape(1).to(x.dtype)
        zero = torch.zeros(1, dtype=torch.int32, device=x.device)
        ctx.save_for_backward(x, alpha)
        # One fused kernel: clamp(round(x / s), 0, levels) * s == PACT's clamp-then-quantize.
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, levels)

    @staticmethod
    def backward(ctx, grad):
        x, alpha = ctx.saved_tensors
        clipped = x >= alpha
        grad_x = grad * ((x > 0) & ~clipped)
        grad_alpha = (grad * clipped).sum().reshape(alpha.shape)
        return grad_x, grad_alpha, None


def pact_quantize(x: torch.Tensor, alpha: torch.Tensor, bits: int) -> torch.Tensor:
    """PACT fake quantization to unsigned ``bits``-bit codes with learned clip ``alpha``.

    Example:
        >>> y = pact_quantize(torch.tensor([-1.0, 0.26, 0.5, 3.0]), torch.tensor(1.0), 2)
        >>> [round(v, 4) for v in y.tolist()]
        [0.0, 0.3333, 0.6667, 1.0]
    """
    return _PACT.apply(x, alpha, (1 << bits) - 1)


class _LSQ(torch.autograd.Function):
    """Learned step size quantization (Esser et al. 2020) with straight-through rounding."""

    @staticmethod
    def forward(ctx, x, scale, qmin: int, qmax: int, grad_scale: float):
        xs = x / scale
        q = torch.clamp(torch.round(xs), qmin, qmax)
        ctx.save_for_backward(xs, q)
        ctx.grad_scale = grad_scale
        ctx.scale_shape = scale.shape
        ctx.qmin, ctx.qmax = qmin, qmax
        return q * scale

    @staticmethod
    def backward(ctx, grad):
        xs, q = ctx.saved_tensors
        inside = (xs >= ctx.qmin) & (xs <= ctx.qmax)
        grad_x = grad * inside
        grad_s = grad * torch.where(inside, q - xs, q) * ctx.grad_scale
        # Reduce to the scale's (broadcast) shape.
        dims = [d for d, n in enumerate(ctx.scale_shape) if n == 1 and grad_s.shape[d] != 1]
        extra = grad_s.dim() - len(ctx.scale_shape)
        grad_s = grad_s.sum(dim=tuple(range(extra)) + tuple(d + extra for d in dims), keepdim=True)
        return grad_x, grad_s.reshape(ctx.scale_shape), None, None, None


def lsq_quantize(x: torch.Tensor, scale: torch.Tensor, qmin: int, qmax: int) -> torch.Tensor:
    """Fake-quantize ``x`` to codes in [qmin, qmax] with a learned ``scale`` (broadcastable).

    Example:
        >>> lsq_quantize(torch.tensor([0.3, -5.0, 0.7]), torch.tensor(0.5), -2, 1).tolist()
        [0.5, -1.0, 0.5]
    """
    per_scale = max(1, x.numel() // max(1, scale.numel()))
    grad_scale = 1.0 / float(per_scale * max(qmax, 1)) ** 0.5
    return _LSQ.apply(x, scale, qmin, qmax, grad_scale)


def _channel_view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(C,) -> (C, 1, 1, ...) to broadcast over a weight of shape (C, ...)."""
    return v.reshape((-1,) + (1,) * (like.dim() - 1))


def weight_codes(w: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """Integer codes of symmetric signed weights: clamp(round(w / s), -2^(b-1), 2^(b-1) - 1).

    Args:
        w: float weights (C_out, ...).
        scale: positive scale, scalar or (C_out,) per channel.
        bits: 8, 4 or 2.

    Returns:
        int64 codes, same shape as ``w``.

    Example:
        >>> weight_codes(torch.tensor([[0.9, -0.2, -3.0]]), torch.tensor([0.25]), 4).tolist()
        [[4, -1, -8]]
    """
    qmin, qmax = qrange(bits, True)
    s = _channel_view(scale, w) if scale.dim() == 1 else scale
    return torch.clamp(torch.round(w / s), qmin, qmax).to(torch.int64)


def mse_weight_scale(w: torch.Tensor, bits: int, per_channel: bool, steps: int = 40) -> torch.Tensor:
    """Scale minimising the quantization MSE of ``w`` over clipping ratios of max|w|.

    Returns a (C_out,) tensor when ``per_channel`` else a scalar tensor.

    Example:
        >>> w = torch.linspace(-1, 1, 101).reshape(1, -1)
        >>> s = mse_weight_scale(w, 8, per_channel=True)
        >>> bool((s > 0.007) & (s < 0.0081))
        True
    """
    qmin, qmax = qrange(bits, True)
    w = w.detach()
    flat = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    maxabs = flat.abs().amax(dim=1).clamp_min(1e-8)
    best_err = torch.full_like(maxabs, float("inf"))
    best = maxabs / (-qmin)
    for i in range(steps):
        ratio = 1.0 - 0.9 * i / steps  # 1.0 down to 0.1
        s = maxabs * ratio / (-qmin) if bits > 2 else maxabs * ratio / qmax
        q = torch.clamp(torch.round(flat / s[:, None]), qmin, qmax) * s[:, None]
        err = ((q - flat) ** 2).sum(dim=1)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best = torch.where(better, s, best)
    return best if per_channel else best.reshape(())


def ternary_codes_and_scale(w: torch.Tensor, per_channel: bool, keep: torch.Tensor | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """TWN ternarization: codes in {-1, 0, 1} and the scale alpha = mean |w| above threshold.

    Args:
        w: float weights (C_out, ...).
        per_channel: one threshold and scale per output channel, else per layer.
        keep: optional bool mask like ``w``: the threshold and alpha are fitted on these
            weights only (the rest, e.g. sparse outliers, still get codes).

    Returns:
        (codes int64 like ``w``, scale (C_out,) or scalar).

    Example:
        >>> c, a = ternary_codes_and_scale(torch.tensor([[1.0, -0.1, -0.8, 0.3]]), True)
        >>> c.tolist(), [round(v, 3) for v in a.tolist()]
        ([[1, 0, -1, 0]], [0.9])
    """
    w = w.detach()
    flat = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    a = flat.abs()
    if keep is None:
        delta = TWN_THRESHOLD * a.mean(dim=1, keepdim=True)
        mask = fit = a > delta
    else:
        keep = keep.reshape(flat.shape)
        delta = TWN_THRESHOLD * (a * keep).sum(1, keepdim=True) / keep.sum(1, keepdim=True).clamp_min(1)
        mask = a > delta
        fit = mask & keep
    alpha = (a * fit).sum(dim=1) / fit.sum(dim=1).clamp_min(1)
    alpha = alpha.clamp_min(1e-8)
    codes = (torch.sign(flat) * mask).to(torch.int64).reshape(w.shape)
    return codes, (alpha if per_channel else alpha.reshape(()))


def ternary_quantize(w: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """TWN fake quantization alpha * T with a straight-through gradient to ``w``.

    Example:
        >>> ternary_quantize(torch.tensor([[1.0, -0.1, -0.8, 0.3]]), True).tolist()
        [[0.8999999761581421, 0.0, -0.8999999761581421, 0.0]]
    """
    codes, alpha = ternary_codes_and_scale(w, per_channel)
    a = _channel_view(alpha, w) if alpha.dim() == 1 else alpha
    return ste(w, codes.to(w.dtype) * a)


def asymmetric_quantize(w: torch.Tensor, bits: int, per_channel: bool) -> torch.Tensor:
    """Asymmetric (min/max, unsigned codes with a zero point) fake quantization, STE gradient.

    Used for experiments; integerization needs symmetric weights (zero point 0).

    Example:
        >>> asymmetric_quantize(torch.tensor([[0.0, 1.0, 3.0]]), 2, True).tolist()
        [[0.0, 1.0, 3.0]]
    """
    flat = w.detach().reshape(w.shape[0], -1) if per_channel else w.detach().reshape(1, -1)
    lo = flat.amin(dim=1).clamp_max(0.0)
    hi = flat.amax(dim=1).clamp_min(0.0)
    levels = (1 << bits) - 1
    scale = ((hi - lo) / levels).clamp_min(1e-8)
    zero = torch.round(-lo / scale)
    if per_channel:
        scale, zero = _channel_view(scale, w), _channel_view(zero, w)
    return ste(w, (torch.clamp(torch.round(w / scale) + zero, 0, levels) - zero) * scale)
