"""The RI5CY cores with Xpulp extensions as ISA records: the RV32IMC record with the functional
Xpulp core as simulator and the RI5CY pipeline model as profiler.

The deploy flow takes the record by the platform's ``[core] cpu`` (:func:`mixq.deploy.isa.
isa_record`): ``rv32imc`` (plain Unicorn RV32, portable kernels), ``ri5cy-xpulpv2`` (GAP8 /
``pulp-open``: :class:`~mixq.deploy.emulator_xpulp.XpulpV2Core`) or ``ri5cy-xpulpnn``
(``pulp-open-nn``: :class:`~mixq.deploy.emulator_xpulp.XpulpCore`). Their profile also carries,
per layer, the cycles of the RI5CY pipeline model (:mod:`mixq.deploy.xpulp_timing`) over the
executed trace, on one core and on the 8-core cluster (the PULP kernels' per-core programs).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from mixq.deploy.emulator_xpulp import XpulpCore, XpulpV2Core
from mixq.deploy.profile import InstructionProfile, SegmentCount
from mixq.deploy.riscv import RV32IMC
from mixq.deploy.xpulp_timing import MODEL_NOTE, instruction_table, time_layers


def xpulp_profile(runner, sample: np.ndarray) -> InstructionProfile:
    """Executed instructions and modelled cycles of one inference, per layer, on one core and
    on the cluster (the profiler of the Xpulp records; ``runner`` a
    :class:`mixq.deploy.run.ModelRunner`)."""
    runner.prepare(sample, 0x5A)
    segments = runner.machine.trace("mixq_model_run", ("input", "logits", "arena"))
    layers = time_layers(segments, instruction_table(runner.image.path))
    total = SegmentCount()
    counts, cycles, cluster = {}, {}, {}
    for seg, t in layers.items():
        counts[seg] = SegmentCount(t.instructions, Counter(t.events))
        cycles[seg], cluster[seg] = t.cycles, t.cluster_cycles
        total.instructions += t.instructions
        total.classes.update(t.events)
    return InstructionProfile(total, counts, cycles, MODEL_NOTE, cluster, layers)


CYCLE_NOTE = "est_cycles: the cluster cycles (cluster_model_cycles) of the " + MODEL_NOTE
XPULPNN = dataclasses.replace(RV32IMC, emulator=XpulpCore, profiler=xpulp_profile,
                              label="RI5CY core (XpulpNN)", cycle_note=CYCLE_NOTE)
XPULPV2 = dataclasses.replace(RV32IMC, emulator=XpulpV2Core, profiler=xpulp_profile,
                              label="RI5CY core (XpulpV2)", cycle_note=CYCLE_NOTE)

RECORDS = {"ri5cy-xpulpv2": XPULPV2, "ri5cy-xpulpnn": XPULPNN}

__all__ = ["RECORDS", "XPULPNN", "XPULPV2", "xpulp_profile"]
