"""Code-size-aware kernel choice under a flash budget: trade kernel code for cycles before
weights.

Kernels are picked per layer by estimated cycles (:func:`mixq.codegen.kernels.select_kernel`).
Every distinct variant a model uses is linked, and on a small budget the variants' code competes
with the weights: a mixed MobileNetV1 on stm32h7 linked 48 KB of kernel code (8/4/2-bit conv,
window first layer, DSP FC and depthwise). When the linked image is over the flash budget, the
closing loop (:func:`mixq.deploy.fit_loop.close_allocation`) calls :func:`trade_code` before it
tightens the weights' budget. The policy is "fewest estimated cycles subject to image <= flash",
greedily:

1. price every kernel variant the build uses (its ``function/variant`` key,
   :func:`mixq.codegen.kernels.kernel_key`): the code bytes only it reaches (ELF symbol sizes
   over gcc's call graph, :func:`exclusive_code_bytes`) when no other layer keeps its function,
   plus the weight bytes its layout takes over the alternative's (a widened sub-byte layer); and
   the estimated instructions its layers lose when each runs the kernel chosen without it (a
   variant already linked, the native sub-byte kernel instead of a widened one, or the portable
   reference kernel);
2. exclude the variant that loses the fewest instructions per byte saved, rebuild and measure
   the linked image (the measurement decides: a trade that saves nothing or pushes RAM over is
   undone);
3. repeat until the image fits or no variant is left to trade within the bound on cycles: the
   round's trades together lose at most :data:`MAX_CYCLES_LOST` (10%) of the model's estimated
   instructions (those of the build the round starts from); a variant costing more is not
   traded (:class:`TradeBound` says so in the round), and the weights shrink instead;
4. once it fits, put back each kept variant, most cycles first, whose bytes the image no longer
   needs (the greedy may have overshot: a trade made early can be unnecessary after a later,
   larger one): tried by a rebuild when its measured saving is within the image's slack.

The exclusions travel as the platform's ``excluded_kernels`` (``dataclasses.replace``), so the
deployment of the trained model makes the same choice. Instruction estimates come from the
kernels' ``cost`` models; kernels without one are priced per MAC from the README's kernel table
(:data:`PER_MAC`). Bit-exactness does not depend on the choice: every kernel implements
``ir.interpret``'s arithmetic.

A round whose RAM is over trades scratch the same way: a variant is priced by the most scratch
one of its layers gives up under the replacement (``Kernel.scratch_for``), fewest instructions
lost per scratch byte first, kept only when the measured RAM drops and flash does not go over
(a faster window path made the plane8 kernel, a whole unpacked input plane of scratch, the
choice of a small model's 3x3 conv and its closing under 5,000 B of RAM failed without this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from mixq.codegen.emit import load_metadata
from mixq.codegen.kernels import kernel_key, registered_kernels, select_kernel
from mixq.deploy.build import CALLGRAPH_DIR
from mixq.deploy.fit import LinkedFit, link_fit
from mixq.deploy.run import ELF_NAME, PROJECT_DIR
from mixq.deploy.stack import read_call_graph
from mixq.ir.graph import WEIGHT_OPS, Graph
from mixq.platform.spec import KernelSet, Platform
from mixq.quant.kinds import LayerKind

# Instructions per MAC of kernels without a cost model, from the README's kernel table
# (Cortex-M7, -O3): the portable reference kernels run 12-26 (pw/conv) and ~64 (dw); the DSP
# 3x3 depthwise 2.5. The upper figure is taken, so a trade is never priced cheaper than it is.
PER_MAC = {("ref", LayerKind.DW): 64.0, ("ref", None): 26.0, ("set", LayerKind.DW): 2.5,
           ("set", None): 1.3}
MAX_TRIAL_BUILDS = 12  # bound on the rebuilds of one round's trades (a few seconds each)
# bound on a round's trades: the estimated instructions lost, as a fraction of the model's. A
# greedy with no bound dropped MobileNetV1-224's kernels to the reference ones (est. 1.3e9-5.8e9
# more cycles) where shrinking a few layers' weights costs none.
MAX_CYCLES_LOST = 0.10


@dataclass(frozen=True)
class TradeBound:
    """The cycles bound of one round's trades.

    Attributes:
        est_cycles: the model's estimated instructions per inference before the round's trades.
        max_cycles_lost: what the round's trades may lose together (``fraction * est_cycles``).
        skipped: kernel variants not traded because they would have passed the bound (empty
            when the image fits).

    Example:
        >>> print(TradeBound(300_000, 30_000, ("mixq_fc_dsp_s8/dsp-fc",)))
        not traded (over the 30,000-cycle bound, 10% of ~300,000): mixq_fc_dsp_s8/dsp-fc
    """

    est_cycles: int
    max_cycles_lost: int
    skipped: tuple[str, ...] = ()

    def __str__(self) -> str:
        return (f"not traded (over the {self.max_cycles_lost:,}-cycle bound, "
                f"{self.max_cycles_lost / max(self.est_cycles, 1):.0%} of ~{self.est_cycles:,}): "
                + ", ".join(self.skipped))

    def to_json(self) -> dict:
        return {"est_cycles": self.est_cycles, "max_cycles_lost": self.max_cycles_lost,
                "skipped": list(self.skipped)}


@dataclass(frozen=True)
class CodeTrade:
    """One kernel variant given up to save flash.

    Attributes:
        kernel: the ``function/variant`` excluded.
        layers: the layers that ran it, and the function each runs instead.
        est_bytes_saved: the estimate the choice was made on (code + weight layout bytes).
        bytes_saved: the linked image's drop, measured.
        cycles_lost: estimated instructions per inference the layers lose.
        ram_saved: the RAM figure's drop, measured (a trade made for RAM: scratch given up).
    """

    kernel: str
    layers: tuple[tuple[str, str], ...]
    est_bytes_saved: int
    bytes_saved: int
    cycles_lost: int
    ram_saved: int = 0

    def __str__(self) -> str:
        moved = ", ".join(f"{name} -> {function}" for name, function in self.layers)
        ram = f", {self.ram_saved:,} B of RAM" if self.ram_saved else ""
        return (f"dropped {self.kernel} ({moved}): {self.bytes_saved:,} B saved{ram}, "
                f"~{self.cycles_lost:,} cycles lost")

    def to_json(self) -> dict:
        return {"kernel": self.kernel, "layers": [list(pair) for pair in self.layers],
                "est_bytes_saved": self.est_bytes_saved, "bytes_saved": self.bytes_saved,
                "cycles_lost": self.cycles_lost, "ram_saved": self.ram_saved}


def exclusive_code_bytes(elf, ci_dir, entry: str = "mixq_model_run") -> dict[str, int]:
    """Code bytes each function called by ``entry`` alone reaches: the ELF sizes of the
    functions in its call-graph closure that no other callee of ``entry`` (nor ``entry``
    itself) reaches. Dropping the function saves about this much text.

    Args:
        elf: the linked ELF (its symbol table gives each function's size).
        ci_dir: the ``.ci`` call-graph files of the same build.
        entry: the model's entry function.
    """
    _, calls = read_call_graph(ci_dir)
    calls = {_bare(f): {_bare(g) for g in gs} for f, gs in calls.items()}
    sizes = _function_sizes(elf)

    def closure(roots) -> set[str]:
        seen, todo = set(), list(roots)
        while todo:
            f = todo.pop()
            if f not in seen:
                seen.add(f)
                todo.extend(calls.get(f, ()))
        return seen

    callees = calls.get(entry, set())
    out = {}
    for f in callees:
        others = closure(callees - {f}) | {entry}
        out[f] = sum(sizes.get(g, 0) for g in closure({f}) - others)
    return out


def _bare(name: str) -> str:
    """gcc's call-graph title (``file.c:name`` for statics) -> the ELF symbol name."""
    return name.rsplit(":", 1)[-1]


def _function_sizes(elf) -> dict[str, int]:
    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return {}
        return {s.name: s["st_size"] for s in symtab.iter_symbols()
                if s["st_info"]["type"] == "STT_FUNC" and s["st_size"]}


def _instructions(kernel, node, graph: Graph, macs: int) -> float:
    if kernel.cost is not None:
        return float(kernel.cost(node, graph))
    side = "ref" if kernel.target == KernelSet.REF.value else "set"
    per_mac = PER_MAC.get((side, node.kind), PER_MAC[(side, None)])
    return per_mac * macs


def _weight_bytes(kernel, node, graph: Graph) -> int:
    if kernel.pack_weights is not None:
        return int(kernel.pack_weights(node, graph).nbytes)
    return math.ceil(int(node.weight.size) * node.weight_bits / 8)


def estimated_cycles(graph: Graph, platform: Platform, build: Path) -> int:
    """The estimated instructions per inference of the kernels the build at ``build`` runs
    (layers with MACs; the kernels' ``cost`` models, else :data:`PER_MAC`)."""
    meta = load_metadata(Path(build) / PROJECT_DIR)
    nodes = {n.name: n for n in graph.nodes}
    kernels = {kernel_key(k): k for t in (platform.kernels, KernelSet.REF)
               for k in registered_kernels(t)}
    return int(round(sum(
        _instructions(kernels[f"{l['function']}/{l['variant']}"], nodes[l["name"]], graph,
                      l["macs"]) for l in meta["layers"]
        if l["macs"] and f"{l['function']}/{l['variant']}" in kernels)))


@dataclass(frozen=True)
class _Candidate:
    key: str
    layers: tuple[tuple[str, str], ...]
    est_bytes_saved: int
    cycles_lost: int
    unlinked: frozenset  # replacement functions the build does not link yet (their code)
    scratch_saved: int = 0  # the most scratch one of its layers gives up by moving


def _candidates(graph: Graph, platform: Platform, build: Path) -> list[_Candidate]:
    """Every variant the build at ``build`` uses, priced (bytes saved, instructions lost)."""
    meta = load_metadata(build / PROJECT_DIR)
    code = exclusive_code_bytes(build / ELF_NAME, build / CALLGRAPH_DIR)
    nodes = {n.name: n for n in graph.nodes}
    kernels = {kernel_key(k): k for k in registered_kernels(platform.kernels)}
    used: dict[str, list[dict]] = {}
    for layer in meta["layers"]:
        used.setdefault(f"{layer['function']}/{layer['variant']}", []).append(layer)
    out = []
    for key, layers in sorted(used.items()):
        kernel = kernels.get(key)
        if kernel is None or kernel.target == KernelSet.REF.value or kernel.is_inplace \
                or not all(layer["macs"] for layer in layers):
            continue  # reference kernels are the floor; in-place choice is the planner's;
            # layers without MACs (pools, adds) have no instruction estimate to trade against
        exclude = platform.excluded_kernels | {key}
        moved, lost, weight_saved, scratch_saved = [], 0.0, 0, 0
        for layer in layers:
            node = nodes[layer["name"]]
            alt = select_kernel(node, graph, platform.kernels, exclude=exclude)
            lost += (_instructions(alt, node, graph, layer["macs"])
                     - _instructions(kernel, node, graph, layer["macs"]))
            if isinstance(node, WEIGHT_OPS):
                weight_saved += _weight_bytes(kernel, node, graph) - _weight_bytes(alt, node,
                                                                                  graph)
            scratch_saved = max(scratch_saved, kernel.scratch_for(node, graph)
                                - alt.scratch_for(node, graph))
            moved.append((layer["name"], alt.function))
        function_left = any(l["function"] == kernel.function for k, ls in used.items()
                            if k != key for l in ls)
        saved = weight_saved + (0 if function_left else code.get(kernel.function, 0))
        linked = {l["function"] for ls in used.values() for l in ls}
        if saved > 0 or scratch_saved > 0:
            out.append(_Candidate(key, tuple(moved), saved, max(int(round(lost)), 0),
                                  frozenset(f for _, f in moved) - linked, scratch_saved))
    return out


def trade_code(graph: Graph, platform: Platform, fit: LinkedFit, flash_bytes: int,
               ram_bytes: int, build_dir, out_dir, max_cycles_lost: float = MAX_CYCLES_LOST,
               ) -> tuple[Platform, LinkedFit, tuple[CodeTrade, ...], TradeBound]:
    """Give up kernel variants, fewest estimated cycles lost per byte first, until the linked
    image fits ``flash_bytes`` or nothing is left to trade within the cycles bound.

    Args:
        graph: the integer graph being fitted.
        platform: the target (with any exclusions already made).
        fit: the linked figures of the build in ``build_dir``.
        flash_bytes, ram_bytes: the real budget.
        build_dir: the folder :func:`mixq.deploy.fit.link_fit` built ``graph`` in.
        out_dir: where the trial builds go (``trade<k>/``).
        max_cycles_lost: the bound on the trades' estimated instructions lost, as a fraction
            of the model's (:func:`estimated_cycles` of the build in ``build_dir``).

    Returns:
        (the platform with the kept exclusions, the linked figures of its build, the trades
        kept, in order, the round's :class:`TradeBound`); unchanged when no trade saved
        anything.
    """
    trades, build, rejected, builds = [], Path(build_dir), {}, 0
    est = estimated_cycles(graph, platform, build)
    bound, lost, over = int(max_cycles_lost * est), 0, ()
    while any(fit.excess(flash_bytes, ram_bytes)) and builds < MAX_TRIAL_BUILDS:
        # RAM over: trade scratch (a variant whose layers need less scratch elsewhere);
        # flash over: trade code. A rejected trade is tried again once its replacement's code
        # is linked anyway.
        ram = fit.excess(flash_bytes, ram_bytes)[1] > 0
        options = [c for c in _candidates(graph, platform, build)
                   if (c.key not in rejected or rejected[c.key] - c.unlinked)
                   and (c.scratch_saved if ram else c.est_bytes_saved) > 0]
        over = tuple(c.key for c in options if lost + c.cycles_lost > bound)
        options = [c for c in options if c.key not in over]
        if not options:
            break
        best = min(options, key=lambda c: (
            c.cycles_lost / (c.scratch_saved if ram else c.est_bytes_saved), c.key))
        trial = replace(platform, excluded_kernels=platform.excluded_kernels | {best.key})
        builds += 1
        trial_dir = Path(out_dir) / f"trade{builds}"
        new = link_fit(graph, trial_dir, trial)
        if _worse(new, fit, flash_bytes, ram_bytes, ram):
            # the measurement decides (nothing saved, e.g. the replacement's own code or
            # scratch, or the other budget pushed over)
            rejected[best.key] = best.unlinked
            continue
        trades.append(CodeTrade(best.key, best.layers, best.est_bytes_saved,
                                fit.flash_bytes - new.flash_bytes, best.cycles_lost,
                                fit.ram_bytes - new.ram_bytes))
        platform, fit, build, lost = trial, new, trial_dir, lost + best.cycles_lost
    if fit.excess(flash_bytes, ram_bytes) == (0, 0):
        for t in sorted(trades, key=lambda t: -t.cycles_lost):
            if t.bytes_saved > flash_bytes - fit.flash_bytes or \
                    t.ram_saved > ram_bytes - fit.ram_bytes:
                continue  # its bytes are still needed (no build to learn that)
            back = replace(platform, excluded_kernels=platform.excluded_kernels - {t.kernel})
            builds += 1
            new = link_fit(graph, Path(out_dir) / f"back{builds}", back)
            if new.fits(flash_bytes, ram_bytes):
                platform, fit = back, new
                trades.remove(t)
    skipped = over if any(fit.excess(flash_bytes, ram_bytes)) else ()
    return platform, fit, tuple(trades), TradeBound(est, bound, skipped)


def _worse(new: LinkedFit, old: LinkedFit, flash_bytes: int, ram_bytes: int, ram: bool) -> bool:
    """True when a trial build does not pay: the budget it traded for did not shrink, or the
    other one grew over it."""
    (nf, nr), (of, orr) = new.excess(flash_bytes, ram_bytes), old.excess(flash_bytes, ram_bytes)
    if ram:
        return new.ram_bytes >= old.ram_bytes or nf > of
    return new.flash_bytes >= old.flash_bytes or nr > orr


__all__ = ["CodeTrade", "MAX_CYCLES_LOST", "MAX_TRIAL_BUILDS", "PER_MAC", "TradeBound",
           "estimated_cycles", "exclusive_code_bytes", "trade_code"]
