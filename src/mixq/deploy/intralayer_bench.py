"""Instructions per MAC of dense-ternary + sparse-int8 layers on the emulated Cortex-M7.

Same method as :mod:`mixq.deploy.kernel_bench`: each case is the graph
``x (u8) -> add(x, x) -> LAYER -> avgpool``, emitted for a target, built with arm-none-eabi-gcc
``-O3``, checked bit for bit against :func:`mixq.ir.interpret.interpret` on a few inputs, then run
once with instruction counting; the layer's count is the kernel call alone. The dense+sparse
layers get random outlier masks of each structure at each density
(:func:`mixq.codegen.sparse_synth.random_mask`); the references are the w8a8 and the pure
ternary (a8) kernels on the same shapes. Counts are instructions, not cycles.
"""

from __future__ import annotations

from typing import Iterable, Optional

from mixq.codegen.sparse_formats import index_bits
from mixq.codegen.sparse_synth import SparseGraphBuilder
from mixq.deploy.kernel_bench import CASES, LayerCase, case_graph, measure_graph
from mixq.errors import MixqError
from mixq.ir.graph import SPARSE_STRUCTURES, Graph
from mixq.platform.spec import KernelSet

DENSITIES = (0.01, 0.05)
LAYERS = ("pw1x1", "conv3x3")


def sparse_case_graph(case: LayerCase, structure: str, density: float, seed: int = 0) -> Graph:
    """``x -> add(x, x) -> dense+sparse layer (u8 -> u8) -> avgpool`` for a pw1x1, conv3x3 or
    dw3x3 case.

    Example:
        >>> g = sparse_case_graph(LayerCase("pw1x1", 4, 16, 8), "2:8", 0.05)
        >>> [str(n.kind) for n in g.nodes], g.nodes[1].sparse.structure
        (['add', 'pw', 'pool'], '2:8')
    """
    b = SparseGraphBuilder((case.hw, case.hw, case.c_in), "u8", seed=seed, batch=4,
                           name=f"{case.layer}_{structure.replace(':', 'of')}_{density:g}")
    x = b.add(b.input, b.input, out="u8")
    if case.layer == "pw1x1":
        y = b.pw_sparse(x, case.c_out, out="u8", structure=structure, density=density)
    elif case.layer == "conv3x3":
        y = b.conv_sparse(x, case.c_out, kernel=3, padding=(1, 1, 1, 1), out="u8",
                          structure=structure, density=density)
    elif case.layer == "dw3x3":
        y = b.dw_sparse(x, kernel=3, padding=(1, 1, 1, 1), out="u8", structure=structure,
                        density=density)
    else:
        raise MixqError(f"no dense+sparse benchmark for layer '{case.layer}'; use one of "
                        f"{LAYERS + ('dw3x3',)}")
    return b.build(b.avgpool(y))


def measure_intralayer(layers: Iterable["str | LayerCase"] = LAYERS,
                       structures: Iterable[str] = SPARSE_STRUCTURES,
                       densities: Iterable[float] = DENSITIES,
                       kernels: KernelSet = KernelSet.ARMV7EM,
                       references: bool = True, seed: int = 0,
                       work_dir: Optional[str] = None) -> list[dict]:
    """Instructions per MAC of dense+sparse kernels vs w8a8 and pure ternary, 8-bit activations.

    Args:
        layers: names of :data:`mixq.deploy.kernel_bench.CASES` ('pw1x1': 16x16x64 -> 64,
            'conv3x3': 16x16x16 -> 32, pad 1; also 'dw3x3': 16x16x64, pad 1) or
            :class:`LayerCase` objects.
        structures: outlier structures.
        densities: outlier fractions (of all weights; capped by the structure, 'row' rounds
            per output channel: the row reports the actual ``density``).
        kernels: the kernel set.
        references: also measure the w8a8 and the ternary kernels of each layer.
        seed: seed of the weights and masks.
        work_dir: build folder (temporary if None).

    Returns:
        One dict per measurement: ``layer``, ``weights`` ('w8', 'ternary' or
        'ternary+<structure>'), ``structure`` (None for references), ``density`` (actual
        outlier fraction), ``nnz``, ``index_bits``, ``macs``, ``instructions``,
        ``instr_per_mac``, ``kernel``, ``flash_bytes``.

    Raises:
        MixqError: a kernel is not bit-exact on the emulator, or an unknown layer.
    """
    rows = []
    for layer in layers:
        case = CASES[layer] if isinstance(layer, str) else layer
        name = case.layer
        if references:
            for w_bits, label in ((8, "w8"), ("ternary", "ternary")):
                r = measure_graph(case_graph(case, w_bits, 8, seed=seed), kernels,
                                  work_dir=work_dir)
                rows.append(_row(name, label, None, 0.0, 0, 0, r))
        for structure in structures:
            for density in densities:
                g = sparse_case_graph(case, structure, density, seed=seed)
                node = g.nodes[1]
                nnz = node.sparse.nnz
                bits = index_bits(structure, node.weight.shape, nnz, node.sparse.mask)
                r = measure_graph(g, kernels, work_dir=work_dir)
                rows.append(_row(name, f"ternary+{structure}", structure,
                                 nnz / node.weight.size, nnz, bits, r))
    return rows


def _row(layer, weights, structure, density, nnz, bits, r) -> dict:
    return {"layer": layer, "weights": weights, "structure": structure,
            "density": round(float(density), 6), "nnz": int(nnz), "index_bits": int(bits),
            "macs": r["macs"], "instructions": r["instructions"],
            "instr_per_mac": round(r["instructions"] / r["macs"], 4), "kernel": r["kernel"],
            "flash_bytes": r["flash_bytes"]}


def format_intralayer_table(rows: list[dict]) -> str:
    """A fixed-width table of :func:`measure_intralayer` rows.

    Example:
        >>> print(format_intralayer_table([{"layer": "pw1x1", "weights": "w8", "density": 0.0,
        ...     "nnz": 0, "index_bits": 0, "macs": 100, "instructions": 205,
        ...     "instr_per_mac": 2.05, "kernel": "k", "flash_bytes": 64}]))
        layer    weights                density  instr/MAC  flash B  index bits  kernel
        pw1x1    w8                     -        2.05       64       -           k
    """
    lines = [f"{'layer':<8} {'weights':<22} {'density':<8} {'instr/MAC':<10} {'flash B':<8} "
             f"{'index bits':<11} kernel"]
    for r in rows:
        dens = f"{100 * r['density']:.2f}%" if r.get("structure") else "-"
        bits = str(r["index_bits"]) if r.get("structure") else "-"
        lines.append(f"{r['layer']:<8} {r['weights']:<22} {dens:<8} {r['instr_per_mac']:<10.2f} "
                     f"{r['flash_bytes']:<8} {bits:<11} {r['kernel']}")
    return "\n".join(lines)


__all__ = ["measure_intralayer", "sparse_case_graph",
           "format_intralayer_table", "DENSITIES", "LAYERS"]
