"""Deploy an integer graph to an emulated Cortex-M7: C project, ELF, bit-exact check, counts.

:func:`deploy_graph` is the whole flow behind ``mixq deploy``:

1. :func:`mixq.codegen.emit_c` writes the C project (``<out>/c``) with the target's kernels;
2. arm-none-eabi-gcc builds ``<out>/mixq_model.elf`` (:mod:`mixq.deploy.arm`);
3. the ELF runs on the emulated Cortex-M7 for ``emulate`` inputs without hooks (JIT speed) and
   every output is compared with :func:`mixq.ir.interpret.interpret`, bit for bit;
4. one more run counts executed instructions per layer (:mod:`mixq.deploy.profile`) and turns
   them into an *estimated* cycle count (:mod:`mixq.deploy.cycles`);
5. when a host gcc is present, the same project also runs on the host (sanitizers on) and must
   agree;
6. ``<out>/deploy.json`` records the result (atomic, deterministic: no paths, no timestamps).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from mixq.codegen.emit import emit_c
from mixq.deploy.arm import build_elf, elf_sizes
from mixq.platform.cycles import CORTEX_M7, CycleModel, estimate_latency_ms
from mixq.deploy.emulator import CortexM7, load_image
from mixq.platform.spec import Platform, get_platform, known_platforms
from mixq.deploy.profile import disassemble, profile_call
from mixq.errors import MixqError, ToolchainError
from mixq.fileio import write_json_atomic
from mixq.ir.graph import Graph
from mixq.ir.interpret import interpret

ELF_NAME = "mixq_model.elf"
PROJECT_DIR = "c"
CYCLE_NOTE = ("estimate: executed instructions (Unicorn) weighted per instruction class by "
              "mixq.deploy.cycles.CycleModel; not a cycle-accurate measurement")


@dataclass(frozen=True)
class Target:
    """A deployment target.

    Attributes:
        name: CLI name.
        kernels: code generation target of :func:`mixq.codegen.emit_c` ('armv7em' or 'ref').
        clock_hz: core clock of the latency estimate.
        cpu: the emulated and compiled-for core ('cortex-m7' or 'rv32imc').
        platform: the :class:`mixq.deploy.platform_spec.Platform` spec it was read from.
    """

    name: str
    kernels: str
    clock_hz: float
    cpu: str = "cortex-m7"
    platform: Optional[Platform] = field(default=None, compare=False, repr=False)


def _target(p: Platform) -> Target:
    return Target(p.name, p.kernels, p.clock_hz, p.cpu, p)


# One Target per platform spec shipped in mixq/deploy/platforms/*.toml.
TARGETS = {name: _target(get_platform(name)) for name in known_platforms()}


def get_target(name: str) -> Target:
    """The :class:`Target` called ``name`` (a shipped platform spec) or read from a ``.toml``
    platform file (:mod:`mixq.deploy.platform_spec`).

    Raises:
        MixqError: unknown name or invalid spec (the message lists the known targets).

    Example:
        >>> get_target("stm32h7").clock_hz, get_target("gap8").cpu
        (400000000.0, 'rv32imc')
    """
    if name in TARGETS:
        return TARGETS[name]
    return _target(get_platform(name))


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


class ModelRunner:
    """A generated model's ELF on the emulated Cortex-M7, with its caller buffers.

    Args:
        elf: the linked ELF (``mixq_model_run`` kept as an entry).
        input_count, output_count, arena_bytes: the ``MIXQ_*`` sizes of the project.
    """

    where = "the emulator"  # named in the error when the model returns non-zero

    def __init__(self, elf, input_count: int, output_count: int, arena_bytes: int):
        self.image = self.load(elf)
        self.output_count = output_count
        self.machine = self.machine_class(self.image, {"input": input_count,
                                                       "logits": output_count,
                                                       "arena": max(arena_bytes, 1)})

    @staticmethod
    def load(elf):
        return load_image(elf)

    machine_class = CortexM7

    def _prepare(self, sample: np.ndarray, poison: int) -> None:
        self.machine.reset_data()
        self.machine.write("input", np.ascontiguousarray(sample, dtype=np.uint8))
        self.machine.fill("logits", 0xEE)
        self.machine.fill("arena", poison)  # nothing may rely on the arena's previous content

    def run(self, samples: np.ndarray) -> np.ndarray:
        """Run ``samples`` (N, input_count) uint8; returns the raw output bytes (N, count)."""
        out = np.empty((len(samples), self.output_count), dtype=np.uint8)
        for i, sample in enumerate(samples):
            self._prepare(sample, (0x5A + 37 * i) & 0xFF)
            status = self.machine.call("mixq_model_run", ("input", "logits", "arena"))
            if status != 0:
                raise MixqError(f"mixq_model_run returned {status} on {self.where}; "
                                "check the generated project")
            out[i] = np.frombuffer(self.machine.read("logits"), dtype=np.uint8)
        return out

    def profile(self, sample: np.ndarray):
        """Instruction counts of one inference (:class:`mixq.deploy.profile.InstructionProfile`)."""
        self._prepare(sample, 0x5A)
        return profile_call(self.machine, "mixq_model_run", ("input", "logits", "arena"),
                            classes=disassemble(self.image.path))


def build_model_elf(project_dir, elf_path) -> Path:
    """Cross-compile a generated C project (all its ``.c`` files) into a Cortex-M7 ELF."""
    project = Path(project_dir)
    sources = sorted(project.glob("*.c"))
    return build_elf(sources, elf_path, entries=("mixq_model_run",), include_dirs=(project,))


def _host_check(project: Path, out_dir: Path, samples: np.ndarray, expected: np.ndarray,
                graph: Graph) -> Optional[dict]:
    """Run the project on the host (gcc + sanitizers); None when no host gcc is installed."""
    from mixq.deploy import host

    if shutil.which("gcc") is None:
        return None
    build = out_dir / "host"
    try:
        exe = host.build_host(project, build)
        raw = host.run_executable(exe, samples, expected[0].size)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    got = decode_logits(graph, raw.view(np.uint8))
    mismatches = int((got.reshape(len(got), -1) != expected.reshape(len(expected), -1))
                     .any(axis=1).sum())
    return {"bitexact": mismatches == 0, "samples": int(len(samples)), "mismatches": mismatches}


def deploy_graph(
    graph: Graph,
    out_dir,
    target: str = "stm32h7",
    emulate: int = 100,
    inputs: Optional[np.ndarray] = None,
    *,
    host_check: bool = True,
    cycle_model: Optional[CycleModel] = None,
    seed: int = 0,
) -> dict:
    """Generate, build, emulate and measure ``graph``; writes ``<out_dir>/deploy.json``.

    Args:
        graph: the integer graph (one input, first output = logits).
        out_dir: output folder: ``c/`` (the C project), ``mixq_model.elf``, ``deploy.json``.
        target: a name of :data:`TARGETS` ('stm32h7': DSP kernels at 400 MHz;
            'stm32h7-ref': portable reference kernels; 'gap8', 'pulp-xpulpnn': RV32IMC
            build and emulation plus the cluster latency estimate, see
            :func:`mixq.deploy.riscv.deploy_graph_rv32`) or a platform ``.toml`` file.
        emulate: inputs checked bit for bit on the emulator, >= 1 (the first ``emulate`` rows
            of ``inputs``, or random codes).
        inputs: network input codes (N, *input shape); None for random inputs (``seed``).
        host_check: also build and run on the host with gcc when it is installed.
        cycle_model: per-class costs of the cycle estimate (default :class:`CycleModel`).
        seed: seed of the random inputs.

    Returns:
        The content of ``deploy.json``: ``bitexact``, ``samples``, ``mismatches``,
        ``flash_bytes`` (text + rodata + data image of the ELF), ``arena_bytes``,
        ``arena_lower_bound_bytes``, ``instructions`` (one inference), ``est_cycles``
        (an estimate), ``layers`` (name, macs, instructions, est_cycles, kernel), and context
        (target, clock, latency estimate, host check).

    Raises:
        ToolchainError: arm-none-eabi-gcc is missing or the build fails.
        MixqError: bad target, ``emulate`` < 1, bad inputs, or an emulator fault.
    """
    if emulate < 1:  # was: 0 crashed in numpy, -3 silently checked all inputs but 3
        raise MixqError(f"emulate={emulate}: a deployment checks at least one input bit for bit "
                        "on the emulator; pass emulate >= 1")
    tgt = get_target(target)
    if tgt.platform is not None and tgt.platform.isa == "rv32imc":
        from mixq.deploy.riscv import deploy_graph_rv32  # RV32IMC build, emulation, estimates

        return deploy_graph_rv32(graph, out_dir, tgt.platform, emulate, inputs,
                                 host_check=host_check, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if inputs is None:
        inputs = random_inputs(graph, max(emulate, 1), seed)
    inputs = np.asarray(inputs)
    in_t = graph.tensor(graph.inputs[0])
    if inputs.ndim != len(in_t.shape) + 1 or tuple(inputs.shape[1:]) != tuple(in_t.shape):
        raise MixqError(f"inputs of shape {tuple(inputs.shape)} do not match the model input "
                        f"(N, {', '.join(map(str, in_t.shape))}); pass codes in NHWC")
    if len(inputs) == 0:
        raise MixqError("no inputs to deploy with; pass at least one input or emulate >= 1")
    checked = inputs[:emulate]

    project = out / PROJECT_DIR
    emitted = emit_c(graph, project, kernels=tgt.kernels)
    elf = build_model_elf(project, out / ELF_NAME)
    meta = emitted.metadata
    runner = ModelRunner(elf, in_t.numel, graph.tensor(graph.outputs[0]).numel,
                         meta["arena_bytes"])

    samples = input_bytes(graph, checked)
    expected = interpret(graph, checked) if len(checked) else np.zeros((0,))
    mismatches = 0
    if len(checked):
        got = decode_logits(graph, runner.run(samples))
        mismatches = int((got.reshape(len(got), -1) != expected.reshape(len(expected), -1))
                         .any(axis=1).sum())

    prof = runner.profile(input_bytes(graph, inputs[:1])[0])
    model = cycle_model or CORTEX_M7
    est_cycles = prof.total.est_cycles(model)
    layers = []
    for i, layer in enumerate(meta["layers"]):
        seg = prof.segments.get(i)
        layers.append({
            "name": layer["name"],
            "kernel": layer["function"],
            "macs": int(layer["macs"]),
            "instructions": seg.instructions if seg else 0,
            "est_cycles": seg.est_cycles(model) if seg else 0,
        })
    sizes = elf_sizes(elf)
    host = None
    if host_check and len(checked):
        try:
            host = _host_check(project, out, samples, expected, graph)
        except (ToolchainError, RuntimeError) as e:
            host = {"bitexact": False, "error": str(e).splitlines()[0][:300]}
    result = {
        "bitexact": bool(len(checked) > 0 and mismatches == 0),
        "samples": int(len(checked)),
        "mismatches": mismatches,
        "flash_bytes": sizes.flash_bytes,
        "text_bytes": sizes.text_bytes,
        "rodata_bytes": sizes.rodata_bytes,
        "static_ram_bytes": sizes.static_ram_bytes,
        "arena_bytes": int(meta["arena_bytes"]),
        "arena_lower_bound_bytes": int(meta["arena_lower_bound_bytes"]),
        "arena_greedy_bytes": int(meta["arena_greedy_bytes"]),
        "macs": int(meta["macs"]),
        "instructions": prof.instructions,
        "est_cycles": est_cycles,
        "est_latency_ms": round(estimate_latency_ms(est_cycles, tgt.clock_hz), 6),
        "clock_hz": int(tgt.clock_hz),
        "cycle_model": CYCLE_NOTE,
        "target": tgt.name,
        "cpu": tgt.cpu,
        "kernels": tgt.kernels,
        "model_hash": meta["model_hash"],
        "host": host,
        "layers": layers,
    }
    write_json_atomic(out / "deploy.json", result)
    return result


def deploy_summary(result: dict) -> str:
    """One line for the CLI, e.g. ``bit-exact 100/100, flash 12,345 B, ...``.

    Example:
        >>> deploy_summary({"bitexact": True, "samples": 2, "mismatches": 0,
        ...                 "flash_bytes": 1000, "arena_bytes": 64, "instructions": 5000,
        ...                 "est_cycles": 4000, "est_latency_ms": 0.01})
        'bit-exact 2/2 on the emulated Cortex-M7, flash 1,000 B, arena 64 B, 5,000 instructions, ~4,000 cycles (estimate, 0.010 ms)'
    """
    ok = result["samples"] - result["mismatches"]
    verdict = "bit-exact" if result["bitexact"] else "MISMATCH"
    core = "RV32IMC core" if result.get("isa") == "rv32imc" else "Cortex-M7"
    cluster = result.get("cluster")
    extra = (f"; {cluster['cores']}-core cluster ~{cluster['est_cycles']:,} cycles (estimate, "
             f"{cluster['est_latency_ms']:.3f} ms)" if cluster else "")
    return (f"{verdict} {ok}/{result['samples']} on the emulated {core}, "
            f"flash {result['flash_bytes']:,} B, arena {result['arena_bytes']:,} B, "
            f"{result['instructions']:,} instructions, ~{result['est_cycles']:,} cycles "
            f"(estimate, {result['est_latency_ms']:.3f} ms){extra}")


__all__ = ["TARGETS", "Target", "deploy_graph", "deploy_summary", "get_target", "ModelRunner",
           "build_model_elf", "random_inputs", "input_bytes", "decode_logits"]
