"""Run Cortex-M7 ELF functions on an emulated core (Unicorn), no vendor start-up code.

The ELF's PT_LOAD segments are written at their addresses (the rest of ``.bss`` zeroed), caller
buffers live in their own mapped regions, and a function is called directly: arguments in r0-r3,
SP at the linker's ``__stack_top``, LR at an odd trap address; the run stops when the function
returns to the trap. Each buffer ends exactly at a page boundary followed by an unmapped page, so
a write or read past its end faults instead of passing silently.

Without hooks Unicorn runs at JIT speed (hundreds of M instructions/s): bit-exact checks use plain
:meth:`CortexM7.call`. Instruction counts (:mod:`mixq.deploy.profile`) add a block hook.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection
from unicorn import UC_ARCH_ARM, UC_HOOK_MEM_INVALID, UC_MODE_THUMB, Uc, UcError
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

from mixq.errors import MixqError

PAGE = 0x1000
TRAP_ADDR = 0x1000_0000  # a mapped page holding only `bkpt`; LR = TRAP_ADDR | 1
BUFFER_BASE = 0x2400_0000  # STM32H7 AXI SRAM; buffers follow each other with unmapped guards
ARG_REGS = (UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3)


def _page_up(n: int) -> int:
    return -(-n // PAGE) * PAGE


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD segment: ``data`` at ``addr``, zero-filled up to ``mem_bytes``."""

    addr: int
    data: bytes
    mem_bytes: int


@dataclass(frozen=True, eq=False)
class ArmImage:
    """A linked Cortex-M ELF, read once.

    Attributes:
        path: the ELF file.
        segments: loadable segments.
        symbols: function/object name -> address (Thumb bit cleared).
        stack_top: initial SP (``__stack_top`` of the linker script).
        ram_start: start of the RAM region (``__ram_start``); data, bss and stack lie in
            ``[ram_start, stack_top)``.
    """

    path: Path
    segments: tuple[Segment, ...]
    symbols: dict
    stack_top: int
    ram_start: int

    def address(self, name: str) -> int:
        """Address of symbol ``name``.

        Raises:
            MixqError: if the ELF does not define it.
        """
        try:
            return self.symbols[name]
        except KeyError:
            raise MixqError(
                f"symbol '{name}' not found in {self.path.name}; build it with entries=('{name}',)"
            ) from None

    def symbol_at(self, addr: int) -> str:
        """Name of the function containing ``addr`` (best effort, for error messages)."""
        best = max(
            ((a, n) for n, a in self.symbols.items() if a <= addr), default=(0, "?")
        )
        return best[1]


def load_image(elf: str | os.PathLike) -> ArmImage:
    """Read an ELF's loadable segments and symbols (pyelftools)."""
    path = Path(elf)
    with open(path, "rb") as f:
        ef = ELFFile(f)
        if ef["e_machine"] != "EM_ARM":
            raise MixqError(f"{path.name} is not an ARM ELF; build it with mixq.deploy.arm")
        segments = tuple(
            Segment(seg["p_paddr"] if seg["p_vaddr"] == 0 else seg["p_vaddr"],
                    seg.data(), seg["p_memsz"])
            for seg in ef.iter_segments()
            if seg["p_type"] == "PT_LOAD" and seg["p_memsz"] > 0
        )
        symbols = {}
        for sec in ef.iter_sections():
            if isinstance(sec, SymbolTableSection):
                for sym in sec.iter_symbols():
                    kind = sym["st_info"]["type"]
                    # $a / $t / $d are ARM mapping symbols (code/data markers), not names
                    if sym.name and not sym.name.startswith("$") and kind in (
                            "STT_FUNC", "STT_OBJECT", "STT_NOTYPE"):
                        symbols.setdefault(sym.name, sym["st_value"] & ~1)
    if "__stack_top" not in symbols or "__ram_start" not in symbols:
        raise MixqError(f"{path.name} has no __stack_top; link it with mixq's cortex_m7.ld")
    return ArmImage(path, segments, symbols, symbols["__stack_top"], symbols["__ram_start"])


