"""Zero-copy concat: which tensors the arena plan places inside a concat's output.

A channel concat in NHWC interleaves its inputs pixel by pixel. When it moves no code (every
:class:`~mixq.quant.integer.Rescale` is the identity, every input has the output's code format and
its clamp is the whole code range) and every input but the last ends on a byte boundary, its
inputs can be written in place of its output, input i at byte ``sum(row bytes of inputs < i)``
of every output pixel, and the concat runs no code:

- one-pixel tensors (vectors, 1x1 maps: after global pooling or a fully connected layer) are then
  simply side by side, and may have other readers;
- feature maps need every producer's kernel to write with the output's pixel stride
  (``strided``: the tensors whose kernel honours ``out_pixel_stride``), and the concat must be the
  only reader of each input (the others would expect a dense tensor).

Otherwise the concat copies (``mixq_concat_any``).
"""

from __future__ import annotations

from collections import Counter

from mixq.ir.graph import Concat, Graph


def _zero_copy(node: Concat, graph: Graph, taken: set[str], external: set[str], strided,
               readers: dict[str, int]) -> bool:
    out = graph.tensor(node.output)
    ins = [graph.tensor(t) for t in node.inputs]
    one_pixel = out.numel == out.shape[-1]
    return ((one_pixel or all(t in strided and readers[t] == 1 for t in node.inputs))
            and all(r.identity for r in node.rescales)
            and (node.activation_min, node.activation_max) == (out.qmin, out.qmax)
            and all((t.bits, t.signed) == (out.bits, out.signed) for t in ins)
            and all(t.shape[-1] * t.bits % 8 == 0 for t in ins[:-1])
            and len(set(node.inputs)) == len(node.inputs)
            and not ({node.output, *node.inputs} & (taken | external))
            and not set(node.inputs) & (set(graph.inputs) | set(graph.outputs)))


def zero_copy_views(graph: Graph, external=(), strided=()) -> dict[str, tuple[str, int]]:
    """Tensor -> (concat output it lives in, byte offset in each of its pixels), for every
    zero-copy concat.

    Args:
        graph: the integer graph.
        external: tensors outside the arena (never placed inside a concat).
        strided: tensors whose producer's kernel writes with a given pixel stride.

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((4, 4, 3), seed=0)
        >>> p = [b.avgpool(b.conv(b.input, c, out="u4")) for c in (6, 5)]
        >>> g = b.build(b.fc(b.concat(p), 3))
        >>> zero_copy_views(g)
        {'t2': ('t5', 0), 't4': ('t5', 3)}
    """
    readers = Counter(t for node in graph.nodes for t in node.inputs)
    views: dict[str, tuple[str, int]] = {}
    taken: set[str] = set()  # tensors already in a zero-copy concat (as input or output)
    for node in graph.nodes:
        if isinstance(node, Concat) and _zero_copy(node, graph, taken, set(external),
                                                   set(strided), readers):
            offset = 0
            for t in node.inputs:
                views[t] = (node.output, offset)
                offset += row_bytes_of(graph.tensor(t))
            taken |= {node.output, *node.inputs}
    return views


def row_bytes_of(t) -> int:
    """Bytes of one pixel of tensor type ``t`` (its channels packed, padded to a byte)."""
    return -(-t.shape[-1] * t.bits // 8)
