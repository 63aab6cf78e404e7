"""Accelerator for dense-ternary + sparse-int8 layers: RTL (Amaranth), simulation against
:mod:`mixq.ir.interpret`, a cycle model, Yosys area, activity-based energy, and a report.

Modules in pipeline order: :mod:`~mixq.hw.config` (design point), :mod:`~mixq.hw.program`
(lower an IR layer), :mod:`~mixq.hw.streams` (buffer formats), ``rtl_*`` (the hardware),
:mod:`~mixq.hw.sim` (RTL simulation), :mod:`~mixq.hw.cyclemodel` (fast timing model).
"""
