"""Locate the external tools of a deployment (the cross toolchain of an ISA record).

A missing tool raises :class:`mixq.errors.ToolchainError` with a one-line message that names the
problem and how to fix it, so the CLI can print it as is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mixq.errors import ToolchainError


@dataclass(frozen=True)
class Toolchain:
    """Paths of the cross tools that a build and an instruction count need.

    Attributes:
        gcc: the C compiler driver (also links).
        objdump: the disassembler (instruction classes for the cycle estimate).
    """

    gcc: Path
    objdump: Path

    def version(self) -> str:
        """First line of ``gcc --version`` (recorded next to measured figures)."""
        out = subprocess.run([str(self.gcc), "--version"], capture_output=True, text=True)
        return out.stdout.splitlines()[0] if out.stdout else "unknown"


def _which(name: str, path: str | None) -> Path | None:
    found = shutil.which(name, path=path)
    return Path(found) if found else None


def find_toolchain(record, path: str | None = None) -> Toolchain:
    """Find the compiler and objdump of an :class:`~mixq.deploy.isa.IsaRecord` on ``PATH``.

    Args:
        record: the ISA record (its ``gcc``, ``objdump`` and ``install_hint``).
        path: search path to use instead of the ``PATH`` environment variable (tests).

    Raises:
        ToolchainError: if either tool is missing.

    Example:
        >>> from mixq.deploy.isa import isa_record
        >>> try:
        ...     find_toolchain(isa_record("armv7e-m"), path=os.devnull)
        ... except ToolchainError as e:
        ...     print(str(e).split(";")[0])
        arm-none-eabi-gcc not found
    """
    gcc = _which(record.gcc, path)
    if gcc is None:
        raise ToolchainError(f"{record.gcc} not found; {record.install_hint}")
    objdump = _which(record.objdump, path) or _which(record.objdump, str(gcc.parent))
    if objdump is None:
        raise ToolchainError(f"{record.objdump} not found next to {gcc.name}; "
                             f"{record.install_hint}")
    return Toolchain(gcc=gcc, objdump=objdump)


def has_toolchain(record) -> bool:
    """True if :func:`find_toolchain` succeeds (for test skips and optional steps)."""
    try:
        find_toolchain(record)
    except ToolchainError:
        return False
    return True


__all__ = ["Toolchain", "find_toolchain", "has_toolchain"]
