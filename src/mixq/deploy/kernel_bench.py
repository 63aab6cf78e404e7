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

import inspect
import json
import re
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Optional, Union

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


class BenchKind(StrEnum):
    """The layer kinds of ``--shape KIND:...`` (the IR op each becomes)."""

    CONV = "conv"
    PW = "pw"
    DW = "dw"
    FC = "fc"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    ADD = "add"


# Issue-3 case names -> (kind, square kernel size).
_NAMED = {"pw1x1": (BenchKind.PW, 1), "dw3x3": (BenchKind.DW, 3), "conv3x3": (BenchKind.CONV, 3)}
_SHAPE = re.compile(r"^(\w+):(\d+)x(\d+)x(\d+):(\d+):(\d+)x(\d+):s(\d+)$")


@dataclass(frozen=True)
class LayerCase:
    """One benchmark layer, TF 'same' padding.

    Attributes:
        layer: row label: an issue-3 case name ('pw1x1', 'dw3x3', 'conv3x3') or a
            :class:`BenchKind` value.
        hw: input height (and width unless ``width`` is given).
        c_in, c_out: channels (c_out is c_in for depthwise, pool and add).
        kernel: (KH, KW); None: from the case name.
        stride: equal strides.
        width: input width, None for ``hw``.
    """

    layer: str
    hw: int
    c_in: int
    c_out: int
    kernel: Optional[tuple[int, int]] = None
    stride: int = 1
    width: Optional[int] = None

    @property
    def kind(self) -> BenchKind:
        return _NAMED[self.layer][0] if self.layer in _NAMED else BenchKind(self.layer)

    @property
    def kernel_hw(self) -> tuple[int, int]:
        if self.kernel is not None:
            return tuple(self.kernel)
        k = _NAMED[self.layer][1] if self.layer in _NAMED else 1
        return (k, k)

    @property
    def shape(self) -> str:
        """The ``HxWxCIN:COUT:KHxKW:sS`` form.

        Example:
            >>> LayerCase("pw1x1", 16, 64, 64).shape
            '16x16x64:64:1x1:s1'
        """
        kh, kw = self.kernel_hw
        c_out = self.c_in if self.kind in _SAME_CHANNELS else self.c_out
        return (f"{self.hw}x{self.width or self.hw}x{self.c_in}:{c_out}:{kh}x{kw}:"
                f"s{self.stride}")

    @classmethod
    def parse(cls, spec: str) -> "LayerCase":
        """A case from ``KIND:HxWxCIN:COUT:KHxKW:sS``.

        Raises:
            MixqError: malformed spec or unknown kind (one line naming the accepted form).

        Example:
            >>> c = LayerCase.parse("conv:32x32x3:16:3x3:s2")
            >>> c.kind.value, c.hw, c.width, c.kernel_hw, c.stride
            ('conv', 32, 32, (3, 3), 2)
        """
        m = _SHAPE.match(spec.strip())
        kinds = ", ".join(k.value for k in BenchKind)
        if not m or m.group(1) not in set(BenchKind):
            raise MixqError(f"bad --shape '{spec}': use KIND:HxWxCIN:COUT:KHxKW:sS with KIND one "
                            f"of {kinds}, e.g. conv:32x32x3:16:3x3:s2")
        h, w, c_in, c_out, kh, kw, s = (int(g) for g in m.groups()[1:])
        if min(h, w, c_in, c_out, kh, kw, s) < 1:
            raise MixqError(f"bad --shape '{spec}': every size must be >= 1")
        return cls(m.group(1), h, c_in, c_out, (kh, kw), s, w)


_SAME_CHANNELS = (BenchKind.DW, BenchKind.MAXPOOL, BenchKind.AVGPOOL, BenchKind.ADD)

CASES = {
    "pw1x1": LayerCase("pw1x1", 16, 64, 64),
    "dw3x3": LayerCase("dw3x3", 16, 64, 64),
    "conv3x3": LayerCase("conv3x3", 16, 16, 32),
}


