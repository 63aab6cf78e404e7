"""One layer on the functional Xpulp core: bit-exact check, then MACs per modelled cycle.

:func:`measure_layer` builds a one-layer graph, generates C with the ``pulp`` (XpulpV2) or
``pulpnn`` (XpulpNN) kernel set, cross-compiles it for RV32 (the Xpulp hot loops as ``.insn``),
runs it on :class:`mixq.deploy.emulator_xpulp.XpulpCore` against :func:`mixq.ir.interpret`, and
times the layer's executed instructions with the RI5CY pipeline model of
:mod:`mixq.deploy.xpulp_timing`, on one core (every core's program in turn) and on the cluster
(:mod:`mixq.deploy.cluster_timing`: the slowest core's program with its TCDM bank-conflict
stalls + fork/join, operands in L1 as the PULP-NN figures are; ``l2_cycles`` adds the L1 tiling
and the DMA from L2): cycles are a MODEL, not a measurement.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from mixq.codegen.emit import emit_c
from mixq.codegen.synth import GraphBuilder
from mixq.deploy.build import build_model_elf
from mixq.deploy.cluster import geometries_from_graph
from mixq.deploy.cluster_timing import layer_cycles
from mixq.deploy.emulator_xpulp import XpulpCore
from mixq.deploy.riscv import RV32IMC
from mixq.deploy.run import decode_logits, input_bytes, random_inputs
from mixq.deploy.xpulp_timing import FORK_JOIN_CYCLES, instruction_table, time_layers
from mixq.errors import MixqError
from mixq.ir.interpret import interpret
from mixq.platform.spec import KernelSet, get_platform

# layer -> (input H, W, C; output channels, 0 for depthwise; kernel, 0 for fully connected;
# stride) ; small enough for the Python handlers
CASES = {
    "conv3x3": ((8, 8, 32), 32, 3, 1),
    # our reading of the PULP-NN paper's benchmark layer (docs/pulp.md)
    "conv3x3-16": ((16, 16, 32), 64, 3, 1),
    "pw": ((8, 8, 64), 64, 1, 1),
    "fc": ((1, 1, 512), 64, 0, 1),
    "dw3x3": ((16, 16, 32), 0, 3, 1),
    "dw3x3s2": ((16, 16, 32), 0, 3, 2),
}
PRECISIONS = ((8, 8), (4, 8), (2, 8), (4, 4), (2, 2))  # (w_bits, a_bits)
ISA_OF = {KernelSet.PULP: "xpulpv2", KernelSet.PULPNN: "xpulpnn"}
PLATFORM_OF = {KernelSet.PULP: "pulp-open", KernelSet.PULPNN: "pulp-open-nn"}


def layer_graph(layer: str, w_bits: int, a_bits: int, seed: int = 0):
    """The one-layer graph of ``CASES[layer]`` at the given weight / activation widths.

    Example:
        >>> layer_graph("pw", 4, 8).nodes[0].weight.shape
        (64, 1, 1, 64)
        >>> layer_graph("dw3x3s2", 8, 8).nodes[0].kind.value
        'dw'
    """
    shape, c_out, k, stride = CASES[layer]
    b = GraphBuilder(shape, f"u{a_bits}", seed=seed)
    weight = f"s{w_bits}"
    if k == 0:
        return b.build(b.fc(b.input, c_out, weight=weight, out="u8"))
    if c_out == 0:
        return b.build(b.dw(b.input, kernel=k, stride=stride, weight=weight, out="u8"))
    return b.build(b.conv(b.input, c_out, kernel=k, stride=stride, weight=weight, out="u8"))


def run_traced(graph, kernel_set: KernelSet, out_dir: Path, inputs: np.ndarray):
    """Build ``graph`` for the Xpulp core, run ``inputs`` bit-exact, trace the first one.

    Returns:
        (layer metadata list, trace segments of the first input, instruction table, core).

    Raises:
        MixqError: an output differs from the interpreter's.
    """
    project = out_dir / "c"
    meta = emit_c(graph, project, kernels=kernel_set).metadata
    elf = build_model_elf(RV32IMC, project, out_dir / "model.elf")
    core = XpulpCore(XpulpCore.load(elf), {
        "input": graph.tensor(graph.inputs[0]).numel,
        "logits": graph.tensor(graph.outputs[0]).numel,
        "arena": max(int(meta["arena_bytes"]), 1)})
    expected = interpret(graph, inputs).reshape(len(inputs), -1)
    segments = None
    for i, sample in enumerate(input_bytes(graph, inputs)):
        core.reset_data()
        core.write("input", sample)
        core.fill("arena", 0x5A)
        args = ("input", "logits", "arena")
        if i == 0:
            segments = core.trace("mixq_model_run", args)
        else:
            core.call("mixq_model_run", args)
        raw = np.frombuffer(core.read("logits"), dtype=np.uint8)[None]
        got = decode_logits(graph, raw).reshape(-1)
        if not np.array_equal(got, expected[i]):
            raise MixqError(f"{kernel_set.value} kernels differ from the interpreter on input {i}")
    return meta["layers"], segments, instruction_table(elf), core


def measure_layer(layer: str, w_bits: int, a_bits: int, kernel_set: KernelSet,
                  samples: int = 2) -> list[dict]:
    """Two benchmark rows, on one core and on the cluster: ``layer w_bits a_bits macs cores
    cycles mac_per_cycle isa``, plus ``instructions``, ``function``, the model's ``load_use``
    stalls (summed over cores) and, on the cluster row, ``tcdm_stall_cycles`` (in ``cycles``)
    and ``l2_cycles`` / ``tiles`` (operands tiled and moved from L2 by the DMA)."""
    graph = layer_graph(layer, w_bits, a_bits)
    inputs = random_inputs(graph, samples, seed=1)
    with tempfile.TemporaryDirectory(prefix="mixq-pulp-") as tmp:
        layers, segments, table, core = run_traced(graph, kernel_set, Path(tmp), inputs)
    # the layer alone: without the packing of a sub-byte network input (mixq_pack_any)
    segments[0, -1] = [b for b in segments.get((0, -1), [])
                       if core.image.symbol_at(b[0]) != "mixq_pack_any"]
    timing = time_layers(segments, table)[0]
    cluster = layer_cycles(geometries_from_graph(graph)[0][1], timing,
                           get_platform(PLATFORM_OF[kernel_set]).cluster,
                           int(layers[0]["scratch_bytes"]))
    macs = int(layers[0]["macs"])
    in_l1 = cluster["compute_cycles"] - (cluster["tiles"] - 1) * FORK_JOIN_CYCLES
    rows = [{"layer": layer, "w_bits": w_bits, "a_bits": a_bits, "macs": macs, "cores": cores,
             "cycles": cycles, "mac_per_cycle": round(macs / max(cycles, 1), 3),
             "isa": ISA_OF[kernel_set], "function": layers[0]["function"],
             "instructions": timing.instructions, "load_use": timing.events["load_use"]}
            for cores, cycles in ((1, timing.cycles), (timing.cores, in_l1))]
    rows[1].update(tcdm_stall_cycles=cluster["tcdm_stall_cycles"],
                   l2_cycles=cluster["cycles"], tiles=cluster["tiles"])
    return rows


def format_rows(rows) -> str:
    """A plain-text table of :func:`measure_layer` rows."""
    head = f"{'layer':8} {'isa':8} {'w':>2} {'a':>2} {'MACs':>8} {'cores':>5} {'cycles':>9} " \
           f"{'MAC/cyc':>7} {'tcdm':>6} {'from L2':>9}  kernel"
    lines = [head]
    for r in rows:
        lines.append(f"{r['layer']:8} {r['isa']:8} {r['w_bits']:>2} {r['a_bits']:>2} "
                     f"{r['macs']:>8} {r['cores']:>5} {r['cycles']:>9} "
                     f"{r['mac_per_cycle']:>7.3f} {r.get('tcdm_stall_cycles', ''):>6} "
                     f"{r.get('l2_cycles', ''):>9}  {r['function']}")
    return "\n".join(lines)
