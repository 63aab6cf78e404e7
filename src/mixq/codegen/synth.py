"""Synthetic, calibrated integer graphs for kernel tests and benchmarks (numpy, no training).

:class:`GraphBuilder` adds layers with random weight codes of a chosen dtype and picks each
layer's bias and ICN multipliers from the statistics of its accumulator on a random calibration
batch, so every output code range is actually used (neither all clamped nor all zero).
Accumulators stay inside int32 (checked), so the graphs are valid for every backend.

Dtypes are strings: activations 'u8', 'u4', 'u2', 's8', 's4', 's2'; weights 's8', 's4', 's2' or
't2' (ternary).
"""

from __future__ import annotations

import math
from typing import Optional, Union

import numpy as np

from mixq.ir.graph import (Add, AvgPool, Concat, Conv2d, FullyConnected, Graph, Pool2d, Requant,
                           TensorType)
from mixq.ir.interpret import conv2d_acc, run_node
from mixq.quant.integer import (INT32_MAX, Rescale, concat_format, icn_bias, qrange,
                                quantize_multipliers)

IntPair = Union[int, tuple[int, int]]


def parse_dtype(dtype: str) -> tuple[int, bool]:
    """'u4' -> (4, False); 's8' -> (8, True); 't2' (ternary) -> (2, True).

    Example:
        >>> parse_dtype("u4"), parse_dtype("t2")
        ((4, False), (2, True))
    """
    kind, bits = dtype[0], int(dtype[1:])
    if kind not in "ust" or bits not in (2, 4, 8) or (kind == "t" and bits != 2):
        raise ValueError(f"unknown dtype '{dtype}': use u8/u4/u2, s8/s4/s2 or t2")
    return bits, kind != "u"


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) of one axis (the extra pixel goes after).

    Example:
        >>> same_padding(8, 3, 2), same_padding(7, 3, 1), same_padding(5, 1, 2)
        ((0, 1), (1, 1), (0, 0))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pair(v: IntPair) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class GraphBuilder:
    """Build a small calibrated integer graph layer by layer.

    Args:
        shape: network input shape (H, W, C).
        dtype: network input dtype (usually 'u8').
        seed: seed of the weights and the calibration batch.
        batch: calibration batch size.
        name: graph name.
        negative_multipliers: also draw some negative ICN multipliers (allowed by the IR).

    Example:
        >>> b = GraphBuilder((6, 6, 3), seed=0)
        >>> y = b.conv(b.input, 8, kernel=3, stride=2, out="u4", weight="s4")
        >>> g = b.build(b.fc(b.avgpool(y), 10, out="s8"))
        >>> [str(n.kind) for n in g.nodes], g.tensor(y).shape
        (['conv', 'pool', 'fc'], (3, 3, 8))
    """

    def __init__(self, shape, dtype: str = "u8", *, seed: int = 0, batch: int = 8,
                 name: str = "synth", negative_multipliers: bool = True):
        self.rng = np.random.default_rng(seed)
        self.name = name
        self.negative_multipliers = negative_multipliers
        self._tensors: dict[str, TensorType] = {}
        self._nodes: list = []
        self._env: dict[str, np.ndarray] = {}
        bits, signed = parse_dtype(dtype)
        self.input = "x"
        self._tensors["x"] = TensorType(tuple(shape), bits, signed, 1.0 / 16)
        lo, hi = qrange(bits, signed)
        self._env["x"] = self.rng.integers(lo, hi + 1, size=(batch, *shape)).astype(np.int64)

    def tensor(self, name: str) -> TensorType:
        return self._tensors[name]

    def sample(self, name: str) -> np.ndarray:
        """Calibration values of a tensor: int64 (batch, *shape)."""
        return self._env[name]

    # -- layers -------------------------------------------------------------------------------

    def _conv_geometry(self, x: str, c_out: int, kernel: IntPair, stride: IntPair, padding,
                       groups: int):
        """(weight shape, stride, padding, groups) of a conv on ``x``; ``groups != 1`` means
        depthwise (groups = C_out = C_in); ``padding`` 'same' (TF), 'valid' or 4 numbers."""
        h, w, c_in = self._tensors[x].shape
        kh, kw = _pair(kernel)
        sh, sw = _pair(stride)
        if padding == "same":
            padding = same_padding(h, kh, sh) + same_padding(w, kw, sw)
        elif padding == "valid":
            padding = (0, 0, 0, 0)
        padding = tuple(int(p) for p in padding)
        if groups != 1:
            groups, c_out = c_in, c_in
        return (c_out, kh, kw, c_in // groups), (sh, sw), padding, groups

    def conv(self, x: str, c_out: int, kernel: IntPair = 3, stride: IntPair = 1,
             padding="same", weight: str = "s8", out: str = "u8", groups: int = 1,
             requant: Optional[Requant] = None, name: Optional[str] = None) -> str:
        """Conv2d (regular, or depthwise with ``groups = C_in``) + ICN; returns the output name.

        ``padding``: 'same' (TF), 'valid' or (top, bottom, left, right).
        """
        wshape, (sh, sw), padding, groups = self._conv_geometry(x, c_out, kernel, stride,
                                                                padding, groups)
        w_codes = self._weights(weight, wshape)
        acc = conv2d_acc(self._env[x], w_codes, (sh, sw), padding, groups)
        w_bits, _ = parse_dtype(weight)
        node = Conv2d(
            name=name or self._name("dw" if groups > 1 else "conv"),
            input=x, output=self._next_tensor(), weight=w_codes,
            requant=requant or self._calibrate(acc, w_codes, x, out),
            stride=(sh, sw), padding=padding, groups=groups, weight_bits=w_bits,
            ternary=weight == "t2",
        )
        return self._add_node(node, acc.shape[1:], out)

    def dw(self, x: str, kernel: IntPair = 3, stride: IntPair = 1, padding="same",
           weight: str = "s8", out: str = "u8", **kw) -> str:
        """Depthwise conv (one filter per channel)."""
        return self.conv(x, 0, kernel, stride, padding, weight, out, groups=-1, **kw)

    def pw(self, x: str, c_out: int, weight: str = "s8", out: str = "u8", **kw) -> str:
        """Pointwise 1x1 conv, stride 1."""
        return self.conv(x, c_out, 1, 1, "valid", weight, out, **kw)

    def fc(self, x: str, c_out: int, weight: str = "s8", out: str = "s8",
           requant: Optional[Requant] = None, name: Optional[str] = None) -> str:
        """Fully connected over the flattened (HWC) input; output shape (c_out,)."""
        flat = self._env[x].reshape(self._env[x].shape[0], -1)  # (N, H, W, C) -> (N, H*W*C)
        w_codes = self._weights(weight, (c_out, flat.shape[1]))
        acc = flat @ w_codes.astype(np.int64).T
        w_bits, _ = parse_dtype(weight)
        node = FullyConnected(
            name=name or self._name("fc"), input=x, output=self._next_tensor(), weight=w_codes,
            requant=requant or self._calibrate(acc, w_codes, x, out), weight_bits=w_bits,
            ternary=weight == "t2",
        )
        return self._add_node(node, (c_out,), out)

    def avgpool(self, x: str, kernel: Optional[IntPair] = None, stride: Optional[IntPair] = None,
                padding=(0, 0, 0, 0), count_include_pad: bool = True,
                name: Optional[str] = None) -> str:
        """Average pooling, same dtype: global (H, W, C) -> (1, 1, C) without ``kernel``, else
        windowed (``stride`` defaults to the kernel)."""
        t = self._tensors[x]
        if kernel is None:
            node = AvgPool(name=name or self._name("pool"), input=x, output=self._next_tensor())
            return self._add_node(node, (1, 1, t.shape[-1]),
                                  ("s" if t.signed else "u") + str(t.bits))
        return self._pool2d(x, kernel, stride, padding, False, count_include_pad, name)

    def maxpool(self, x: str, kernel: IntPair = 2, stride: Optional[IntPair] = None,
                padding=(0, 0, 0, 0), name: Optional[str] = None) -> str:
        """Windowed max pooling, same dtype (``stride`` defaults to the kernel)."""
        return self._pool2d(x, kernel, stride, padding, True, True, name)

    def add(self, a: str, b: str, out: str = "u8", name: Optional[str] = None) -> str:
        """Residual add of two same-shape tensors, multipliers calibrated to fill ``out``."""
        if self._tensors[a].shape != self._tensors[b].shape:
            raise ValueError(f"add of different shapes {self._tensors[a].shape}, "
                             f"{self._tensors[b].shape}")
        bits, signed = parse_dtype(out)
        lo, hi = qrange(bits, signed)
        va, vb = self._env[a].astype(np.float64), self._env[b].astype(np.float64)
        ra = 2 ** self.rng.uniform(-0.5, 0.5) / (va.std() + 1.0)
        rb = 2 ** self.rng.uniform(-0.5, 0.5) / (vb.std() + 1.0)
        if self.negative_multipliers and self.rng.random() < 0.2:
            rb = -rb
        # Scale so that the 95th percentile of |a * ra + b * rb| lands near the range's edge.
        scale = 0.9 * max(hi, 1) / (np.percentile(np.abs(va * ra + vb * rb), 95) + 1e-3)
        ra, rb = ra * scale, rb * scale
        shift = int(min(62, max(1, 30 - math.floor(math.log2(max(abs(ra), abs(rb)))))))
        node = Add(
            name=name or self._name("add"), input_a=a, input_b=b, output=self._next_tensor(),
            multiplier_a=int(round(ra * 2.0**shift)), multiplier_b=int(round(rb * 2.0**shift)),
            shift=shift, activation_min=lo, activation_max=hi,
        )
        return self._add_node(node, self._tensors[a].shape, out)

    def _pool2d(self, x: str, kernel: IntPair, stride: Optional[IntPair], padding,
                maximum: bool, count_include_pad: bool, name: Optional[str]) -> str:
        t = self._tensors[x]
        kh, kw = _pair(kernel)
        sh, sw = _pair(stride if stride is not None else (kh, kw))
        top, bottom, left, right = (int(p) for p in padding)
        node = Pool2d(name or self._name("maxpool" if maximum else "avgpool"), x,
                      self._next_tensor(), (kh, kw), (sh, sw), (top, bottom, left, right),
                      maximum, count_include_pad)
        h, w, c = t.shape
        shape = ((h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1, c)
        out = self._add_node(node, shape, ("s" if t.signed else "u") + str(t.bits))
        self._tensors[out] = TensorType(shape, t.bits, t.signed, t.scale)
        return out

    def concat(self, xs, out_bits: Optional[int] = None, name: Optional[str] = None) -> str:
        """Channel concat; the output format follows :func:`mixq.quant.integer.concat_format`
        (``out_bits`` defaults to the widest input)."""
        ts = [self._tensors[x] for x in xs]
        out_bits = out_bits or max(t.bits for t in ts)
        signed, scale = concat_format([(t.bits, t.signed, t.scale) for t in ts], out_bits)
        rescales = [Rescale.from_ratio(t.scale / scale) for t in ts]
        lo, hi = qrange(out_bits, signed)
        node = Concat(name or self._name("concat"), tuple(xs), self._next_tensor(),
                      tuple(r.multiplier for r in rescales), tuple(r.shift for r in rescales),
                      lo, hi)
        shape = ts[0].shape[:-1] + (sum(t.shape[-1] for t in ts),)
        y = self._add_node(node, shape, ("s" if signed else "u") + str(out_bits))
        self._tensors[y] = TensorType(shape, out_bits, signed, scale)
        return y

    def set_scale(self, x: str, scale: float) -> None:
        """Give tensor ``x`` another real scale (for concats of differently scaled inputs)."""
        t = self._tensors[x]
        self._tensors[x] = TensorType(t.shape, t.bits, t.signed, float(scale))

    def build(self, output: str, name: Optional[str] = None) -> Graph:
        """The graph with ``output`` as its (only) output."""
        return Graph(name or self.name, tuple(self._tensors.items()), tuple(self._nodes),
                     (self.input,), (output,))

    # -- internals ----------------------------------------------------------------------------

    def _name(self, kind: str) -> str:
        return f"{kind}{len(self._nodes)}"

    def _weights(self, dtype: str, shape) -> np.ndarray:
        bits, _ = parse_dtype(dtype)
        lo, hi = (-1, 1) if dtype == "t2" else qrange(bits, True)
        return self.rng.integers(lo, hi + 1, size=shape).astype(np.int8)

    def _calibrate(self, acc: np.ndarray, w_codes: np.ndarray, x: str, out: str) -> Requant:
        """Bias centring the accumulator and multipliers mapping ~4 std onto the output range."""
        bits, signed = parse_dtype(out)
        c = acc.shape[-1]
        flat = acc.reshape(-1, c).astype(np.float64)  # (N, ..., C) -> (N*..., C)
        std = flat.std(axis=0) + 1.0
        # Unsigned outputs (ReLU): shift the accumulator up so most codes stay above zero.
        centre = 0.75 if not signed else 0.0
        bias = -flat.mean(axis=0) + self.rng.normal(centre, 0.5, c) * std  # acc units
        bias = np.clip(bias, -(2**24), 2**24)
        t = self._tensors[x]
        x_max = max(abs(t.qmin), abs(t.qmax))
        # Largest |acc| of each output channel (one filter per output channel in every op).
        bound = np.abs(w_codes.astype(np.int64)).reshape(c, -1).sum(axis=1)
        if int((bound * x_max).max()) > INT32_MAX:
            raise ValueError("accumulator could leave int32: use fewer channels or smaller kernels")
        span = 2**bits
        real = span / (4.0 * std) * 2 ** self.rng.uniform(-1.0, 1.0, c)
        if self.negative_multipliers:
            real = np.where(self.rng.random(c) < 0.15, -real, real)
        multiplier, shift = quantize_multipliers(real)
        lo, hi = qrange(bits, signed)
        return Requant(bias=icn_bias(bias, multiplier, shift), multiplier=multiplier, shift=shift,
                       activation_min=lo, activation_max=hi)

    def _next_tensor(self) -> str:
        return f"t{len(self._tensors)}"

    def _add_node(self, node, shape, out: str) -> str:
        bits, signed = parse_dtype(out)
        name = node.output
        self._tensors[name] = TensorType(tuple(int(s) for s in shape), bits, signed, 1.0 / 16)
        self._nodes.append(node)
        self._env[name] = run_node(node, self._env)
        return name