def _pool(b: GraphBuilder, x: str, case: LayerCase) -> str:
    """A pool layer: global average when the window covers the map, else the builder's
    windowed pool of that kind (``kernel=``, ``stride=``) when the IR has one."""
    kh, kw = case.kernel_hw
    h, w = case.hw, case.width or case.hw
    if case.kind == BenchKind.AVGPOOL and (kh, kw) == (h, w):
        return b.avgpool(x)
    method = getattr(b, case.kind.value, None)
    if method is None or "kernel" not in inspect.signature(method).parameters:
        raise MixqError(f"{case.kind.value} {kh}x{kw} is not an IR op yet; only global avgpool "
                        f"(kernel {h}x{w}) is")
    return method(x, kernel=(kh, kw), stride=case.stride)


def case_graph(case: LayerCase, w_bits: WBits, a_bits: int, seed: int = 0) -> Graph:
    """The benchmark graph of one case: ``x -> add(x, x) -> layer -> avgpool`` (the add makes
    the layer's input an arena tensor of the activation width; the final pool keeps the
    layer's output off the network output).

    Example:
        >>> g = case_graph(LayerCase("pw1x1", 4, 8, 8), 4, 4)
        >>> [str(n.kind) for n in g.nodes], g.nodes[1].weight_bits
        (['add', 'pw', 'pool'], 4)
        >>> g = case_graph(LayerCase.parse("dw:9x9x8:8:5x5:s2"), 8, 8)
        >>> g.nodes[1].weight.shape, g.nodes[1].padding, g.tensor(g.nodes[1].output).shape
        ((8, 5, 5, 1), (2, 2, 2, 2), (5, 5, 8))
    """
    weight = "t2" if w_bits == "ternary" else f"s{w_bits}"
    act = f"u{a_bits}"
    # positive multipliers only: add(x, x) with opposite signs would be a constant tensor whose
    # requantization scales are far from a real network's (shift < 32, the slow path)
    b = GraphBuilder((case.hw, case.width or case.hw, case.c_in), "u8", seed=seed, batch=4,
                     name=f"{case.layer}_w{w_bits}a{a_bits}", negative_multipliers=False)
    x = b.add(b.input, b.input, out=act)
    kind, k, s = case.kind, case.kernel_hw, case.stride
    if kind in (BenchKind.CONV, BenchKind.PW):
        y = b.conv(x, case.c_out, kernel=k, stride=s, weight=weight, out=act)
    elif kind == BenchKind.DW:
        y = b.dw(x, kernel=k, stride=s, weight=weight, out=act)
    elif kind == BenchKind.FC:
        y = b.fc(x, case.c_out, weight=weight, out=act)
    elif kind == BenchKind.ADD:
        y = b.add(x, x, out=act)
    else:
        y = _pool(b, x, case)
    if kind == BenchKind.FC or b.tensor(y).shape[:2] == (1, 1):
        return b.build(y)  # already one pixel: the layer's output is the network output
    return b.build(b.avgpool(y))


