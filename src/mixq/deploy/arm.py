"""The Cortex-M7 (ARMv7E-M) back-end: its simulator adapter and its :class:`IsaRecord`.

arm-none-eabi-gcc builds for ``-mcpu=cortex-m7 -mthumb`` against newlib's nosys specs with
``cortex_m7.ld`` (flash at 0x08000000, RAM at 0x20000000); Unicorn's Cortex-M7 runs the ELF,
arguments in r0-r3, LR at an odd trap address, caller buffers in the STM32H7's AXI SRAM.
"""

from __future__ import annotations

from unicorn import UC_ARCH_ARM, UC_MODE_THUMB
from unicorn.arm_const import (
    UC_ARM_REG_LR,
    UC_ARM_REG_PC,
    UC_ARM_REG_R0,
    UC_ARM_REG_R1,
    UC_ARM_REG_R2,
    UC_ARM_REG_R3,
    UC_ARM_REG_SP,
    UC_CPU_ARM_CORTEX_M7,
)

from mixq.deploy.emulator import Emulator, instruction_lengths_of
from mixq.deploy.record import IsaRecord
from mixq.platform.cycles import CORTEX_M7 as CORTEX_M7_CYCLES
from mixq.platform.cycles import classify
from mixq.platform.spec import Isa


def thumb_lengths(code: bytes) -> list[int]:
    """Byte lengths of the consecutive Thumb-2 instructions in ``code`` (2 or 4 each).

    A first halfword whose top five bits are 0b11101, 0b11110 or 0b11111 starts a 32-bit
    instruction (Armv7-M ARM, A5.1).

    Example:
        >>> thumb_lengths(bytes.fromhex("002a" "13f901ef" "7047"))
        [2, 4, 2]
    """
    return instruction_lengths_of(
        code, lambda hw: 4 if (hw >> 11) in (0b11101, 0b11110, 0b11111) else 2)


class CortexM7(Emulator):
    """An emulated Cortex-M7 holding one ELF image and named caller buffers (see
    :class:`~mixq.deploy.emulator.Emulator`)."""

    ISA = Isa.ARMV7EM
    NAME = "Cortex-M7"
    ELF_MACHINE = "EM_ARM"
    LINKER_SCRIPT = "cortex_m7.ld"
    CODE_ADDRESS_MASK = ~1
    # UC_MODE_MCLASS alone would select a Cortex-M33: the CPU model is set explicitly.
    UC_ARCH, UC_MODE, UC_CPU = UC_ARCH_ARM, UC_MODE_THUMB, UC_CPU_ARM_CORTEX_M7
    ARG_REGS = (UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3)
    SP_REG, PC_REG = UC_ARM_REG_SP, UC_ARM_REG_PC
    TRAP_ADDR = 0x1000_0000      # a mapped page holding only `bkpt`; LR = TRAP_ADDR | 1
    TRAP_FILL = b"\x00\xbe"      # bkpt #0
    BUFFER_BASE = 0x2400_0000    # STM32H7 AXI SRAM
    TIMEOUT_S = 120.0

    instruction_lengths = staticmethod(thumb_lengths)

    def _enter(self, func: str) -> int:
        self.uc.reg_write(UC_ARM_REG_LR, self.TRAP_ADDR | 1)
        return self.image.address(func) | 1  # Thumb state


CORTEX_M7 = IsaRecord(
    isa=Isa.ARMV7EM,
    label="Cortex-M7",
    emulator=CortexM7,
    gcc="arm-none-eabi-gcc",
    objdump="arm-none-eabi-objdump",
    install_hint=("install it with `apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi` "
                  "or run `make test`"),
    cpu_flags=("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=soft"),
    link_flags=("-nostartfiles", "-specs=nosys.specs", "-Wl,--gc-sections"),
    linker_script="cortex_m7.ld",
    classify=classify,
    cycle_model=CORTEX_M7_CYCLES,
    cycle_note=("estimate: executed instructions (Unicorn) weighted per instruction class by "
                "mixq.deploy.cycles.CycleModel; not a cycle-accurate measurement"),
)

__all__ = ["CORTEX_M7", "CortexM7", "thumb_lengths"]
