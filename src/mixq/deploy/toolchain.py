"""Locate the external tools of a deployment (the arm-none-eabi cross toolchain).

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

ARM_GCC = "arm-none-eabi-gcc"
INSTALL_HINT = (
    "install it with `apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi` or run `make test`"
)


@dataclass(frozen=True)
class ArmToolchain:
    """Paths of the arm-none-eabi tools that a build and an instruction count need.

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


def find_arm_toolchain(path: str | None = None) -> ArmToolchain:
    """Find arm-none-eabi-gcc and arm-none-eabi-objdump on ``PATH``.

    Args:
        path: search path to use instead of the ``PATH`` environment variable (tests).

    Returns:
        The tool paths.

    Raises:
        ToolchainError: if either tool is missing.

    Example:
        >>> try:
        ...     find_arm_toolchain(path=os.devnull)
        ... except ToolchainError as e:
        ...     print(str(e).split(";")[0])
        arm-none-eabi-gcc not found
    """
    gcc = _which(ARM_GCC, path)
    if gcc is None:
        raise ToolchainError(f"{ARM_GCC} not found; {INSTALL_HINT}")
    objdump = _which("arm-none-eabi-objdump", path) or _which(
        "arm-none-eabi-objdump", str(gcc.parent)
    )
    if objdump is None:
        raise ToolchainError(f"arm-none-eabi-objdump not found next to {gcc.name}; {INSTALL_HINT}")
    return ArmToolchain(gcc=gcc, objdump=objdump)


def has_arm_toolchain() -> bool:
    """True if :func:`find_arm_toolchain` succeeds (for test skips and optional steps)."""
    try:
        find_arm_toolchain()
    except ToolchainError:
        return False
    return True
