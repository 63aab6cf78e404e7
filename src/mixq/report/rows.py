"""The rows of ``report.json``: typed, frozen; turned into JSON objects only when written.

A row is built once per model by the demo pipeline (:mod:`mixq.pipeline`) and extended with
:func:`dataclasses.replace` (never mutated in place). :meth:`ModelRow.to_dict` gives the stable
field names of ``report.json`` that :mod:`mixq.report.render` and :mod:`mixq.report.pareto` read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from mixq.quant.spec import BitAllocation


@dataclass(frozen=True)
class ModelRow:
    """One model of the demo report.

    Attributes:
        name: 'float', 'int8', 'int8-fit', 'mixed' or a reference ('w2a2').
        top1_float: top-1 of the float model the row's model starts from.
        top1_fakequant, top1_integer: QAT (fake-quantized) and integer-graph top-1; None for
            the float model.
        flash_bytes, ram_peak_bytes: the memory model's footprints.
        macs: multiply-accumulates of one inference.
        fits: both footprints within the budget.
        integer_mismatches: test samples whose integer graph output differs from the QAT
            integer-exact mode; None for the float model.
        allocation: the bit allocation (None for the float model).
        width: demo_net width multiplier, recorded for the 'int8-fit' model only.
        deployment: figures of the emulated deployment (field name -> value), empty if none.
        graph: the integer graph (kept for deployment, never written).
    """

    name: str
    top1_float: float | None
    top1_fakequant: float | None
    top1_integer: float | None
    flash_bytes: int
    ram_peak_bytes: int
    macs: int
    fits: bool
    integer_mismatches: int | None
    allocation: BitAllocation | None = None
    width: float | None = None
    deployment: Mapping[str, Any] = field(default_factory=dict)
    graph: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "deployment", MappingProxyType(dict(self.deployment)))

    def to_dict(self, with_bits: bool = True) -> dict:
        """The ``report.json`` object of this row (the graph is never written).

        Example:
            >>> ModelRow("float", 0.9, None, None, 100, 50, 1000, True, None).to_dict()["fits"]
            True
        """
        d = {"name": self.name, "top1_float": self.top1_float,
             "top1_fakequant": self.top1_fakequant, "top1_integer": self.top1_integer,
             "flash_bytes": self.flash_bytes, "ram_peak_bytes": self.ram_peak_bytes,
             "macs": self.macs, "fits": self.fits, "integer_mismatches": self.integer_mismatches}
        if with_bits and self.allocation is not None:
            d["bits"] = [{"name": l.name, "w_bits": l.w_bits, "in_bits": l.in_bits,
                          "out_bits": l.out_bits} for l in self.allocation.layers]
        if self.width is not None:
            d["width"] = self.width
        d.update(self.deployment)
        return d
