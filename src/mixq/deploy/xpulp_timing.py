"""Cycles of an executed instruction stream on a RI5CY-class core: a pipeline MODEL.

Single issue, one instruction per cycle, plus (CV32E40P / RI5CY user manuals, "Pipeline" and
instruction timing tables):

==============================  ======================================================
event                           cycles
==============================  ======================================================
any instruction                 1 (ALU, Xpulp SIMD and dot products, stores, ``mul``)
load-use                        +1 when the next instruction reads a load's destination
                                (``lw``/``lh``/``lb``/``lhu``/``lbu`` and the Xpulp
                                ``p.l*`` forms)
taken branch                    +2 (3 in all; not taken: 1)
jump (``jal``, ``jalr``)        +1 (2 in all)
``mulh``/``mulhu``/``mulhsu``   +4 (5 in all)
``div``/``rem``                 +34 (35, the manual's upper bound; 3-35 data dependent)
hardware-loop jump back         0 (zero-overhead loops)
==============================  ======================================================

Instruction fetch (an ideal instruction cache) is not modelled; TCDM bank conflicts and DMA are
added per layer by :mod:`mixq.deploy.cluster_timing`. Input: the static instruction table of an ELF (:func:`instruction_table`, from the
disassembly and :func:`mixq.deploy.xpulp.decode`) and the sequence of executed blocks
(:meth:`mixq.deploy.emulator_xpulp.XpulpCore.trace`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from mixq.deploy.xpulp import decode

ABI = {"zero": 0, "ra": 1, "sp": 2, "gp": 3, "tp": 4, "t0": 5, "t1": 6, "t2": 7, "s0": 8,
       "fp": 8, "s1": 9, **{f"a{i}": 10 + i for i in range(8)},
       **{f"s{i}": 16 + i for i in range(2, 12)}, **{f"t{i}": 25 + i for i in range(3, 7)},
       **{f"x{i}": i for i in range(32)}}
_REG = re.compile(r"\b(" + "|".join(sorted(ABI, key=len, reverse=True)) + r")\b")
LOADS = {"lb", "lbu", "lh", "lhu", "lw"}
STORES = {"sb", "sh", "sw"}
BRANCHES = {"beq", "bne", "blt", "bge", "bltu", "bgeu", "beqz", "bnez", "blez", "bgez", "bltz",
            "bgtz", "bgt", "ble", "bgtu", "bleu"}
JUMPS = {"j", "jal", "jalr", "jr", "ret", "call", "tail"}
EXTRA = {"jump": 1, "mulh": 4, "div": 34}
TAKEN_BRANCH = 2
LOAD_USE = 1
MODEL_NOTE = ("model: RI5CY single-issue pipeline per executed instruction (load-use +1, taken "
              "branch +2, jump +1, mulh +4, div +34, zero-overhead hardware loops; ideal "
              "instruction fetch); mixq.deploy.xpulp_timing")


@dataclass(frozen=True)
class InsnInfo:
    """What the model needs of one static instruction: class, destination, sources, size."""

    kind: str
    dst: int | None
    srcs: frozenset
    size: int


def classify(mnemonic: str, operands: str, size: int) -> InsnInfo:
    """Model class and registers of one RV32IMC instruction as objdump prints it.

    Example:
        >>> classify("lw", "a4,8(a0)", 2)
        InsnInfo(kind='load', dst=14, srcs=frozenset({10}), size=2)
        >>> classify("bnez", "t0,1c000004", 4).kind, classify("mulhu", "a0,a1,a2", 4).kind
        ('branch', 'mulh')
    """
    m = mnemonic.lower()
    m = m[2:] if m.startswith("c.") else m
    regs = [ABI[r] for r in _REG.findall(operands.split("#")[0].split("<")[0])]
    if m in STORES or m in ("swsp",) or m in BRANCHES or m in ("j", "jr", "ret"):
        kind = "store" if m in STORES or m == "swsp" else ("branch" if m in BRANCHES else "jump")
        srcs = set(regs) | ({1} if m == "ret" else set())
        return InsnInfo(kind, None, frozenset(srcs), size)
    kind = ("load" if m in LOADS or m == "lwsp" else "jump" if m in JUMPS else
            "mulh" if m.startswith("mulh") else "mul" if m == "mul" else
            "div" if m in ("div", "divu", "rem", "remu") else "alu")
    if m in ("jal", "call", "tail") and len(regs) <= 1:
        return InsnInfo("jump", 1 if m != "tail" else None, frozenset(), size)
    dst = regs[0] if regs else None
    return InsnInfo(kind, dst, frozenset(regs[1:]), size)


def classify_xpulp(word: int) -> InsnInfo | None:
    """Model class and registers of an Xpulp word (``None`` if it is not one).

    Example:
        >>> classify_xpulp(0x0047268B)  # p.lw a3, 4(a4!)
        InsnInfo(kind='load', dst=13, srcs=frozenset({14}), size=4)
    """
    insn = decode(word)
    if insn is None:
        return None
    name = insn.name
    if name.startswith("p.l") and not name.startswith("p.slet"):
        srcs = {insn.rs1} | ({insn.rs2} if name.endswith("rr") else set())
        return InsnInfo("load", insn.rd, frozenset(srcs), 4)
    if name.startswith("p.s") and not name.startswith("p.slet"):
        srcs = {insn.rs1, insn.rs2} | ({insn.rd} if name.endswith("rr") else set())
        return InsnInfo("store", None, frozenset(srcs), 4)
    if name.startswith("lp."):
        return InsnInfo("alu", None, frozenset({insn.rs1}), 4)
    if name in ("p.beqimm", "p.bneimm"):
        return InsnInfo("branch", None, frozenset({insn.rs1}), 4)
    accumulates = ".sdot" in name or name in ("p.mac", "p.msu") or name.startswith("pv.insert")
    srcs = {insn.rs1, insn.rs2} | ({insn.rd} if accumulates else set())
    return InsnInfo("mul" if name in ("p.mac", "p.msu") else "alu", insn.rd, frozenset(srcs), 4)


def instruction_table(elf) -> dict[int, InsnInfo]:
    """Address -> :class:`InsnInfo` of every instruction of an RV32 ELF (Xpulp words decoded)."""
    from mixq.deploy.profile import objdump
    from mixq.deploy.riscv import RV32IMC

    table = {}
    for addr, hexword, mnemonic, operands in objdump(elf, RV32IMC):
        try:
            word = int(hexword, 16)
        except ValueError:
            continue
        size = len(hexword) // 2
        info = classify_xpulp(word) if size == 4 and mnemonic.startswith(".") else None
        table[addr] = info or classify(mnemonic, operands, size)
    return table


def _cost(info: InsnInfo) -> int:
    return 1 + EXTRA.get(info.kind, 0)


def _uses(prev: InsnInfo, nxt: InsnInfo) -> bool:
    return prev.kind == "load" and prev.dst not in (None, 0) and prev.dst in nxt.srcs


@dataclass
class Timing:
    """Instructions and modelled cycles of a stream, with the cycles' breakdown; ``memory``:
    its loads and stores (the accesses that may meet in a TCDM bank)."""

    instructions: int = 0
    cycles: int = 0
    events: Counter = None
    memory: int = 0

    def __post_init__(self):
        if self.events is None:
            self.events = Counter()


def time_blocks(blocks, table: dict[int, InsnInfo]) -> Timing:
    """Model cycles of consecutive executed blocks ``(address, bytes)`` (one trace segment).

    A block whose last instruction is a branch and whose successor does not start right after
    it was a taken branch; a hardware-loop jump back never follows a branch (the manual forbids
    a branch as the last loop instruction) and costs nothing.
    """
    t = Timing()
    cache: dict = {}
    prev_last, prev_end = None, None
    for addr, size in blocks:
        key = (addr, size)
        if key not in cache:
            insns, a = [], addr
            while a < addr + size:
                info = table.get(a) or InsnInfo("alu", None, frozenset(), 4)
                insns.append(info)
                a += info.size
            inner = sum(_cost(i) for i in insns)
            stalls = sum(_uses(p, n) for p, n in zip(insns, insns[1:]))
            memory = sum(i.kind in ("load", "store") for i in insns)
            cache[key] = (insns[0] if insns else None, insns[-1] if insns else None, len(insns),
                          inner + stalls * LOAD_USE, stalls, memory)
        first, last, n, cycles, stalls, memory = cache[key]
        if first is None:
            continue
        t.instructions += n
        t.cycles += cycles
        t.memory += memory
        t.events["load_use"] += stalls
        if prev_last is not None:
            if _uses(prev_last, first):
                t.cycles += LOAD_USE
                t.events["load_use"] += 1
            if prev_last.kind == "branch" and addr != prev_end:
                t.cycles += TAKEN_BRANCH
                t.events["taken_branch"] += 1
        prev_last, prev_end = last, addr + size
    return t


# Cycles to start the cores on a layer and to meet at its closing barrier: an ASSUMPTION (PULP's
# event unit wakes the cores and releases a barrier in a few cycles; the runtime's fork adds
# the dispatch), not a measurement; GVSoC would give the real figure.
FORK_JOIN_CYCLES = 50


@dataclass
class LayerTiming:
    """One layer of a traced run: all its instructions (summed over cores) and two cycle
    figures of the pipeline model: ``cycles`` on ONE core (every core's program in turn) and
    ``cluster_cycles`` on the cluster (serial code + the slowest core + fork/join; no TCDM
    bank conflicts, no DMA: :mod:`mixq.deploy.cluster_timing` adds them); per core
    (``core_cycles``, ``core_memory``: cycles and loads/stores of each forked core's program,
    empty when the layer ran serially) and of the serial code (``serial_cycles``)."""

    instructions: int
    events: Counter
    cycles: int
    cluster_cycles: int
    cores: int
    serial_cycles: int = 0
    core_cycles: tuple = ()
    core_memory: tuple = ()


def time_layers(segments: dict, table: dict[int, InsnInfo]) -> dict[int, LayerTiming]:
    """Per layer, the :class:`LayerTiming` of a trace keyed ``(segment, core)``
    (:meth:`mixq.deploy.emulator_xpulp.XpulpCore.trace`).

    Example:
        >>> t = {0x0: InsnInfo("alu", 5, frozenset(), 4)}
        >>> r = time_layers({(0, -1): [[0, 4]], (0, 0): [[0, 4]] * 3, (0, 1): [[0, 4]]}, t)[0]
        >>> r.instructions, r.cycles, r.cluster_cycles, r.cores
        (5, 5, 54, 2)
    """
    out: dict[int, LayerTiming] = {}
    for layer in sorted({seg for seg, _ in segments}):
        timed = {core: time_blocks(blocks, table) for (seg, core), blocks in segments.items()
                 if seg == layer}
        serial = timed.pop(-1, Timing())
        events = Counter(serial.events)
        for t in timed.values():
            events.update(t.events)
        parallel = max((t.cycles for t in timed.values()), default=0)
        out[layer] = LayerTiming(
            serial.instructions + sum(t.instructions for t in timed.values()), events,
            serial.cycles + sum(t.cycles for t in timed.values()),
            serial.cycles + parallel + (FORK_JOIN_CYCLES if timed else 0), max(len(timed), 1),
            serial.cycles, tuple(timed[c].cycles for c in sorted(timed)),
            tuple(timed[c].memory for c in sorted(timed)))
    return out
