"""The rows of ``report.json``: typed, frozen; turned into JSON objects only when written.

A row is built once per model by the demo pipeline (:mod:`mixq.pipeline`) and extended with
:func:`dataclasses.replace` (never mutated in place). :meth:`ModelRow.to_dict` gives the stable
field names of ``report.json`` that :mod:`mixq.report.render` and :mod:`mixq.report.pareto` read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

from mixq.deploy.fit import LinkedFit
from mixq.quant.spec import BitAllocation
from mixq.search.memory import MemoryBudget


@dataclass(frozen=True)
class ModelRow:
    """One model of the demo report.

    Attributes:
        name: 'float', 'int8', 'int8-fit', 'mixed' or a reference ('w2a2').
        top1_float: top-1 of the float model the row's model starts from.
        top1_fakequant, top1_integer: QAT (fake-quantized) and integer-graph top-1; None for
            the float model.
        flash_bytes, ram_peak_bytes: the memory model's footprints (also written as
            ``model_flash_bytes`` / ``model_ram_bytes``).
        macs: multiply-accumulates of one inference.
        fits: within the budget: by the linked build's figures once :meth:`with_linked` set
            them, by the memory model's before (the float model, which is never built).
        integer_mismatches: test samples whose integer graph output differs from the QAT
            integer-exact mode; None for the float model.
        allocation: the bit allocation (None for the float model).
        width: demo_net width multiplier, recorded for the 'int8-fit' model only.
        deployment: figures of the emulated deployment (field name -> value), empty if none.
        graph: the integer graph (kept for deployment, never written).
        linked: the linked build's figures (:class:`mixq.deploy.fit.LinkedFit`), or None.
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
    linked: LinkedFit | None = None

    def __post_init__(self):
        object.__setattr__(self, "deployment", MappingProxyType(dict(self.deployment)))

    def with_linked(self, fit: LinkedFit, budget: MemoryBudget) -> "ModelRow":
        """This row with its linked build's figures, ``fits`` decided by them against ``budget``
        (the linked image within its flash; arena + static RAM + stack + io within its RAM).

        Example:
            >>> from mixq.deploy.fit import LinkedFit
            >>> row = ModelRow("int8", 0.9, 0.9, 0.9, 5_000, 3_000, 10**5, True, 0)
            >>> built = row.with_linked(LinkedFit(20_000, 5_200, 0, 0, 3_500, 266, 600, 25_200),
            ...                         MemoryBudget(24_000, 6_000))
            >>> built.fits, built.to_dict()["linked_flash_bytes"], built.to_dict()["fit_basis"]
            (False, 25200, 'linked build')
        """
        return replace(self, linked=fit, fits=fit.fits(budget.flash_bytes, budget.ram_bytes))

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
        d.update({"model_flash_bytes": self.flash_bytes, "model_ram_bytes": self.ram_peak_bytes,
                  "fit_basis": "memory model" if self.linked is None else "linked build"})
        if self.linked is not None:
            f = self.linked
            d.update({"linked_flash_bytes": f.flash_bytes, "arena_bytes": f.arena_bytes,
                      "static_ram_bytes": f.static_ram_bytes, "stack_bytes": f.stack_bytes,
                      "io_bytes": f.io_bytes, "linked_ram_bytes": f.ram_bytes})
        if self.width is not None:
            d["width"] = self.width
        d.update(self.deployment)
        return d
