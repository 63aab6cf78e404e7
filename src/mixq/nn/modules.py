"""QAT layers. Each has a fake-quantized float ``forward`` and an integer-exact path.

The integer-exact path (``integer_forward``) works on :class:`Codes`: float64 NCHW tensors that
hold integer codes (exact: every accumulator here stays far below 2^53), applies exactly the
integer arithmetic of the deployed graph (:mod:`mixq.quant.integer`), and is compared bit for bit
with ``ir.interpret``. ``integer_params`` is the single source of the integer constants used by both
this path and ``ir.capture``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mixq.nn.layers import ConvBNReLU
from mixq.nn.quantizers import PACT, ActQuantizer, SignedQuantizer, WeightQuantizer
from mixq.quant.fake import ste
from mixq.quant.integer import (
    AddRequant,
    avgpool_divide,
    Requant,
    icn_bias,
    quantize_multipliers,
    requantize,
)
from mixq.quant.spec import LayerBits


class Codes(NamedTuple):
    """Integer activation in the integer-exact path: codes (float64 NCHW or (N, C)) and format."""

    codes: torch.Tensor
    scale: float
    bits: int
    signed: bool


def _act_quantizer(bits: int, relu: bool, clip_max: float | None = None) -> ActQuantizer:
    if relu:
        return PACT(bits, alpha=6.0 if clip_max is None else clip_max, max_alpha=clip_max)
    return SignedQuantizer(bits)


@dataclass(frozen=True, eq=False)
class IntegerLayer:
    """Integer constants of one QAT weight layer: the single source of the integer-exact path
    (``integer_forward``) and of :func:`mixq.ir.capture.integerize`.

    Attributes:
        weight: int64 codes, torch layout: OIHW (conv) or (C_out, C_in) in torch flatten order.
        requant: the ICN parameters (:class:`mixq.quant.integer.Requant`).
        out_scale, out_bits, out_signed: the output tensor's quantization.
        weight_bits, ternary: the weight format.
        pads: (top, bottom, left, right) zero padding (conv only).
        stride, groups: conv only.
    """

    weight: np.ndarray
    requant: Requant
    out_scale: float
    out_bits: int
    out_signed: bool
    weight_bits: int
    ternary: bool
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    stride: tuple[int, int] = (1, 1)
    groups: int = 1


def _icn(real_scale: np.ndarray, bias_real: np.ndarray, act: ActQuantizer) -> Requant:
    mult, shift = quantize_multipliers(real_scale)
    return Requant(icn_bias(bias_real, mult, shift), mult, shift, act.qmin, act.qmax)


def _apply_requant_channels_first(acc: torch.Tensor, rq: Requant) -> torch.Tensor:
    """Requantize an int64 (N, C, ...) accumulator with per-channel params (C,)."""
    moved = acc.movedim(1, -1)  # (N, C, H, W) -> (N, H, W, C)
    b, m, s = (torch.from_numpy(np.array(a, dtype=np.int64))
               for a in (rq.bias, rq.multiplier, rq.shift))
    return requantize(moved, b, m, s, rq.activation_min, rq.activation_max).movedim(-1, 1)


def _exact_int(t: torch.Tensor) -> torch.Tensor:
    return torch.round(t).to(torch.int64)


class QuantConv(nn.Module):
    """Conv + BN + activation quantizer of one layer, driven by its :class:`LayerBits`.

    BN is folded into the weights for 'PL+FB' (running statistics frozen during QAT), or kept and
    turned into ICN at integerization ('PL+ICN', 'PC+ICN').
    """

    def __init__(self, block: ConvBNReLU, bits: LayerBits):
        super().__init__()
        self.kernel_size, self.stride, self.padding = block.kernel_size, block.stride, block.padding
        self.relu = block.relu
        self.groups = block.conv.groups
        self.weight = nn.Parameter(block.conv.weight.detach().clone())
        self.bn = copy.deepcopy(block.bn)  # keeps a FixedAffine (a captured conv bias) fixed
        self.bits = bits
        self.wq = WeightQuantizer(bits.w_bits, bits.per_channel, self.weight.shape[0], bits.ternary)
        self.act = _act_quantizer(bits.out_bits, self.relu, getattr(block, "clip_max", None))

    pads = ConvBNReLU.pads

    def _folded(self):
        inv_std = torch.rsqrt(self.bn.running_var + self.bn.eps)
        gain = self.bn.weight * inv_std
        w = self.weight * gain.reshape(-1, 1, 1, 1)
        b = self.bn.bias - self.bn.running_mean * gain
        return w, b

    def effective_weight(self) -> torch.Tensor:
        """The float weight that is quantized (BN-folded for PL+FB)."""
        return self._folded()[0] if self.bits.fold_bn else self.weight

    def pre_activation(self, x):
        t, b, l, r = self.pads(x.shape[-2], x.shape[-1])
        x = F.pad(x, (l, r, t, b))
        if self.bits.fold_bn:
            w, bias = self._folded()
            return F.conv2d(x, self.wq(w), bias, self.stride, 0, 1, self.groups)
        return self.bn(F.conv2d(x, self.wq(self.weight), None, self.stride, 0, 1, self.groups))

    def forward(self, x):
        return self.act(self.pre_activation(x))

    @torch.no_grad()
    def integer_params(self, in_scale: float, in_hw: tuple[int, int]) -> IntegerLayer:
        """Integer constants of this layer for an input of scale ``in_scale`` and size ``in_hw``."""
        codes, w_scale = self.wq.codes_and_scale(self.effective_weight())
        acc_scale = in_scale * w_scale.numpy()  # real value of one accumulator unit, (C,)
        if self.bits.fold_bn:
            bias_real = self._folded()[1].double().numpy() / acc_scale
            real = acc_scale / self.act.scale
        else:
            # ICN (Rusci et al. 2020, eq. 5): y = gamma/sigma * (acc*s_acc - mu) + beta
            #   = (gamma*s_acc/sigma) * (acc + (beta*sigma/gamma - mu) / s_acc)
            bn = self.bn
            sigma = torch.sqrt(bn.running_var.double() + bn.eps).numpy()
            gamma = bn.weight.double().numpy()
            gamma = np.where(np.abs(gamma) < 1e-12, np.copysign(1e-12, gamma), gamma)
            beta, mu = bn.bias.double().numpy(), bn.running_mean.double().numpy()
            bias_real = (beta * sigma / gamma - mu) / acc_scale
            real = gamma * acc_scale / (sigma * self.act.scale)
        return IntegerLayer(codes.numpy(), _icn(real, bias_real, self.act), self.act.scale,
                            self.act.bits, self.act.signed, self.bits.w_bits, self.bits.ternary,
                            tuple(self.pads(*in_hw)), tuple(self.stride), self.groups)

    def integer_forward(self, x: Codes) -> Codes:
        p = self.integer_params(x.scale, tuple(x.codes.shape[-2:]))
        t, b, l, r = p.pads
        acc = F.conv2d(F.pad(x.codes, (l, r, t, b)), torch.from_numpy(p.weight).double(),
                       None, self.stride, 0, 1, self.groups)
        y = _apply_requant_channels_first(_exact_int(acc), p.requant)
        return Codes(y.double(), p.out_scale, p.out_bits, p.out_signed)


class QuantLinear(nn.Module):
    """Fully connected layer with quantized weights and a signed output quantizer (logits), or a
    PACT one after a ReLU."""

    def __init__(self, linear: nn.Linear, bits: LayerBits):
        super().__init__()
        self.weight = nn.Parameter(linear.weight.detach().clone())
        self.bias = nn.Parameter(linear.bias.detach().clone() if linear.bias is not None
                                 else torch.zeros(linear.out_features))
        self.bits = bits
        self.wq = WeightQuantizer(bits.w_bits, bits.per_channel, linear.out_features, bits.ternary)
        # a LinearReLU (captured Linear + ReLU) has an unsigned output, a plain Linear signed logits
        self.act = _act_quantizer(bits.out_bits, getattr(linear, "relu", False),
                                  getattr(linear, "clip_max", None))

    def effective_weight(self) -> torch.Tensor:
        return self.weight

    def forward(self, x):
        return self.act(F.linear(x, self.wq(self.weight), self.bias))

    @torch.no_grad()
    def integer_params(self, in_scale: float) -> IntegerLayer:
        """Integer constants: weight (int64 (C_out, C_in) codes, torch flatten order) + ICN."""
        codes, w_scale = self.wq.codes_and_scale(self.weight)
        acc_scale = in_scale * w_scale.numpy()
        rq = _icn(acc_scale / self.act.scale, self.bias.double().numpy() / acc_scale, self.act)
        return IntegerLayer(codes.numpy(), rq, self.act.scale, self.act.bits, self.act.signed,
                            self.bits.w_bits, self.bits.ternary)

    def integer_forward(self, x: Codes) -> Codes:
        p = self.integer_params(x.scale)
        acc = x.codes.reshape(x.codes.shape[0], -1) @ torch.from_numpy(p.weight).double().T
        y = _apply_requant_channels_first(_exact_int(acc), p.requant)
        return Codes(y.double(), p.out_scale, p.out_bits, p.out_signed)


class _ScaleFollower(nn.Module):
    """A layer whose output keeps its input's quantization; ``source`` is linked by prepare."""

    def link(self, source: ActQuantizer) -> None:
        self._source = [source]  # a list: not registered as a submodule

    @property
    def source(self) -> ActQuantizer:
        return self._source[0]


