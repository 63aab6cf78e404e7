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

Memory wait states, cache misses, stalls on load-use and multiply-use dependencies are not
modelled: treat every figure from here as an estimate and label it so wherever it is shown.
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
    """Per-class cycle costs of the estimate (defaults: see the module docstring).

    Attributes:
        alu, load, store, mac, div, branch: cycles per instruction of that class.
        multi_base, multi_per_register: ldm/stm/push/pop cost = base + per_register * registers.
    """

    alu: float = 0.75
    load: float = 1.0
    store: float = 1.0
    mac: float = 1.0
    div: float = 6.0
    branch: float = 1.5
    multi_base: float = 1.0
    multi_per_register: float = 0.5

    def estimate(self, counts: dict[str, int]) -> int:
        """Estimated cycles for class counts.

        Args:
            counts: class -> executed instructions, plus ``multi_registers`` (registers moved by
                all executed multi instructions).

        Returns:
            Rounded estimated cycle count.

        Example:
            >>> CycleModel().estimate({"alu": 4, "load": 2, "multi": 1, "multi_registers": 4})
            8
        """
        total = sum(getattr(self, c) * counts.get(c, 0) for c in CLASSES if c != "multi")
        total += self.multi_base * counts.get("multi", 0)
        total += self.multi_per_register * counts.get("multi_registers", 0)
        return int(round(total))


def estimate_latency_ms(cycles: int, clock_hz: float) -> float:
    """Estimated latency in milliseconds at ``clock_hz`` (an estimate, as the cycles are).

    Example:
        >>> estimate_latency_ms(400_000, 400e6)
        1.0
    """
    return cycles / clock_hz * 1e3
