"""Zero-copy concat: which tensors the arena plan places inside a concat's output.

A channel concat in NHWC interleaves its inputs pixel by pixel, so its inputs can only be written
side by side in place of the output when every tensor has one pixel (a vector or a 1x1 map, e.g.
after global pooling or a fully connected layer). Then, when the concat moves no code (every
:class:`~mixq.quant.integer.Rescale` is the identity, every input has the output's code format and
its clamp is the whole code range) and every input but the last ends on a byte boundary, the
planner places input i at byte ``sum(packed bytes of inputs < i)`` of the output's buffer and the
concat runs no code. Otherwise the concat copies (``mixq_concat_any``). Feature maps with several
pixels would need producers that write with a pixel stride; they are copied.
"""

from __future__ import annotations

from mixq.ir.graph import Concat, Graph


def _zero_copy(node: Concat, graph: Graph, taken: set[str], external: set[str]) -> bool:
    out = graph.tensor(node.output)
    ins = [graph.tensor(t) for t in node.inputs]
    return (out.numel == out.shape[-1]
            and all(r.identity for r in node.rescales)
            and (node.activation_min, node.activation_max) == (out.qmin, out.qmax)
            and all((t.bits, t.signed) == (out.bits, out.signed) for t in ins)
            and all(t.shape[-1] * t.bits % 8 == 0 for t in ins[:-1])
            and len(set(node.inputs)) == len(node.inputs)
            and not ({node.output, *node.inputs} & (taken | external))
            and not set(node.inputs) & (set(graph.inputs) | set(graph.outputs)))


def zero_copy_views(graph: Graph, external=()) -> dict[str, tuple[str, int]]:
    """Tensor -> (concat output it lives in, byte offset there), for every zero-copy concat.

    Args:
        graph: the integer graph.
        external: tensors outside the arena (never placed inside a concat).

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((4, 4, 3), seed=0)
        >>> p = [b.avgpool(b.conv(b.input, c, out="u4")) for c in (6, 5)]
        >>> g = b.build(b.fc(b.concat(p), 3))
        >>> zero_copy_views(g)
        {'t2': ('t5', 0), 't4': ('t5', 3)}
    """
    views: dict[str, tuple[str, int]] = {}
    taken: set[str] = set()  # tensors already in a zero-copy concat (as input or output)
    for node in graph.nodes:
        if isinstance(node, Concat) and _zero_copy(node, graph, taken, set(external)):
            offset = 0
            for t in node.inputs:
                views[t] = (node.output, offset)
                offset += graph.tensor(t).packed_bytes
            taken |= {node.output, *node.inputs}
    return views