class QuantAvgPool(_ScaleFollower):
    """Global average pool; output re-quantized to the input's scale (round half up in the
    integer path: floor((sum + n/2) / n))."""

    def forward(self, x):
        y = x.mean(dim=(2, 3), keepdim=True)
        s = self.source.scale
        return ste(y, torch.clamp(torch.floor(y / s + 0.5), self.source.qmin, self.source.qmax) * s)

    def integer_forward(self, x: Codes) -> Codes:
        n = x.codes.shape[2] * x.codes.shape[3]
        total = _exact_int(x.codes.sum(dim=(2, 3), keepdim=True))
        return Codes(avgpool_divide(total, n).double(), x.scale, x.bits, x.signed)


class QuantFlatten(nn.Module):
    """Flatten (N, C, H, W) -> (N, C*H*W); codes and scale unchanged."""

    def forward(self, x):
        return torch.flatten(x, 1)

    def integer_forward(self, x: Codes) -> Codes:
        return x._replace(codes=torch.flatten(x.codes, 1))


class QuantAdd(nn.Module):
    """Residual add with its own output quantizer (PACT after a ReLU, else signed)."""

    def __init__(self, bits: int, relu: bool, clip_max: float | None = None):
        super().__init__()
        self.relu = relu
        self.act = _act_quantizer(bits, relu, clip_max)

    def forward(self, a, b):
        return self.act(a + b)

    def integer_rule(self, scale_a: float, scale_b: float) -> AddRequant:
        """The integer add rule for inputs of scales ``scale_a`` and ``scale_b``."""
        return AddRequant.from_ratios(scale_a / self.act.scale, scale_b / self.act.scale,
                                      self.act.qmin, self.act.qmax)

    def integer_forward(self, a: Codes, b: Codes) -> Codes:
        y = self.integer_rule(a.scale, b.scale).apply(_exact_int(a.codes), _exact_int(b.codes))
        return Codes(y.double(), self.act.scale, self.act.bits, self.act.signed)


def macs_of_conv(module: QuantConv, out_hw: tuple[int, int]) -> int:
    """Multiply-accumulates of a conv layer producing an output of size ``out_hw``."""
    c_out, c_in_g, kh, kw = module.weight.shape
    return int(c_out * c_in_g * kh * kw * math.prod(out_hw))
