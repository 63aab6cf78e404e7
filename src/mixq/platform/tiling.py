"""L2 -> L1 tiling of one layer on a PULP cluster: the tile sizes, the L1 working set, the DMA.

Pure arithmetic on layer shapes (no emulator, no torch). A layer's operands live in L2; before
the cores compute, the cluster DMA copies a *tile* (a slab of output rows x a group of output
channels, with the input rows it reads, halo included, and the weights of its channels) into
the shared L1, and copies the output tile back. With double buffering the DMA fills the second
set of buffers while the cores compute on the first, so every tiled layer holds two input,
weight and output tiles in L1 at once, next to the cores' scratch (im2col) buffers.

The rule (:func:`choose_tiling`, DORY-style: Burrello et al., IEEE TC 2021, a constrained choice
of tile sizes that maximises the tile and minimises transfers):

1. Tiles are ``h`` output rows (full width) x ``c`` output channels; ``c`` is the layer's
   channel count or a multiple of 4 (the 4x2 MatMul's channel block; 4 channels of 2-bit codes
   are one byte). FC layers tile output channels only (one row); global pooling tiles channels.
2. A tiling *fits* when ``2 x (input + weight + output tile) + scratch <= L1 usable``
   (``l1_bytes - l1_reserved_bytes`` of the platform's ``[cluster]``: stacks and runtime keep
   the rest; the scratch may grow with the tile's rows); a layer in one tile needs its buffers once. When no double-buffered tiling fits,
   the largest single-buffered one is used (transfers then do not overlap compute).
3. Among the tilings that fit, whole-channel tiles (``c`` = all output channels) come first:
   the SIMD kernels then run on full 4-channel blocks and each input row crosses the DMA once.
   Then the fewest DMA cycles (bytes moved / bandwidth + set-up per transfer), then the fewest
   tiles. For a given ``c`` the tallest ``h`` that fits is taken (fewer tiles, less halo).
4. Loop order: channel tiles outside, row tiles inside: the weights of a channel tile move once;
   an input tile moves once per (channel tile, row tile), once in all when it is the same for
   every channel tile (one row tile, not depthwise).
5. A layer whose smallest tile (one output row x 4 channels, or all channels when the layer has
   fewer than 4) does not fit L1 even single-buffered is a one-line :class:`MixqError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mixq.errors import MixqError

KINDS = ("conv", "dw", "pw", "fc", "pool", "add")
CHANNEL_BLOCK = 4


@dataclass(frozen=True)
class LayerGeometry:
    """What the tiler and the latency models need to know about one layer.

    Attributes:
        kind: 'conv', 'dw', 'pw', 'fc', 'pool' (global or windowed) or 'add' (also a copy).
        in_hwc, out_hwc: input and output (H, W, C); an FC has (1, 1, features).
        kernel: (kh, kw) of a convolution or a pooling window ((H, W) of a global pool), (1, 1)
            otherwise.
        w_bits, in_bits, out_bits: weight, input and output bits (8, 4 or 2).
        inputs: input tensors of the same shape read per output (2 for an add).
        stride: the row stride; 0 derives it from the shapes (round(H_in / H_out)).
    """

    kind: str
    in_hwc: tuple[int, int, int]
    out_hwc: tuple[int, int, int]
    kernel: tuple[int, int] = (1, 1)
    w_bits: int = 8
    in_bits: int = 8
    out_bits: int = 8
    inputs: int = 1
    stride: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise MixqError(f"layer kind '{self.kind}' is not one of {KINDS}")
        if self.stride <= 0:
            derived = max(1, round(self.in_hwc[0] / max(self.out_hwc[0], 1)))
            object.__setattr__(self, "stride", derived)

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
    def has_weights(self) -> bool:
        return self.kind in ("conv", "dw", "pw", "fc")

    def with_bits(self, w_bits: int, in_bits: int, out_bits: int) -> "LayerGeometry":
        return LayerGeometry(self.kind, self.in_hwc, self.out_hwc, self.kernel, w_bits,
                             in_bits, out_bits, self.inputs, self.stride)


def bytes_of(elements: int, bits: int) -> int:
    """Bytes of ``elements`` packed codes of ``bits`` bits (rounded up).

    Example:
        >>> bytes_of(10, 2), bytes_of(3, 8)
        (3, 3)
    """
    return -(-elements * bits // 8)


def _row_tiled(g: LayerGeometry) -> bool:
    """Output rows can be tiled (a global pool and an FC read their whole input per output)."""
    return g.kind != "fc" and not (g.kind == "pool" and g.out_hwc[:2] == (1, 1))


def input_rows(g: LayerGeometry, h: int) -> int:
    """Input rows an ``h``-row output tile reads, halo included (at most the input's rows).

    Example:
        >>> input_rows(LayerGeometry("conv", (16, 16, 8), (16, 16, 8), (3, 3)), 4)
        6
    """
    if not _row_tiled(g):
        return g.in_hwc[0]
    return min(g.in_hwc[0], (h - 1) * g.stride + g.kernel[0])


def tile_bytes(g: LayerGeometry, h: int, c: int) -> tuple[int, int, int]:
    """(input, weight, output) bytes of an ``h`` rows x ``c`` channels tile.

    Example:
        >>> tile_bytes(LayerGeometry("pw", (8, 8, 16), (8, 8, 32), w_bits=4), 2, 8)
        (256, 64, 128)
    """
    (_, wi, ci), (_, wo, _) = g.in_hwc, g.out_hwc
    per_channel = g.kind in ("dw", "pool", "add")  # output channel c reads input channel c
    c_in = c if per_channel else ci
    tin = g.inputs * bytes_of(input_rows(g, h) * wi * c_in, g.in_bits)
    tw = bytes_of(c * g.k, g.w_bits) if g.has_weights else 0
    rows_out = h if _row_tiled(g) else g.out_hwc[0]
    return tin, tw, bytes_of(rows_out * wo * c, g.out_bits)


@dataclass(frozen=True)
class Tiling:
    """One L2 -> L1 tiling of a layer (:func:`choose_tiling`).

    Attributes:
        h: output rows per tile (the last row tile may be shorter).
        c: output channels per tile (the last channel tile may be narrower).
        rows, channels: the layer's output rows and channels.
        l1_bytes: L1 used: the tile buffers (twice when double buffered) and the scratch.
        double_buffered: transfers overlap compute (False: one tile, or nothing fits twice).
        in_bytes, weight_bytes, out_bytes: the largest tile's buffers.
        load_bytes, store_bytes: bytes the DMA moves L2 -> L1 (inputs, weights) and
            L1 -> L2 (outputs) for the whole layer.
        loads, stores: DMA transfers each way for the whole layer (each pays the set-up cost).
    """

    h: int
    c: int
    rows: int
    channels: int
    l1_bytes: int
    double_buffered: bool
    in_bytes: int
    weight_bytes: int
    out_bytes: int
    load_bytes: int
    store_bytes: int
    loads: int
    stores: int

    @property
    def transfer_bytes(self) -> int:
        return self.load_bytes + self.store_bytes

    @property
    def transfers(self) -> int:
        return self.loads + self.stores

    @property
    def row_tiles(self) -> int:
        return -(-self.rows // self.h)

    @property
    def channel_tiles(self) -> int:
        return -(-self.channels // self.c)

    @property
    def tiles(self) -> int:
        return self.row_tiles * self.channel_tiles

    def ranges(self):
        """The tiles in execution order (channel tiles outside), each
        ``((row0, row1), (channel0, channel1))``, half-open.

        Example:
            >>> t = Tiling(3, 4, 5, 6, 0, True, 0, 0, 0, 0, 0, 0, 0)
            >>> list(t.ranges())[:3]
            [((0, 3), (0, 4)), ((3, 5), (0, 4)), ((0, 3), (4, 6))]
        """
        for c0 in range(0, self.channels, self.c):
            for r0 in range(0, self.rows, self.h):
                yield (r0, min(r0 + self.h, self.rows)), (c0, min(c0 + self.c, self.channels))


def _channel_candidates(channels: int) -> list[int]:
    """All channels, then multiples of the channel block below it, largest first."""
    steps = range(CHANNEL_BLOCK * ((channels - 1) // CHANNEL_BLOCK), 0, -CHANNEL_BLOCK)
    return [channels] + [c for c in steps if c < channels]


def _plan(g: LayerGeometry, h: int, c: int, scratch_1: int, scratch_row: int,
          usable: int) -> Tiling | None:
    rows = g.out_hwc[0] if _row_tiled(g) else 1
    scratch = scratch_1 + scratch_row * (h - 1)
    channels = g.out_hwc[2]
    n_h, n_c = -(-rows // h), -(-channels // c)
    tin, tw, tout = tile_bytes(g, h, c)
    single = n_h * n_c == 1
    double = 2 * (tin + tw + tout) + scratch <= usable
    if not single and not double and tin + tw + tout + scratch > usable:
        return None
    if single and tin + tw + tout + scratch > usable:
        return None
    # bytes moved: inputs per (channel, row) tile unless shared by all channel tiles
    in_moves = n_h if n_h == 1 and g.kind not in ("dw", "pool", "add") else n_h * n_c
    full_in = sum(tile_bytes(g, min(h, rows - r0), c)[0] for r0 in range(0, rows, h))
    moved_in = full_in * (1 if in_moves == n_h else n_c)
    moved_w = bytes_of(channels * g.k, g.w_bits) if g.has_weights else 0
    moved_out = bytes_of(math.prod(g.out_hwc), g.out_bits)
    loads = in_moves * g.inputs + (n_c if g.has_weights else 0)
    l1 = (tin + tw + tout) * (1 if single or not double else 2) + scratch
    return Tiling(h, c, rows, channels, l1, double and not single, tin, tw, tout,
                  moved_in + moved_w, moved_out, loads, n_h * n_c)


def choose_tiling(g: LayerGeometry, usable_l1_bytes: int, scratch_bytes: int = 0,
                  dma_bytes_per_cycle: float = 8.0, dma_setup_cycles: float = 100.0,
                  name: str = "", scratch_row_bytes: int = 0) -> Tiling:
    """The L1 tiling of a layer by the rule of this module's docstring.

    Args:
        g: the layer.
        usable_l1_bytes: L1 available to the layer's tiles and scratch.
        scratch_bytes: the cores' scratch buffers in L1 (all cores together) for a tile of
            one output row.
        scratch_row_bytes: scratch added per further output row of a tile (a depthwise
            kernel's plane holds its tile's input rows); 0: the scratch does not grow.
        dma_bytes_per_cycle, dma_setup_cycles: the platform's DMA (ranks the tilings).
        name: the layer's name for the error message.

    Raises:
        MixqError: not even the smallest tile fits L1 once.

    Example:
        >>> g = LayerGeometry("pw", (112, 112, 32), (112, 112, 64))
        >>> t = choose_tiling(g, 53_248)
        >>> t.c, t.h, t.tiles, t.double_buffered, t.l1_bytes <= 53_248
        (64, 2, 56, True, True)
    """
    rows = g.out_hwc[0] if _row_tiled(g) else 1
    best = None
    for c in _channel_candidates(g.out_hwc[2]):
        lo, hi = 1, rows  # the tallest h that fits (fitting is monotone in h)
        if _plan(g, 1, c, scratch_bytes, scratch_row_bytes, usable_l1_bytes) is None:
            continue
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _plan(g, mid, c, scratch_bytes, scratch_row_bytes, usable_l1_bytes) is None:
                hi = mid - 1
            else:
                lo = mid
        t = _plan(g, lo, c, scratch_bytes, scratch_row_bytes, usable_l1_bytes)
        if t.tiles > 1 and not t.double_buffered:  # prefer a double-buffered shorter tile
            for h in range(lo, 0, -1):
                d = _plan(g, h, c, scratch_bytes, scratch_row_bytes, usable_l1_bytes)
                if d.double_buffered:
                    t = d
                    break
        cost = t.transfer_bytes / dma_bytes_per_cycle + t.transfers * dma_setup_cycles
        key = (not t.double_buffered and t.tiles > 1, c != g.out_hwc[2], cost, t.tiles)
        if best is None or key < best[0]:
            best = (key, t)
    if best is None:
        c = min(CHANNEL_BLOCK, g.out_hwc[2])
        need = sum(tile_bytes(g, 1, c)) + scratch_bytes  # one row: no per-row scratch
        label = f"layer '{name}' " if name else "a layer "
        raise MixqError(f"{label}({g.kind} {g.in_hwc}->{g.out_hwc}) cannot be tiled into L1: "
                        f"its smallest tile (1 output row x {c} channels) and scratch need "
                        f"{need} B, the cluster has {usable_l1_bytes} B of usable L1")
    return best[1]


@dataclass(frozen=True)
class TiledCycles:
    """Cycles of a tiled layer (:func:`tiled_cycles`): ``cycles`` in all, ``dma_cycles`` of
    all transfers (partly hidden under compute when double buffered), ``exposed_dma_cycles``
    of them not hidden."""

    cycles: int
    dma_cycles: int
    exposed_dma_cycles: int


def tiled_cycles(t: Tiling, compute_cycles: float, dma_bytes_per_cycle: float,
                 dma_setup_cycles: float) -> TiledCycles:
    """Cycles of a layer tiled by ``t`` whose compute, all tiles together, takes
    ``compute_cycles``, each tile its share by output elements.

    Double buffered: the first tile's load, then per tile max(its compute, the DMA of the
    next tile's load and the previous tile's store), then the last tile's store. One tile, or
    single buffered: load, compute and store of every tile in turn. DMA of a transfer: bytes /
    ``dma_bytes_per_cycle`` + ``dma_setup_cycles``; tiles taken as equal (the layer's bytes
    and transfers spread evenly).

    Example:
        >>> t = choose_tiling(LayerGeometry("pw", (112, 112, 32), (112, 112, 64)), 53_248)
        >>> r = tiled_cycles(t, 1_000_000, 8.0, 100)
        >>> r.cycles > 1_000_000, r.exposed_dma_cycles < r.dma_cycles
        (True, True)
    """
    n = t.tiles
    load = (t.load_bytes / dma_bytes_per_cycle + t.loads * dma_setup_cycles) / n
    store = (t.store_bytes / dma_bytes_per_cycle + t.stores * dma_setup_cycles) / n
    compute = compute_cycles / n
    if t.double_buffered:
        total = load + n * max(compute, load + store) + store
    else:
        total = n * (load + compute + store)
    dma = n * (load + store)
    return TiledCycles(int(math.ceil(total)), int(math.ceil(dma)),
                       int(math.ceil(max(0.0, total - compute_cycles))))


__all__ = ["TiledCycles", "tiled_cycles", "CHANNEL_BLOCK", "KINDS", "LayerGeometry", "Tiling", "bytes_of", "choose_tiling",
           "input_rows", "tile_bytes"]
