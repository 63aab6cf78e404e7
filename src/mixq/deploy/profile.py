"""Executed-instruction counts on the emulated Cortex-M7, split per layer by marker calls.

A ``UC_HOOK_BLOCK`` callback records how often each translated block runs; the instruction count
and the instruction classes of a block are decoded once (Thumb-2 lengths from the code bytes,
classes from ``arm-none-eabi-objdump``), so the hook costs one dictionary update per block instead
of a Python call per instruction. The generated model calls ``mixq_layer_mark(i)`` before layer
``i`` and ``mixq_layer_mark(N)`` after the last one; a block starting at that function switches
the current layer to its r0 argument. Instructions before the first mark go to segment -1.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from unicorn import UC_HOOK_BLOCK
from unicorn.arm_const import UC_ARM_REG_R0

from mixq.platform.cycles import CLASSES, CORTEX_M7, CycleModel, classify
from mixq.deploy.emulator import CortexM7
from mixq.deploy.toolchain import find_arm_toolchain
from mixq.errors import MixqError

MARK_FUNCTION = "mixq_layer_mark"


def disassemble(elf: str | os.PathLike) -> dict[int, tuple[str, int]]:
    """Instruction classes of an ELF's code: address -> (class, registers moved).

    Uses ``arm-none-eabi-objdump -d``; data words in literal pools are skipped.

    Raises:
        ToolchainError: if objdump is missing.
    """
    tc = find_arm_toolchain()
    out = subprocess.run([str(tc.objdump), "-d", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    table: dict[int, tuple[str, int]] = {}
    for line in out.splitlines():
        # " 800000e:\tf913 ef01 \tldrsb.w\tlr, [r3, #1]!"
        parts = line.split("\t")
        if len(parts) < 3 or not parts[0].strip().endswith(":"):
            continue
        mnemonic = parts[2].strip()
        if not mnemonic or mnemonic.startswith("."):
            continue
        try:
            addr = int(parts[0].strip()[:-1], 16)
        except ValueError:
            continue
        table[addr] = classify(mnemonic, parts[3] if len(parts) > 3 else "")
    return table


def thumb_lengths(code: bytes) -> list[int]:
    """Byte lengths of the consecutive Thumb-2 instructions in ``code`` (2 or 4 each).

    A first halfword whose top five bits are 0b11101, 0b11110 or 0b11111 starts a 32-bit
    instruction (Armv7-M ARM, A5.1).

    Example:
        >>> thumb_lengths(bytes.fromhex("002a" "13f901ef" "7047"))
        [2, 4, 2]
    """
    lengths, i = [], 0
    while i + 1 < len(code):
        hw = code[i] | (code[i + 1] << 8)
        n = 4 if (hw >> 11) in (0b11101, 0b11110, 0b11111) else 2
        lengths.append(n)
        i += n
    return lengths


@dataclass
class SegmentCount:
    """Executed instructions of one segment (one layer) and their classes.

    Attributes:
        instructions: executed instructions.
        classes: class -> count (see :data:`mixq.platform.cycles.CLASSES`), plus
            ``multi_registers``.
    """

    instructions: int = 0
    classes: Counter = field(default_factory=Counter)

    def est_cycles(self, model: CycleModel | None = None) -> int:
        """Estimated cycles of this segment (an estimate: see :mod:`mixq.platform.cycles`)."""
        return (model or CORTEX_M7).estimate(self.classes)


@dataclass
class InstructionProfile:
    """Instruction counts of one call.

    Attributes:
        total: all executed instructions of the call.
        segments: mark index -> counts; -1 is the code before the first mark, N (the last mark
            index) the code after the last layer.
    """

    total: SegmentCount
    segments: dict[int, SegmentCount]

    @property
    def instructions(self) -> int:
        return self.total.instructions

    def layer_instructions(self, index: int) -> int:
        """Instructions executed between mark ``index`` and the next mark (0 if never marked)."""
        seg = self.segments.get(index)
        return seg.instructions if seg else 0


def profile_call(
    machine: CortexM7,
    func: str,
    args: tuple = (),
    classes: dict[int, tuple[str, int]] | None = None,
    mark: str | None = MARK_FUNCTION,
) -> InstructionProfile:
    """Call ``func`` on ``machine`` once while counting executed instructions.

    Args:
        machine: the emulated core (buffers already written).
        func, args: as :meth:`CortexM7.call`.
        classes: :func:`disassemble` table of the image (default: computed from the ELF).
        mark: marker function splitting the count per layer, or None (one segment, -1); ignored
            when the image does not define it.

    Returns:
        The counts; the call's side effects on the buffers are those of a plain call.
    """
    uc = machine.uc
    if classes is None:
        classes = disassemble(machine.image.path)
    mark_addr = machine.image.symbols.get(mark, -1) if mark else -1
    if mark and any(name.startswith(mark + ".") for name in machine.image.symbols):
        # GCC's IPA clones (mark.constprop.N) take no index argument: counts would be wrong.
        raise MixqError(
            f"{mark} was cloned by GCC's interprocedural optimizations; declare it "
            f"__attribute__((noipa)) so each call passes its layer index"
        )
    blocks: dict[int, tuple[int, Counter]] = {}
    runs: dict[int, Counter] = defaultdict(Counter)  # segment -> block key -> executions
    state = {"seg": runs[-1]}

    def on_block(uc_, address, size, _user):
        if address == mark_addr:
            state["seg"] = runs[uc_.reg_read(UC_ARM_REG_R0)]
        state["seg"][(address << 16) | size] += 1

    handle = uc.hook_add(UC_HOOK_BLOCK, on_block)
    uc.ctl_flush_tb()  # blocks translated before the hook existed would not call it
    try:
        machine.call(func, args)
    finally:
        uc.hook_del(handle)
        uc.ctl_flush_tb()

    def block_info(key: int) -> tuple[int, Counter]:
        if key not in blocks:
            address, size = key >> 16, key & 0xFFFF
            cls: Counter = Counter()
            addr, n = address, 0
            for length in thumb_lengths(bytes(uc.mem_read(address, size))):
                kind, regs = classes.get(addr, ("alu", 0))
                cls[kind] += 1
                cls["multi_registers"] += regs
                addr += length
                n += 1
            blocks[key] = (n, cls)
        return blocks[key]

    total = SegmentCount()
    segments: dict[int, SegmentCount] = {}
    for seg_id, executed in sorted(runs.items()):
        seg = SegmentCount()
        for key, times in executed.items():
            n, cls = block_info(key)
            seg.instructions += n * times
            for kind, c in cls.items():
                seg.classes[kind] += c * times
        segments[seg_id] = seg
        total.instructions += seg.instructions
        total.classes.update(seg.classes)
    for kind in CLASSES:
        total.classes.setdefault(kind, 0)
    return InstructionProfile(total, segments)
