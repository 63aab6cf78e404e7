"""Latency ESTIMATE of a layer on a GAP8-class PULP cluster: L2 -> L1 tiling, DMA and compute.

Shape-only: it needs no executed program, so it serves where none runs (the latency-aware bit
allocation, :mod:`mixq.platform.latency`, and the portable-kernel target ``pulp-xpulpnn``); on
the Xpulp cores the deploy flow times the executed programs instead
(:mod:`mixq.deploy.cluster_timing`). The model follows the structure of the published kernels
and is calibrated against published figures; every figure it produces is an estimate.

Per layer (:func:`layer_latency`):

1. **Tiling**: :func:`mixq.platform.tiling.choose_tiling` (the one tiler: output rows x
   channels, double-buffered tiles and the per-core im2col buffers within the usable L1).
2. **DMA**: :func:`mixq.platform.tiling.tiled_cycles` (bytes at ``dma_bytes_per_cycle`` plus
   ``dma_setup_cycles`` per transfer, overlapped with compute when double buffered).
   Weights that do not fit L2 next to the activations stream from L3 at ``l3_bytes_per_cycle``,
   overlapped with the layer.
3. **Compute** (:mod:`mixq.platform.cluster_kernels`): PULP-NN's im2col + 4x2 MatMul (conv,
   pointwise, FC) and its depthwise kernel, instruction by instruction, for the precision mix
   and the ISA (XpulpV2: 8-bit SIMD, sub-byte operands unpacked in software; XpulpNN: native
   4/2-bit SIMD and the fused MAC-load), parallelised over the cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mixq.platform.cluster_kernels import (TILE_SYNC_CYCLES, compute_cycles, im2col_bytes,
                                         kernel_macs_per_cycle)
from mixq.platform.spec import ClusterSpec
from mixq.platform.tiling import (LayerGeometry, Tiling, bytes_of, input_rows, tiled_cycles)
from mixq.platform import tiling


def choose_tiling(g: LayerGeometry, cluster: ClusterSpec) -> Tiling:
    """The L1 tiling of :func:`mixq.platform.tiling.choose_tiling` with this model's im2col
    buffers as the scratch.

    Example:
        >>> from mixq.platform.spec import get_platform
        >>> g = LayerGeometry("conv", (16, 16, 32), (16, 16, 64), (3, 3))
        >>> choose_tiling(g, get_platform("gap8").cluster).tiles
        1
    """
    return tiling.choose_tiling(g, cluster.l1_usable_bytes, im2col_bytes(g, cluster),
                                cluster.dma_bytes_per_cycle, cluster.dma_setup_cycles)


@dataclass(frozen=True)
class LayerLatency:
    """Estimated cycles of one layer on the cluster (all figures are estimates).

    Attributes:
        cycles: the layer's estimated latency in cluster cycles.
        compute_cycles: compute of all tiles (cores in parallel).
        dma_cycles: L2 <-> L1 transfers of all tiles (partly hidden by double buffering).
        l3_cycles: weight streaming from L3 (0 when the weights stay in L2).
        tiling: the chosen :class:`Tiling`.
        macs_per_cycle: the layer's MACs / cycles.
    """

    cycles: int
    compute_cycles: int
    dma_cycles: int
    l3_cycles: int
    tiling: Tiling
    macs_per_cycle: float


def layer_latency(g: LayerGeometry, cluster: ClusterSpec, weights_in_l3: bool = False
                  ) -> LayerLatency:
    """Estimated latency of one layer: tiling, double-buffered DMA, compute on all cores.

    Args:
        g: the layer and its precisions.
        cluster: the cluster spec.
        weights_in_l3: the layer's weights stream from L3 (they do not fit L2).

    Example:
        >>> from mixq.platform.spec import get_platform
        >>> g = LayerGeometry("conv", (16, 16, 32), (16, 16, 64), (3, 3))
        >>> r = layer_latency(g, get_platform("gap8").cluster)
        >>> 12 < r.macs_per_cycle < 15.5    # below the kernel's 15.5: DMA is exposed
        True
    """
    t = choose_tiling(g, cluster)
    comp = (compute_cycles(_tile_geometry(g, t), cluster) + TILE_SYNC_CYCLES) * t.tiles
    timed = tiled_cycles(t, comp, cluster.dma_bytes_per_cycle, cluster.dma_setup_cycles)
    cycles, l3 = timed.cycles, 0
    if weights_in_l3:
        cycles, l3 = l3_streamed(cycles, g, t, cluster)
    return LayerLatency(int(cycles), int(comp), timed.dma_cycles, int(l3), t,
                        g.macs / max(cycles, 1))


def weights_in_l3(geometries, cluster: ClusterSpec) -> bool:
    """The network's weights stream from L3: all of them and its largest input + output pair
    of activations overflow L2 (DORY's policy, simplified).

    Example:
        >>> from mixq.platform.spec import get_platform
        >>> c = get_platform("gap8").cluster
        >>> weights_in_l3([LayerGeometry("fc", (1, 1, 1024), (1, 1, 1000))], c)
        True
    """
    geometries = list(geometries)
    weights = sum(bytes_of(g.out_hwc[2] * g.k, g.w_bits) for g in geometries if g.has_weights)
    acts = max((bytes_of(math.prod(g.in_hwc), g.in_bits) + bytes_of(math.prod(g.out_hwc),
                                                                 g.out_bits)
                for g in geometries), default=0)
    return weights + acts > cluster.l2_bytes


def l3_streamed(cycles: int, g: LayerGeometry, t: Tiling, cluster: ClusterSpec
                ) -> tuple[int, int]:
    """(cycles, L3 cycles) of a layer of ``cycles`` whose weights stream L3 -> L2 during it at
    ``l3_bytes_per_cycle``: at least the stream plus the first tile's L2 -> L1 load."""
    l3 = bytes_of(g.out_hwc[2] * g.k, g.w_bits) / cluster.l3_bytes_per_cycle
    first = (t.load_bytes / cluster.dma_bytes_per_cycle
             + t.loads * cluster.dma_setup_cycles) / max(t.tiles, 1)
    return max(int(cycles), int(math.ceil(l3 + first))), int(l3)


def _tile_geometry(g: LayerGeometry, t: Tiling) -> LayerGeometry:
    (_, wi, ci), wo = g.in_hwc, g.out_hwc[1]
    if g.kind in ("fc", "pool", "add"):
        return LayerGeometry(g.kind, g.in_hwc[:2] + (t.c if g.kind != "fc" else ci,),
                             g.out_hwc[:2] + (t.c,), g.kernel, g.w_bits, g.in_bits, g.out_bits)
    c_in = t.c if g.kind == "dw" else ci
    return LayerGeometry(g.kind, (input_rows(g, t.h), wi, c_in), (t.h, wo, t.c), g.kernel,
                         g.w_bits, g.in_bits, g.out_bits)


def model_latency(geometries, cluster: ClusterSpec) -> list[LayerLatency]:
    """Estimated latency of every layer of a network (``geometries`` in execution order).

    Weights stay in L2 when all of them fit next to the largest input + output pair of
    activations; otherwise every layer streams its weights from L3 (DORY's policy, simplified).
    """
    geometries = list(geometries)
    in_l3 = weights_in_l3(geometries, cluster)
    return [layer_latency(g, cluster, in_l3 and g.has_weights) for g in geometries]


__all__ = ["LayerGeometry", "LayerLatency", "Tiling", "bytes_of", "choose_tiling",
           "kernel_macs_per_cycle", "l3_streamed", "layer_latency", "model_latency",
           "weights_in_l3"]
