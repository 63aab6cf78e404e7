"""Run ELF functions on an emulated core (Unicorn), no vendor start-up code: the part every ISA
shares.

The ELF's PT_LOAD segments are written at their addresses (the rest of ``.bss`` zeroed), caller
buffers live in their own mapped regions, and a function is called directly: arguments in the
ISA's argument registers, SP at the linker's ``__stack_top``, the return address at a trap page;
the run stops when the function returns there. Each buffer ends exactly at a page boundary
followed by an unmapped page, so a write or read past its end faults instead of passing
silently.

:class:`Emulator` is that machinery; an ISA adapter (:class:`mixq.deploy.arm.CortexM7`,
:class:`mixq.deploy.riscv.Rv32Core`) subclasses it with its Unicorn CPU, registers and memory
map (trap page, buffer base) and its instruction lengths (for :mod:`mixq.deploy.profile`).

Without hooks Unicorn runs at JIT speed (hundreds of M instructions/s): bit-exact checks use plain
:meth:`Emulator.call`. Instruction counts (:mod:`mixq.deploy.profile`) add a block hook.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection
from unicorn import UC_HOOK_MEM_INVALID, Uc, UcError

from mixq.errors import MixqError
from mixq.platform.spec import Isa

PAGE = 0x1000


def instruction_lengths_of(code: bytes, length_of) -> list[int]:
    """Byte lengths of the consecutive instructions in ``code`` of a 16/32-bit encoding, where
    ``length_of(first_halfword)`` (little endian) gives 2 or 4; a trailing odd byte is ignored.

    Example:
        >>> instruction_lengths_of(bytes(6), lambda halfword: 2)
        [2, 2, 2]
    """
    lengths, i = [], 0
    while i + 1 < len(code):
        n = length_of(code[i] | (code[i + 1] << 8))
        lengths.append(n)
        i += n
    return lengths


def _page_up(n: int) -> int:
    return -(-n // PAGE) * PAGE


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD segment: ``data`` at ``addr``, zero-filled up to ``mem_bytes``."""

    addr: int
    data: bytes
    mem_bytes: int


@dataclass(frozen=True, eq=False)
class Image:
    """A linked ELF, read once.

    Attributes:
        path: the ELF file.
        segments: loadable segments.
        symbols: function/object name -> address (the Thumb bit cleared on ARM).
        stack_top: initial SP (``__stack_top`` of the linker script).
        ram_start: start of the RAM region (``__ram_start``); data, bss and stack lie in
            ``[ram_start, stack_top)``.
        global_pointer: ``__global_pointer$`` (RISC-V small data; 0 when the ELF has none).
    """

    path: Path
    segments: tuple[Segment, ...]
    symbols: dict
    stack_top: int
    ram_start: int
    global_pointer: int = 0

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
        return max(((a, n) for n, a in self.symbols.items() if a <= addr), default=(0, "?"))[1]


