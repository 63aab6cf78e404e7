"""The one table from instruction set (and core) to its deploy record: :func:`isa_record`.

The record type, and how to add an ISA, are in :mod:`mixq.deploy.record`.
"""

from __future__ import annotations

from typing import Optional

from mixq.deploy import xpulp_runner
from mixq.deploy.base_isas import base_record
from mixq.deploy.record import IsaRecord
from mixq.platform.spec import Isa


def isa_record(isa: Isa | str, cpu: Optional[str] = None) -> IsaRecord:
    """The record of ``isa`` (of the core ``cpu`` where a core extends it): the one table from
    ISA to its deploy back-end.

    Example:
        >>> isa_record(Isa.RV32IMC).gcc, isa_record("armv7e-m").label
        ('riscv64-unknown-elf-gcc', 'Cortex-M7')
        >>> isa_record(Isa.RV32IMC, "ri5cy-xpulpnn").emulator.__name__
        'XpulpCore'
    """
    if cpu in xpulp_runner.RECORDS:
        return xpulp_runner.RECORDS[cpu]
    return base_record(isa)


__all__ = ["IsaRecord", "isa_record"]
