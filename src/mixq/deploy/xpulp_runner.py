"""A generated model on the functional Xpulp core, profiled with the RI5CY pipeline model.

The RV32 deploy flow (:func:`mixq.deploy.riscv.deploy_graph_rv32`) takes its runner from
:func:`runner_for` by the platform's ``[core] cpu``: ``rv32imc`` (plain Unicorn RV32, portable
kernels), ``ri5cy-xpulpv2`` (GAP8 / ``pulp-open``: :class:`XpulpV2Core`) or ``ri5cy-xpulpnn``
(``pulp-open-nn``: :class:`XpulpCore`). The Xpulp runners' profile also carries, per layer, the
cycles of the RI5CY pipeline model (:mod:`mixq.deploy.xpulp_timing`) over the executed trace.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from mixq.deploy.emulator_rv32 import Rv32Profile
from mixq.deploy.emulator_xpulp import XpulpCore, XpulpV2Core
from mixq.deploy.riscv import Rv32ModelRunner
from mixq.deploy.xpulp_timing import MODEL_NOTE, instruction_table, time_blocks


class XpulpProfile(Rv32Profile):
    """:class:`Rv32Profile` plus ``cycles``: segment -> RI5CY pipeline-model cycles."""

    cycles: dict
    note = MODEL_NOTE


class XpulpModelRunner(Rv32ModelRunner):
    """A model's RV32 ELF with Xpulp kernels on the functional XpulpV2 + XpulpNN core."""

    where = "the emulated Xpulp core"
    machine_class = XpulpCore

    def profile(self, sample: np.ndarray) -> XpulpProfile:
        """Executed instructions and modelled cycles of one inference, per layer."""
        self._prepare(sample, 0x5A)
        segments = self.machine.trace("mixq_model_run", ("input", "logits", "arena"))
        table = instruction_table(self.image.path)
        total: Counter = Counter()
        counts, cycles = {}, {}
        for seg, blocks in segments.items():
            t = time_blocks(blocks, table)
            counts[seg] = Counter({"instructions": t.instructions, **t.events})
            cycles[seg] = t.cycles
            total.update(counts[seg])
        prof = XpulpProfile(total, counts)
        prof.cycles = cycles
        return prof


class XpulpV2ModelRunner(XpulpModelRunner):
    """As :class:`XpulpModelRunner` on an XpulpV2-only core (no nibble / crumb SIMD)."""

    machine_class = XpulpV2Core


RUNNERS = {"rv32imc": Rv32ModelRunner, "ri5cy-xpulpv2": XpulpV2ModelRunner,
           "ri5cy-xpulpnn": XpulpModelRunner}


def runner_for(cpu: str) -> type:
    """The model runner of a platform's ``[core] cpu`` (an RV32 one).

    Example:
        >>> runner_for("ri5cy-xpulpnn").__name__
        'XpulpModelRunner'
    """
    return RUNNERS[cpu]