class Emulator:
    """An emulated core holding one ELF image and named caller buffers (ISA-independent).

    A subclass sets the class attributes below and :meth:`_enter` (registers beyond the
    arguments and SP; returns the start address) and :meth:`instruction_lengths`.

    Args:
        image: the loaded ELF.
        buffers: buffer name -> size in bytes (e.g. input, logits, arena), mapped after
            ``BUFFER_BASE``, each ending at a page boundary with an unmapped page after it.

    Example:
        See ``tests/deploy/test_emulator_basic.py``.
    """

    ISA: Isa
    NAME = ""                # in fault messages: 'emulated <NAME> fault in ...'
    ELF_MACHINE = ""         # e_machine of the ELFs it runs ('EM_ARM')
    LINKER_SCRIPT = ""       # the packaged script those ELFs are linked with
    CODE_ADDRESS_MASK = ~0   # clears the Thumb bit of ARM function symbols
    UC_ARCH = UC_MODE = UC_CPU = 0
    ARG_REGS: tuple[int, ...] = ()
    SP_REG = PC_REG = 0
    TRAP_ADDR = 0            # a mapped page of breakpoints; the return address points here
    TRAP_FILL = b""          # the breakpoint instruction filling it
    BUFFER_BASE = 0          # caller buffers, each followed by an unmapped guard page
    TIMEOUT_S = 120.0

    def __init__(self, image: Image, buffers: dict[str, int] | None = None):
        self.image = image
        self.uc = Uc(self.UC_ARCH, self.UC_MODE)
        self.uc.ctl_set_cpu_model(self.UC_CPU)  # before the first mem_map
        self._map_image()
        self.uc.mem_map(self.TRAP_ADDR, PAGE)
        self.uc.mem_write(self.TRAP_ADDR, self.TRAP_FILL * (PAGE // len(self.TRAP_FILL)))
        self._bad_access: list[int] = []
        # Fires only on a fault: records the address for the error message (no cost otherwise).
        self.uc.hook_add(UC_HOOK_MEM_INVALID,
                         lambda uc, access, addr, size, value, user: self._bad_access.append(addr)
                         or False)
        self.buffers: dict[str, tuple[int, int]] = {}
        base = self.BUFFER_BASE
        for name, size in (buffers or {}).items():
            region = _page_up(max(int(size), 1))
            self.uc.mem_map(base, region)
            self.buffers[name] = (base + region - int(size), int(size))
            base += region + PAGE  # guard page stays unmapped
        self.reset_data()

    @classmethod
    def load(cls, elf: str | os.PathLike) -> Image:
        """Read an ELF for this core (its loadable segments and symbols, with pyelftools).

        Raises:
            MixqError: not a 32-bit ELF of this ISA, or not linked with mixq's linker script.
        """
        path = Path(elf)
        with open(path, "rb") as f:
            ef = ELFFile(f)
            if ef["e_machine"] != cls.ELF_MACHINE or ef.elfclass != 32:
                raise MixqError(f"{path.name} is not a 32-bit {cls.ELF_MACHINE} ELF; build it "
                                f"with mixq.deploy.build.build_elf for {cls.ISA.value}")
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
                        # $a / $t / $d / $x are mapping symbols (code/data markers), not names
                        if sym.name and not sym.name.startswith("$") and kind in (
                                "STT_FUNC", "STT_OBJECT", "STT_NOTYPE"):
                            symbols.setdefault(sym.name, sym["st_value"] & cls.CODE_ADDRESS_MASK)
        if "__stack_top" not in symbols or "__ram_start" not in symbols:
            raise MixqError(f"{path.name} has no __stack_top; link it with mixq's "
                            f"{cls.LINKER_SCRIPT}")
        return Image(path, segments, symbols, symbols["__stack_top"], symbols["__ram_start"],
                     symbols.get("__global_pointer$", 0))

    @staticmethod
    def instruction_lengths(code: bytes) -> list[int]:
        """Byte lengths of the consecutive instructions in ``code`` (the ISA's encoding)."""
        raise NotImplementedError

    def _enter(self, func: str) -> int:
        """Set the registers a call needs besides arguments and SP; return the start address."""
        raise NotImplementedError

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

    STACK_PAINT = 0xA5  # the byte painted below __stack_top before a measured call

    def _stack_region(self) -> tuple[int, int]:
        """[lowest, top) of the stack: from the end of .bss (``__stack_limit``) to the top."""
        top = self.image.stack_top
        return self.image.symbols.get("__stack_limit", self.image.ram_start), top

    def paint_stack(self) -> None:
        """Fill the free stack with :data:`STACK_PAINT` (stack painting; see :meth:`stack_used`)."""
        lo, hi = self._stack_region()
        self.uc.mem_write(lo, bytes([self.STACK_PAINT]) * (hi - lo))

    def stack_used(self) -> int:
        """Bytes of stack written since :meth:`paint_stack`: from the top down to the lowest
        byte that lost its paint (a measurement of one run, not a bound)."""
        lo, hi = self._stack_region()
        painted = np.frombuffer(bytes(self.uc.mem_read(lo, hi - lo)), dtype=np.uint8)
        touched = np.flatnonzero(painted != self.STACK_PAINT)
        return 0 if touched.size == 0 else int(hi - lo - touched[0])

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
        """', N bytes past the end of X' when addr lies just after a caller buffer."""
        for name, (base, size) in self.buffers.items():
            if base + size <= addr < base + size + PAGE:
                return f", {addr - base - size} bytes past the end of '{name}'"
        return ""

    def call(self, func: str, args: tuple = (), timeout_s: float | None = None) -> int:
        """Call ``func`` with up to four integer/buffer-name arguments; returns the int32 result.

        Args:
            func: function symbol.
            args: each an int or the name of a buffer (passed as its address).
            timeout_s: wall-clock limit of the emulation (default ``TIMEOUT_S``).

        Raises:
            MixqError: on an emulator fault (e.g. an out-of-bounds access) or if the function
                does not return in time; the message names the faulting function.
        """
        timeout_s = self.TIMEOUT_S if timeout_s is None else timeout_s
        if len(args) > len(self.ARG_REGS):
            raise ValueError(f"at most {len(self.ARG_REGS)} arguments")
        for reg, arg in zip(self.ARG_REGS, args):
            value = self.buffer_address(arg) if isinstance(arg, str) else int(arg)
            self.uc.reg_write(reg, value & 0xFFFF_FFFF)
        self.uc.reg_write(self.SP_REG, self.image.stack_top)
        start = self._enter(func)
        self._bad_access.clear()
        try:
            self.uc.emu_start(start, self.TRAP_ADDR, timeout=int(timeout_s * 1e6))
        except UcError as e:
            pc = self.uc.reg_read(self.PC_REG)
            where = f" of 0x{self._bad_access[-1]:08x}{self._describe(self._bad_access[-1])}" \
                if self._bad_access else ""
            raise MixqError(
                f"emulated {self.NAME} fault in {func} ({e}{where}) at pc 0x{pc:08x} in "
                f"{self.image.symbol_at(pc)}; check the kernel's buffer bounds"
            ) from None
        pc = self.uc.reg_read(self.PC_REG)
        if pc & ~1 != self.TRAP_ADDR:
            raise MixqError(
                f"{func} did not return within {timeout_s:.0f} s (pc 0x{pc:08x} in "
                f"{self.image.symbol_at(pc)}); raise timeout_s or check for an endless loop"
            )
        result = self.uc.reg_read(self.ARG_REGS[0])
        return result - (1 << 32) if result & 0x8000_0000 else result


__all__ = ["Emulator", "Image", "PAGE", "Segment"]
