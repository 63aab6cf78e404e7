"""Estimated Cortex-M7 cycles from executed-instruction counts (an ESTIMATE, not a measurement).

Unicorn counts instructions, not cycles. This module classifies each Thumb-2 instruction by its
mnemonic into a few classes and charges each class a fixed cost, a deliberately small model of the
Cortex-M7 pipeline (Arm Cortex-M7 Technical Reference Manual, ch. "Cycle timings"; dual-issue
rules in the Arm Cortex-M7 Software Optimization Guide):

==========  ==============================================  =====================================
class       instructions                                    cycles (default)
==========  ==============================================  =====================================
alu         moves, add/sub, logic, shifts, SIMD add/extend    0.75 (about half pair up, dual issue)
load        ldr*, pld (TCM / cache hit, no wait states)       1
store       str*                                              1
multi       ldm/stm/push/pop                                  1 + registers / 2 (64-bit bus)
mac         mul, mla, smla*, smlad, smul*, umull, ...         1 (pipelined MAC unit)
div         sdiv, udiv                                        6 (2-12, data dependent)
branch      b, bl, bx, cbz/cbnz, tbb/tbh                      1.5 (mostly predicted; refills cost)
==========  ==============================================  =====================================

Memory wait states and cache misses are not modelled here: a platform with a
``[memory_timing]`` section adds them (:mod:`mixq.platform.memory_timing`, charged by the deploy
flow). Stalls on load-use and multiply-use dependencies are not modelled at all: treat every
figure from here as an estimate and label it so wherever it is shown.

The RV32IMC table of a RI5CY-class core (:data:`RV32_CORE`, :func:`classify_rv`) sits beside
it. Pure data and arithmetic: the disassembly that feeds :func:`classify` lives in
:mod:`mixq.deploy`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CLASSES = ("alu", "load", "store", "multi", "mac", "div", "branch")

_COND = "(?:eq|ne|cs|cc|hs|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?"
_BRANCH = re.compile(rf"^(?:b|bl|blx|bx){_COND}$|^(?:cbz|cbnz|tbb|tbh)$")
_MULTI = re.compile(r"^(?:ldm|stm|push|pop|vldm|vstm|vpush|vpop)")
_LOAD = re.compile(r"^(?:ldr|ldrex|pld|pli|vldr)")
_STORE = re.compile(r"^(?:str|strex|vstr)")
_MAC = re.compile(
    r"^(?:mul|mla|mls|smla|smlsl?d|smul|smmul|smmla|smmls|smuad|smusd|smlal|smull|umull|umlal"
    r"|umaal|usad8|usada8)"
)
_DIV = re.compile(r"^(?:sdiv|udiv)")


def classify(mnemonic: str, operands: str = "") -> tuple[str, int]:
    """Class of one instruction and, for ``multi``, its register count.

    Args:
        mnemonic: as objdump prints it (``ldr.w``, ``bne.n``, ``smlad``); width suffix ignored.
        operands: operand text (register lists of ldm/stm/push/pop are counted).

    Returns:
        (class name, number of registers moved; 0 unless ``multi``).

    Example:
        >>> classify("bne.n"), classify("bic"), classify("smlad")
        (('branch', 0), ('alu', 0), ('mac', 0))
        >>> classify("push", "{r4, r5, r6, lr}"), classify("ldrsb.w")
        (('multi', 4), ('load', 0))
    """
    m = mnemonic.lower().split(".")[0]
    if _BRANCH.match(m):
        return "branch", 0
    if _MULTI.match(m):
        inside = operands[operands.find("{") + 1: operands.find("}")]
        return "multi", len([r for r in inside.split(",") if r.strip()])
    if _LOAD.match(m):
        return "load", 0
    if _STORE.match(m):
        return "store", 0
    if _MAC.match(m):
        return "mac", 0
    if _DIV.match(m):
        return "div", 0
    return "alu", 0


@dataclass(frozen=True)
class CycleModel:
    """Cycles per instruction class of one core: the estimate's whole table (an ESTIMATE).

    Attributes:
        name: the core the table describes.
        costs: (class, cycles per executed instruction of that class), summed in this order;
            ``multi_registers`` (registers moved by ldm/stm/push/pop) is costed like a class.

    Example:
        >>> CORTEX_M7.estimate({"alu": 4, "load": 2, "multi": 1, "multi_registers": 4})
        8
        >>> CORTEX_M7.cost("div"), RV32_CORE.cost("mulh")
        (6.0, 5.0)
    """

    name: str
    costs: tuple[tuple[str, float], ...]

    @property
    def classes(self) -> tuple[str, ...]:
        """The instruction classes the table charges (``multi_registers`` excluded)."""
        return tuple(c for c, _ in self.costs if c != "multi_registers")

    def cost(self, cls: str) -> float:
        """Cycles of one instruction of class ``cls``."""
        return dict(self.costs)[cls]

    def estimate(self, counts) -> int:
        """Estimated cycles (rounded) for executed-instruction counts per class (a mapping;
        missing classes count 0, other keys are ignored)."""
        return int(round(sum(c * counts.get(k, 0) for k, c in self.costs)))


# Cortex-M7, see the module docstring; ldm/stm/push/pop cost 1 + 0.5 per register.
CORTEX_M7 = CycleModel("cortex-m7", (
    ("alu", 0.75), ("load", 1.0), ("store", 1.0), ("mac", 1.0), ("div", 6.0), ("branch", 1.5),
    ("multi", 1.0), ("multi_registers", 0.5)))

# A RI5CY / CV32E40P-class core, single issue. Source: the CV32E40P user manual, "Pipeline"
# chapter, cycle counts per instruction type: ALU, load, store, ``mul`` 1 cycle; ``mulh*`` 5;
# division 3-35 (data dependent, 20 taken); jumps 2; branches 3 taken / 1 not taken (2: half
# are assumed taken). Load-use and instruction-fetch stalls are not modelled.
RV32_CORE = CycleModel("rv32imc", (
    ("alu", 1.0), ("load", 1.0), ("store", 1.0), ("mul", 1.0), ("mulh", 5.0), ("div", 20.0),
    ("branch", 2.0), ("jump", 2.0)))

_RV_BRANCH = re.compile(r"^(beq|bne|blt|bge|bltu|bgeu|beqz|bnez|blez|bgez|bltz|bgtz|bgt|ble|"
                        r"bgtu|bleu)$")
_RV_JUMP = re.compile(r"^(j|jal|jalr|jr|ret|call|tail)$")
_RV_CLASSES = {"lb": "load", "lbu": "load", "lh": "load", "lhu": "load", "lw": "load",
               "lwsp": "load", "sb": "store", "sh": "store", "sw": "store", "swsp": "store",
               "mul": "mul", "mulh": "mulh", "mulhu": "mulh", "mulhsu": "mulh", "div": "div",
               "divu": "div", "rem": "div", "remu": "div"}


def classify_rv(mnemonic: str, operands: str = "") -> tuple[str, int]:
    """Class of one RV32IMC instruction as objdump prints it (compressed forms included), in
    the form of :func:`classify` (no register lists: the count is always 0).

    Example:
        >>> [classify_rv(m)[0] for m in ("add", "lbu", "sw", "mul", "mulhu", "remu", "bnez",
        ...                              "ret")]
        ['alu', 'load', 'store', 'mul', 'mulh', 'div', 'branch', 'jump']
    """
    m = mnemonic.lower().split(".")[0] if not mnemonic.startswith("c.") else mnemonic[2:]
    if m in _RV_CLASSES:
        return _RV_CLASSES[m], 0
    if _RV_BRANCH.match(m):
        return "branch", 0
    if _RV_JUMP.match(m):
        return "jump", 0
    return "alu", 0


def estimate_latency_ms(cycles: int, clock_hz: float) -> float:
    """Estimated latency in milliseconds at ``clock_hz`` (an estimate, as the cycles are).

    Example:
        >>> estimate_latency_ms(400_000, 400e6)
        1.0
    """
    return cycles / clock_hz * 1e3


__all__ = ["CLASSES", "CORTEX_M7", "CycleModel", "RV32_CORE", "classify", "classify_rv",
           "estimate_latency_ms"]
