"""Logic models of Liberty cells for the gate-level simulator: each output pin's ``function``
(and each flip-flop's ``next_state``, ``clear``/``preset``) turned into a truth table.

A flip-flop's state is called ``IQ``; the names its ``ff`` group declares (e.g. ``IQ``/``IQ_N``
in sky130, ``IQ``/``IQN`` in IHP) are rewritten to ``IQ`` and ``!IQ``. Latches and cells whose
functions read more than 6 pins are refused (the flow never maps to them).
"""

from __future__ import annotations

import re

from mixq.hw.gatesim import CellModel
from mixq.hw.liberty import Library, LibertyError, pin_names, truth_table


def _rename_state(expr: str, names: list[str]) -> str:
    if len(names) > 1:
        expr = re.sub(rf"(?<![\w\[]){re.escape(names[1])}(?![\w\]])", "(!IQS)", expr)
    if names:
        expr = re.sub(rf"(?<![\w\[]){re.escape(names[0])}(?![\w\]])", "IQS", expr)
    return expr.replace("IQS", "IQ")


def _table(expr: str) -> tuple[tuple[str, ...], int]:
    pins = pin_names(expr)
    if len(pins) > 6:
        raise LibertyError(f"function '{expr}' reads {len(pins)} pins (at most 6)")
    return tuple(pins), truth_table(expr, pins)


def cell_model(lib: Library, name: str) -> CellModel:
    """The :class:`~mixq.hw.gatesim.CellModel` of Liberty cell ``name``.

    Example (a Liberty text with one NAND and one flip-flop):
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.lib"
        >>> _ = p.write_text('library (t) { cell (nd) { pin (A) { direction : input; } '
        ...     'pin (B) { direction : input; } pin (Y) { direction : output; '
        ...     'function : "!(A&B)"; } } cell (ff) { ff ("S", "SN") { clocked_on : "CK"; '
        ...     'next_state : "D"; } pin (D) { direction : input; } pin (Q) { '
        ...     'direction : output; function : "S"; } pin (QN) { direction : output; '
        ...     'function : "SN"; } } }')
        >>> lib = Library(p)
        >>> cell_model(lib, "nd").outputs
        {'Y': (('A', 'B'), 7)}
        >>> m = cell_model(lib, "ff"); m.outputs, m.ff
        ({'Q': (('IQ',), 2), 'QN': (('IQ',), 1)}, (('D',), 2, (), 0))
    """
    cell = lib.cell(name)
    icg = icg_pins(lib, name)
    if icg is not None:
        return CellModel({}, icg=icg)
    if cell.sub("latch") or cell.sub("statetable"):
        raise LibertyError(f"cell {name} is a latch or state table: not simulated")
    ffs = cell.sub("ff")
    state = ffs[0].args if ffs else []
    outputs = {}
    for pin in cell.sub("pin"):
        func = pin.attr("function")
        if pin.attr("direction") == "output" and func is not None:
            outputs[pin.args[0]] = _table(_rename_state(func, state))
    ff = None
    if ffs:
        g = ffs[0]
        if not re.fullmatch(r"\w+", g.attr("clocked_on", "")):
            raise LibertyError(f"flip-flop {name}: clocked_on '{g.attr('clocked_on')}' is not "
                               "a plain rising-edge pin")
        ctl = " | ".join(f"({g.attr(k)})" for k in ("clear", "preset") if g.attr(k))
        ctl_pins, ctl_tt = _table(ctl) if ctl else ((), 0)
        ff = (*_table(_rename_state(g.attr("next_state"), state)), ctl_pins, ctl_tt)
    return CellModel(outputs, ff, ffs[0].attr("clocked_on") if ffs else None)


def icg_pins(lib: Library, name: str) -> tuple | None:
    """(clock, enable, gated clock) pins of an integrated clock-gating cell whose enable is
    latched while the clock is low (Liberty ``clock_gating_integrated_cell : latch_posedge``,
    e.g. sky130's ``dlclkp``), else None; other gating styles (with test enables, or
    observation pins) are not used by the flow."""
    cell = lib.cell(name)
    if cell.attr("clock_gating_integrated_cell") != "latch_posedge":
        return None
    role, pins = {}, [p for p in cell.sub("pin") if p.attr("direction") != "internal"]
    for pin in pins:
        for key in ("clock_gate_clock_pin", "clock_gate_enable_pin", "clock_gate_out_pin"):
            if pin.attr(key) == "true":
                role[key] = pin.args[0]
    if len(role) != 3 or len(pins) != 3:
        return None
    return role["clock_gate_clock_pin"], role["clock_gate_enable_pin"], role["clock_gate_out_pin"]


def clock_pin(lib: Library, name: str) -> str | None:
    """The ``clocked_on`` pin of a flip-flop cell, else None."""
    ffs = lib.cell(name).sub("ff")
    return ffs[0].attr("clocked_on") if ffs else None


class LibraryModels:
    """Callable cell type -> :class:`CellModel` for :func:`mixq.hw.gatesim.load_netlist`
    (cached per type)."""

    def __init__(self, lib: Library):
        self.lib = lib
        self._cache: dict[str, CellModel] = {}

    def __call__(self, cell_type: str) -> CellModel:
        if cell_type not in self._cache:
            if cell_type not in self.lib.raw:
                raise KeyError(cell_type)
            self._cache[cell_type] = cell_model(self.lib, cell_type)
        return self._cache[cell_type]
