"""Run RV32IMC ELF functions on an emulated RISC-V core (Unicorn), no start-up code.

The RISC-V counterpart of :mod:`mixq.deploy.emulator`: the ELF's PT_LOAD segments are written at
their addresses (the rest of ``.bss`` zeroed), caller buffers live in their own mapped regions,
each followed by an unmapped guard page, and a function is called directly: arguments in a0-a3,
``sp`` at the linker's ``__stack_top``, ``gp`` at ``__global_pointer$`` (linker relaxation makes
small-data accesses gp-relative), ``ra`` at a trap page; the run stops when the function returns
there.

Unicorn's RISC-V CPUs implement a superset of RV32IMC; the ELF is compiled with
``-march=rv32imc`` (:mod:`mixq.deploy.riscv`), so only RV32IMC instructions execute.
Instruction counts per layer use a ``UC_HOOK_BLOCK`` callback, like :mod:`mixq.deploy.profile`.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection
from unicorn import UC_ARCH_RISCV, UC_HOOK_BLOCK, UC_HOOK_MEM_INVALID, UC_MODE_RISCV32, Uc, UcError
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

from mixq.deploy.emulator import Segment
from mixq.errors import MixqError

PAGE = 0x1000
TRAP_ADDR = 0x0F00_0000       # a mapped page of `ebreak`s; ra points here
BUFFER_BASE = 0x3000_0000     # caller buffers, each followed by an unmapped guard page
ARG_REGS = (UC_RISCV_REG_A0, UC_RISCV_REG_A1, UC_RISCV_REG_A2, UC_RISCV_REG_A3)
EBREAK = (0x0010_0073).to_bytes(4, "little")


def _page_up(n: int) -> int:
    return -(-n // PAGE) * PAGE


@dataclass(frozen=True, eq=False)
class Rv32Image:
    """A linked RV32 ELF, read once (see :class:`mixq.deploy.emulator.ArmImage`).

    Attributes:
        path: the ELF file.
        segments: loadable segments.
        symbols: name -> address.
        stack_top, ram_start: ``__stack_top`` and ``__ram_start`` of ``rv32.ld``.
        global_pointer: ``__global_pointer$`` (0 when the ELF has none).
    """

    path: Path
    segments: tuple[Segment, ...]
    symbols: dict
    stack_top: int
    ram_start: int
    global_pointer: int

    def address(self, name: str) -> int:
        """Address of symbol ``name``.

        Raises:
            MixqError: if the ELF does not define it.
        """
        try:
            return self.symbols[name]
        except KeyError:
            raise MixqError(f"symbol '{name}' not found in {self.path.name}; "
                            f"build it with entries=('{name}',)") from None

    def symbol_at(self, addr: int) -> str:
        """Name of the function containing ``addr`` (best effort, for error messages)."""
        return max(((a, n) for n, a in self.symbols.items() if a <= addr), default=(0, "?"))[1]


def load_rv32_image(elf: str | os.PathLike) -> Rv32Image:
    """Read an RV32 ELF's loadable segments and symbols (pyelftools).

    Raises:
        MixqError: not a 32-bit RISC-V ELF, or not linked with mixq's ``rv32.ld``.
    """
    path = Path(elf)
    with open(path, "rb") as f:
        ef = ELFFile(f)
        if ef["e_machine"] != "EM_RISCV" or ef.elfclass != 32:
            raise MixqError(f"{path.name} is not an RV32 ELF; build it with mixq.deploy.riscv")
        segments = tuple(Segment(seg["p_paddr"] if seg["p_vaddr"] == 0 else seg["p_vaddr"],
                                 seg.data(), seg["p_memsz"])
                         for seg in ef.iter_segments()
                         if seg["p_type"] == "PT_LOAD" and seg["p_memsz"] > 0)
        symbols = {}
        for sec in ef.iter_sections():
            if isinstance(sec, SymbolTableSection):
                for sym in sec.iter_symbols():
                    if sym.name and sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT",
                                                               "STT_NOTYPE"):
                        symbols.setdefault(sym.name, sym["st_value"])
    if "__stack_top" not in symbols or "__ram_start" not in symbols:
        raise MixqError(f"{path.name} has no __stack_top; link it with mixq's rv32.ld")
    return Rv32Image(path, segments, symbols, symbols["__stack_top"], symbols["__ram_start"],
                     symbols.get("__global_pointer$", 0))


class Rv32Core:
    """An emulated RV32IMC core holding one ELF image and named caller buffers.

    Same interface as :class:`mixq.deploy.emulator.CortexM7` (``write``, ``fill``, ``read``,
    ``reset_data``, ``call``), so a model runner drives either.

    Args:
        image: the loaded ELF.
        buffers: buffer name -> size in bytes, each ending at a page boundary with an unmapped
            page after it (an overrun faults).
    """

    def __init__(self, image: Rv32Image, buffers: dict[str, int] | None = None):
        self.image = image
        self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV32)
        self.uc.ctl_set_cpu_model(UC_CPU_RISCV32_SIFIVE_E31)  # RV32IMAC, before any mem_map
        ram_lo, ram_hi = image.ram_start, image.stack_top
        self.uc.mem_map(ram_lo, _page_up(ram_hi - ram_lo))
        spans = sorted((s.addr // PAGE * PAGE, _page_up(s.addr + s.mem_bytes))
                       for s in image.segments if not ram_lo <= s.addr < ram_hi)
        merged: list[list[int]] = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        for lo, hi in merged:
            self.uc.mem_map(lo, hi - lo)
        self.uc.mem_map(TRAP_ADDR, PAGE)
        self.uc.mem_write(TRAP_ADDR, EBREAK * (PAGE // 4))
        self._bad_access: list[int] = []
        self.uc.hook_add(UC_HOOK_MEM_INVALID,
                         lambda uc, access, addr, size, value, user: self._bad_access.append(addr)
                         or False)
        self.buffers: dict[str, tuple[int, int]] = {}
        base = BUFFER_BASE
        for name, size in (buffers or {}).items():
            region = _page_up(max(int(size), 1))
            self.uc.mem_map(base, region)
            self.buffers[name] = (base + region - int(size), int(size))
            base += region + PAGE
        self.reset_data()

    def reset_data(self) -> None:
        """Rewrite the initial RAM image (``.data``, zeroed ``.bss``) before a fresh call."""
        for seg in self.image.segments:
            self.uc.mem_write(seg.addr, seg.data + bytes(seg.mem_bytes - len(seg.data)))

    def buffer_address(self, name: str) -> int:
        return self.buffers[name][0]

    def write(self, name: str, data) -> None:
        """Copy bytes into buffer ``name`` (at most its size)."""
        addr, size = self.buffers[name]
        data = bytes(np.ascontiguousarray(data).tobytes() if isinstance(data, np.ndarray) else data)
        if len(data) > size:
            raise ValueError(f"{len(data)} bytes do not fit buffer '{name}' ({size} bytes)")
        self.uc.mem_write(addr, data)

    def fill(self, name: str, byte: int) -> None:
        addr, size = self.buffers[name]
        self.uc.mem_write(addr, bytes([byte]) * size)

    def read(self, name: str, n: int | None = None) -> bytes:
        addr, size = self.buffers[name]
        return bytes(self.uc.mem_read(addr, size if n is None else n))

    def _describe(self, addr: int) -> str:
        for name, (base, size) in self.buffers.items():
            if base + size <= addr < base + size + PAGE:
                return f", {addr - base - size} bytes past the end of '{name}'"
        return ""

    def call(self, func: str, args: tuple = (), timeout_s: float = 300.0) -> int:
        """Call ``func`` with up to four int/buffer-name arguments; returns a0 as int32.

        Raises:
            MixqError: an emulator fault (named function and address) or a timeout.
        """
        if len(args) > len(ARG_REGS):
            raise ValueError("at most four arguments (a0-a3)")
        for reg, arg in zip(ARG_REGS, args):
            value = self.buffer_address(arg) if isinstance(arg, str) else int(arg)
            self.uc.reg_write(reg, value & 0xFFFF_FFFF)
        self.uc.reg_write(UC_RISCV_REG_SP, self.image.stack_top)
        self.uc.reg_write(UC_RISCV_REG_GP, self.image.global_pointer)
        self.uc.reg_write(UC_RISCV_REG_RA, TRAP_ADDR)
        self._bad_access.clear()
        try:
            self.uc.emu_start(self.image.address(func), TRAP_ADDR, timeout=int(timeout_s * 1e6))
        except UcError as e:
            pc = self.uc.reg_read(UC_RISCV_REG_PC)
            where = (f" of 0x{self._bad_access[-1]:08x}{self._describe(self._bad_access[-1])}"
                     if self._bad_access else "")
            raise MixqError(f"emulated RV32 fault in {func} ({e}{where}) at pc 0x{pc:08x} in "
                            f"{self.image.symbol_at(pc)}; check the kernel's buffer bounds") \
                from None
        pc = self.uc.reg_read(UC_RISCV_REG_PC)
        if pc != TRAP_ADDR:
            raise MixqError(f"{func} did not return within {timeout_s:.0f} s (pc 0x{pc:08x} in "
                            f"{self.image.symbol_at(pc)}); raise timeout_s or check for a loop")
        a0 = self.uc.reg_read(UC_RISCV_REG_A0)
        return a0 - (1 << 32) if a0 & 0x8000_0000 else a0


def rv_lengths(code: bytes) -> list[int]:
    """Byte lengths of consecutive RV32IMC instructions: 2 when the low two bits are not 0b11.

    Example:
        >>> rv_lengths(bytes.fromhex("8280" "93070000" "0145"))
        [2, 4, 2]
    """
    out, i = [], 0
    while i + 1 < len(code):
        n = 4 if code[i] & 0b11 == 0b11 else 2
        out.append(n)
        i += n
    return out


@dataclass
class Rv32Profile:
    """Executed instructions of one call: ``total`` and per mark segment (-1 before the first
    mark), each a Counter of instruction classes (see :func:`mixq.deploy.riscv.classify_rv`)
    with the key ``"instructions"`` holding the count."""

    total: Counter
    segments: dict

    @property
    def instructions(self) -> int:
        return int(self.total["instructions"])


def profile_rv32_call(core: Rv32Core, func: str, args: tuple, classes: dict,
                      mark: str = "mixq_layer_mark") -> Rv32Profile:
    """Call ``func`` once, counting executed instructions per ``mark(i)`` segment.

    Args:
        core: the emulated core (buffers already written).
        func, args: as :meth:`Rv32Core.call`.
        classes: address -> instruction class (from the disassembly).
        mark: marker function; the block starting at its address switches the segment to a0.

    Raises:
        MixqError: the marker was cloned by GCC (no index argument) or an emulator fault.
    """
    symbols = core.image.symbols
    if any(name.startswith(mark + ".") for name in symbols):
        raise MixqError(f"{mark} was cloned by GCC's interprocedural optimizations; declare it "
                        "__attribute__((noipa)) so each call passes its layer index")
    mark_addr = symbols.get(mark, -1)
    runs: dict[int, Counter] = defaultdict(Counter)
    state = {"seg": runs[-1]}

    def on_block(uc_, address, size, _user):
        if address == mark_addr:
            state["seg"] = runs[uc_.reg_read(UC_RISCV_REG_A0)]
        state["seg"][(address << 16) | size] += 1

    handle = core.uc.hook_add(UC_HOOK_BLOCK, on_block)
    core.uc.ctl_flush_tb()
    try:
        core.call(func, args)
    finally:
        core.uc.hook_del(handle)
        core.uc.ctl_flush_tb()
    blocks: dict[int, Counter] = {}

    def block_classes(key: int) -> Counter:
        if key not in blocks:
            address, size = key >> 16, key & 0xFFFF
            cls: Counter = Counter()
            for length in rv_lengths(bytes(core.uc.mem_read(address, size))):
                cls[classes.get(address, "alu")] += 1
                cls["instructions"] += 1
                address += length
            blocks[key] = cls
        return blocks[key]

    total: Counter = Counter()
    segments = {}
    for seg_id, executed in sorted(runs.items()):
        seg: Counter = Counter()
        for key, times in executed.items():
            for kind, c in block_classes(key).items():
                seg[kind] += c * times
        segments[seg_id] = seg
        total.update(seg)
    return Rv32Profile(total, segments)
