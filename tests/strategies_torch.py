"""Hypothesis strategies for random *standard PyTorch* networks (the capture path's inputs).

``torch_net_specs`` draws plain data (a list of branches, each a list of op tuples);
:class:`RandomNet` turns a spec into an ``nn.Module`` written the way users write models:
``nn.Conv2d`` (odd and non-square kernels, stride 2, symmetric or ``F.pad`` asymmetric padding,
bias or not, depthwise), ``nn.BatchNorm2d``, ReLU / ReLU6 / Hardtanh / ``clamp`` or no activation
(signed outputs), ``F.max_pool2d`` / ``nn.AvgPool2d`` (padding, ``ceil_mode``,
``count_include_pad``), ``x + y`` (signed or unsigned inputs, with or without a ReLU) and
``torch.cat`` along channels. Every branch ends in ``flatten`` + ``nn.Linear``; the branches'
logits are concatenated, so one model (one build) checks several random graphs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from torch import nn

KERNELS = (1, 2, 3, 5, (1, 3), (3, 1), (3, 2), (2, 3))
ACTS = ("relu", "relu6", "hardtanh", "clamp", "none")


@st.composite
def conv_op(draw):
    """('conv', c_out, kernel, stride, padding, bias, bn, act, depthwise)."""
    k = draw(st.sampled_from(KERNELS))
    kh, kw = (k, k) if isinstance(k, int) else k
    pad = draw(st.one_of(st.just(min(kh, kw) // 2),
                         st.tuples(*[st.integers(0, max(0, n - 1)) for n in (kh, kh, kw, kw)])))
    return ("conv", draw(st.integers(2, 6)), k, draw(st.sampled_from((1, 2))), pad,
            draw(st.booleans()), draw(st.booleans()), draw(st.sampled_from(ACTS)),
            draw(st.booleans()))


@st.composite
def pool_op(draw):
    """('maxpool' | 'avgpool', kernel, stride, padding, ceil_mode / count_include_pad)."""
    k = draw(st.sampled_from((2, 3, (2, 3), (3, 1))))
    kh, kw = (k, k) if isinstance(k, int) else k
    pad = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    return (draw(st.sampled_from(("maxpool", "avgpool"))), k, draw(st.sampled_from((1, 2))),
            pad, draw(st.booleans()))


def merge_op():
    """('add' | 'cat', which earlier tensor (a fraction of the way back), act of an add)."""
    return st.tuples(st.sampled_from(("add", "cat")), st.floats(0, 1),
                     st.sampled_from(("relu", "relu6", "none")))


def torch_net_specs(max_branches: int = 3, max_ops: int = 5):
    """A list of branches, each a list of op tuples (see the module docstring)."""
    op = st.one_of(conv_op(), conv_op(), pool_op(), merge_op())
    return st.lists(st.lists(op, min_size=1, max_size=max_ops), min_size=1,
                    max_size=max_branches)


def _activation(x, act: str):
    if act == "relu":
        return F.relu(x)
    if act == "relu6":
        return F.relu6(x)
    if act == "hardtanh":
        return F.hardtanh(x, 0.0, 3.0)
    if act == "clamp":
        return torch.clamp(x, 0, 4.0)
    return x


def _out(size: int, k: int, s: int, before: int, after: int) -> int:
    return (size + before + after - k) // s + 1


class RandomNet(nn.Module):
    """The standard-PyTorch model of a :func:`torch_net_specs` spec on inputs (N, 3, H, W).

    Ops that would not fit (a window larger than the map) are reduced to stride 1 and 'same'
    padding; merges whose partner has another spatial size use a 1x1 projection of the current
    tensor instead (a residual add of a signed input when the projection has no activation).
    """

    def __init__(self, spec, in_shape=(3, 11, 9), classes: int = 4, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.plans: list[list[tuple]] = []
        self.layers = nn.ModuleDict()
        self.heads = nn.ModuleList()
        for b, branch in enumerate(spec):
            shapes = [tuple(in_shape)]  # (C, H, W) of every tensor of the branch
            plan = []
            for i, op in enumerate(branch):
                step, shape = self._plan(f"b{b}_{i}", op, shapes)
                plan.append(step)
                shapes.append(shape)
            self.plans.append(plan)
            c, h, w = shapes[-1]
            self.heads.append(nn.Linear(c * h * w, classes))

    def _conv(self, name, c_in, c_out, k, stride, pad, bias, bn, depthwise, shape):
        kh, kw = (k, k) if isinstance(k, int) else k
        pads = (pad, pad, pad, pad) if isinstance(pad, int) else tuple(pad)
        _, h, w = shape
        if _out(h, kh, stride, pads[0], pads[1]) < 2 or _out(w, kw, stride, pads[2], pads[3]) < 2:
            stride, pads = 1, (kh // 2, (kh - 1) // 2, kw // 2, (kw - 1) // 2)
        c_out = c_in if depthwise else c_out
        symmetric = pads[0] == pads[1] and pads[2] == pads[3]
        conv = nn.Conv2d(c_in, c_out, (kh, kw), stride, (pads[0], pads[2]) if symmetric else 0,
                         groups=c_in if depthwise else 1, bias=bias)
        self.layers[name] = conv
        if bn:
            norm = nn.BatchNorm2d(c_out)
            with torch.no_grad():
                norm.running_mean.uniform_(-0.5, 0.5)
                norm.running_var.uniform_(0.5, 2.0)
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.3, 0.3)
            self.layers[name + "_bn"] = norm
        out = (c_out, _out(h, kh, stride, pads[0], pads[1]), _out(w, kw, stride, pads[2], pads[3]))
        return (None if symmetric else (pads[2], pads[3], pads[0], pads[1])), out

    def _plan(self, name, op, shapes):
        kind, shape = op[0], shapes[-1]
        c, h, w = shape
        if kind == "conv":
            _, c_out, k, stride, pad, bias, bn, act, dw = op
            fpad, out = self._conv(name, c, c_out, k, stride, pad, bias, bn, dw, shape)
            return ("conv", name, fpad, bn, act), out
        if kind in ("maxpool", "avgpool"):
            _, k, stride, pad, flag = op
            kh, kw = (k, k) if isinstance(k, int) else k
            if kh > h + 2 * pad[0] or kw > w + 2 * pad[1]:
                kh, kw, pad = 1, 1, (0, 0)
            ceil = kind == "maxpool" and flag
            pool = (nn.MaxPool2d((kh, kw), stride, pad, ceil_mode=ceil) if kind == "maxpool"
                    else nn.AvgPool2d((kh, kw), stride, pad, count_include_pad=flag))
            out = pool(torch.zeros(1, *shape)).shape[1:]
            if min(out[1:]) < 1:
                pool = nn.MaxPool2d(1, 1)
                out = shape
            self.layers[name] = pool
            return ("pool", name), tuple(out)
        _, back, act = op
        current = len(shapes) - 1  # merge with an earlier tensor j < current
        j = min(current - 1, int(back * current))
        partner = shapes[j] if j >= 0 else None
        fits = j >= 0 and partner[1:] == shape[1:] and (kind == "cat" or partner[0] == c)
        if not fits:
            # a 1x1 projection of the current tensor: signed (no activation) for an add
            self._conv(name + "_proj", c, c if kind == "add" else 3, 1, 1, 0, True, False,
                       False, shape)
            j, partner = None, (c if kind == "add" else 3, h, w)
        out = (c + partner[0], h, w) if kind == "cat" else shape
        return (kind, name, j, act), out

    def forward(self, x):
        logits = []
        for plan, head in zip(self.plans, self.heads):
            env = [x]
            for step in plan:
                env.append(self._run(step, env))
            logits.append(head(torch.flatten(env[-1], 1)))
        return torch.cat(logits, dim=1)

    def _run(self, step, env):
        kind, name = step[0], step[1]
        y = env[-1]
        if kind == "conv":
            _, _, fpad, bn, act = step
            if fpad is not None:
                y = F.pad(y, fpad)
            y = self.layers[name](y)
            if bn:
                y = self.layers[name + "_bn"](y)
            return _activation(y, act)
        if kind == "pool":
            return self.layers[name](y)
        _, _, j, act = step
        other = self.layers[name + "_proj"](y) if j is None else env[j]
        if kind == "cat":
            return torch.cat([y, other], dim=1)
        return _activation(y + other, act)
