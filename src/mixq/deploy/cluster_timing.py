"""Cycles of each layer on the PULP cluster from its EXECUTED programs: a MODEL, labelled so.

Inputs: the RI5CY pipeline model's cycles of every core's executed program per layer
(:class:`mixq.deploy.xpulp_timing.LayerTiming`: the functional Xpulp machine runs the untiled
layer, the 8 programs one after the other), the layer's L1 tiling
(:func:`mixq.platform.tiling.choose_tiling`, with the kernel's real scratch bytes, the
depthwise plane sized for the tile's rows) and the
platform's ``[cluster]`` (DMA bandwidth and set-up cost, TCDM banks).

Per layer (:func:`layer_cycles`):

1. **TCDM bank conflicts.** The L1 is ``tcdm_banks`` word-interleaved banks (16 on PULP-open
   and GAP8); a load or store of a core waits one cycle when another core's access reaches the
   same bank in the same cycle and wins the round-robin arbitration. Assumption: every
   access goes to the TCDM (all operands, stacks included, are in L1 once tiled), its bank is
   uniformly random and independent of the other cores', and the cores run at the same time.
   A core ``i`` issuing ``a_i`` accesses then stalls ``a_i * sum_{j != i} r_j / (2 * banks)``
   cycles, with ``r_j`` = accesses / cycles of core ``j`` (the expected number of other
   cores' requests to its bank in a cycle, half of them won by the other core). A layer that
   runs on one core has no conflicts. The DMA's own TCDM port is not counted.
2. **Compute**: the layer's serial code + the slowest core (its cycles + stalls) + fork/join
   (:data:`mixq.deploy.xpulp_timing.FORK_JOIN_CYCLES`, an assumption) once per tile. Each tile
   takes its share by output elements (the kernels' cost per output is uniform).
3. **DMA and double buffering** (:func:`mixq.platform.tiling.tiled_cycles`): first tile's
   load, per tile max(compute, next load + previous store), last tile's store. Activations are
   in L2; when the network's weights and its largest activation pair overflow L2, every
   layer's weights stream from L3 during it (:func:`mixq.platform.cluster.weights_in_l3`,
   :func:`~mixq.platform.cluster.l3_streamed`: the layer takes at least the stream plus its
   first tile's load).

The functional machine does not execute the tiles or the DMA: the tiling and transfers are
arithmetic on the executed untiled layer, which computes the same outputs.
"""

from __future__ import annotations

from mixq.codegen.kernels_pulp import dw_scratch_bytes
from mixq.deploy.cluster import geometries_from_graph
from mixq.deploy.xpulp_timing import FORK_JOIN_CYCLES, LayerTiming
from mixq.platform.cluster import l3_streamed, weights_in_l3
from mixq.platform.spec import ClusterSpec
from mixq.platform.tiling import LayerGeometry, choose_tiling, tiled_cycles

MODEL_NOTE = ("model: per layer, the RI5CY pipeline model over each core's executed program "
              "(mixq.deploy.xpulp_timing) + TCDM bank conflicts (uniform random banks, "
              "round-robin) + fork/join per tile (assumed) + L2<->L1 DMA of the L1 tiling "
              "(mixq.platform.tiling: double buffered, bandwidth and set-up cost from the "
              "platform spec); tiles and DMA computed, not executed; mixq.deploy.cluster_timing")


def tcdm_stalls(core_cycles, core_memory, banks: int) -> tuple[int, ...]:
    """Stall cycles of each core from TCDM bank conflicts (model of this module's docstring).

    Args:
        core_cycles: cycles of each core's program without conflicts.
        core_memory: loads and stores of each core's program.
        banks: the TCDM's word-interleaved banks.

    Example:
        >>> tcdm_stalls([1000, 1000], [500, 500], 16)  # 500 * 0.5 / 32
        (8, 8)
        >>> tcdm_stalls([1000], [500], 16)
        (0,)
    """
    rates = [m / c if c else 0.0 for c, m in zip(core_cycles, core_memory)]
    total = sum(rates)
    return tuple(int(round(m * (total - r) / (2 * banks)))
                 for m, r in zip(core_memory, rates))