class CortexM7:
    """An emulated Cortex-M7 holding one ELF image and named caller buffers.

    Args:
        image: the loaded ELF.
        buffers: buffer name -> size in bytes (e.g. input, logits, arena), mapped after
            ``BUFFER_BASE``, each ending at a page boundary with an unmapped page after it.

    Example:
        See ``tests/deploy/test_emulator_basic.py``.
    """

    def __init__(self, image: ArmImage, buffers: dict[str, int] | None = None):
        self.image = image
        self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB)
        # Before the first mem_map: UC_MODE_MCLASS alone would select a Cortex-M33.
        self.uc.ctl_set_cpu_model(UC_CPU_ARM_CORTEX_M7)
        self._map_image()
        self.uc.mem_map(TRAP_ADDR, PAGE)
        self.uc.mem_write(TRAP_ADDR, b"\x00\xbe" * (PAGE // 2))  # bkpt #0
        self._bad_access: list[int] = []
        # Fires only on a fault: records the address for the error message (no cost otherwise).
        self.uc.hook_add(UC_HOOK_MEM_INVALID,
                         lambda uc, access, addr, size, value, user: self._bad_access.append(addr)
                         or False)
        self.buffers: dict[str, tuple[int, int]] = {}
        base = BUFFER_BASE
        for name, size in (buffers or {}).items():
            region = _page_up(max(int(size), 1))
            self.uc.mem_map(base, region)
            self.buffers[name] = (base + region - int(size), int(size))
            base += region + PAGE  # guard page stays unmapped
        self.reset_data()

    def _map_image(self) -> None:
        # RAM (data, bss, stack) is one region [__ram_start, __stack_top); flash segments are
        # mapped page-rounded and merged.
        ram_lo, ram_hi = self.image.ram_start, self.image.stack_top
        self.uc.mem_map(ram_lo, _page_up(ram_hi - ram_lo))
        spans = sorted((s.addr // PAGE * PAGE, _page_up(s.addr + s.mem_bytes))
                       for s in self.image.segments if not ram_lo <= s.addr < ram_hi)
        merged: list[list[int]] = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        for lo, hi in merged:
            self.uc.mem_map(lo, hi - lo)

    def reset_data(self) -> None:
        """Rewrite the initial RAM image (``.data``, zeroed ``.bss``) before a fresh call."""
        for seg in self.image.segments:
            self.uc.mem_write(seg.addr, seg.data + bytes(seg.mem_bytes - len(seg.data)))

    def buffer_address(self, name: str) -> int:
        """Address of a caller buffer."""
        return self.buffers[name][0]

    def write(self, name: str, data: bytes | np.ndarray) -> None:
        """Copy bytes into buffer ``name`` (at most its size)."""
        addr, size = self.buffers[name]
        data = bytes(np.ascontiguousarray(data).tobytes() if isinstance(data, np.ndarray) else data)
        if len(data) > size:
            raise ValueError(f"{len(data)} bytes do not fit buffer '{name}' ({size} bytes)")
        self.uc.mem_write(addr, data)

    def fill(self, name: str, byte: int) -> None:
        """Fill buffer ``name`` with one byte value (poisons arenas to catch stale reads)."""
        addr, size = self.buffers[name]
        self.uc.mem_write(addr, bytes([byte]) * size)

    def read(self, name: str, n: int | None = None) -> bytes:
        """Read the first ``n`` bytes (default: all) of buffer ``name``."""
        addr, size = self.buffers[name]
        return bytes(self.uc.mem_read(addr, size if n is None else n))

    def _describe(self, addr: int) -> str:
        """' (N bytes past buffer X)' when addr lies just after a caller buffer."""
        for name, (base, size) in self.buffers.items():
            if base + size <= addr < base + size + PAGE:
                return f", {addr - base - size} bytes past the end of '{name}'"
        return ""

    def call(self, func: str, args: tuple = (), timeout_s: float = 120.0) -> int:
        """Call ``func`` with up to four integer/buffer-name arguments; returns r0 (as int32).

        Args:
            func: function symbol.
            args: each an int or the name of a buffer (passed as its address).
            timeout_s: wall-clock limit of the emulation.

        Raises:
            MixqError: on an emulator fault (e.g. an out-of-bounds access) or if the function
                does not return in time; the message names the faulting function.
        """
        if len(args) > len(ARG_REGS):
            raise ValueError("at most four arguments (r0-r3)")
        for reg, arg in zip(ARG_REGS, args):
            value = self.buffer_address(arg) if isinstance(arg, str) else int(arg)
            self.uc.reg_write(reg, value & 0xFFFF_FFFF)
        self.uc.reg_write(UC_ARM_REG_SP, self.image.stack_top)
        self.uc.reg_write(UC_ARM_REG_LR, TRAP_ADDR | 1)
        start = self.image.address(func) | 1
        self._bad_access.clear()
        try:
            self.uc.emu_start(start, TRAP_ADDR, timeout=int(timeout_s * 1e6))
        except UcError as e:
            pc = self.uc.reg_read(UC_ARM_REG_PC)
            where = f" of 0x{self._bad_access[-1]:08x}{self._describe(self._bad_access[-1])}" \
                if self._bad_access else ""
            raise MixqError(
                f"emulated Cortex-M7 fault in {func} ({e}{where}) at pc 0x{pc:08x} in "
                f"{self.image.symbol_at(pc)}; check the kernel's buffer bounds"
            ) from None
        pc = self.uc.reg_read(UC_ARM_REG_PC)
        if pc & ~1 != TRAP_ADDR:
            raise MixqError(
                f"{func} did not return within {timeout_s:.0f} s (pc 0x{pc:08x} in "
                f"{self.image.symbol_at(pc)}); raise timeout_s or check for an endless loop"
            )
        r0 = self.uc.reg_read(UC_ARM_REG_R0)
        return r0 - (1 << 32) if r0 & 0x8000_0000 else r0
