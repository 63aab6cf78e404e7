"""A functional Xpulp core: Unicorn's RV32 core plus a Python interpreter for Xpulp code.

Unicorn does not know Xpulp: an Xpulp word raises an illegal-instruction exception. The
``UC_HOOK_INTR`` callback of :class:`XpulpCore` then runs :meth:`XpulpCore.run_xpulp`: a small
interpreter that executes that instruction *and every Xpulp instruction after it* (hardware
loops included) until the next plain RV32IMC instruction, where Unicorn resumes. Registers are
read once per such run (one batch read) and written back once; memory is read a page at a time
and written through; each static instruction is decoded and compiled once
(:func:`mixq.deploy.xpulp_exec.compile_insn`, cached per address). A PULP-NN-style MatMul
inner loop (a hardware loop of ``p.lw`` and ``pv.sdot*``) is thus one trap per call instead of
one per instruction. (Unicorn reports the pc of the instruction *after* the faulting one in the
trap hook; the handler checks that the word there is Xpulp and stops with an error otherwise.)

Hardware loops whose last instruction is plain RV32IMC cost a hook at their loop end: the
executable sections are scanned once for ``lp.setup`` / ``lp.setupi`` / ``lp.endi`` words,
whose end addresses are pc-relative constants, and a ``UC_HOOK_CODE`` is placed on the
instruction after each end. It fires once the last body instruction has run and applies
:func:`mixq.deploy.xpulp_exec.loop_end_target`. (Leaving a loop body by a branch to ``end + 4``
while its count is non-zero is therefore not supported; mixq's kernels never do.)

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
from mixq.deploy.xpulp import M32, Hart, decode, is_xpulpnn
from mixq.deploy.xpulp_exec import compile_insn, loop_end_target
from mixq.errors import MixqError

ILLEGAL_INSTRUCTION = 2  # RISC-V exception cause
PAGE_BITS = 12
_REGS = tuple(UC_RISCV_REG_X0 + r for r in range(32))


class UnicornHart(Hart):
    """A :class:`Hart` over a live Unicorn engine: registers in a list (:meth:`pull` reads
    them from the engine, :meth:`push` writes back the changed ones), memory read a page at a
    time (cached until the next :meth:`pull`) and written through."""

    def __init__(self, uc):
        super().__init__()
        self.uc = uc
        self._pages: dict[int, bytearray] = {}
        self._pulled: list = []

    def pull(self) -> None:
        self.regs[:] = self.uc.reg_read_batch(_REGS)  # in place: closures hold the list
        self.regs[0] = 0
        self._pulled = list(self.regs)
        self._pages.clear()

    def push(self) -> None:
        changed = [(_REGS[r], v) for r, v in enumerate(self.regs) if r and v != self._pulled[r]]
        if changed:
            self.uc.reg_write_batch(changed)

    def load(self, addr: int, size: int) -> int:
        off = addr & ((1 << PAGE_BITS) - 1)
        page = self._pages.get(addr >> PAGE_BITS)
        if page is None:
            base = addr - off
            page = self._pages[addr >> PAGE_BITS] = bytearray(
                self.uc.mem_read(base, 1 << PAGE_BITS))
        if off + size <= len(page):
            return int.from_bytes(page[off:off + size], "little")
        return int.from_bytes(self.uc.mem_read(addr, size), "little")

    def store(self, addr: int, size: int, value: int) -> None:
        data = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        self.uc.mem_write(addr, data)
        off = addr & ((1 << PAGE_BITS) - 1)
        page = self._pages.get(addr >> PAGE_BITS)
        if page is not None:
            if off + size <= len(page):
                page[off:off + size] = data
            else:
                del self._pages[addr >> PAGE_BITS]
        if (addr + size - 1) >> PAGE_BITS != addr >> PAGE_BITS:
            self._pages.pop((addr + size - 1) >> PAGE_BITS, None)


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
        self._compiled: dict[int, tuple] = {}  # pc -> (closure, mnemonic), None: not Xpulp
        self._loop_ends = frozenset(loop_end_addresses(image))
        self.uc.hook_add(UC_HOOK_INTR, self._on_trap)
        for end in self._loop_ends:
            self.uc.hook_add(UC_HOOK_CODE, self._on_loop_end, begin=end + 4, end=end + 4,
                             user_data=end)

    def _stop(self, message: str) -> None:
        self._error = message
        self.uc.emu_stop()

    def _compile(self, pc: int):
        """(closure, mnemonic) of the Xpulp instruction at ``pc``; ``None`` if it is plain
        RV32IMC; raises :class:`MixqError` for an unknown word or XpulpNN on an XpulpV2 core."""
        try:
            word = self.hart.load(pc, 4)
        except UcError:
            word = None
        insn = None if word is None else decode(word)
        if insn is None:
            if word is not None and word & 0x7F not in (0x0B, 0x2B, 0x57, 0x7B):
                return None  # a plain instruction (the interpreter stops there)
            where = "?" if word is None else f"0x{word:08x}"
            raise MixqError(f"illegal instruction {where} at pc 0x{pc:08x} "
                            "(not RV32IMC nor Xpulp)")
        if not self.xpulpnn and is_xpulpnn(insn):
            raise MixqError(f"{insn.name} at pc 0x{pc:08x} is XpulpNN; this core has XpulpV2 "
                            "only")
        return compile_insn(insn), insn.name

    def run_xpulp(self, pc: int) -> int:
        """Execute the Xpulp instructions from ``pc`` (the trapped one) up to the first plain
        RV32IMC instruction, taking hardware-loop jumps; returns that instruction's address."""
        h, counts, compiled, ends, trace = (self.hart, self.xpulp_counts, self._compiled,
                                            self._loop_ends, self._trace)
        h.pull()
        run_lo = run_hi = pc  # executed straight-line span after the trapped instruction
        first = True
        try:
            while True:
                entry = compiled.get(pc, False)
                if entry is False:
                    entry = compiled[pc] = self._compile(pc)
                if entry is None:
                    if first:
                        raise MixqError(f"illegal instruction 0x{h.load(pc, 4):08x} at pc "
                                        f"0x{pc:08x} (not RV32IMC nor Xpulp)")
                    break
                if trace is not None and not first:
                    if pc != run_hi:
                        if run_hi != run_lo:
                            trace.append([run_lo, run_hi - run_lo])
                        run_lo = pc
                    run_hi = pc + 4
                fn, name = entry
                counts[name] += 1
                try:
                    nxt = fn(h, pc)
                except UcError as e:
                    raise MixqError(f"{name} at pc 0x{pc:08x}: memory fault ({e})") from None
                if pc in ends:
                    target = loop_end_target(h, pc)
                    if target is not None:
                        nxt = target
                pc, first = nxt & M32, False
        finally:
            h.push()
        if trace is not None and run_hi != run_lo:
            trace.append([run_lo, run_hi - run_lo])
        return pc

    def _on_trap(self, uc, intno, _user) -> None:
        pc = uc.reg_read(UC_RISCV_REG_PC) - 4  # Unicorn reports the next pc
        if intno != ILLEGAL_INSTRUCTION:
            self._stop(f"exception {intno} near pc 0x{pc + 4:08x}")
            return
        try:
            nxt = self.run_xpulp(pc)
        except (MixqError, UcError) as e:
            self._stop(str(e))
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

    def trace(self, func: str, args: tuple = (), mark: str = "mixq_layer_mark",
              fork: str = "mixq_pulp_fork") -> dict:
        """Call ``func`` once, recording the executed blocks per ``mark(i)`` segment and, inside
        it, per cluster core (``fork(c)`` starts core ``c``'s program, ``fork(-1)`` the barrier
        back to serial code; see ``runtime/pulp/mixq_pulp.h``).

        Returns:
            ``(segment, core)`` (segment -1 before the first mark, core -1 for serial code) ->
            list of ``[address, bytes]`` blocks in execution order (a block cut short by a
            hardware-loop jump is truncated there).
        """
        mark_addr = self.image.symbols.get(mark, -1)
        fork_addr = self.image.symbols.get(fork, -1)
        segments: dict[tuple[int, int], list] = {(-1, -1): []}
        where = [-1, -1]
        self._trace = segments[-1, -1]

        def on_block(uc, address, size, _user):
            if address == mark_addr or address == fork_addr:
                a0 = uc.reg_read(UC_RISCV_REG_A0)
                a0 = a0 - (1 << 32) if a0 >> 31 else a0
                where[:] = [a0, -1] if address == mark_addr else [where[0], a0]
                self._trace = segments.setdefault(tuple(where), [])
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
