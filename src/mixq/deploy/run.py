"""Emit -> build -> run -> compare -> profile, written once for every ISA and every caller.

:func:`emulate_graph` is the sequence behind ``mixq deploy`` (:func:`mixq.deploy.deploy.deploy`)
and the kernel benchmarks (:mod:`mixq.deploy.kernel_bench`, :mod:`mixq.deploy.intralayer_bench`):
the C project of a graph, its ELF for an ISA record, a bit-exact comparison of the emulated
outputs with :func:`mixq.ir.interpret.interpret` and one profiled inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from mixq.codegen.emit import EmitResult, emit_c
from mixq.deploy.build import build_model_elf, elf_sizes
from mixq.deploy.cache_model import MemoryCounter, flash_range
from mixq.deploy.profile import InstructionProfile, disassemble, profile_call
from mixq.errors import MixqError
from mixq.ir.graph import Graph
from mixq.ir.interpret import interpret
from mixq.platform.memory_timing import MemoryTiming

ELF_NAME = "mixq_model.elf"
# The profiled inference runs code that has just returned without the hook, so it terminates;
# the hook makes it ~100x slower (a 126 M-MAC MCUNet with portable 7x7 depthwise kernels takes
# minutes), so its wall-clock limit is far above the emulator's default.
PROFILE_TIMEOUT_S = 3600.0
PROJECT_DIR = "c"


def input_bytes(graph: Graph, codes: np.ndarray) -> np.ndarray:
    """Network input codes (N, H, W, C) -> (N, numel) uint8, one byte per code (the C API's
    format: two's complement bytes for a signed input)."""
    codes = np.asarray(codes, dtype=np.int64)
    return (codes.reshape(codes.shape[0], -1) & 0xFF).astype(np.uint8)


def decode_logits(graph: Graph, raw: np.ndarray) -> np.ndarray:
    """(N, MIXQ_OUTPUT_COUNT) bytes -> int64 codes (N, *output shape), signed per its dtype."""
    t = graph.tensor(graph.outputs[0])
    raw = np.asarray(raw, dtype=np.uint8)
    codes = raw.view(np.int8) if t.signed else raw
    return codes.astype(np.int64).reshape(raw.shape[0], *t.shape)


def random_inputs(graph: Graph, count: int, seed: int = 0) -> np.ndarray:
    """``count`` uniformly random input code tensors (N, *input shape) in the input's range."""
    t = graph.tensor(graph.inputs[0])
    rng = np.random.default_rng(seed)
    return rng.integers(t.qmin, t.qmax + 1, size=(count, *t.shape)).astype(np.int64)


def count_mismatches(got: np.ndarray, expected: np.ndarray) -> int:
    """Samples (first axis) whose outputs differ anywhere."""
    return int((got.reshape(len(got), -1) != expected.reshape(len(expected), -1))
               .any(axis=1).sum())


class ModelRunner:
    """A generated model's ELF on the emulated core of an ISA record, with its caller buffers.

    Args:
        record: the :class:`~mixq.deploy.isa.IsaRecord` the ELF was built for.
        elf: the linked ELF (``mixq_model_run`` kept as an entry).
        input_count, output_count, arena_bytes: the ``MIXQ_*`` sizes of the project.
    """

    def __init__(self, record, elf, input_count: int, output_count: int, arena_bytes: int):
        self.record = record
        self.image = record.load(elf)
        self.output_count = output_count
        self.machine = record.emulator(self.image, {"input": input_count,
                                                    "logits": output_count,
                                                    "arena": max(arena_bytes, 1)})
        self.stack_used_bytes: int | None = None  # measured on the first sample of run()

    def prepare(self, sample: np.ndarray, poison: int) -> None:
        """Fresh RAM image, ``sample`` in the input buffer, poisoned output and arena."""
        self.machine.reset_data()
        self.machine.write("input", np.ascontiguousarray(sample, dtype=np.uint8))
        self.machine.fill("logits", 0xEE)
        self.machine.fill("arena", poison)  # nothing may rely on the arena's previous content

    def run(self, samples: np.ndarray) -> np.ndarray:
        """Run ``samples`` (N, input_count) uint8; returns the raw output bytes (N, count).

        The stack of the first run is measured by painting (:attr:`stack_used_bytes`)."""
        out = np.empty((len(samples), self.output_count), dtype=np.uint8)
        for i, sample in enumerate(samples):
            self.prepare(sample, (0x5A + 37 * i) & 0xFF)
            if i == 0:
                self.machine.paint_stack()
            status = self.machine.call("mixq_model_run", ("input", "logits", "arena"))
            if i == 0:
                self.stack_used_bytes = self.machine.stack_used()
            if status != 0:
                raise MixqError(f"mixq_model_run returned {status} on the emulated "
                                f"{self.record.label}; check the generated project")
            out[i] = np.frombuffer(self.machine.read("logits"), dtype=np.uint8)
        return out

    def profile(self, sample: np.ndarray, timing: Optional[MemoryTiming] = None,
                buffers_in_tcm: bool = True) -> InstructionProfile:
        """Instruction counts of one inference, per layer (the record's profiler if it has one);
        with ``timing``, also the L1 line fills of its memory assumptions (the caller buffers in
        SRAM behind the D-cache unless ``buffers_in_tcm``)."""
        if self.record.profiler is not None:
            return self.record.profiler(self, sample)
        self.prepare(sample, 0x5A)
        memory = None
        if timing is not None:
            sram = () if buffers_in_tcm else tuple(
                (addr, addr + size) for addr, size in self.machine.buffers.values())
            memory = MemoryCounter(timing, flash_range(self.image), sram)
        return profile_call(self.machine, "mixq_model_run", ("input", "logits", "arena"),
                            classes=disassemble(self.image.path, self.record), memory=memory,
                            timeout_s=PROFILE_TIMEOUT_S)


@dataclass(frozen=True)
class Emulated:
    """A graph built for an ISA, run on its emulator and compared with the interpreter.

    Attributes:
        emitted: the C project (:class:`mixq.codegen.emit.EmitResult`).
        elf: the linked ELF.
        samples: the checked inputs as the bytes the C API takes (N, numel).
        expected: :func:`~mixq.ir.interpret.interpret` of the checked inputs.
        mismatches: checked samples whose emulated output differs from ``expected``.
        profile: instruction counts of one inference of the profiled input (None: not
            profiled).
        stack_used_bytes: stack the first checked input used on the emulator (painted), or
            None when no input was checked.
        buffers_in_tcm: with a memory timing, whether the caller buffers (input, output,
            arena) fit the TCM beside the static RAM and the used stack; None without one.
    """

    emitted: EmitResult
    elf: Path
    samples: np.ndarray
    expected: np.ndarray
    mismatches: int
    profile: InstructionProfile | None
    stack_used_bytes: int | None = None
    buffers_in_tcm: Optional[bool] = None


def emulate_graph(graph: Graph, out_dir, record, kernels, checked: np.ndarray,
                  profiled: np.ndarray | None, elf_name: str = ELF_NAME,
                  timing: Optional[MemoryTiming] = None,
                  exclude: frozenset = frozenset()) -> Emulated:
    """Emit ``graph`` (``<out_dir>/c``), build it for ``record``, run ``checked`` on the emulator,
    compare bit for bit with the interpreter and profile one inference of ``profiled``.

    Args:
        graph: the integer graph.
        out_dir: build folder (the C project and the ELF go there).
        record: the :class:`~mixq.deploy.isa.IsaRecord` to build and emulate for.
        kernels: the kernel set (:class:`mixq.platform.KernelSet`).
        checked: input codes (N, *input shape) compared with the interpreter (N may be 0).
        profiled: one input code tensor (*input shape) whose inference is profiled; None skips
            the profile (the instruction hook runs ~100x slower than the plain emulation, so
            bit-exactness checks of large networks go without it).
        elf_name: file name of the ELF in ``out_dir``.
        timing: the platform's memory assumptions, charged in the profile (or None).
        exclude: kernels not to use (a platform's ``excluded_kernels``).

    Raises:
        ToolchainError: the cross compiler is missing or the build fails.
        MixqError: an emulator fault.
    """
    out = Path(out_dir)
    project = out / PROJECT_DIR
    emitted = emit_c(graph, project, kernels=kernels, exclude=exclude)
    elf = build_model_elf(record, project, out / elf_name)
    runner = ModelRunner(record, elf, graph.tensor(graph.inputs[0]).numel,
                         graph.tensor(graph.outputs[0]).numel, emitted.metadata["arena_bytes"])
    samples = input_bytes(graph, checked)
    expected = interpret(graph, checked) if len(checked) else np.zeros((0,))
    mismatches = 0
    if len(checked):
        mismatches = count_mismatches(decode_logits(graph, runner.run(samples)), expected)
    in_tcm = None
    if timing is not None:
        buffers = sum(size for _, size in runner.machine.buffers.values())
        in_tcm = timing.activations_in_tcm(
            buffers, elf_sizes(elf).static_ram_bytes + (runner.stack_used_bytes or 0))
    prof = None if profiled is None else runner.profile(
        input_bytes(graph, np.asarray(profiled)[None])[0], timing, bool(in_tcm))
    return Emulated(emitted, elf, samples, expected, mismatches, prof, runner.stack_used_bytes,
                    in_tcm)


__all__ = ["ELF_NAME", "Emulated", "ModelRunner", "PROJECT_DIR", "count_mismatches",
           "decode_logits", "emulate_graph", "input_bytes", "random_inputs"]
