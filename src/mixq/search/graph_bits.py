"""Make a per-layer allocation agree with the dataflow of a captured graph (residuals, branches).

The memory-driven rule (Rusci et al. 2020) walks the weight layers as a chain: layer i's
``in_bits`` is layer i-1's ``out_bits``. In a graph with residual adds, a layer's real producer
may be an add or a layer further back. This pass keeps every weight layer's ``w_bits`` and
``out_bits`` and sets each ``in_bits`` to the bits of the tensor that actually reaches it; an
add or a concat produces ``min`` of its inputs' bits, so activation bytes only go down and a
budget the chain allocation met stays met.
"""

from __future__ import annotations

from dataclasses import replace

from torch import fx

from mixq.nn.capture import WEIGHT_BLOCKS
from mixq.nn.layers import Concat, ResidualAdd
from mixq.quant.spec import BitAllocation


def match_graph_bits(gm: fx.GraphModule, allocation: BitAllocation) -> BitAllocation:
    """``allocation`` with every ``in_bits`` equal to its producer's bits in ``gm``.

    Args:
        gm: a captured graph (:func:`mixq.nn.capture.capture`).
        allocation: one LayerBits per weight layer of ``gm``.

    Returns:
        the corrected allocation (unchanged for a chain network).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from mixq.nn.capture import capture
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2))
        >>> gm = capture(net, torch.rand(1, 1, 8, 8))
        >>> a = BitAllocation.uniform([("0", "conv"), ("3", "fc")], 4).with_layer("3", in_bits=8)
        >>> [l.in_bits for l in match_graph_bits(gm, a).layers]
        [8, 4]
    """
    bits: dict[str, int] = {}
    fixed = {}
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            bits[node.name] = 8  # the network input is u8
        elif node.op == "call_module":
            m = gm.get_submodule(node.target)
            srcs = [bits[a.name] for a in node.args]
            if isinstance(m, WEIGHT_BLOCKS):
                layer = allocation[node.target]
                fixed[node.target] = replace(layer, in_bits=srcs[0])
                bits[node.name] = layer.out_bits
            elif isinstance(m, (ResidualAdd, Concat)):
                bits[node.name] = min(srcs)
            else:  # pools and flattens keep their input's codes
                bits[node.name] = srcs[0]
    return replace(allocation, layers=tuple(fixed.get(l.name, l) for l in allocation.layers))
