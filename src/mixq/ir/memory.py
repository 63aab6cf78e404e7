"""Static arena plan for activations and kernel scratch, from tensor liveness.

Steps are node indices: node ``i`` runs at step ``i``. A tensor lives from the step that writes it
(step 0 for the network input) to the last step that reads it (the last step for a graph output);
the scratch of node ``i`` lives at step ``i`` only. Buffers take their packed size
(:attr:`mixq.ir.graph.TensorType.packed_bytes`) rounded up to :data:`ALIGN` bytes, at offsets that
are multiples of :data:`ALIGN`.

By default the network input and the first output are *external* (the caller's ``input`` and
``logits`` buffers) when they are 8-bit; a sub-byte input is packed into the arena before the
first layer and a sub-byte output unpacked from it after the last (see :mod:`mixq.codegen`).

The plan places buffers with several orderings (greedy by size as in TFLM's
``GreedyMemoryPlanner``, by lifetime, by start, by size x lifetime; first-fit and best-fit) and
keeps the smallest, so it never exceeds the greedy-by-size plan. A node may run *in place*
(its output starts at the address of an input that dies at that node) when its kernel supports it:
the caller passes those candidates, the planner keeps the ones that shrink the arena. A concat
of one-pixel tensors that moves no code is *zero-copy*: its inputs are placed side by side inside
its output's buffer (:mod:`mixq.ir.memory_views`; feature maps when their producers write with a
pixel stride) and it runs no kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Optional

from mixq.ir.graph import Add, AvgPool, Concat, Conv2d, FullyConnected, Graph, Pool2d
from mixq.ir.memory_views import row_bytes_of, zero_copy_views

ALIGN = 4


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass(frozen=True)
class Buffer:
    """One arena region.

    Attributes:
        members: tensor names sharing the region (several for in-place chains), or
            ``('<node>#scratch',)`` for a node's scratch.
        size_bytes: bytes needed (largest member), before alignment.
        first_step, last_step: inclusive lifetime in node steps.
        offset: byte offset in the arena (multiple of :data:`ALIGN`).
    """

    members: tuple[str, ...]
    size_bytes: int
    first_step: int
    last_step: int
    offset: int = 0

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first_step <= other.last_step and other.first_step <= self.last_step

    def overlaps_in_space(self, other: "Buffer") -> bool:
        return (
            self.offset < other.offset + _align(other.size_bytes)
            and other.offset < self.offset + _align(self.size_bytes)
        )


@dataclass(frozen=True)
class MemoryPlan:
    """Where every activation tensor and scratch buffer lives in the arena.

    Attributes:
        buffers: placed :class:`Buffer` s (zero-size ones omitted).
        offsets: tensor name or ``'<node>#scratch'`` -> byte offset (external tensors absent).
        arena_bytes: arena size (multiple of :data:`ALIGN`).
        lower_bound_bytes: largest sum of live buffer bytes at any single step (no plan can be
            smaller), for the in-place choices of this plan.
        greedy_bytes: size of the TFLM greedy-by-size first-fit plan without in-place layers.
        inplace: names of the nodes that run in place.
        external: tensors kept outside the arena (network input/output in caller buffers).
        strategy: name of the ordering that produced this plan.
        zero_copy: names of the concat nodes whose inputs were written in place of their output
            (they run no code).
        pixel_strides: tensor -> bytes between its pixels, for the feature maps written into a
            zero-copy concat (their producer's ``out_pixel_stride``).
    """

    buffers: tuple[Buffer, ...]
    offsets: Mapping[str, int]
    arena_bytes: int
    lower_bound_bytes: int
    greedy_bytes: int
    inplace: tuple[str, ...]
    external: tuple[str, ...]
    strategy: str
    zero_copy: tuple[str, ...] = ()
    pixel_strides: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def scratch_offset(self, node_name: str) -> Optional[int]:
        """Offset of a node's scratch, or None if it has none."""
        return self.offsets.get(f"{node_name}#scratch")

    def live_bytes(self, step: int) -> int:
        """Aligned bytes of the buffers live at ``step``."""
        return sum(
            _align(b.size_bytes) for b in self.buffers if b.first_step <= step <= b.last_step
        )


def default_external(graph: Graph) -> tuple[str, ...]:
    """The network input and first output when they are 8-bit (they live in caller buffers)."""
    names = [t for t in (graph.inputs[0], graph.outputs[0]) if graph.tensor(t).bits == 8]
    return tuple(dict.fromkeys(names))


def _reads_inputs(node) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tensors read, tensors written) by a node that reads all its inputs at its own step."""
    return node.inputs, (node.output,)


# The memory planner's dispatch table: IR node type -> the tensors it reads and writes at its
# step. Every op today reads all its inputs and writes one output; an op that aliases or keeps a
# tensor alive longer says so here.
TENSOR_ACCESS = {Conv2d: _reads_inputs, FullyConnected: _reads_inputs, AvgPool: _reads_inputs,
                 Add: _reads_inputs, Pool2d: _reads_inputs, Concat: _reads_inputs}


def tensor_lifetimes(graph: Graph) -> dict[str, tuple[int, int]]:
    """Inclusive ``(first_step, last_step)`` of every tensor that is read or written.

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((4, 4, 2), seed=0)
        >>> y = b.conv(b.input, 3, kernel=1)
        >>> g = b.build(b.add(y, b.conv(y, 3, kernel=3, out="s8"), out="u8"))
        >>> tensor_lifetimes(g)
        {'x': (0, 0), 't1': (0, 2), 't2': (1, 2), 't3': (2, 2)}
    """
    last_step = len(graph.nodes) - 1
    life: dict[str, tuple[int, int]] = {t: (0, 0) for t in graph.inputs}
    for i, node in enumerate(graph.nodes):
        try:
            reads, writes = TENSOR_ACCESS[type(node)](node)
        except KeyError:
            raise TypeError(f"unknown IR node type {type(node).__name__}") from None
        for t in reads:
            life[t] = (life[t][0], i)
        for t in writes:
            life[t] = (i, i)
    for t in graph.outputs:
        life[t] = (life[t][0], last_step)
    return life


def plan_memory(
    graph: Graph,
    scratch_bytes: Optional[Mapping[str, int]] = None,
    *,
    inplace: Optional[Mapping[str, tuple[str, int]]] = None,
    external: Optional[tuple[str, ...]] = None,
    inplace_policy: str = "auto",
    strided: tuple[str, ...] = (),
) -> MemoryPlan:
    """Plan the arena of ``graph``.

    Args:
        graph: the integer graph (nodes in execution order).
        scratch_bytes: node name -> scratch bytes of its (ordinary) kernel.
        inplace: in-place candidates, node name -> (input tensor the output may overwrite,
            scratch bytes of the in-place kernel). Used only where that input dies at the node
            and both tensors are in the arena, and only when it makes the arena smaller.
        external: tensors outside the arena; None for :func:`default_external`.
        inplace_policy: 'auto' (keep candidates that shrink the arena) or 'always' (use every
            valid candidate; for testing in-place kernels).
        strided: tensors whose producer's kernel can write with a pixel stride (so they may be
            placed inside a zero-copy concat of feature maps).

    Returns:
        A :class:`MemoryPlan` with ``lower_bound_bytes <= arena_bytes <= greedy_bytes`` (the
        upper bound holds for the 'auto' policy).

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((8, 8, 4), seed=0)
        >>> y = b.conv(b.input, 8, kernel=1, out="u4")  # 8*8*4 bytes
        >>> z = b.conv(y, 8, kernel=3, out="u8")  # 8*8*8 bytes
        >>> g = b.build(b.fc(b.avgpool(z), 10, out="s8"))
        >>> plan = plan_memory(g)
        >>> plan.arena_bytes, plan.lower_bound_bytes, plan.greedy_bytes
        (768, 768, 768)
    """
    scratch = dict(scratch_bytes or {})
    ext = default_external(graph) if external is None else tuple(external)
    life = tensor_lifetimes(graph)
    views = zero_copy_views(graph, ext, strided)
    in_views = set(views) | {parent for parent, _ in views.values()}
    candidates = _valid_inplace(graph, inplace or {}, life, set(ext) | in_views)

    def build(chosen: tuple[str, ...]) -> list[Buffer]:
        return _buffers(graph, life, set(ext), scratch, {n: candidates[n] for n in chosen}, views)

    if inplace_policy not in ("auto", "always"):
        raise ValueError(f"inplace_policy must be 'auto' or 'always', not '{inplace_policy}'")
    base = build(())
    greedy_bytes, _ = _place(base, _ORDERINGS[0][1](base), best_fit=False)
    every = tuple(candidates)
    if inplace_policy == "always":
        best = _best_plan(build(every), every)
    else:
        # Keep each in-place candidate that shrinks the arena; also try all of them at once.
        best = _best_plan(base, ())
        kept: tuple[str, ...] = ()
        for name in every:
            trial = _best_plan(build(kept + (name,)), kept + (name,))
            if trial[0] < best[0]:
                best, kept = trial, kept + (name,)
        if every:
            trial = _best_plan(build(every), every)
            best = trial if trial[0] < best[0] else best
    arena, chosen, strategy, placed = best
    offsets = {m: b.offset + views.get(m, ("", 0))[1] for b in placed for m in b.members}
    return MemoryPlan(
        buffers=tuple(placed),
        offsets=MappingProxyType(offsets),
        arena_bytes=arena,
        lower_bound_bytes=_lower_bound(placed, len(graph.nodes)),
        greedy_bytes=greedy_bytes,
        inplace=chosen,
        external=ext,
        strategy=strategy,
        zero_copy=tuple(n.name for n in graph.nodes if isinstance(n, Concat)
                        and n.inputs[0] in views),
        pixel_strides=MappingProxyType({
            t: row_bytes_of(graph.tensor(parent)) for t, (parent, _) in views.items()
            if graph.tensor(t).numel != graph.tensor(t).shape[-1]}),
    )


def _valid_inplace(graph, inplace, life, ext) -> dict[str, tuple[str, int]]:
    """Candidates whose input dies at their node, in node order (``ext``: tensors that are
    external or take part in a zero-copy concat)."""
    valid = {}
    for i, node in enumerate(graph.nodes):
        if node.name not in inplace:
            continue
        tensor, extra = inplace[node.name]
        if tensor not in node.inputs or tensor in ext or node.output in ext:
            continue
        if life[tensor][1] != i or tensor in graph.outputs:
            continue
        valid[node.name] = (tensor, int(extra))
    return valid


def _buffers(graph, life, ext, scratch, chosen, views) -> list[Buffer]:
    """Arena buffers (in-place chains and zero-copy concats merged), deterministic order."""
    group = {t: parent for t, (parent, _) in views.items()}  # tensor -> its region's tensor
    for node in graph.nodes:
        if node.name in chosen:
            group[node.output] = group.get(chosen[node.name][0], chosen[node.name][0])
    members: dict[str, list[str]] = {}
    for t in life:
        if t not in ext:
            members.setdefault(group.get(t, t), []).append(t)
    buffers = []
    for rep, names in members.items():
        sizes = [graph.tensor(t).packed_bytes for t in names]
        first = min(life[t][0] for t in names)
        last = max(life[t][1] for t in names)
        buffers.append(Buffer(tuple(names), max(sizes), first, last))
    for i, node in enumerate(graph.nodes):
        extra = chosen[node.name][1] if node.name in chosen else scratch.get(node.name, 0)
        if extra > 0:
            buffers.append(Buffer((f"{node.name}#scratch",), int(extra), i, i))
    return [b for b in buffers if b.size_bytes > 0]


def _by_size(bs):
    return sorted(range(len(bs)), key=lambda i: (-bs[i].size_bytes, bs[i].first_step, i))


def _by_lifetime(bs):
    return sorted(
        range(len(bs)), key=lambda i: (bs[i].first_step - bs[i].last_step, -bs[i].size_bytes, i)
    )


def _by_start(bs):
    return sorted(range(len(bs)), key=lambda i: (bs[i].first_step, -bs[i].size_bytes, i))


def _by_area(bs):
    def area(b):
        return b.size_bytes * (b.last_step - b.first_step + 1)

    return sorted(range(len(bs)), key=lambda i: (-area(bs[i]), -bs[i].size_bytes, i))


# (name, ordering); the first one is TFLM's greedy by size.
_ORDERINGS = (
    ("greedy_by_size", _by_size),
    ("by_lifetime", _by_lifetime),
    ("by_start", _by_start),
    ("by_area", _by_area),
)


def _place(buffers: list[Buffer], order: list[int], best_fit: bool):
    """Offsets for ``buffers`` placed in ``order`` at the first (or tightest) gap that fits."""
    offsets = [0] * len(buffers)
    placed: list[int] = []
    arena = 0
    for i in order:
        b = buffers[i]
        size = _align(b.size_bytes)
        busy = sorted(
            (offsets[j], offsets[j] + _align(buffers[j].size_bytes))
            for j in placed
            if buffers[j].overlaps_in_time(b)
        )
        gaps, cursor = [], 0
        for start, end in busy:
            if start - cursor >= size:
                gaps.append((start - cursor, cursor))
            cursor = max(cursor, end)
        if not gaps:
            offset = cursor
        elif best_fit:
            offset = min(gaps)[1]
        else:
            offset = gaps[0][1]
        offsets[i] = offset
        placed.append(i)
        arena = max(arena, offset + size)
    return arena, offsets


def _best_plan(buffers: list[Buffer], chosen: tuple[str, ...]):
    """(arena, chosen, strategy, placed buffers) of the smallest ordering."""
    best = None
    for name, ordering in _ORDERINGS:
        for best_fit in (False, True):
            arena, offsets = _place(buffers, ordering(buffers), best_fit)
            if best is None or arena < best[0]:
                label = f"{name}/{'best' if best_fit else 'first'}_fit"
                best = (arena, offsets, label)
    arena, offsets, label = best
    placed = [
        Buffer(b.members, b.size_bytes, b.first_step, b.last_step, off)
        for b, off in zip(buffers, offsets)
    ]
    return arena, chosen, label, placed


def _lower_bound(buffers: list[Buffer], steps: int) -> int:
    live = (
        sum(b.size_bytes for b in buffers if b.first_step <= s <= b.last_step)
        for s in range(steps)
    )
    return max(live, default=0)
