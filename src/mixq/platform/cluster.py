"""Latency ESTIMATE of a layer on a GAP8-class PULP cluster: L2 -> L1 tiling, DMA and compute.

Nothing here is measured: there is no PULP cluster (nor an emulator of its Xpulp instructions)
on the machines mixq runs on. The model follows the structure of the published kernels and is
calibrated against published figures; every figure it produces is an estimate.

Per layer (:func:`layer_latency`):

1. **Tiling** (DORY-style, Burrello et al. 2021): the output is cut into tiles of ``h`` rows x
   ``c`` channels (full width; FC layers cut their outputs and inputs). A small search over
   candidate tile sizes keeps those whose input, weight and output tiles fit the usable L1
   *twice* (double buffering) next to the per-core im2col buffers, and picks the one with the
   most MACs per transferred byte (fewest tiles on ties). When no tile fits twice, the best one
   that fits once is used without overlap (transfers and compute then serialise).
2. **DMA**: each tile moves its bytes L2 <-> L1 at ``dma_bytes_per_cycle`` plus
   ``dma_setup_cycles`` per transfer; with double buffering a tile costs
   max(compute, DMA of the next tile) (the first load and the last store are exposed).
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
from mixq.errors import MixqError

KINDS = ("conv", "dw", "pw", "fc", "pool", "add")


@dataclass(frozen=True)
class LayerGeometry:
    """What the latency model needs to know about one layer.

    Attributes:
        kind: 'conv', 'dw', 'pw', 'fc', 'pool' (global average pool) or 'add'.
        in_hwc, out_hwc: input and output (H, W, C); an FC has (1, 1, features).
        kernel: (kh, kw) of a convolution, (1, 1) otherwise.
        w_bits, in_bits, out_bits: weight, input and output bits (8, 4 or 2).
    """

    kind: str
    in_hwc: tuple[int, int, int]
    out_hwc: tuple[int, int, int]
    kernel: tuple[int, int] = (1, 1)
    w_bits: int = 8
    in_bits: int = 8
    out_bits: int = 8

    def __post_init__(self):
        if self.kind not in KINDS:
            raise MixqError(f"layer kind '{self.kind}' is not one of {KINDS}")

    @property
    def k(self) -> int:
        """Reduction length of one output: kh*kw*C_in (conv/pw/fc) or kh*kw (dw)."""
        kh, kw = self.kernel
        return kh * kw * (1 if self.kind == "dw" else self.in_hwc[2])

    @property
    def macs(self) -> int:
        if self.kind in ("pool", "add"):
            return 0
        return math.prod(self.out_hwc) * self.k

    @property
    def stride(self) -> int:
        return max(1, round(self.in_hwc[0] / max(self.out_hwc[0], 1)))

    def with_bits(self, w_bits: int, in_bits: int, out_bits: int) -> "LayerGeometry":
        return LayerGeometry(self.kind, self.in_hwc, self.out_hwc, self.kernel, w_bits,
                             in_bits, out_bits)


def bytes_of(elements: int, bits: int) -> int:
    """Bytes of ``elements`` packed codes of ``bits`` bits (rounded up)."""
    return -(-elements * bits // 8)


@dataclass(frozen=True)
class Tiling:
    """One L2 -> L1 tiling of a layer.

    Attributes:
        h: output rows per tile (spatial layers) or 1.
        c: output channels per tile.
        k: reduction elements per tile (FC only; k < K keeps int32 partial sums in L1).
        tiles: number of tiles.
        l1_bytes: L1 used, double buffers and im2col buffers included.
        transfer_bytes: bytes moved L2 <-> L1 for the whole layer.
        double_buffered: transfers overlap compute (False: one buffer, serialised).
    """

    h: int
    c: int
    k: int
    tiles: int
    l1_bytes: int
    transfer_bytes: int
    double_buffered: bool = True


def _tile_bytes(g: LayerGeometry, h: int, c: int, k: int) -> tuple[int, int, int]:
    """(input, weight, output) bytes of one tile."""
    (hi, wi, ci), (ho, wo, co) = g.in_hwc, g.out_hwc
    if g.kind == "fc":
        return (bytes_of(k, g.in_bits), bytes_of(c * k, g.w_bits),
                4 * c if k < g.k else bytes_of(c, g.out_bits))
    if g.kind in ("pool", "add"):
        n = 2 if g.kind == "add" else 1
        return n * bytes_of(hi * wi * ci, g.in_bits), 0, bytes_of(ho * wo * co, g.out_bits)
    rows_in = min(hi, (h - 1) * g.stride + g.kernel[0])
    c_in = c if g.kind == "dw" else ci
    return (bytes_of(rows_in * wi * c_in, g.in_bits), bytes_of(c * g.k, g.w_bits),
            bytes_of(h * wo * c, g.out_bits))


def _candidates(n: int, step: int = 1) -> list[int]:
    vals = {n}
    v = step
    while v < n:
        vals.add(v)
        v *= 2
    vals.update(d for d in range(step, n, step) if n % d == 0)
    return sorted(vals)


def choose_tiling(g: LayerGeometry, cluster: ClusterSpec) -> Tiling:
    """The tiling with the most MACs per transferred byte among those that fit L1 twice
    (double buffering), else among those that fit it once.

    Raises:
        MixqError: not even the smallest tile fits the usable L1 once.

    Example:
        >>> from mixq.platform.spec import get_platform
        >>> g = LayerGeometry("conv", (16, 16, 32), (16, 16, 64), (3, 3))
        >>> choose_tiling(g, get_platform("gap8").cluster).tiles
        1
    """
    ho, co = g.out_hwc[0], g.out_hwc[2]
    budget = cluster.l1_usable_bytes
    scratch = im2col_bytes(g, cluster)
    spatial = g.kind in ("conv", "dw", "pw")
    hs = _candidates(ho) if spatial else [1]
    cs = _candidates(co, 4 if co % 4 == 0 else 1) if g.kind != "pool" and g.kind != "add" else [co]
    ks = _candidates(g.k, 4 if g.k % 4 == 0 else 1) if g.kind == "fc" else [g.k]
    best = None
    for h in hs:
        for c in cs:
            for k in ks:
                tin, tw, tout = _tile_bytes(g, h, c, k)
                n_h, n_c, n_k = -(-ho // h) if spatial else 1, -(-co // c), -(-g.k // k)
                tiles = n_h * n_c * n_k
                single = tiles == 1
                once = tin + tw + tout + scratch
                double = single or once + tin + tw + tout <= budget
                if once > budget:
                    continue
                l1 = once if single or not double else once + tin + tw + tout
                # Loop order: channel tiles outside, rows inside: weights move once per
                # channel tile, inputs once per (channel, row) tile unless there is one tile.
                moved = n_c * n_h * n_k * tin + n_c * n_k * tw + n_c * n_h * tout
                if single:
                    moved = tin + tw + tout
                key = (not double, -(g.macs + 1) / max(moved, 1), tiles, -l1)
                if best is None or key < best[0]:
                    best = (key, Tiling(h, c, k, tiles, l1, moved, double))
    if best is None:
        raise MixqError(f"a {g.kind} layer {g.in_hwc}->{g.out_hwc} does not fit the cluster's "
                        f"{budget} B of usable L1 even with one-row tiles; the model cannot "
                        "estimate it")
    return best[1]


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
    co = g.out_hwc[2]
    tile_g = _tile_geometry(g, t)
    comp_tile = compute_cycles(tile_g, cluster) + TILE_SYNC_CYCLES
    tin, tw, tout = _tile_bytes(g, t.h, t.c, t.k)
    bw, setup = cluster.dma_bytes_per_cycle, cluster.dma_setup_cycles
    dma_in = (tin + tw) / bw + 2 * setup
    dma_out = tout / bw + setup
    if t.tiles == 1 or not t.double_buffered:
        cycles = t.tiles * (dma_in + comp_tile + dma_out)
    else:  # double buffering: the first load and the last store are exposed
        cycles = dma_in + t.tiles * max(comp_tile, dma_in + dma_out) + dma_out
    l3 = 0.0
    if weights_in_l3:
        l3 = bytes_of(co * g.k, g.w_bits) / cluster.l3_bytes_per_cycle
        cycles = max(cycles, l3 + dma_in)
    total = int(math.ceil(cycles))
    return LayerLatency(total, int(comp_tile * t.tiles), int(t.tiles * (dma_in + dma_out)),
                        int(l3), t, g.macs / max(total, 1))


def _tile_geometry(g: LayerGeometry, t: Tiling) -> LayerGeometry:
    (hi, wi, ci), wo = g.in_hwc, g.out_hwc[1]
    if g.kind == "fc":
        return LayerGeometry("fc", (1, 1, t.k), (1, 1, t.c), (1, 1), g.w_bits, g.in_bits,
                             g.out_bits)
    if g.kind in ("pool", "add"):
        return g
    rows_in = min(hi, (t.h - 1) * g.stride + g.kernel[0])
    c_in = t.c if g.kind == "dw" else ci
    return LayerGeometry(g.kind, (rows_in, wi, c_in), (t.h, wo, t.c), g.kernel, g.w_bits,
                         g.in_bits, g.out_bits)


def model_latency(geometries, cluster: ClusterSpec) -> list[LayerLatency]:
    """Estimated latency of every layer of a network (``geometries`` in execution order).

    Weights stay in L2 when all of them fit next to the largest input + output pair of
    activations; otherwise every layer streams its weights from L3 (DORY's policy, simplified).
    """
    geometries = list(geometries)
    weights = sum(bytes_of(g.out_hwc[2] * g.k, g.w_bits) for g in geometries
                  if g.kind in ("conv", "dw", "pw", "fc"))
    acts = max((bytes_of(math.prod(g.in_hwc), g.in_bits) + bytes_of(math.prod(g.out_hwc),
                                                                 g.out_bits)
                for g in geometries), default=0)
    in_l3 = weights + acts > cluster.l2_bytes
    return [layer_latency(g, cluster, in_l3 and g.kind in ("conv", "dw", "pw", "fc"))
            for g in geometries]


__all__ = ["LayerGeometry", "LayerLatency", "Tiling", "bytes_of", "choose_tiling",
           "kernel_macs_per_cycle", "layer_latency", "model_latency"]