def measure_graph(graph: Graph, kernels: KernelSet = KernelSet.ARMV7EM, check_inputs: int = 3,
                  work_dir=None) -> dict:
    """Instructions of layer 1 of a benchmark graph on the emulated Cortex-M7 (bit-exactness
    checked first, :func:`mixq.deploy.run.emulate_graph`).

    Returns:
        ``{"macs", "instructions", "kernel", "flash_bytes"}`` (flash: the layer's packed
        weights and requantization arrays); ``macs`` of a layer without MACs (pool, add) is
        the element count of its (first) input, so its rows read per element.

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
    node = graph.nodes[1]
    macs = int(layer["macs"]) or int(np.prod(graph.tensor(node.inputs[0]).shape))
    return {"macs": macs, "instructions": run.profile.layer_instructions(1),
            "kernel": layer["function"], "flash_bytes": int(layer["weight_flash_bytes"])}


def measure_case(case: LayerCase, w_bits: WBits, a_bits: int,
                 kernels: KernelSet = KernelSet.ARMV7EM, check_inputs: int = 3,
                 work_dir=None) -> dict:
    """Instructions of one benchmark layer (bit-exactness checked first).

    Args:
        case: the layer.
        w_bits: 8, 4, 2 or 'ternary' (ignored by pool and add layers).
        a_bits: 8, 4 or 2 (input and output activations).
        kernels: the kernel set.
        check_inputs: random inputs compared with the interpreter before counting.
        work_dir: build folder (a temporary one if None).

    Returns:
        ``{"layer", "w_bits", "a_bits", "macs", "instructions", "shape", "kernel"}``;
        ``w_bits`` is None for layers without weights, whose ``macs`` are the elements of
        their (first) input.

    Raises:
        MixqError: the kernel is not bit-exact on the emulator.
    """
    r = measure_graph(case_graph(case, w_bits, a_bits), kernels, check_inputs, work_dir)
    weighted = case.kind not in _WEIGHTLESS
    return {"layer": case.layer, "w_bits": w_bits if weighted else None, "a_bits": a_bits,
            "macs": r["macs"], "instructions": r["instructions"], "shape": case.shape,
            "kernel": r["kernel"]}


_WEIGHTLESS = (BenchKind.MAXPOOL, BenchKind.AVGPOOL, BenchKind.ADD)


def case_precisions(case: LayerCase, precisions=PRECISIONS) -> tuple[tuple[WBits, int], ...]:
    """The precisions worth measuring for a case: all of them for weight layers, one per
    activation width for pool and add layers (their weight width means nothing).

    Example:
        >>> case_precisions(LayerCase.parse("add:8x8x16:16:1x1:s1"))
        ((8, 8), (8, 4), (8, 2))
    """
    if case.kind not in _WEIGHTLESS:
        return tuple(precisions)
    seen: dict[int, tuple[WBits, int]] = {}
    for w, a in precisions:
        seen.setdefault(a, (8, a))
    return tuple(seen.values())


def parse_precisions(text: str) -> tuple[tuple[WBits, int], ...]:
    """``w8a8,wta8`` -> ((8, 8), ('ternary', 8)).

    Raises:
        MixqError: an entry that is not ``w{8,4,2,t}a{8,4,2}``.

    Example:
        >>> parse_precisions("w8a8,wta8,w2a2")
        ((8, 8), ('ternary', 8), (2, 2))
    """
    out = []
    for item in text.split(","):
        m = re.fullmatch(r"w([842t])a([842])", item.strip())
        if not m:
            raise MixqError(f"bad precision '{item}': use w8a8, w4a8, w2a8, wta8 (ternary), "
                            "w4a4, w2a2, comma-separated")
        out.append(("ternary" if m.group(1) == "t" else int(m.group(1)), int(m.group(2))))
    return tuple(out)


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
        ...                      "instructions": 205, "shape": "2x2x5:5:1x1:s1", "kernel": "k"}]))
        layer    shape                weights  act  MACs      instructions  instr/MAC  kernel
        pw1x1    2x2x5:5:1x1:s1       w8       a8   100       205           2.05       k
    """
    lines = [f"{'layer':<8} {'shape':<20} {'weights':<8} {'act':<4} {'MACs':<9} "
             f"{'instructions':<13} "
             f"{'instr/MAC':<10} kernel"]
    for r in rows:
        w = {"ternary": "ternary", None: "-"}.get(r["w_bits"], f"w{r['w_bits']}")
        lines.append(f"{r['layer']:<8} {r.get('shape', ''):<20} {w:<8} "
                     f"{'a' + str(r['a_bits']):<4} {r['macs']:<9} "
                     f"{r['instructions']:<13} {r['instructions'] / r['macs']:<10.2f} "
                     f"{r.get('kernel', '')}".rstrip())
    return "\n".join(lines)
