"""A functional Xpulp core: Unicorn's RV32 core plus Python handlers for the Xpulp instructions.

Unicorn does not know Xpulp: an Xpulp word raises an illegal-instruction exception. The
``UC_HOOK_INTR`` callback of :class:`XpulpCore` decodes it (:func:`mixq.deploy.xpulp.decode`),
executes it (:func:`mixq.deploy.xpulp_exec.execute`) on the live registers and memory, and resumes
at the next pc. (Unicorn reports the pc of the instruction *after* the faulting one in this hook;
the handler checks that the word before it is Xpulp and stops with an error otherwise.)

Hardware loops cost a hook only at loop ends: the executable sections are scanned once for
``lp.setup`` / ``lp.setupi`` / ``lp.endi`` words, whose end addresses are pc-relative constants,
and a ``UC_HOOK_CODE`` is placed on the instruction after each end. It fires once the last body
instruction has run and applies :func:`mixq.deploy.xpulp_exec.loop_end_target`. (Leaving a loop
body by a branch to ``end + 4`` while its count is non-zero is therefore not supported; mixq's
kernels never do.)

Every executed Xpulp instruction is counted by mnemonic in :attr:`XpulpCore.xpulp_counts`.
"""

from __future__ import annotations

from collections import Counter

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from unicorn import UC_HOOK_BLOCK, UC_HOOK_CODE, UC_HOOK_INTR, UcError
from unicorn.riscv_const import UC_RISCV_REG_A0, UC_RISCV_REG_PC, UC_RISCV_REG_X0

from mixq.deploy.emulator import Image
from mixq.deploy.riscv import Rv32Core
from mixq.deploy.xpulp import Hart, decode, is_xpulpnn
from mixq.deploy.xpulp_exec import execute, loop_end_target
from mixq.errors import MixqError

ILLEGAL_INSTRUCTION = 2  # RISC-V exception cause


class UnicornHart(Hart):
    """A :class:`Hart` whose registers and memory are a live Unicorn engine's."""

    def __init__(self, uc):
        super().__init__()
        self.uc = uc

    def get(self, r: int) -> int:
        return self.uc.reg_read(UC_RISCV_REG_X0 + r) if r else 0

    def set(self, r: int, value: int) -> None:
        if r:
            self.uc.reg_write(UC_RISCV_REG_X0 + r, value & 0xFFFF_FFFF)

    def load(self, addr: int, size: int) -> int:
        return int.from_bytes(self.uc.mem_read(addr, size), "little")

    def store(self, addr: int, size: int, value: int) -> None:
        self.uc.mem_write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))


def loop_end_addresses(image: Image) -> list[int]:
    """End addresses of every hardware loop the executable sections of ``image`` can set up.

    Scans each 2-byte-aligned 32-bit word of the ``SHF_EXECINSTR`` sections for ``lp.setup``,
    ``lp.setupi`` and ``lp.endi`` (pc-relative ends).
    """
    ends = set()
    with open(image.path, "rb") as f:
        for sec in ELFFile(f).iter_sections():
            if not sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR or sec["sh_type"] != "SHT_PROGBITS":
                continue
            data, base = sec.data(), sec["sh_addr"]
            for off in range(0, len(data) - 3, 2):
                if data[off] & 0x7F != 0x7B:
                    continue
                insn = decode(int.from_bytes(data[off:off + 4], "little"))
                if insn is None:
                    continue
                pc = base + off
                if insn.name in ("lp.setup", "lp.endi"):
                    ends.add(pc + (insn.imm << 1))
                elif insn.name == "lp.setupi":
                    ends.add(pc + (insn.imm2 << 1))
    return sorted(ends)


