"""Whole networks on the emulated core, next to a published reference (the network benchmark).

``bench/networks.py`` builds the integer graphs (that part needs torch) and hands each
:class:`~mixq.deploy.deploy.DeployResult` to :func:`network_row`, which compares its estimated
cycles with the best published figure for the same network (:data:`REFERENCES`): ``ratio`` is
mixq's estimated cycles over the reference's *measured* cycles, so below 1.0 means mixq is
estimated faster on the same core and clock. The estimate is not a measurement; its memory
assumptions are the platform's (``memory_model`` of ``deploy.json``).

:func:`layer_rows` splits a result per layer with its :class:`~mixq.quant.kinds.LayerKind` and
its work (MACs for weight layers, elements for pool and add), :func:`kind_summary` sums those per
kind (the "instructions per MAC of each layer kind" of issue 15).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

from mixq.errors import MixqError
from mixq.ir.graph import Add, AvgPool, Graph
from mixq.quant.kinds import LayerKind


@dataclass(frozen=True)
class Reference:
    """A published latency of one network on a Cortex-M board.

    Attributes:
        cycles: measured cycles of one inference.
        source: who measured it, on what, and where it is published.
    """

    cycles: int
    source: str


# Plumerai, MLPerf Tiny v1.0 closed division, DISCO-F746NG (Cortex-M7 at 216 MHz), measured
# latency 19.1 / 57.0 / 64.8 ms -> cycles at 216 MHz. MobileNetV1 0.25_160: the CMSIS-NN flow
# of Rusci et al. (MLSys 2020), measured on an STM32H743.
REFERENCES = {
    "kws_dscnn": Reference(4_130_000, "Plumerai, MLPerf Tiny v1.0, DISCO-F746NG, 19.1 ms"),
    "vww_mobilenet_v1": Reference(12_310_000, "Plumerai, MLPerf Tiny v1.0, DISCO-F746NG, "
                                  "57.0 ms"),
    "ic_resnet8": Reference(14_000_000, "Plumerai, MLPerf Tiny v1.0, DISCO-F746NG, 64.8 ms"),
    "mobilenet_v1_025_160": Reference(65_800_000, "CMSIS-NN flow of Rusci et al. (MLSys 2020),"
                                      " STM32H743"),
}

BITS = ("int8", "mixed")


@dataclass(frozen=True)
class NetworkRow:
    """One network at one precision (a row of ``bench/networks.py --json``).

    Attributes:
        network: a key of :data:`REFERENCES`.
        bits: 'int8' (every layer 8-bit) or 'mixed' (a memory-driven mixed allocation).
        macs, instructions, est_cycles: from the deployment (cycles an estimate).
        clock_hz: the platform clock; ``est_ms`` is ``est_cycles`` at that clock.
        reference_ms: the reference's measured cycles at the same clock.
        ratio: ``est_cycles / reference cycles`` (below 1: mixq estimated faster).
        bitexact: the emulated run (and the host run, when it ran) matched the interpreter.
    """

    network: str
    bits: str
    macs: int
    instructions: int
    est_cycles: int
    clock_hz: int
    est_ms: float
    reference_ms: float
    ratio: float
    bitexact: bool

    def to_json(self) -> dict:
        return asdict(self)


def network_row(network: str, bits: str, result) -> NetworkRow:
    """The :class:`NetworkRow` of a deployment of ``network`` at ``bits``.

    Args:
        network: a key of :data:`REFERENCES`.
        bits: 'int8' or 'mixed'.
        result: its :class:`~mixq.deploy.deploy.DeployResult`.

    Raises:
        MixqError: unknown network or bits.

    Example:
        >>> from types import SimpleNamespace as R
        >>> r = R(macs=10, instructions=30, est_cycles=2_065_000, clock_hz=216_000_000,
        ...       bitexact=True, host_bitexact=None)
        >>> row = network_row("kws_dscnn", "int8", r)
        >>> row.ratio, row.est_ms, row.reference_ms
        (0.5, 9.56, 19.12)
    """
    if network not in REFERENCES:
        raise MixqError(f"unknown network '{network}'; known: {', '.join(REFERENCES)}")
    if bits not in BITS:
        raise MixqError(f"bits '{bits}' is not one of {', '.join(BITS)}")
    ref = REFERENCES[network].cycles
    clock = int(result.clock_hz)
    return NetworkRow(network, bits, int(result.macs), int(result.instructions),
                      int(result.est_cycles), clock,
                      round(result.est_cycles / clock * 1e3, 2), round(ref / clock * 1e3, 2),
                      round(result.est_cycles / ref, 3),
                      bool(result.bitexact and result.host_bitexact in (None, True)))


@dataclass(frozen=True)
class LayerRow:
    """One layer of a deployed network.

    Attributes:
        name, kind, kernel: the IR node, its kind and the C function that ran it.
        work: MACs (weight layers) or elements (pool: input elements; add: output elements).
        instructions, est_cycles: of the layer's kernel call.
    """

    name: str
    kind: LayerKind
    kernel: str
    work: int
    instructions: int
    est_cycles: int

    @property
    def per_work(self) -> float:
        """Instructions per MAC (per element for pool and add)."""
        return self.instructions / max(self.work, 1)


def _elements(node, graph: Graph) -> Optional[int]:
    if isinstance(node, AvgPool):
        return graph.tensor(node.input).numel
    if isinstance(node, Add):
        return graph.tensor(node.output).numel
    return None


def layer_rows(graph: Graph, result) -> list[LayerRow]:
    """Per-layer rows of ``result`` (a deployment of ``graph``), in execution order."""
    if len(result.layers) != len(graph.nodes):
        raise MixqError(f"{len(result.layers)} deployed layers for {len(graph.nodes)} graph "
                        "nodes; pass the graph that was deployed")
    rows = []
    for node, layer in zip(graph.nodes, result.layers):
        elements = _elements(node, graph)
        rows.append(LayerRow(layer.name, node.kind, layer.kernel,
                             layer.macs if elements is None else elements,
                             layer.instructions, layer.est_cycles))
    return rows


def kind_summary(rows: list[LayerRow]) -> dict[LayerKind, tuple[int, int, float]]:
    """Layer kind -> (work, instructions, instructions per MAC or element), summed over rows.

    Example:
        >>> r = [LayerRow("a", LayerKind.PW, "k", 100, 150, 140),
        ...      LayerRow("b", LayerKind.PW, "k", 100, 250, 240)]
        >>> kind_summary(r)
        {<LayerKind.PW: 'pw'>: (200, 400, 2.0)}
    """
    sums: dict[LayerKind, list[int]] = {}
    for r in rows:
        s = sums.setdefault(r.kind, [0, 0])
        s[0] += r.work
        s[1] += r.instructions
    return {k: (w, n, round(n / max(w, 1), 3)) for k, (w, n) in sums.items()}


def format_networks(rows: list[NetworkRow]) -> str:
    """A Markdown table of network rows (the README's).

    Example:
        >>> print(format_networks([NetworkRow("kws_dscnn", "int8", 1, 2, 3, 4, 5.0, 6.0, 0.5,
        ...                                   True)]))
        | network | bits | MACs | instructions | est. cycles | est. ms | reference ms | ratio | bit-exact |
        |---|---|---:|---:|---:|---:|---:|---:|---|
        | kws_dscnn | int8 | 1 | 2 | 3 | 5.00 | 6.00 | 0.50 | yes |
    """
    lines = ["| network | bits | MACs | instructions | est. cycles | est. ms | reference ms | "
             "ratio | bit-exact |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r.network} | {r.bits} | {r.macs:,} | {r.instructions:,} | "
                     f"{r.est_cycles:,} | {r.est_ms:.2f} | {r.reference_ms:.2f} | "
                     f"{r.ratio:.2f} | {'yes' if r.bitexact else 'NO'} |")
    return "\n".join(lines)


def format_layers(rows: list[LayerRow]) -> str:
    """A fixed-width per-layer table, then one line per layer kind.

    Example:
        >>> print(format_layers([LayerRow("net.1", LayerKind.ADD, "mixq_add_any", 10, 40, 35)]))
        layer                    kind  kernel                         work  instructions  per work
        net.1                    add   mixq_add_any                     10            40      4.00
        kind add: 10 elements, 40 instructions, 4.00 per element
    """
    lines = [f"{'layer':<24} {'kind':<5} {'kernel':<24} {'work':>10} {'instructions':>13} "
             f"{'per work':>9}"]
    for r in rows:
        lines.append(f"{r.name:<24} {r.kind.value:<5} {r.kernel:<24} {r.work:>10} "
                     f"{r.instructions:>13} {r.per_work:>9.2f}")
    for kind, (work, n, per) in kind_summary(rows).items():
        unit = "elements" if kind in (LayerKind.POOL, LayerKind.ADD) else "MACs"
        lines.append(f"kind {kind.value}: {work} {unit}, {n} instructions, {per:.2f} per "
                     f"{unit[:-1]}")
    return "\n".join(lines)


__all__ = ["BITS", "LayerRow", "NetworkRow", "REFERENCES", "Reference", "format_layers",
           "format_networks", "kind_summary", "layer_rows", "network_row"]