def layer_cycles(g: LayerGeometry, timing: LayerTiming, cluster: ClusterSpec,
                 scratch_bytes: int, name: str = "", weights_in_l3: bool = False,
                 scratch_row_bytes: int = 0) -> dict:
    """One layer's cluster cycles (this module's model) and their parts.

    Args:
        g: the layer (:mod:`mixq.deploy.cluster` reads it from the graph).
        timing: the layer's executed programs, timed.
        cluster: the platform's cluster.
        scratch_bytes: the kernel's scratch in L1 (all cores; the emitted layer's
            ``scratch_bytes``), for a one-row tile when ``scratch_row_bytes`` > 0.
        scratch_row_bytes: scratch per further output row of a tile (:data:`ROW_SCRATCH`).
        name: the layer's name (error messages).
        weights_in_l3: its weights stream from L3 during the layer
            (:func:`mixq.platform.cluster.l3_streamed`).

    Returns:
        ``{"cycles", "compute_cycles", "tcdm_stall_cycles", "dma_cycles",
        "exposed_dma_cycles", "l3_cycles", "tiles", "tile_rows", "tile_channels",
        "l1_bytes", "double_buffered"}``.

    Raises:
        MixqError: the layer cannot be tiled into L1.
    """
    t = choose_tiling(g, cluster.l1_usable_bytes, scratch_bytes, cluster.dma_bytes_per_cycle,
                      cluster.dma_setup_cycles, name, scratch_row_bytes)
    stalls = tcdm_stalls(timing.core_cycles, timing.core_memory, cluster.tcdm_banks)
    busy = [c + s for c, s in zip(timing.core_cycles, stalls)]
    slowest = max(range(len(busy)), key=busy.__getitem__) if busy else None
    forks = FORK_JOIN_CYCLES * t.tiles if busy else 0
    compute = timing.serial_cycles + (busy[slowest] if busy else 0) + forks
    timed = tiled_cycles(t, compute, cluster.dma_bytes_per_cycle, cluster.dma_setup_cycles)
    cycles, l3 = timed.cycles, 0
    if weights_in_l3 and g.has_weights:
        cycles, l3 = l3_streamed(cycles, g, t, cluster)
    return {"cycles": cycles, "compute_cycles": int(compute),
            "tcdm_stall_cycles": stalls[slowest] if busy else 0,
            "dma_cycles": timed.dma_cycles, "exposed_dma_cycles": timed.exposed_dma_cycles,
            "l3_cycles": l3,
            "tiles": t.tiles, "tile_rows": t.h, "tile_channels": t.c, "l1_bytes": t.l1_bytes,
            "double_buffered": t.double_buffered}


# Kernels whose scratch holds their tile's input rows (a depthwise plane per core), by C
# function: (node, graph, out_rows) -> scratch bytes of a tile of out_rows output rows.
ROW_SCRATCH = {"mixq_pulp_dwconv_l8": dw_scratch_bytes}


def layer_scratch(graph, layer: dict) -> tuple[int, int]:
    """(scratch of a one-row tile, scratch per further row) of an emitted layer: its
    ``scratch_bytes`` and 0, or the row-scaled scratch of a :data:`ROW_SCRATCH` kernel."""
    rows = ROW_SCRATCH.get(layer.get("function"))
    if rows is None:
        return int(layer.get("scratch_bytes", 0)), 0
    node = next(n for n in graph.nodes if n.name == layer["name"])
    one = int(rows(node, graph, 1))
    return one, int(rows(node, graph, 2)) - one


def cluster_model(graph, layers: list[dict], timings: dict[int, LayerTiming],
                  cluster: ClusterSpec) -> dict:
    """The ``cluster`` entry of ``deploy.json`` on an Xpulp target: every layer's cycles by
    :func:`layer_cycles` and the sum.

    Args:
        graph: the integer graph deployed.
        layers: the emitted layers' metadata (``name``, ``macs``, ``scratch_bytes``), in the
            order of the trace's segments.
        timings: segment index -> the timed layer (:func:`mixq.deploy.xpulp_timing.
            time_layers`).
        cluster: the platform's cluster.

    Returns:
        ``{"note", "cores", "clock_hz", "simd", "tcdm_banks", "est_cycles", "est_latency_ms",
        "layers": [{"name", "kind", "macs", "est_cycles", "macs_per_cycle", ...}]}`` (the
        keys of the shape-only estimate, :func:`mixq.deploy.cluster.estimate_graph`, plus the
        parts of :func:`layer_cycles`).
    """
    named = geometries_from_graph(graph)
    geometry, in_l3 = dict(named), weights_in_l3([g for _, g in named], cluster)
    rows = []
    for i, layer in enumerate(layers):
        g, timing = geometry[layer["name"]], timings.get(i)
        if layer.get("zero_copy"):  # nothing runs, nothing moves
            part = {"cycles": 0, "compute_cycles": 0, "tcdm_stall_cycles": 0, "dma_cycles": 0,
                    "exposed_dma_cycles": 0, "l3_cycles": 0, "tiles": 0, "tile_rows": 0, "tile_channels": 0,
                    "l1_bytes": 0, "double_buffered": False}
        else:
            one, per_row = layer_scratch(graph, layer)
            part = layer_cycles(g, timing or LayerTiming(0, None, 0, 0, 1), cluster, one,
                                layer["name"], in_l3, per_row)
        macs = int(layer["macs"])
        rows.append({"name": layer["name"], "kind": g.kind, "macs": macs,
                     "est_cycles": part.pop("cycles"),
                     "macs_per_cycle": 0.0, **part})
        rows[-1]["macs_per_cycle"] = round(macs / max(rows[-1]["est_cycles"], 1), 3)
    total = sum(r["est_cycles"] for r in rows)
    return {"note": MODEL_NOTE, "cores": cluster.cores, "clock_hz": int(cluster.clock_hz),
            "simd": cluster.simd, "tcdm_banks": cluster.tcdm_banks, "est_cycles": int(total),
            "est_latency_ms": round(total / cluster.clock_hz * 1e3, 6), "layers": rows}


__all__ = ["MODEL_NOTE", "ROW_SCRATCH", "cluster_model", "layer_cycles", "layer_scratch",
           "tcdm_stalls"]
