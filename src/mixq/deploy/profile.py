"""Executed-instruction counts on an emulated core, split per layer by marker calls (any ISA).

A ``UC_HOOK_BLOCK`` callback records how often each translated block runs; the instruction count
and the instruction classes of a block are decoded once (instruction lengths from the code bytes
by the emulator adapter, classes from the ISA's objdump through its record's ``classify``), so
the hook costs one dictionary update per block instead of a Python call per instruction. The
generated model calls ``mixq_layer_mark(i)`` before layer ``i`` and ``mixq_layer_mark(N)`` after
the last one; a block starting at that function switches the current layer to its first
argument. Instructions before the first mark go to segment -1.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Optional

from unicorn import UC_HOOK_BLOCK

from mixq.deploy.emulator import Emulator
from mixq.deploy.base_isas import base_record
from mixq.deploy.toolchain import find_toolchain
from mixq.errors import MixqError
from mixq.platform.cycles import CycleModel
from mixq.platform.memory_timing import MemoryTiming

MARK_FUNCTION = "mixq_layer_mark"


def objdump(elf: str | os.PathLike, record):
    """``(address, instruction hex, mnemonic, operands)`` of every instruction the objdump of
    ``record`` lists in an ELF (data words such as ``.word`` / ``.4byte`` included).

    Raises:
        ToolchainError: if objdump is missing.
    """
    tc = find_toolchain(record)
    out = subprocess.run([str(tc.objdump), "-d", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        # " 800000e:\tf913 ef01 \tldrsb.w\tlr, [r3, #1]!"
        parts = line.split("\t")
        if len(parts) < 3 or not parts[0].strip().endswith(":"):
            continue
        try:
            addr = int(parts[0].strip()[:-1], 16)
        except ValueError:
            continue
        yield (addr, parts[1].strip().replace(" ", ""), parts[2].strip(),
               parts[3] if len(parts) > 3 else "")


def disassemble(elf: str | os.PathLike, record) -> dict[int, tuple[str, int]]:
    """Instruction classes of an ELF's code: address -> (class, registers moved).

    Uses :func:`objdump` and the ``classify`` of ``record`` (an
    :class:`~mixq.deploy.isa.IsaRecord`); data words in literal pools are skipped.

    Raises:
        ToolchainError: if objdump is missing.
    """
    return {addr: record.classify(mnemonic, operands)
            for addr, _, mnemonic, operands in objdump(elf, record)
            if mnemonic and not mnemonic.startswith(".")}


@dataclass
class SegmentCount:
    """Executed instructions of one segment (one layer) and their classes.

    Attributes:
        instructions: executed instructions.
        classes: class -> count (the classes of the ISA's cycle model), plus
            ``multi_registers`` on ARM.
        fills: cache line fills ('flash', 'sram', 'writeback') when the profile simulated the
            platform's caches (:mod:`mixq.deploy.cache_model`), else empty.
    """

    instructions: int = 0
    classes: Counter = field(default_factory=Counter)
    fills: Counter = field(default_factory=Counter)

    def est_cycles(self, model: CycleModel, timing: Optional[MemoryTiming] = None) -> int:
        """Estimated cycles of this segment (an estimate: see :mod:`mixq.platform.cycles`),
        plus the memory stalls ``timing`` charges for its line fills."""
        return model.estimate(self.classes) + (timing.charge(self.fills) if timing else 0)


@dataclass
class InstructionProfile:
    """Instruction counts of one call.

    Attributes:
        total: all executed instructions of the call.
        segments: mark index -> counts; -1 is the code before the first mark, N (the last mark
            index) the code after the last layer.
        cycles: mark index -> cycles of a pipeline model (the Xpulp records' profiler), or None.
        cycles_note: what those cycles are.
        cluster_cycles: mark index -> cycles of the same model on the PULP cluster (the Xpulp
            records: serial code + the slowest core's program + fork/join), or None.
        layer_timing: mark index -> the timed programs of every core
            (:class:`mixq.deploy.xpulp_timing.LayerTiming`; the Xpulp records), or None.
    """

    total: SegmentCount
    segments: dict[int, SegmentCount]
    cycles: Optional[dict[int, int]] = None
    cycles_note: Optional[str] = None
    cluster_cycles: Optional[dict[int, int]] = None
    layer_timing: Optional[dict] = None

    @property
    def instructions(self) -> int:
        return self.total.instructions

    def layer_instructions(self, index: int) -> int:
        """Instructions executed between mark ``index`` and the next mark (0 if never marked)."""
        seg = self.segments.get(index)
        return seg.instructions if seg else 0


def profile_call(
    machine: Emulator,
    func: str,
    args: tuple = (),
    classes: dict[int, tuple[str, int]] | None = None,
    mark: str | None = MARK_FUNCTION,
    memory=None,
    timeout_s: float | None = None,
) -> InstructionProfile:
    """Call ``func`` on ``machine`` once while counting executed instructions.

    Args:
        machine: the emulated core (buffers already written).
        func, args: as :meth:`Emulator.call`.
        classes: :func:`disassemble` table of the image (default: computed from the ELF with
            the record of the machine's ISA).
        mark: marker function splitting the count per layer, or None (one segment, -1); ignored
            when the image does not define it.
        memory: a :class:`mixq.deploy.cache_model.MemoryCounter` to follow the call's
            instruction fetches and data accesses (line fills per segment), or None.
        timeout_s: wall-clock limit (default the machine's ``TIMEOUT_S``).

    Returns:
        The counts; the call's side effects on the buffers are those of a plain call.
    """
    uc = machine.uc
    if classes is None:
        classes = disassemble(machine.image.path, base_record(machine.ISA))
    mark_addr = machine.image.symbols.get(mark, -1) if mark else -1
    if mark and any(name.startswith(mark + ".") for name in machine.image.symbols):
        # GCC's IPA clones (mark.constprop.N) take no index argument: counts would be wrong.
        raise MixqError(
            f"{mark} was cloned by GCC's interprocedural optimizations; declare it "
            f"__attribute__((noipa)) so each call passes its layer index"
        )
    blocks: dict[int, tuple[int, Counter]] = {}
    first_arg = machine.ARG_REGS[0]
    runs: dict[int, Counter] = defaultdict(Counter)  # segment -> block key -> executions
    state = {"seg": runs[-1]}

    def on_block(uc_, address, size, _user):
        if address == mark_addr:
            state["seg"] = runs[uc_.reg_read(first_arg)]
            if memory is not None:
                memory.enter(uc_.reg_read(first_arg))
        state["seg"][(address << 16) | size] += 1
        if memory is not None:
            memory.fetch(address, size)

    handles = [uc.hook_add(UC_HOOK_BLOCK, on_block)]
    if memory is not None:
        handles += memory.install(uc)
    uc.ctl_flush_tb()  # blocks translated before the hook existed would not call it
    try:
        machine.call(func, args, timeout_s)
    finally:
        for handle in handles:
            uc.hook_del(handle)
        uc.ctl_flush_tb()

    def block_info(key: int) -> tuple[int, Counter]:
        if key not in blocks:
            address, size = key >> 16, key & 0xFFFF
            cls: Counter = Counter()
            addr, n = address, 0
            for length in machine.instruction_lengths(bytes(uc.mem_read(address, size))):
                kind, regs = classes.get(addr, ("alu", 0))
                cls[kind] += 1
                cls["multi_registers"] += regs
                addr += length
                n += 1
            blocks[key] = (n, cls)
        return blocks[key]

    total = SegmentCount()
    segments: dict[int, SegmentCount] = {}
    fills = memory.fills if memory is not None else {}
    for seg_id in fills:
        runs.setdefault(seg_id, Counter())
    for seg_id, executed in sorted(runs.items()):
        seg = SegmentCount(fills=Counter(fills.get(seg_id, {})))
        for key, times in executed.items():
            n, cls = block_info(key)
            seg.instructions += n * times
            for kind, c in cls.items():
                seg.classes[kind] += c * times
        segments[seg_id] = seg
        total.instructions += seg.instructions
        total.classes.update(seg.classes)
        total.fills.update(seg.fills)
    for kind in base_record(machine.ISA).cycle_model.classes:
        total.classes.setdefault(kind, 0)
    return InstructionProfile(total, segments)


__all__ = ["InstructionProfile", "MARK_FUNCTION", "SegmentCount", "disassemble", "profile_call"]
