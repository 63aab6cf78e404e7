"""Deploy an integer graph to a platform's emulated core: C project, ELF, bit-exact check, counts.

:func:`deploy` is the whole flow behind ``mixq deploy``, the same for every ISA (the ISA is data:
an :class:`~mixq.deploy.isa.IsaRecord`, see :mod:`mixq.deploy.isa`):

1. :func:`mixq.codegen.emit_c` writes the C project (``<out>/c``) with the platform's kernel set;
2. the ISA's cross compiler builds ``<out>/mixq_model.elf`` (:mod:`mixq.deploy.build`);
3. the ELF runs on the emulated core for ``emulate`` inputs without hooks (JIT speed) and every
   output is compared with :func:`mixq.ir.interpret.interpret`, bit for bit
   (:func:`mixq.deploy.run.emulate_graph`);
4. one more run counts executed instructions per layer (:mod:`mixq.deploy.profile`) and turns
   them into an *estimated* cycle count (the record's :class:`mixq.platform.cycles.CycleModel`,
   plus, on a platform with ``[memory_timing]``, the simulated L1 line fills it charges);
5. when a host gcc is present, the same project also runs on the host (sanitizers on) and must
   agree;
6. for a platform with a ``[cluster]``, the PULP cluster's estimated latency is added
   (:mod:`mixq.deploy.cluster`);
7. ``<out>/deploy.json`` records the :class:`DeployResult` (atomic, deterministic: no paths, no
   timestamps).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from mixq.deploy.fit import LinkedFit, measure_fit
from mixq.deploy.isa import isa_record
from mixq.deploy.run import (PROJECT_DIR, count_mismatches, decode_logits, emulate_graph,
                             random_inputs)
from mixq.errors import MixqError, ToolchainError
from mixq.fileio import write_json_atomic
from mixq.ir.graph import Graph
from mixq.platform.cycles import CycleModel, estimate_latency_ms
from mixq.platform.spec import Platform


def _known_fields(record) -> dict:
    """A record as a JSON object without its unknown (None) fields."""
    return {k: v for k, v in vars(record).items() if v is not None}


@dataclass(frozen=True)
class LayerResult:
    """One layer of a deployment: its kernel, MACs, executed instructions, estimated cycles
    (and, on a core with a pipeline model, its modelled cycles and MACs per cycle; on a platform
    with memory timing, the memory stall cycles included in ``est_cycles``), the kernel's
    variant and, when the code generator chose among variants by estimated cost, each
    candidate's estimate (``kernel_costs``: ``function/variant`` -> instructions, see
    :func:`mixq.codegen.kernels.kernel_costs`)."""

    name: str
    kernel: str
    macs: int
    instructions: int
    est_cycles: int
    model_cycles: Optional[int] = None
    mac_per_cycle: Optional[float] = None
    memory_cycles: Optional[int] = None
    variant: Optional[str] = None
    kernel_costs: Optional[dict] = None
    cluster_cycles: Optional[int] = None
    cluster_mac_per_cycle: Optional[float] = None

    to_json = _known_fields  # pipeline-model and memory keys only when known


@dataclass(frozen=True)
class HostCheck:
    """The same project on the host (gcc + sanitizers): agreement, or the error that stopped it."""

    bitexact: bool
    samples: Optional[int] = None
    mismatches: Optional[int] = None
    error: Optional[str] = None

    to_json = _known_fields  # {"bitexact", "samples", "mismatches"} or {"bitexact": false, "error"}


@dataclass(frozen=True)
class DeployResult:
    """What :func:`deploy` measured; ``deploy.json`` is :meth:`to_json`.

    Attributes:
        bitexact: every checked input gave the interpreter's output (and at least one ran).
        samples, mismatches: checked inputs and those that differed.
        flash_bytes, text_bytes, rodata_bytes, static_ram_bytes: ELF sizes
            (:class:`mixq.deploy.build.ElfSizes`); ``flash_bytes`` is the linked image.
        stack_bytes: static bound of the stack (:mod:`mixq.deploy.stack`);
            stack_measured_bytes: the stack the first checked input used on the emulator
            (painted), never above the bound.
        io_bytes: the caller's input and logits buffers.
        ram_bytes: arena + static RAM + stack bound + io buffers.
        fit: all the linked figures (:class:`mixq.deploy.fit.LinkedFit`; ``fit`` in
            ``deploy.json``).
        arena_bytes, arena_lower_bound_bytes, arena_greedy_bytes, macs, model_hash: from the
            emitted project's metadata.
        instructions, est_cycles: one inference (the cycles an estimate).
        est_latency_ms, clock_hz: the estimate at the platform's clock.
        cycle_model: what the cycle figures are (the ISA record's note).
        target, cpu, isa, kernels: the platform's name, core, ISA and kernel set.
        host: the host check, or None (no host gcc, or not asked for).
        layers: per layer, in execution order.
        cluster: a platform with a ``[cluster]``: on an Xpulp core, the cluster model over the
            executed programs (:func:`mixq.deploy.cluster_timing.cluster_model`: TCDM bank
            conflicts, L1 tiling, DMA); otherwise the shape-only estimate
            (:func:`mixq.deploy.cluster.estimate_graph`); None without a cluster.
        model_cycles, model_cycles_note: cycles of the core's pipeline model (the Xpulp cores,
            :mod:`mixq.deploy.xpulp_runner`) and what they are; None elsewhere.
        memory_model: on a platform with ``[memory_timing]``: where code, weights, activations
            and stack are assumed to live, what a line fill costs, the simulated line fills and
            the stall cycles they add to ``est_cycles``
            (:meth:`mixq.platform.memory_timing.MemoryTiming.describe`); None elsewhere (every
            access then counts as a hit).
        cluster_model_cycles: the whole run on the PULP cluster: each layer's ``cluster``
            model cycles plus the serial code outside the layers; None elsewhere.
    """

    bitexact: bool
    samples: int
    mismatches: int
    flash_bytes: int
    text_bytes: int
    rodata_bytes: int
    static_ram_bytes: int
    arena_bytes: int
    arena_lower_bound_bytes: int
    arena_greedy_bytes: int
    macs: int
    instructions: int
    est_cycles: int
    est_latency_ms: float
    clock_hz: int
    cycle_model: str
    target: str
    cpu: str
    isa: str
    kernels: str
    model_hash: str
    host: Optional[HostCheck]
    layers: tuple[LayerResult, ...]
    fit: LinkedFit
    stack_bytes: int
    stack_measured_bytes: Optional[int]
    io_bytes: int
    ram_bytes: int
    cluster: Optional[dict] = None
    model_cycles: Optional[int] = None
    model_cycles_note: Optional[str] = None
    memory_model: Optional[dict] = None
    cluster_model_cycles: Optional[int] = None

    @property
    def host_bitexact(self) -> Optional[bool]:
        """The host build agreed too; None when it did not run."""
        return None if self.host is None else self.host.bitexact

    @property
    def details(self) -> dict:
        """The whole ``deploy.json`` object (:meth:`to_json`)."""
        return self.to_json()

    def to_json(self) -> dict:
        """The content of ``deploy.json`` (``isa`` only where the ISA record reports it, and
        ``cluster`` only for a platform with a cluster, as the files always were)."""
        out = dict(vars(self))
        out["host"] = self.host.to_json() if self.host is not None else None
        out["layers"] = [layer.to_json() for layer in self.layers]
        out["fit"] = self.fit.to_json()
        if not isa_record(self.isa).reports_isa:
            del out["isa"]
        for key in ("cluster", "model_cycles", "model_cycles_note", "memory_model",
                    "cluster_model_cycles"):
            if out[key] is None:
                del out[key]
        return out


def _host_check(project: Path, out_dir: Path, samples: np.ndarray, expected: np.ndarray,
                graph: Graph) -> Optional[HostCheck]:
    """Run the project on the host (gcc + sanitizers); None when no host gcc is installed."""
    from mixq.deploy import host

    if shutil.which("gcc") is None:
        return None
    build = out_dir / "host"
    try:
        exe = host.build_host(project, build)
        raw = host.run_executable(exe, samples, expected[0].size)
    except (ToolchainError, RuntimeError) as e:
        return HostCheck(False, error=str(e).splitlines()[0][:300])
    finally:
        shutil.rmtree(build, ignore_errors=True)
    mismatches = count_mismatches(decode_logits(graph, raw.view(np.uint8)), expected)
    return HostCheck(mismatches == 0, int(len(samples)), mismatches)


def _check_inputs(graph: Graph, inputs, emulate: int, seed: int) -> np.ndarray:
    if inputs is None:
        inputs = random_inputs(graph, max(emulate, 1), seed)
    inputs = np.asarray(inputs)
    in_t = graph.tensor(graph.inputs[0])
    if inputs.ndim != len(in_t.shape) + 1 or tuple(inputs.shape[1:]) != tuple(in_t.shape):
        raise MixqError(f"inputs of shape {tuple(inputs.shape)} do not match the model input "
                        f"(N, {', '.join(map(str, in_t.shape))}); pass codes in NHWC")
    if len(inputs) == 0:
        raise MixqError("no inputs to deploy with; pass at least one input or emulate >= 1")
    return inputs


def deploy(
    graph: Graph,
    out_dir,
    platform: Platform,
    emulate: int = 100,
    inputs: Optional[np.ndarray] = None,
    *,
    host_check: bool = True,
    cycle_model: Optional[CycleModel] = None,
    seed: int = 0,
) -> DeployResult:
    """Generate, build, emulate and measure ``graph`` on ``platform``; writes
    ``<out_dir>/deploy.json``.

    Args:
        graph: the integer graph (one input, first output = logits).
        out_dir: output folder: ``c/`` (the C project), ``mixq_model.elf``, ``deploy.json``.
        platform: the target (:func:`mixq.platform.get_platform`); its ISA selects the back-end,
            its kernel set the C kernels, its clock the latency estimate.
        emulate: inputs checked bit for bit on the emulator, >= 1 (the first ``emulate`` rows
            of ``inputs``, or random codes).
        inputs: network input codes (N, *input shape); None for random inputs (``seed``).
        host_check: also build and run on the host with gcc when it is installed.
        cycle_model: per-class costs of the cycle estimate (default: the ISA record's).
        seed: seed of the random inputs.

    Raises:
        ToolchainError: the cross compiler is missing or the build fails.
        MixqError: ``emulate`` < 1, bad inputs, or an emulator fault.
    """
    if emulate < 1:  # was: 0 crashed in numpy, -3 silently checked all inputs but 3
        raise MixqError(f"emulate={emulate}: a deployment checks at least one input bit for bit "
                        "on the emulator; pass emulate >= 1")
    record = isa_record(platform.isa, platform.cpu)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    inputs = _check_inputs(graph, inputs, emulate, seed)
    checked = inputs[:emulate]
    timing = platform.memory_timing
    run = emulate_graph(graph, out, record, platform.kernels, checked, inputs[0], timing=timing,
                        exclude=platform.excluded_kernels)
    meta, prof = run.emitted.metadata, run.profile
    model = cycle_model or record.cycle_model
    est_cycles = prof.total.est_cycles(model, timing)
    modelled = prof.cycles is not None
    segments = [prof.segments.get(i) for i in range(len(meta["layers"]))]
    cluster, cluster_cycles = None, prof.cluster_cycles
    if platform.cluster is not None and prof.layer_timing is not None:
        # executed programs: the cluster model over them (TCDM conflicts, tiling, DMA)
        from mixq.deploy.cluster_timing import cluster_model

        cluster = cluster_model(graph, meta["layers"], prof.layer_timing, platform.cluster)
        cluster_cycles = {**prof.cluster_cycles, **{i: r["est_cycles"] for i, r in
                                                    enumerate(cluster["layers"])}}
    elif platform.cluster is not None:  # no cluster program ran: the shape-only estimate
        from mixq.deploy.cluster import estimate_graph

        cluster = estimate_graph(graph, platform.cluster)
    # a pipeline model over the executed trace is the estimate (on the cluster when it ran)
    piped = cluster_cycles if cluster_cycles is not None else prof.cycles
    if piped is not None:
        est_cycles = int(sum(piped.values()))
    layers = tuple(
        LayerResult(layer["name"], layer["function"], int(layer["macs"]),
                    prof.layer_instructions(i),
                    (int(piped.get(i, 0)) if piped is not None
                     else seg.est_cycles(model, timing) if seg else 0),
                    int(prof.cycles.get(i, 0)) if modelled else None,
                    round(layer["macs"] / max(prof.cycles.get(i, 0), 1), 4) if modelled
                    else None,
                    timing.charge(seg.fills) if timing and seg else None,
                    layer.get("variant") or None, layer.get("kernel_costs") or None,
                    *_cluster_figures(cluster_cycles, i, int(layer["macs"])))
        for i, (layer, seg) in enumerate(zip(meta["layers"], segments)))
    memory_model = None
    if timing is not None:
        memory_model = {**timing.describe(run.buffers_in_tcm),
                        "line_fills": {k: int(prof.total.fills.get(k, 0))
                                       for k in ("flash", "sram", "writeback")},
                        "memory_cycles": timing.charge(prof.total.fills)}
    host = None
    if host_check and len(checked):
        host = _host_check(out / PROJECT_DIR, out, run.samples, run.expected, graph)
    fit = measure_fit(graph, run.elf, meta)
    result = DeployResult(
        bitexact=bool(len(checked) > 0 and run.mismatches == 0),
        samples=int(len(checked)), mismatches=run.mismatches,
        flash_bytes=fit.flash_bytes, text_bytes=fit.text_bytes,
        rodata_bytes=fit.rodata_bytes, static_ram_bytes=fit.static_ram_bytes,
        arena_bytes=fit.arena_bytes,
        arena_lower_bound_bytes=int(meta["arena_lower_bound_bytes"]),
        arena_greedy_bytes=int(meta["arena_greedy_bytes"]), macs=int(meta["macs"]),
        instructions=prof.instructions, est_cycles=est_cycles,
        est_latency_ms=round(estimate_latency_ms(est_cycles, platform.clock_hz), 6),
        clock_hz=int(platform.clock_hz), cycle_model=record.cycle_note, target=platform.name,
        cpu=platform.cpu, isa=platform.isa.value, kernels=platform.kernels.value,
        model_hash=meta["model_hash"], host=host, layers=layers,
        fit=fit, stack_bytes=fit.stack_bytes, stack_measured_bytes=run.stack_used_bytes,
        io_bytes=fit.io_bytes, ram_bytes=fit.ram_bytes, cluster=cluster,
        model_cycles=int(sum(prof.cycles.values())) if modelled else None,
        model_cycles_note=prof.cycles_note if modelled else None, memory_model=memory_model,
        cluster_model_cycles=(int(sum(cluster_cycles.values()))
                              if cluster_cycles is not None else None))
    write_json_atomic(out / "deploy.json", result.to_json())
    return result


def _cluster_figures(cycles: Optional[dict], i: int, macs: int) -> tuple:
    """(cluster cycles, MACs per cluster cycle) of layer ``i``, or (None, None)."""
    if cycles is None:
        return None, None
    return int(cycles.get(i, 0)), round(macs / max(cycles.get(i, 0), 1), 4)


def deploy_summary(result: DeployResult) -> str:
    """One line for the CLI, e.g. ``bit-exact 100/100 on the emulated Cortex-M7, flash ...``."""
    ok = result.samples - result.mismatches
    verdict = "bit-exact" if result.bitexact else "MISMATCH"
    c = result.cluster
    kind = "model" if c and c["note"].startswith("model") else "estimate"
    extra = (f"; {c['cores']}-core cluster ~{c['est_cycles']:,} cycles ({kind}, "
             f"{c['est_latency_ms']:.3f} ms)" if c else "")
    return (f"{verdict} {ok}/{result.samples} on the emulated "
            f"{isa_record(result.isa, result.cpu).label}, "
            f"linked flash {result.flash_bytes:,} B, arena {result.arena_bytes:,} B, "
            f"RAM {result.ram_bytes:,} B (arena + static + stack + io), "
            f"{result.instructions:,} instructions, ~{result.est_cycles:,} cycles "
            f"(estimate, {result.est_latency_ms:.3f} ms){extra}")


__all__ = ["DeployResult", "HostCheck", "LayerResult", "deploy", "deploy_summary"]
