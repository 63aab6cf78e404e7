"""RISC-V targets: the portable kernels built for RV32IMC, run bit-exact on an emulated core.

:func:`deploy_graph_rv32` is what :func:`mixq.deploy.deploy.deploy_graph` runs for a platform
whose ISA is ``rv32imc`` (``gap8``, ``pulp-xpulpnn``):

1. :func:`mixq.codegen.emit_c` writes the C project with the portable C99 kernels;
2. ``riscv64-unknown-elf-gcc -march=rv32imc -mabi=ilp32`` builds it against picolibc (no
   start-up code, linker script ``rv32.ld``);
3. the ELF runs on Unicorn's RV32 core (:mod:`mixq.deploy.emulator_rv32`) for ``emulate``
   inputs and every output is compared with :func:`mixq.ir.interpret.interpret`, bit for bit;
4. one more run counts executed instructions per layer; :class:`Rv32CycleModel` turns them into
   an estimated single-core cycle count: the no-SIMD lower line of a PULP core;
5. for a platform with a ``[cluster]``, :func:`mixq.deploy.cluster.estimate_graph` adds the
   estimated latency of the 8-core cluster with PULP-NN/XpulpNN kernels (``cluster`` entry);
6. ``deploy.json`` as for the Cortex-M targets, with the same keys.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from mixq.codegen.emit import emit_c
from mixq.deploy import deploy as _dep
from mixq.deploy.arm import compile_elf, elf_sizes
from mixq.deploy.emulator_rv32 import Rv32Core, load_rv32_image, profile_rv32_call
from mixq.errors import MixqError, ToolchainError
from mixq.fileio import write_json_atomic
from mixq.platform.cycles import RV32_CORE, CycleModel, classify_rv
from mixq.ir.graph import Graph
from mixq.ir.interpret import interpret

RV_GCC = "riscv64-unknown-elf-gcc"
RV_FLAGS = ("-march=rv32imc", "-mabi=ilp32")
WARN_FLAGS = ("-Wall", "-Wextra", "-Werror")
LINK_FLAGS = ("-nostartfiles", "--specs=picolibc.specs", "-Wl,--gc-sections")
INSTALL_HINT = ("install it with `apt-get install gcc-riscv64-unknown-elf "
                "picolibc-riscv64-unknown-elf` or run `make test`")
CYCLE_NOTE = ("estimate: executed RV32IMC instructions (Unicorn) weighted per class by "
              "mixq.deploy.riscv.Rv32CycleModel (single core, no SIMD); not a measurement")


@dataclass(frozen=True)
class RiscvToolchain:
    """Paths of the RISC-V tools: the C compiler driver and objdump."""

    gcc: Path
    objdump: Path


def find_riscv_toolchain(path: str | None = None) -> RiscvToolchain:
    """Find riscv64-unknown-elf-gcc and -objdump on ``PATH`` (or on ``path``).

    Raises:
        ToolchainError: a tool is missing (one line with the fix).

    Example:
        >>> try:
        ...     find_riscv_toolchain(path=os.devnull)
        ... except ToolchainError as e:
        ...     print(str(e).split(";")[0])
        riscv64-unknown-elf-gcc not found
    """
    gcc = shutil.which(RV_GCC, path=path)
    if gcc is None:
        raise ToolchainError(f"{RV_GCC} not found; {INSTALL_HINT}")
    objdump = shutil.which("riscv64-unknown-elf-objdump", path=path)
    if objdump is None:
        raise ToolchainError(f"riscv64-unknown-elf-objdump not found; {INSTALL_HINT}")
    return RiscvToolchain(Path(gcc), Path(objdump))


def has_riscv_toolchain() -> bool:
    """True if :func:`find_riscv_toolchain` succeeds (test skips)."""
    try:
        find_riscv_toolchain()
    except ToolchainError:
        return False
    return True


def rv32_linker_script() -> Path:
    """The packaged ``rv32.ld`` (code at 0x1C000000, data and stack at 0x10000000)."""
    return Path(str(resources.files("mixq.deploy").joinpath("rv32.ld")))


def build_rv32_elf(sources, out, entries: tuple[str, ...] = ("mixq_model_run",),
                   include_dirs=(), opt: str = "-O3", defines: tuple[str, ...] = ()) -> Path:
    """Compile and link C sources into an RV32IMC ELF (see :func:`mixq.deploy.arm.build_elf`).

    Raises:
        ToolchainError: missing toolchain or a failed build (first error, full log in
            ``<out>.log``).
    """
    tc = find_riscv_toolchain()
    return compile_elf(str(tc.gcc), RV_GCC,
                       [*RV_FLAGS, opt, "-ffunction-sections", "-fdata-sections", *WARN_FLAGS,
                        "-std=c99"],
                       [*LINK_FLAGS, f"-T{rv32_linker_script()}"], sources, out, entries,
                       include_dirs, defines)


def objdump_rv(elf):
    """``(address, instruction hex, mnemonic, operands)`` of every instruction objdump lists
    in an RV32 ELF (riscv64-unknown-elf-objdump -d; ``.4byte`` words included)."""
    tc = find_riscv_toolchain()
    out = subprocess.run([str(tc.objdump), "-d", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        parts = line.split("\t")  # " 1c000010:\t4518                \tlw\ta4,8(a0)"
        if len(parts) < 3 or not parts[0].strip().endswith(":"):
            continue
        try:
            addr = int(parts[0].strip()[:-1], 16)
        except ValueError:
            continue
        yield (addr, parts[1].strip().replace(" ", ""), parts[2].strip(),
               parts[3].strip() if len(parts) > 3 else "")


def disassemble_rv(elf) -> dict[int, str]:
    """Instruction class of every code address of an RV32 ELF (riscv64-unknown-elf-objdump)."""
    return {addr: classify_rv(mnemonic)[0] for addr, _, mnemonic, _ in objdump_rv(elf)
            if mnemonic and not mnemonic.startswith(".")}


class Rv32ModelRunner(_dep.ModelRunner):
    """A generated model's RV32 ELF on the emulated core, with its caller buffers
    (the RISC-V twin of :class:`mixq.deploy.deploy.ModelRunner`: only the image loader, the
    machine and the profiler differ)."""

    where = "the emulated RV32 core"
    machine_class = Rv32Core

    @staticmethod
    def load(elf):
        return load_rv32_image(elf)

    @property
    def core(self) -> Rv32Core:
        return self.machine

    def profile(self, sample: np.ndarray):
        """Executed instructions of one inference, per layer (:class:`Rv32Profile`)."""
        self._prepare(sample, 0x5A)
        return profile_rv32_call(self.machine, "mixq_model_run", ("input", "logits", "arena"),
                                 disassemble_rv(self.image.path))


def deploy_graph_rv32(graph: Graph, out_dir, platform, emulate: int = 100, inputs=None, *,
                      host_check: bool = True, cycle_model: CycleModel | None = None,
                      seed: int = 0) -> dict:
    """Generate, build for RV32IMC, emulate bit-exact and measure ``graph``; writes
    ``<out_dir>/deploy.json`` (keys as :func:`mixq.deploy.deploy.deploy_graph`, plus ``isa``
    and, for a platform with a cluster, ``cluster``: its estimated latency).

    Args:
        graph: the integer graph.
        out_dir: output folder (``c/``, ``mixq_model.elf``, ``deploy.json``).
        platform: a :class:`mixq.deploy.platform_spec.Platform` with ``isa == 'rv32imc'``.
        emulate, inputs, host_check, seed: as :func:`mixq.deploy.deploy.deploy_graph`.
        cycle_model: per-class costs of the single-core estimate.

    Raises:
        ToolchainError: riscv64-unknown-elf-gcc missing or the build failed.
        MixqError: bad inputs or an emulator fault.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if inputs is None:
        inputs = _dep.random_inputs(graph, max(emulate, 1), seed)
    inputs = np.asarray(inputs)
    in_t = graph.tensor(graph.inputs[0])
    if inputs.ndim != len(in_t.shape) + 1 or tuple(inputs.shape[1:]) != tuple(in_t.shape):
        raise MixqError(f"inputs of shape {tuple(inputs.shape)} do not match the model input "
                        f"(N, {', '.join(map(str, in_t.shape))}); pass codes in NHWC")
    if len(inputs) == 0:
        raise MixqError("no inputs to deploy with; pass at least one input or emulate >= 1")
    checked = inputs[:emulate]
    project = out / _dep.PROJECT_DIR
    meta = emit_c(graph, project, kernels=platform.kernels).metadata
    elf = build_rv32_elf(sorted(project.glob("*.c")), out / _dep.ELF_NAME,
                         include_dirs=(project,))
    from mixq.deploy.xpulp_runner import runner_for  # the Xpulp runners subclass this module's

    runner = runner_for(platform.cpu)(elf, in_t.numel, graph.tensor(graph.outputs[0]).numel,
                                      meta["arena_bytes"])
    samples = _dep.input_bytes(graph, checked)
    expected = interpret(graph, checked) if len(checked) else np.zeros((0,))
    mismatches = 0
    if len(checked):
        got = _dep.decode_logits(graph, runner.run(samples))
        mismatches = int((got.reshape(len(got), -1) != expected.reshape(len(expected), -1))
                         .any(axis=1).sum())
    prof = runner.profile(_dep.input_bytes(graph, inputs[:1])[0])
    model = cycle_model or RV32_CORE
    est_cycles = model.estimate(prof.total)
    layers = []
    for i, layer in enumerate(meta["layers"]):
        seg = prof.segments.get(i, Counter())
        layers.append({"name": layer["name"], "kernel": layer["function"],
                       "macs": int(layer["macs"]), "instructions": int(seg["instructions"]),
                       "est_cycles": model.estimate(seg)})
        if hasattr(prof, "cycles"):  # the Xpulp core: RI5CY pipeline model over the trace
            layers[-1]["model_cycles"] = int(prof.cycles.get(i, 0))
            layers[-1]["mac_per_cycle"] = round(layer["macs"] / max(prof.cycles.get(i, 0), 1), 4)
    host = None
    if host_check and len(checked):
        try:
            host = _dep._host_check(project, out, samples, expected, graph)
        except (ToolchainError, RuntimeError) as e:
            host = {"bitexact": False, "error": str(e).splitlines()[0][:300]}
    sizes = elf_sizes(elf)
    result = {
        "bitexact": bool(len(checked) > 0 and mismatches == 0),
        "samples": int(len(checked)), "mismatches": mismatches,
        "flash_bytes": sizes.flash_bytes, "text_bytes": sizes.text_bytes,
        "rodata_bytes": sizes.rodata_bytes, "static_ram_bytes": sizes.static_ram_bytes,
        "arena_bytes": int(meta["arena_bytes"]),
        "arena_lower_bound_bytes": int(meta["arena_lower_bound_bytes"]),
        "arena_greedy_bytes": int(meta["arena_greedy_bytes"]),
        "macs": int(meta["macs"]), "instructions": prof.instructions, "est_cycles": est_cycles,
        "est_latency_ms": round(est_cycles / platform.clock_hz * 1e3, 6),
        "clock_hz": int(platform.clock_hz), "cycle_model": CYCLE_NOTE,
        "target": platform.name, "cpu": platform.cpu, "isa": platform.isa,
        "kernels": platform.kernels, "model_hash": meta["model_hash"], "host": host,
        "layers": layers,
    }
    if hasattr(prof, "cycles"):
        result["model_cycles"] = int(sum(prof.cycles.values()))
        result["model_cycles_note"] = prof.note
    if platform.cluster is not None:
        from mixq.deploy.cluster import estimate_graph

        result["cluster"] = estimate_graph(graph, platform.cluster)
    write_json_atomic(out / "deploy.json", result)
    return result


__all__ = ["CYCLE_NOTE", "Rv32ModelRunner", "build_rv32_elf", "deploy_graph_rv32", "disassemble_rv", "find_riscv_toolchain",
           "has_riscv_toolchain", "rv32_linker_script"]
