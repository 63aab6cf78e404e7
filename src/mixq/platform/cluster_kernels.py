"""Compute cycles of PULP-NN-style kernels on a PULP cluster (an ESTIMATE; see
:mod:`mixq.platform.cluster`).

The kernels modelled are those of PULP-NN (Garofalo et al., Phil. Trans. R. Soc. A 2020),
PULP-NN-mixed (Bruschi et al., CF 2020) and their XpulpNN versions (Garofalo et al., DATE 2020;
arXiv:2011.14325), all in HWC layout:

* conv / pointwise: im2col of two output pixels into a per-core buffer, then a 4x2 MatMul
  (4 output channels x 2 pixels; 8 accumulators) whose inner loop per SIMD word of the
  reduction does 2 activation loads, 4 weight loads and 8 sum-of-dot-products (``pv.sdotp``)
  under a zero-overhead hardware loop with post-increment loads: 14 instructions, 1 cycle each;
* sub-byte operands that the ISA cannot multiply natively are unpacked in software: per
  produced 32-bit SIMD word ``lanes`` bit-extracts (``p.extract``), ``lanes / 2`` packs and a
  store + reload through a stack buffer (the structure of ``pulp_nn_i4_to_i8`` in
  pulp-nn-mixed), i.e. 8 instructions per 4 lanes on XpulpV2;
* XpulpV2 has 8-bit SIMD only (4 lanes); XpulpNN multiplies 8, 4 and 2-bit vectors natively
  (32 / max(a_bits, w_bits) lanes) and fuses loads into the dot product (MAC-load);
* depthwise: per output a dot product of the kh x kw window (SIMD over the window), then
  requantization; FC: the MatMul with one pixel (4x1);
* work is split over the cores along output pixel pairs (or output channels when a tile has
  fewer pixel pairs than cores, PULP-NN's channel-parallel variant).

Constants, each with its source:

========================  ========  ===================================================
constant                  value     source
========================  ========  ===================================================
``INNER_4X2``             14        instruction count of the PULP-NN 4x2 MatMul inner loop
``BLOCK_OVERHEAD_V2``     100       a rough count of a 4x2 block's prologue/epilogue in
                                    pulp-nn-mixed (bias init, 8 requantize + store,
                                    pointer updates, hardware-loop set-up, leftover loop),
                                    rounded up for load-use stalls
``EFFICIENCY``            0.947     FITTED: a8w8 conv 3x3, 16x16x32 -> 16x16x64 on 8 cores
                                    = 15.5 MAC/cycle (PULP-NN, Garofalo et al. 2020,
                                    abstract); covers TCDM bank conflicts and load stalls
``MACLOAD_SPEEDUP``       1.64      XpulpNN peak MAC/cycle gain of the fused MAC-load
                                    (Garofalo et al., arXiv:2011.14325, abstract)
``BLOCK_OVERHEAD_NN``     240       FITTED: XpulpNN a4w4 conv 6x faster than the XpulpV2
                                    a4w4 kernel on the same layer (arXiv:2011.14325,
                                    abstract); the MAC-load kernel re-initialises its
                                    special-purpose registers per block
``DW_OUTPUT_OVERHEAD``    16        depthwise window gather + requantize per output; a
                                    structural guess, NOT checked against a published figure
========================  ========  ===================================================

Checked, not fitted (``tests/deploy/test_pulp_cluster.py``): XpulpNN a2w2 vs XpulpV2 a2w2
(published 8x) and the best of the 27 XpulpV2 mixed-precision kernels (PULP-NN-mixed: up to
16 MAC/cycle). The benchmark layer (3x3, 16x16x32 -> 16x16x64) is the one we take the papers
to use; their full texts were not at hand when this was written, so the shape is an
assumption.
"""

from __future__ import annotations

import math

INNER_4X2 = 14
BLOCK_OVERHEAD_V2 = 100
EFFICIENCY = 0.947
MACLOAD_SPEEDUP = 1.64
BLOCK_OVERHEAD_NN = 240
DW_OUTPUT_OVERHEAD = 16
POOL_CYCLES_PER_ELEMENT = 2   # load + accumulate per input element
ADD_CYCLES_PER_ELEMENT = 6    # 2 loads, 2 multiplies, shift/clip, store
TILE_SYNC_CYCLES = 60         # fork the tile's work to the cores + barrier (an assumption)


def lanes(simd: str, a_bits: int, w_bits: int) -> int:
    """SIMD lanes of the dot product: 4 on XpulpV2, 32 / max(a_bits, w_bits) on XpulpNN.

    Example:
        >>> lanes("xpulpv2", 2, 2), lanes("xpulpnn", 4, 4), lanes("xpulpnn", 8, 2)
        (4, 8, 4)
    """
    return 4 if simd == "xpulpv2" else 32 // max(a_bits, w_bits)


def word_cycles(bits: int, n_lanes: int) -> float:
    """Cycles to get one SIMD word of ``n_lanes`` elements of an operand stored at ``bits``:
    one load when the storage matches the lane width, else load + software unpacking.

    Example:
        >>> word_cycles(8, 4), word_cycles(4, 4), word_cycles(2, 8)
        (1.0, 8.5, 14.5)
    """
    if bits * n_lanes == 32:
        return 1.0
    return 1.5 * n_lanes + 2 + bits * n_lanes / 32


