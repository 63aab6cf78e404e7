"""The RV32IMC back-end: its simulator adapter and its :class:`IsaRecord`.

``riscv64-unknown-elf-gcc -march=rv32imc -mabi=ilp32`` builds against picolibc (no start-up
code, linker script ``rv32.ld``: code at 0x1C000000, data and stack at 0x10000000); Unicorn's
RV32 core runs the ELF: arguments in a0-a3, ``sp`` at ``__stack_top``, ``gp`` at
``__global_pointer$`` (linker relaxation makes small-data accesses gp-relative), ``ra`` at a
trap page of ``ebreak``s. Unicorn's RISC-V CPUs implement a superset of RV32IMC; the ELF is
compiled for rv32imc, so only RV32IMC instructions execute. The single-core cycle estimate is
the no-SIMD lower line of a PULP core (:data:`mixq.platform.cycles.RV32_CORE`).
"""

from __future__ import annotations

from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV32
from unicorn.riscv_const import (
    UC_CPU_RISCV32_SIFIVE_E31,
    UC_RISCV_REG_A0,
    UC_RISCV_REG_A1,
    UC_RISCV_REG_A2,
    UC_RISCV_REG_A3,
    UC_RISCV_REG_GP,
    UC_RISCV_REG_PC,
    UC_RISCV_REG_RA,
    UC_RISCV_REG_SP,
)

from mixq.deploy.emulator import Emulator, instruction_lengths_of
from mixq.deploy.record import IsaRecord
from mixq.platform.cycles import RV32_CORE, classify_rv
from mixq.platform.spec import Isa


def rv_lengths(code: bytes) -> list[int]:
    """Byte lengths of consecutive RV32IMC instructions: 2 when the low two bits are not 0b11.

    Example:
        >>> rv_lengths(bytes.fromhex("8280" "93070000" "0145"))
        [2, 4, 2]
    """
    return instruction_lengths_of(code, lambda hw: 4 if hw & 0b11 == 0b11 else 2)


class Rv32Core(Emulator):
    """An emulated RV32IMC core holding one ELF image and named caller buffers (see
    :class:`~mixq.deploy.emulator.Emulator`)."""

    ISA = Isa.RV32IMC
    NAME = "RV32"
    ELF_MACHINE = "EM_RISCV"
    LINKER_SCRIPT = "rv32.ld"
    UC_ARCH, UC_MODE, UC_CPU = UC_ARCH_RISCV, UC_MODE_RISCV32, UC_CPU_RISCV32_SIFIVE_E31
    ARG_REGS = (UC_RISCV_REG_A0, UC_RISCV_REG_A1, UC_RISCV_REG_A2, UC_RISCV_REG_A3)
    SP_REG, PC_REG = UC_RISCV_REG_SP, UC_RISCV_REG_PC
    TRAP_ADDR = 0x0F00_0000      # a mapped page of `ebreak`s; ra points here
    TRAP_FILL = (0x0010_0073).to_bytes(4, "little")  # ebreak
    BUFFER_BASE = 0x3000_0000
    TIMEOUT_S = 300.0

    instruction_lengths = staticmethod(rv_lengths)

    def _enter(self, func: str) -> int:
        self.uc.reg_write(UC_RISCV_REG_GP, self.image.global_pointer)
        self.uc.reg_write(UC_RISCV_REG_RA, self.TRAP_ADDR)
        return self.image.address(func)


RV32IMC = IsaRecord(
    isa=Isa.RV32IMC,
    label="RV32IMC core",
    emulator=Rv32Core,
    gcc="riscv64-unknown-elf-gcc",
    objdump="riscv64-unknown-elf-objdump",
    install_hint=("install it with `apt-get install gcc-riscv64-unknown-elf "
                  "picolibc-riscv64-unknown-elf` or run `make test`"),
    cpu_flags=("-march=rv32imc", "-mabi=ilp32"),
    link_flags=("-nostartfiles", "--specs=picolibc.specs", "-Wl,--gc-sections"),
    linker_script="rv32.ld",
    classify=classify_rv,
    cycle_model=RV32_CORE,
    cycle_note=("estimate: executed RV32IMC instructions (Unicorn) weighted per class by "
                "mixq.deploy.riscv.Rv32CycleModel (single core, no SIMD); not a measurement"),
    reports_isa=True,
)

__all__ = ["RV32IMC", "Rv32Core", "rv_lengths"]
