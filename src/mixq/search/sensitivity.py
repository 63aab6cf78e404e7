"""Per-layer sensitivity to quantization: a second-order estimate of the loss increase.

HAWQ-V3 (Yao et al., ICML 2021, Sec. 3.2) ranks bit choices by the loss perturbation
``Omega_i(b) = Tr(H_i) / n_i * ||Q_b(W_i) - W_i||^2`` (the Hessian trace of layer i's weights,
estimated with Hutchinson's method, times the squared weight quantization error). mixq uses the
same second-order proxy for both tensors a layer's precision touches:

* weights: ``Omega_w(i, b) = 1/2 * Tr(H_i) / n_i * ||Q_b(W_i) - W_i||^2`` with the trace from
  Hutchinson probes (``estimator='hutchinson'``, HAWQ-V3), or
  ``1/2 * sum_j F_jj * (Q_b(W_i) - W_i)_j^2`` with the empirical Fisher diagonal
  (``estimator='fisher'``, per-sample squared gradients);
* output activations (quantized by PACT to ``b`` bits, clip at the 99.9th percentile as in
  :meth:`mixq.nn.quantizers.PACT.calibrate`): ``Omega_a(i, b) = 1/2 * mean_s sum_j
  g_sj^2 * (Q_b(a_s) - a_s)_j^2``, the empirical-Fisher (Gauss-Newton) weighting of the
  activation error, where ``g_s`` is the gradient of sample s's loss w.r.t. its activation.

Both are in loss units (nats per sample), so the allocator can add them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mixq.errors import MixqError
from mixq.nn.modes import eval_mode
from mixq.quant.fake import mse_weight_scale, weight_codes
from mixq.quant.integer import qrange
from mixq.quant.kinds import LayerKind

BITS = (8, 4, 2)
ESTIMATORS = ("hutchinson", "fisher")


@dataclass(frozen=True)
class LayerSensitivity:
    """Loss-increase estimates of one weight layer for each bit choice.

    Attributes:
        name: layer name (as in :func:`mixq.models.weight_layers`).
        kind: CONV, DW, PW or FC.
        weight_cost: bits -> estimated loss increase from quantizing the weights.
        act_cost: bits -> estimated loss increase from quantizing the layer's output.
        trace: the weight Hessian trace per weight (hutchinson) or the mean Fisher diagonal.
    """

    name: str
    kind: LayerKind
    weight_cost: dict
    act_cost: dict
    trace: float

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": str(self.kind), "trace": self.trace,
                "weight_cost": {str(k): v for k, v in self.weight_cost.items()},
                "act_cost": {str(k): v for k, v in self.act_cost.items()}}


def _weight(module: nn.Module) -> torch.Tensor:
    return module.weight if isinstance(module, nn.Linear) else module.conv.weight


def quantized_weight(w: torch.Tensor, bits: int, per_channel: bool) -> torch.Tensor:
    """Symmetric uniform weight quantization with the MSE-optimal scale, dequantized.

    Example:
        >>> w = torch.tensor([[0.5, -1.0, 0.25, 0.0]])
        >>> quantized_weight(w, 8, True).sub(w).abs().max().item() < 0.01
        True
    """
    w = w.detach()
    scale = mse_weight_scale(w, bits, per_channel)
    s = scale.reshape((-1,) + (1,) * (w.dim() - 1)) if scale.dim() == 1 else scale
    return weight_codes(w, scale, bits).to(w.dtype) * s


def quantized_activation(a: torch.Tensor, bits: int, signed: bool) -> torch.Tensor:
    """PACT-style activation quantization (clip at the 99.9th percentile of |a|), dequantized.

    Example:
        >>> a = torch.linspace(0, 1, 1001)
        >>> (quantized_activation(a, 2, False) - a).abs().max().item() < 0.17
        True
    """
    a = a.detach()
    flat = a.flatten()[:200_000].abs().float()
    alpha = max(float(torch.quantile(flat, 0.999)), 1e-6)
    qmin, qmax = qrange(bits, signed)
    s = alpha / (qmax if signed else (1 << bits) - 1)
    return torch.clamp(torch.round(a / s), qmin, qmax) * s


def _layers(model: nn.Module, input_shape):
    from mixq.models.trace import trace_weight_layers

    return trace_weight_layers(model, input_shape)


def estimate_sensitivity(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                         granularity: str = "per-channel", estimator: str = "hutchinson",
                         probes: int = 8, batch_size: int = 128, bits=BITS,
                         seed: int = 0) -> tuple[LayerSensitivity, ...]:
    """Per-layer weight and activation sensitivities of a float model on samples (x, y).

    Args:
        model: a trained float network of ConvBNReLU / Linear weight layers (eval mode used;
            its training flag and parameters are left as they were).
        x: float32 NCHW inputs in [0, 1]; y: int64 labels.
        granularity: 'per-channel' or 'per-layer' weight scales for the quantization error.
        estimator: 'hutchinson' (HAWQ-V3 Hessian trace) or 'fisher' (empirical Fisher
            diagonal) for the weights; activations always use the Fisher weighting.
        probes: Rademacher probes per batch of the Hutchinson estimate.
        batch_size: samples per backward pass.
        bits: the bit choices to cost.
        seed: seeds the probes.

    Returns:
        one :class:`LayerSensitivity` per weight layer, in execution order.

    Raises:
        MixqError: bad estimator or empty data.

    Example:
        >>> from mixq.models import get_model
        >>> m = get_model("demo_net", width=0.25)
        >>> s = estimate_sensitivity(m, torch.rand(8, 1, 16, 16), torch.arange(8) % 10,
        ...                          probes=1)
        >>> [l.name for l in s][:3], s[0].weight_cost[2] >= s[0].weight_cost[8] >= 0
        (['conv0', 'dw1', 'pw1'], True)
    """
    if estimator not in ESTIMATORS:
        raise MixqError(f"estimator '{estimator}' is not one of {ESTIMATORS}")
    if len(x) == 0 or len(x) != len(y):
        raise MixqError("sensitivity needs a non-empty batch of inputs with one label each")
    calls = _layers(model, tuple(x.shape[1:]))
    per_channel = granularity == "per-channel"
    modules = [c.module for c in calls]
    weights = [_weight(m) for m in modules]
    gen = torch.Generator().manual_seed(seed)
    trace = [0.0] * len(calls)
    fisher_w = [torch.zeros_like(w) for w in weights]
    act_cost = [{b: 0.0 for b in bits} for _ in calls]
    outputs: dict[int, torch.Tensor] = {}

    def keep(i):
        def hook(_m, _inp, out):
            out.retain_grad()
            outputs[i] = out
        return hook

    handles = [m.register_forward_hook(keep(i)) for i, m in enumerate(modules)]
    with eval_mode(model):
        try:
            for start in range(0, len(x), batch_size):
                xb, yb = x[start:start + batch_size], y[start:start + batch_size]
                n = len(xb)
                loss = nn.functional.cross_entropy(model(xb), yb, reduction="sum")
                if estimator == "hutchinson":
                    grads = torch.autograd.grad(loss / n, weights, create_graph=True,
                                                retain_graph=True)
                    for _ in range(probes):
                        vs = [torch.randint(0, 2, w.shape, generator=gen).to(w.dtype) * 2 - 1
                              for w in weights]
                        hvs = torch.autograd.grad(grads, weights, grad_outputs=vs,
                                                  retain_graph=True)
                        for i, (v, hv) in enumerate(zip(vs, hvs)):
                            trace[i] += float((v * hv).sum()) * n / probes
                loss.backward(retain_graph=estimator == "fisher")
                for i, call in enumerate(calls):
                    a, g = outputs[i].detach(), outputs[i].grad.detach()
                    signed = not getattr(call.module, "relu", False)
                    for b in bits:
                        err = (quantized_activation(a, b, signed) - a) ** 2
                        act_cost[i][b] += 0.5 * float((g * g * err).sum())
                if estimator == "fisher":
                    for s in range(n):  # per-sample gradients: the empirical Fisher diagonal
                        model.zero_grad(set_to_none=True)
                        li = nn.functional.cross_entropy(model(xb[s:s + 1]), yb[s:s + 1])
                        gs = torch.autograd.grad(li, weights)
                        for i, gw in enumerate(gs):
                            fisher_w[i] += gw.detach() ** 2
                model.zero_grad(set_to_none=True)
        finally:
            for h in handles:
                h.remove()
            model.zero_grad(set_to_none=True)
    out = []
    total = len(x)
    for i, (call, w) in enumerate(zip(calls, weights)):
        w_cost = {}
        for b in bits:
            err = (quantized_weight(w, b, per_channel) - w.detach()) ** 2
            if estimator == "hutchinson":
                tr = max(trace[i] / total, 0.0) / w.numel()
                w_cost[b] = 0.5 * tr * float(err.sum())
            else:
                w_cost[b] = 0.5 * float((fisher_w[i] / total * err).sum())
        level = (max(trace[i] / total, 0.0) / w.numel() if estimator == "hutchinson"
                 else float(fisher_w[i].mean()) / total)
        out.append(LayerSensitivity(call.name, call.kind, w_cost,
                                    {b: v / total for b, v in act_cost[i].items()}, level))
    return tuple(out)


__all__ = ["BITS", "ESTIMATORS", "LayerSensitivity", "estimate_sensitivity",
           "quantized_activation", "quantized_weight"]