class XpulpCore(Rv32Core):
    """An emulated RI5CY-class core: RV32IMC on Unicorn plus XpulpV2/XpulpNN in Python.

    Same interface as :class:`mixq.deploy.riscv.Rv32Core`. :attr:`xpulpnn` False (the
    :class:`XpulpV2Core` of GAP8 / ``pulp-open``) makes a nibble or crumb instruction an error.

    Args:
        image, buffers: as :class:`Rv32Core`.
    """

    xpulpnn = True

    def __init__(self, image: Image, buffers: dict[str, int] | None = None):
        super().__init__(image, buffers)
        self.hart = UnicornHart(self.uc)
        self.xpulp_counts: Counter = Counter()
        self._error: str | None = None
        self._trace: list | None = None  # executed blocks [address, bytes] while tracing
        self.uc.hook_add(UC_HOOK_INTR, self._on_trap)
        for end in loop_end_addresses(image):
            self.uc.hook_add(UC_HOOK_CODE, self._on_loop_end, begin=end + 4, end=end + 4,
                             user_data=end)

    def _stop(self, message: str) -> None:
        self._error = message
        self.uc.emu_stop()

    def _on_trap(self, uc, intno, _user) -> None:
        pc = uc.reg_read(UC_RISCV_REG_PC) - 4  # Unicorn reports the next pc
        if intno != ILLEGAL_INSTRUCTION:
            self._stop(f"exception {intno} near pc 0x{pc + 4:08x}")
            return
        try:
            word = int.from_bytes(uc.mem_read(pc, 4), "little")
        except UcError:
            word = None
        insn = None if word is None else decode(word)
        if insn is None:
            where = "?" if word is None else f"0x{word:08x}"
            self._stop(f"illegal instruction {where} at pc 0x{pc:08x} (not RV32IMC nor Xpulp)")
            return
        if not self.xpulpnn and is_xpulpnn(insn):
            self._stop(f"{insn.name} at pc 0x{pc:08x} is XpulpNN; this core has XpulpV2 only")
            return
        self.xpulp_counts[insn.name] += 1
        try:
            nxt = execute(insn, self.hart, pc)
        except UcError as e:
            self._stop(f"{insn.name} at pc 0x{pc:08x}: memory fault ({e})")
            return
        uc.reg_write(UC_RISCV_REG_PC, nxt)

    def _on_loop_end(self, uc, address, _size, end) -> None:
        target = loop_end_target(self.hart, end)
        if target is not None:
            if self._trace:  # the block holding end + 4 stops there
                block = self._trace[-1]
                if block[0] <= address < block[0] + block[1]:
                    block[1] = address - block[0]
            uc.reg_write(UC_RISCV_REG_PC, target)

    def trace(self, func: str, args: tuple = (), mark: str = "mixq_layer_mark") -> dict:
        """Call ``func`` once, recording the executed blocks per ``mark(i)`` segment.

        Returns:
            segment (-1 before the first mark) -> list of ``[address, bytes]`` blocks in
            execution order (a block cut short by a hardware-loop jump is truncated there).
        """
        mark_addr = self.image.symbols.get(mark, -1)
        segments: dict[int, list] = {-1: []}
        self._trace = segments[-1]

        def on_block(uc, address, size, _user):
            if address == mark_addr:
                self._trace = segments.setdefault(uc.reg_read(UC_RISCV_REG_A0), [])
            self._trace.append([address, size])

        handle = self.uc.hook_add(UC_HOOK_BLOCK, on_block)
        self.uc.ctl_flush_tb()
        try:
            self.call(func, args)
        finally:
            self.uc.hook_del(handle)
            self.uc.ctl_flush_tb()
            self._trace = None
        return segments

    def call(self, func: str, args: tuple = (), timeout_s: float = 300.0) -> int:
        """As :meth:`Rv32Core.call`; also clears the hardware-loop registers first.

        Raises:
            MixqError: an emulator fault, an unknown instruction or a timeout.
        """
        self.hart.lp_count[:] = [0, 0]
        self._error = None
        try:
            result = super().call(func, args, timeout_s)
        except MixqError:
            if self._error is None:
                raise
            result = None
        if self._error is not None:
            raise MixqError(f"emulated Xpulp core stopped in {func}: {self._error}") from None
        return result


class XpulpV2Core(XpulpCore):
    """A RI5CY core with XpulpV2 only (GAP8's cluster, ``pulp-open``): no nibble / crumb SIMD."""

    xpulpnn = False
