"""Instructions per MAC of single layers on the emulated Cortex-M7 (the kernel benchmark).

Each case is a three-node graph ``x (u8) -> add(x, x) -> LAYER -> avgpool`` emitted as a C
project, built with arm-none-eabi-gcc ``-O3`` and run once with instruction counting; the count of
the middle segment (between ``mixq_layer_mark(1)`` and ``mixq_layer_mark(2)``) is the layer's
kernel call alone: no input packing and no output unpacking. Every case is also checked bit for
bit against :func:`mixq.ir.interpret.interpret` on a few inputs before it is counted.

Cases of issue 3: pointwise 1x1 16x16x64->64, depthwise 3x3 16x16x64 (pad 1), conv 3x3
16x16x16->32 (pad 1), at w8a8, w4a8, w2a8, ternary-a8, w4a4, w2a2.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from mixq.codegen.synth import GraphBuilder
from mixq.deploy.arm import CORTEX_M7
from mixq.deploy.run import emulate_graph
from mixq.errors import MixqError
from mixq.ir.graph import Graph
from mixq.platform.spec import KernelSet

WBits = Union[int, str]  # 8, 4, 2 or "ternary"

PRECISIONS: tuple[tuple[WBits, int], ...] = (
    (8, 8), (4, 8), (2, 8), ("ternary", 8), (4, 4), (2, 2),
)


@dataclass(frozen=True)
class LayerCase:
    """One benchmark layer.

    Attributes:
        layer: 'pw1x1', 'dw3x3' or 'conv3x3'.
        hw: input height and width.
        c_in, c_out: channels (c_out ignored for depthwise).
    """

    layer: str
    hw: int
    c_in: int
    c_out: int


CASES = {
    "pw1x1": LayerCase("pw1x1", 16, 64, 64),
    "dw3x3": LayerCase("dw3x3", 16, 64, 64),
    "conv3x3": LayerCase("conv3x3", 16, 16, 32),
}


def case_graph(case: LayerCase, w_bits: WBits, a_bits: int, seed: int = 0) -> Graph:
    """The benchmark graph of one case: ``x -> add(x, x) -> layer -> avgpool``.

    Example:
        >>> g = case_graph(LayerCase("pw1x1", 4, 8, 8), 4, 4)
        >>> [str(n.kind) for n in g.nodes], g.nodes[1].weight_bits
        (['add', 'pw', 'pool'], 4)
    """
    weight = "t2" if w_bits == "ternary" else f"s{w_bits}"
    act = f"u{a_bits}"
    b = GraphBuilder((case.hw, case.hw, case.c_in), "u8", seed=seed, batch=4,
                     name=f"{case.layer}_w{w_bits}a{a_bits}")
    x = b.add(b.input, b.input, out=act)
    if case.layer == "pw1x1":
        y = b.pw(x, case.c_out, weight=weight, out=act)
    elif case.layer == "dw3x3":
        y = b.dw(x, kernel=3, stride=1, padding=(1, 1, 1, 1), weight=weight, out=act)
    elif case.layer == "conv3x3":
        y = b.conv(x, case.c_out, kernel=3, stride=1, padding=(1, 1, 1, 1), weight=weight,
                   out=act)
    else:
        raise MixqError(f"unknown benchmark layer '{case.layer}'; use one of {sorted(CASES)}")
    return b.build(b.avgpool(y))


def measure_graph(graph: Graph, kernels: KernelSet = KernelSet.ARMV7EM, check_inputs: int = 3,
                  work_dir=None) -> dict:
    """Instructions of layer 1 of a benchmark graph on the emulated Cortex-M7 (bit-exactness
    checked first, :func:`mixq.deploy.run.emulate_graph`).

    Returns:
        ``{"macs", "instructions", "kernel", "flash_bytes"}`` (flash: the layer's packed
        weights and requantization arrays).

    Raises:
        MixqError: the kernel is not bit-exact on the emulator.
    """
    t_in = graph.tensor(graph.inputs[0])
    x = np.random.default_rng(1).integers(0, 256, size=(check_inputs + 1, *t_in.shape))
    with tempfile.TemporaryDirectory(prefix="mixq-bench-") as tmp:
        base = Path(work_dir) if work_dir is not None else Path(tmp)
        run = emulate_graph(graph, base, CORTEX_M7, kernels, x[:check_inputs], x[-1],
                            elf_name="bench.elf")
    layer = run.emitted.metadata["layers"][1]
    if run.mismatches:
        raise MixqError(f"{graph.name} ({layer['function']}) is not bit-exact on the emulator; "
                        "fix the kernel before benchmarking")
    return {"macs": int(layer["macs"]), "instructions": run.profile.layer_instructions(1),
            "kernel": layer["function"], "flash_bytes": int(layer["weight_flash_bytes"])}


def measure_case(case: LayerCase, w_bits: WBits, a_bits: int,
                 kernels: KernelSet = KernelSet.ARMV7EM, check_inputs: int = 3,
                 work_dir=None) -> dict:
    """Instructions of one benchmark layer (bit-exactness checked first).

    Args:
        case: the layer.
        w_bits: 8, 4, 2 or 'ternary'.
        a_bits: 8, 4 or 2 (input and output activations).
        kernels: the kernel set.
        check_inputs: random inputs compared with the interpreter before counting.
        work_dir: build folder (a temporary one if None).

    Returns:
        ``{"layer", "w_bits", "a_bits", "macs", "instructions", "kernel"}``.

    Raises:
        MixqError: the kernel is not bit-exact on the emulator.
    """
    r = measure_graph(case_graph(case, w_bits, a_bits), kernels, check_inputs, work_dir)
    return {"layer": case.layer, "w_bits": w_bits, "a_bits": a_bits, "macs": r["macs"],
            "instructions": r["instructions"], "kernel": r["kernel"]}


def add_kernels_argument(parser) -> None:
    """The ``--kernels`` option of the benchmark scripts (a :class:`KernelSet`)."""
    parser.add_argument("--kernels", type=KernelSet, default=KernelSet.ARMV7EM,
                        help="kernel set (armv7em, ref)")


def print_rows(rows: list, as_json: bool, title: str, table: str) -> None:
    """A benchmark script's output: one JSON list, or a title line and the table."""
    if as_json:
        print(json.dumps(rows))
    else:
        print(title)
        print(table)


def format_table(rows: list[dict]) -> str:
    """A fixed-width table of :func:`measure_case` results with instructions per MAC.

    Example:
        >>> print(format_table([{"layer": "pw1x1", "w_bits": 8, "a_bits": 8, "macs": 100,
        ...                      "instructions": 205, "kernel": "k"}]))
        layer    weights  act  MACs     instructions  instr/MAC  kernel
        pw1x1    w8       a8   100      205           2.05       k
    """
    lines = [f"{'layer':<8} {'weights':<8} {'act':<4} {'MACs':<8} {'instructions':<13} "
             f"{'instr/MAC':<10} kernel"]
    for r in rows:
        w = "ternary" if r["w_bits"] == "ternary" else f"w{r['w_bits']}"
        lines.append(f"{r['layer']:<8} {w:<8} {'a' + str(r['a_bits']):<4} {r['macs']:<8} "
                     f"{r['instructions']:<13} {r['instructions'] / r['macs']:<10.2f} "
                     f"{r.get('kernel', '')}".rstrip())
    return "\n".join(lines)
