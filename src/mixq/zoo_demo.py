"""``mixq demo --model NAME``: one zoo network from float model to bit-exact C on the emulated core.

The flow a user follows with their own model (:mod:`mixq.api`), on a zoo network with random
weights (the zoo ships no trained weights; bit-exactness, memory and instruction counts do not
depend on them): build it, draw calibration images, take the uniform 8-bit allocation and the
memory-driven mixed allocation under the model's benchmark budget (:mod:`mixq.models.zoo`),
prepare and integerize each, check the integer graph against the QAT integer-exact mode, deploy
it on the benchmark's core (host C and emulator bit for bit, ELF flash, arena, instructions) and
write ``report.json`` / ``report.md``. ``bench/zoo.py`` prints the README's zoo table with it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from mixq.api import allocate
from mixq.deploy.deploy import deploy
from mixq.errors import MixqError
from mixq.fileio import write_bytes_atomic
from mixq.ir.capture import input_codes, integer_codes, integerize
from mixq.ir.interpret import interpret
from mixq.models.registry import get_model
from mixq.models.zoo import zoo_entry
from mixq.nn.capture import capture
from mixq.nn.prepare import prepare
from mixq.platform import get_platform
from mixq.quant.spec import BitAllocation
from mixq.search.memory import flash_bytes as model_flash_bytes
from mixq.search.memory import layer_shapes, ram_peak_bytes

ALLOCATIONS = ("int8", "mixed")


@dataclass(frozen=True)
class ZooRun:
    """One zoo model under one allocation, deployed.

    Attributes:
        model, allocation: zoo name; 'int8' (uniform w8a8) or 'mixed' (memory-driven).
        target: the platform deployed on; budget_flash_bytes, budget_ram_bytes: the budget.
        params, macs: weights and multiply-accumulates of the network.
        bits: the distinct (weight, activation) bit pairs of the allocation, e.g. '8/8 4/8'.
        fits: the memory model's flash and peak RAM are within the budget.
        flash_bytes: the linked ELF's flash (code + weights); arena_bytes: its activation arena.
        instructions: executed instructions of one inference on the emulated core.
        bitexact, host_bitexact: emulated and host C outputs equal ``ir.interpret``'s.
    """

    model: str
    allocation: str
    target: str
    budget_flash_bytes: int
    budget_ram_bytes: int
    params: int
    macs: int
    bits: str
    fits: bool
    flash_bytes: int
    arena_bytes: int
    instructions: int
    bitexact: bool
    host_bitexact: bool | None


def run_zoo_model(name: str, out, *, target: str | None = None, flash_bytes: int | None = None,
                  ram_bytes: int | None = None, emulate: int = 1, seed: int = 0,
                  allocations=ALLOCATIONS, options: dict | None = None,
                  mixed_fraction: float | None = None) -> tuple[ZooRun, ...]:
    """Deploy zoo model ``name`` int8 and mixed under its benchmark budget; write the report.

    Args:
        name: a zoo model (:func:`mixq.models.zoo.zoo_names`).
        out: output folder: ``<allocation>/`` (graph C project, ELF, ``deploy.json``),
            ``report.json``, ``report.md``.
        target: platform to deploy on; None = the benchmark's (``ZooEntry.target``).
        flash_bytes, ram_bytes: the budget; None = the benchmark's.
        emulate: random input images checked bit for bit on the emulator and the host (>= 1).
        seed: weights, calibration images and inputs.
        allocations: which of 'int8', 'mixed' to run.
        options: builder options overriding the entry's (e.g. ``{"resolution": 48}``).
        mixed_fraction: give the mixed allocation this fraction of the uniform 8-bit model's
            flash (memory model) instead of the benchmark's flash, the benchmark's RAM: every
            zoo model fits its benchmark at 8 bits (mixed = int8 there).

    Raises:
        MixqError: unknown zoo model, ``emulate`` < 1, a budget no allocation meets
            (BudgetError), a missing toolchain, or outputs that differ from the interpreter.
    """
    entry = zoo_entry(name)
    if emulate < 1:
        raise MixqError(f"--emulate {emulate}: a zoo deployment checks at least one input")
    unknown = sorted(set(allocations) - set(ALLOCATIONS))
    if unknown:
        raise MixqError(f"unknown allocation {', '.join(unknown)}; choose from "
                        f"{', '.join(ALLOCATIONS)}")
    platform = get_platform(target or entry.target)
    budget = (flash_bytes or entry.flash_bytes, ram_bytes or entry.ram_bytes)
    torch.manual_seed(seed)
    model = get_model(entry.model, **{**dict(entry.options), **(options or {})}).eval()
    x = torch.rand(max(emulate, 8), *model.input_shape)  # calibration images in [0, 1]
    shapes = layer_shapes(capture(model, x[:1], check=False), tuple(model.input_shape))
    out = Path(out)
    int8 = BitAllocation.uniform([(s.name, s.kind) for s in shapes], 8)
    mixed_budget = budget if mixed_fraction is None else (
        int(mixed_fraction * model_flash_bytes(shapes, int8)), budget[1])
    runs, done = [], {}
    for tag in allocations:
        alloc = int8 if tag == "int8" else allocate(
            model, example_input=x[:1], flash_bytes=mixed_budget[0], ram_bytes=mixed_budget[1])
        if alloc.to_json() in done:  # mixed = int8 where 8 bits fit: same graph, same figures
            runs.append(replace(done[alloc.to_json()], allocation=tag))
            continue
        qat = prepare(model, alloc, example_input=x[:1], calibration=x).eval()
        graph = integerize(qat)
        codes = input_codes(qat, x[:emulate])
        if not np.array_equal(interpret(graph, codes), integer_codes(qat, x[:emulate])):
            raise MixqError(f"{name} {tag}: the integer graph differs from the QAT model")
        result = deploy(graph, out / tag, platform, emulate=emulate, inputs=codes)
        host = None if result.host is None else result.host.bitexact
        row_budget = budget if tag == "int8" else mixed_budget
        fits = (model_flash_bytes(shapes, alloc) <= row_budget[0]
                and ram_peak_bytes(shapes, alloc) <= row_budget[1])
        bits = " ".join(f"{w}/{a}" for w, a in sorted({(l.w_bits, l.out_bits)
                                                         for l in alloc.layers}, reverse=True))
        runs.append(ZooRun(name, tag, platform.name, *row_budget,
                           sum(s.weight_count for s in shapes), sum(s.macs for s in shapes),
                           bits, fits, result.flash_bytes, result.arena_bytes,
                           result.instructions, result.bitexact, host))
        done[alloc.to_json()] = runs[-1]
    write_zoo_report(out, runs)
    if not all(r.bitexact and r.host_bitexact is not False for r in runs):
        raise MixqError(f"{name}: C outputs differ from ir.interpret; see {out}/report.md")
    return tuple(runs)


def zoo_table(runs) -> str:
    """Markdown table of zoo runs (one row per model and allocation).

    Example:
        >>> r = ZooRun("m", "int8", "stm32h7", 2_048_000, 512_000, 10, 20, "8/8", True, 900,
        ...            64, 1234, True, True)
        >>> print(zoo_table([r]).splitlines()[2])
        | m | int8 | 8/8 | 10 | 20 | 900 | 64 | 1,234 | yes / yes | stm32h7 (2,048,000 / 512,000) |
    """
    lines = ["| model | bits | w/a bits | params | MACs | flash (B, ELF) | arena (B) | "
             "instructions | bit-exact (M7 / host) | target (budget flash / RAM B) |",
             "|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in runs:
        host = {True: "yes", False: "NO", None: "n/a"}[r.host_bitexact]
        lines.append(f"| {r.model} | {r.allocation} | {r.bits} | {r.params:,} | {r.macs:,} | "
                     f"{r.flash_bytes:,} | {r.arena_bytes:,} | {r.instructions:,} | "
                     f"{'yes' if r.bitexact else 'NO'} / {host} | {r.target} "
                     f"({r.budget_flash_bytes:,} / {r.budget_ram_bytes:,}) |")
    return "\n".join(lines) + "\n"


def write_zoo_report(out, runs) -> None:
    """``report.json`` (the runs' fields) and ``report.md`` (:func:`zoo_table`), atomically."""
    out = Path(out)
    write_bytes_atomic(out / "report.json",
                       json.dumps({"runs": [asdict(r) for r in runs]}, indent=1).encode())
    write_bytes_atomic(out / "report.md", zoo_table(runs).encode())