def _im2col_word_cycles(bits: int, n_lanes: int) -> float:
    # copy (load + store) or unpack then store: the unpacked word is not reloaded
    return 2.0 if bits * n_lanes == 32 else 1.5 * n_lanes + 1 + bits * n_lanes / 32


def _matmul_core_cycles(simd: str, k: int, pixels: int, channels: int, a_bits: int,
                        w_bits: int, im2col: bool) -> float:
    n = lanes(simd, a_bits, w_bits)
    chunks = -(-k // n)
    nn = simd == "xpulpnn"
    if pixels == 1:  # FC: the 4x1 MatMul
        inner = (1 + 4 * word_cycles(w_bits, n) + 4) / (MACLOAD_SPEEDUP if nn else 1.0)
        block = chunks * inner + (BLOCK_OVERHEAD_NN if nn else BLOCK_OVERHEAD_V2) / 2
        unpack = 0.0 if a_bits * n == 32 else chunks * _im2col_word_cycles(a_bits, n)
        return -(-channels // 4) * block + unpack
    inner = (2 + 4 * word_cycles(w_bits, n) + 8) / (MACLOAD_SPEEDUP if nn else 1.0)
    block = chunks * inner + (BLOCK_OVERHEAD_NN if nn else BLOCK_OVERHEAD_V2)
    blocks = -(-channels // 4) * -(-pixels // 2)
    per_pixel = chunks * _im2col_word_cycles(a_bits, n) if im2col or a_bits * n != 32 else 0.0
    return blocks * block + pixels * per_pixel


def compute_cycles(g, cluster) -> float:
    """Estimated cycles of one layer (or tile) with its data in L1, all cores in parallel.

    Args:
        g: a :class:`mixq.platform.cluster.LayerGeometry`.
        cluster: a :class:`mixq.platform.spec.ClusterSpec`.

    Example:
        >>> from mixq.platform.cluster import LayerGeometry
        >>> from mixq.platform.spec import get_platform
        >>> g = LayerGeometry("pw", (8, 8, 64), (8, 8, 64))
        >>> round(g.macs / compute_cycles(g, get_platform("gap8").cluster), 1)
        12.0
    """
    cores, simd = cluster.cores, cluster.simd
    (hi, wi, ci), (ho, wo, co) = g.in_hwc, g.out_hwc
    if g.kind == "pool":
        return hi * wi * ci * POOL_CYCLES_PER_ELEMENT / cores / EFFICIENCY
    if g.kind == "add":
        return ho * wo * co * ADD_CYCLES_PER_ELEMENT / cores / EFFICIENCY
    if g.kind == "dw":
        n = lanes(simd, g.in_bits, g.w_bits)
        chunks = -(-g.k // n)
        per_out = chunks * (word_cycles(g.in_bits, n) + word_cycles(g.w_bits, n) + 1) \
            + DW_OUTPUT_OVERHEAD
        return ho * wo * -(-co // cores) * per_out / EFFICIENCY
    if g.kind == "fc":
        per_core = _matmul_core_cycles(simd, g.k, 1, -(-co // cores), g.in_bits, g.w_bits,
                                       False)
        return per_core / EFFICIENCY
    pixels = ho * wo
    im2col = g.kind == "conv"
    pairs = -(-pixels // 2)
    # PULP-NN splits output pixels over the cores; with fewer pixel pairs than cores its
    # channel-parallel variant splits output channels instead. Take the faster.
    by_pixels = _matmul_core_cycles(simd, g.k, 2 * -(-pairs // cores), co, g.in_bits,
                                    g.w_bits, im2col)
    by_channels = _matmul_core_cycles(simd, g.k, pixels, 4 * -(-(-(-co // 4)) // cores),
                                      g.in_bits, g.w_bits, im2col)
    return min(by_pixels, by_channels) / EFFICIENCY


def kernel_macs_per_cycle(g, cluster) -> float:
    """MACs per cycle of the kernel alone (data already in L1, no DMA, no tiling): the
    quantity the PULP-NN and XpulpNN papers report.

    Example:
        >>> from mixq.platform.cluster import LayerGeometry
        >>> from mixq.platform.spec import get_platform
        >>> g = LayerGeometry("conv", (16, 16, 32), (16, 16, 64), (3, 3))
        >>> round(kernel_macs_per_cycle(g, get_platform("gap8").cluster), 1)
        15.5
    """
    return g.macs / compute_cycles(g, cluster)


def im2col_bytes(g, cluster) -> int:
    """L1 bytes of the per-core im2col buffers (two pixels at lane width for conv; a few
    input rows for depthwise; none for pointwise and FC layers that need no unpacking)."""
    n = lanes(cluster.simd, g.in_bits, g.w_bits)
    lane_bits = 32 // n
    if g.kind == "conv" or (g.kind == "pw" and g.in_bits * n != 32):
        return cluster.cores * 2 * math.ceil(g.k * lane_bits / 8)
    if g.kind == "dw":
        return cluster.cores * g.kernel[0] * math.ceil((g.in_hwc[1] + 2) * lane_bits / 8)
    return 0
