"""The PULP cluster latency ESTIMATE of an integer graph (the ``cluster`` entry of deploy.json).

The model itself is pure arithmetic in :mod:`mixq.platform.cluster`; this module only reads the
layers of a :class:`mixq.ir.graph.Graph` into its :class:`~mixq.platform.cluster.LayerGeometry`.
"""

from __future__ import annotations

import math

from mixq.errors import MixqError
from mixq.ir.graph import Add, AvgPool, Concat, Conv2d, FullyConnected, Pool2d
from mixq.platform.cluster import LayerGeometry, model_latency
from mixq.platform.spec import ClusterSpec

ESTIMATE_NOTE = ("estimate: PULP cluster latency model (mixq.deploy.cluster), L2->L1 tiling with "
                 "double-buffered DMA and PULP-NN/XpulpNN kernel instruction counts calibrated "
                 "on published figures; not a measurement")


def _hwc(t) -> tuple[int, int, int]:
    """(H, W, C) of a tensor; a vector (F,) as (1, 1, F)."""
    return tuple(t.shape) if len(t.shape) == 3 else (1, 1, math.prod(t.shape))


def _conv(node, ins, o):
    _, kh, kw, _ = node.weight.shape
    return LayerGeometry(node.kind, _hwc(ins[0]), _hwc(o), (kh, kw), node.weight_bits,
                         ins[0].bits, o.bits, stride=node.stride[0])


def _fc(node, ins, o):
    return LayerGeometry("fc", _hwc(ins[0]), _hwc(o), (1, 1), node.weight_bits, ins[0].bits,
                         o.bits)


def _global_pool(node, ins, o):  # the window is the whole input
    return LayerGeometry("pool", _hwc(ins[0]), _hwc(o), _hwc(ins[0])[:2], 8, ins[0].bits,
                         o.bits)


def _add(node, ins, o):
    return LayerGeometry("add", _hwc(ins[0]), _hwc(o), (1, 1), 8, ins[0].bits, o.bits,
                         inputs=len(ins))


def _window_pool(node, ins, o):  # the pool cost over the input it reads
    return LayerGeometry("pool", _hwc(ins[0]), _hwc(o), tuple(node.kernel), 8, ins[0].bits,
                         o.bits, stride=node.stride[0])


def _concat(node, ins, o):  # an element-wise copy of the output: the add cost
    return LayerGeometry("add", _hwc(o), _hwc(o), (1, 1), 8, max(t.bits for t in ins), o.bits)


# The cluster model's reading of each IR node type (tests/ir/test_dispatch_tables.py: covers all).
GEOMETRIES = {Conv2d: _conv, FullyConnected: _fc, AvgPool: _global_pool, Add: _add,
              Pool2d: _window_pool, Concat: _concat}


def geometries_from_graph(graph) -> list[tuple[str, LayerGeometry]]:
    """(node name, geometry) of every node of an integer graph (:class:`mixq.ir.graph.Graph`)."""
    out = []
    for node in graph.nodes:
        geometry = GEOMETRIES.get(type(node))
        if geometry is None:
            raise MixqError(f"the cluster latency model has no cost for "
                            f"'{type(node).__name__}' ({node.name})")
        out.append((node.name, geometry(node, [graph.tensor(t) for t in node.inputs],
                                        graph.tensor(node.output))))
    return out


def estimate_graph(graph, cluster: ClusterSpec) -> dict:
    """The ``cluster`` entry of ``deploy.json`` for an integer graph (all figures estimates).

    Returns:
        ``{"note", "cores", "clock_hz", "simd", "est_cycles", "est_latency_ms",
        "layers": [{"name", "kind", "macs", "est_cycles", "macs_per_cycle", "tiles"}]}``.
    """
    named = geometries_from_graph(graph)
    lat = model_latency([g for _, g in named], cluster)
    total = sum(r.cycles for r in lat)
    return {
        "note": ESTIMATE_NOTE, "cores": cluster.cores, "clock_hz": int(cluster.clock_hz),
        "simd": cluster.simd, "est_cycles": int(total),
        "est_latency_ms": round(total / cluster.clock_hz * 1e3, 6),
        "layers": [{"name": n, "kind": g.kind, "macs": int(g.macs), "est_cycles": r.cycles,
                    "macs_per_cycle": round(r.macs_per_cycle, 3), "tiles": r.tiling.tiles}
                   for (n, g), r in zip(named, lat)],
    }


__all__ = ["ESTIMATE_NOTE", "GEOMETRIES", "estimate_graph", "geometries_from_graph"]
