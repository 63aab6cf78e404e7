"""QAT layers without weights that move codes around: windowed pooling and channel concat.

Like :mod:`mixq.nn.modules`, each has a fake-quantized float ``forward`` and an integer-exact
``integer_forward`` on :class:`~mixq.nn.modules.Codes` that applies exactly the integer rule of
the deployed graph (:func:`mixq.quant.integer.avgpool_divide`, :class:`~mixq.quant.integer.Rescale`
and :func:`~mixq.quant.integer.concat_format`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mixq.nn.layers import Pool2d
from mixq.nn.modules import Codes, _exact_int, _ScaleFollower
from mixq.nn.quantizers import ActQuantizer
from mixq.quant.fake import ste
from mixq.quant.integer import Rescale, avgpool_divide, concat_format, qrange


class QuantPool2d(_ScaleFollower):
    """Windowed max / average pooling; output codes keep the input's quantization (average:
    re-quantized to the input's scale, round half up as :func:`avgpool_divide`)."""

    def __init__(self, block: Pool2d):
        super().__init__()
        self.kernel_size, self.stride, self.padding = block.kernel_size, block.stride, block.padding
        self.maximum, self.count_include_pad = block.maximum, block.count_include_pad
        self.float_pool = block

    def forward(self, x):
        y = self.float_pool(x)
        if self.maximum:
            return y  # the max of on-grid values is on the grid
        s = self.source.scale
        return ste(y, torch.clamp(torch.floor(y / s + 0.5), self.source.qmin, self.source.qmax) * s)

    def _padded(self, x: torch.Tensor, fill: float) -> torch.Tensor:
        t, b, l, r = self.padding
        return F.pad(x, (l, r, t, b), value=fill)

    def integer_forward(self, x: Codes) -> Codes:
        if self.maximum:
            y = F.max_pool2d(self._padded(x.codes, float("-inf")), self.kernel_size,
                             self.stride)
            return x._replace(codes=y)
        # sums over the windows (divisor 1), int64-exact in float64
        total = F.avg_pool2d(self._padded(x.codes, 0.0), self.kernel_size, self.stride,
                             divisor_override=1)
        if self.count_include_pad:
            count = self.kernel_size[0] * self.kernel_size[1]
        else:
            ones = torch.ones((1, 1) + tuple(x.codes.shape[2:]), dtype=x.codes.dtype)
            count = _exact_int(F.avg_pool2d(self._padded(ones, 0.0), self.kernel_size,
                                            self.stride, divisor_override=1))
        return x._replace(codes=avgpool_divide(_exact_int(total), count).double())


class ConcatQuantizer(ActQuantizer):
    """The output quantization of a concat: ``bits`` wide, signed and scaled as
    :func:`concat_format` says from its inputs' quantizers (no parameters of its own)."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = bits
        self._sources: list[ActQuantizer] = []

    def link(self, sources) -> None:
        self._sources = list(sources)  # a plain list: not registered as submodules

    def _format(self) -> tuple[bool, float]:
        return concat_format([(q.bits, q.signed, q.scale) for q in self._sources], self.bits)

    @property
    def signed(self) -> bool:
        return self._format()[0]

    @property
    def scale(self) -> float:
        return self._format()[1]


class QuantConcat(nn.Module):
    """Concat along channels; every input rescaled to the common scale of :func:`concat_format`
    (the identity when they all share one format)."""

    def __init__(self, bits: int):
        super().__init__()
        self.act = ConcatQuantizer(bits)

    def link(self, sources) -> None:
        self.act.link(sources)

    def forward(self, *xs):
        y = torch.cat(xs, 1)
        s, (lo, hi) = self.act.scale, qrange(self.act.bits, self.act.signed)
        return ste(y, torch.clamp(torch.floor(y / s + 0.5), lo, hi) * s)

    def rescales(self, xs) -> tuple[tuple[Rescale, ...], bool, float]:
        """(one :class:`Rescale` per input, output signed, output scale) for inputs ``xs``
        (anything with ``bits``, ``signed``, ``scale``)."""
        signed, scale = concat_format([(x.bits, x.signed, x.scale) for x in xs], self.act.bits)
        return tuple(Rescale.from_ratio(x.scale / scale) for x in xs), signed, scale

    def integer_forward(self, *xs: Codes) -> Codes:
        rescales, signed, scale = self.rescales(xs)
        lo, hi = qrange(self.act.bits, signed)
        y = torch.cat([r.apply(_exact_int(x.codes), lo, hi) for r, x in zip(rescales, xs)], 1)
        return Codes(y.double(), scale, self.act.bits, signed)
