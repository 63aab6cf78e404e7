"""The records of the base instruction sets, by :class:`~mixq.platform.Isa` (no core variants).

The profiler reads a machine's classifier and cycle model from here; the full table, with the
cores that extend an ISA (selected by a platform's ``[core] cpu``), is
:func:`mixq.deploy.isa.isa_record`. Apart from it so that a core's own profiler may use the
generic one without an import cycle.
"""

from __future__ import annotations

from mixq.deploy import arm, riscv
from mixq.deploy.record import IsaRecord
from mixq.platform.spec import Isa

BASE_RECORDS: dict[Isa, IsaRecord] = {Isa.ARMV7EM: arm.CORTEX_M7, Isa.RV32IMC: riscv.RV32IMC}


def base_record(isa: Isa | str) -> IsaRecord:
    """The record of the base ISA ``isa``.

    Example:
        >>> base_record("armv7e-m").label
        'Cortex-M7'
    """
    return BASE_RECORDS[Isa(isa)]


__all__ = ["BASE_RECORDS", "base_record"]
