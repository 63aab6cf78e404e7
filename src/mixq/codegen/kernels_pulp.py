"""PULP kernels (sets 'pulp', XpulpV2, and 'pulpnn', XpulpNN): im2col + 4x2 MatMul on SIMD.

The C side is ``runtime/pulp/`` (``mixq_pulp.h`` documents the layouts). Conv, pointwise and
fully connected layers run on ``pv.sdotsp.b`` / ``pv.sdotusp.b`` (signed / unsigned inputs x
signed weights) in a hardware loop with post-increment loads; sub-byte weights stay packed in
flash and are widened to bytes in the inner loop by a ``pv.sll.sci.b`` / ``pv.sra.sci.b`` pair,
for which :func:`pack_pulp_weights` interleaves the codes offline. Sub-byte activations are
widened by the im2col. The 'pulpnn' set adds the XpulpNN nibble (``pv.sdot*.n``, 8 x 4-bit)
and crumb (``pv.sdot*.c``, 16 x 2-bit) dot products for layers whose input codes are no wider
than their 4- or 2-bit weights. Depthwise layers run on per-channel planes with 4-tap
``pv.sdot*.b`` products (``mixq_pulp_dw.c``: every input and weight width; 8-bit weights stored as
byte rows, sub-byte weights widened in the kernel). Pooling and the residual add run the portable loops on each core's share
(``mixq_pulp_pool.c``, ``mixq_pulp_add.c``).
"""

from __future__ import annotations

import numpy as np

from mixq.codegen.kernel import RUNTIME_DIR, Kernel
from mixq.codegen.kernels_ref import pack_dw_weights
from mixq.quant.kinds import LayerKind
from mixq.ir.graph import Conv2d, Graph
from mixq.platform.spec import KernelSet

SOURCE_DIR = RUNTIME_DIR / "pulp"
SOURCES = ("mixq_pulp_conv.c", "mixq_pulp_out.h", "mixq_pulp_cluster.c", "mixq_pulp.h")
DW_SOURCES = ("mixq_pulp_dw.c", "mixq_pulp_cluster.c", "mixq_pulp.h")
POOL_SOURCES = ("mixq_pulp_pool.c", "mixq_pulp_cluster.c", "mixq_pulp.h")
# the add wraps the portable mixq_add_any: sources relative to the runtime folder
ADD_SOURCES = ("pulp/mixq_pulp_add.c", "pulp/mixq_pulp_cluster.c", "pulp/mixq_pulp.h",
               "mixq_add_any.c")
ACTS = ("u8", "u4", "u2", "s8", "s4", "s2")
WEIGHTS = {8: ("s8",), 4: ("s4",), 2: ("s2", "t2")}
INT32_MAX = 2**31 - 1
CORES = 8  # MIXQ_PULP_CORES of runtime/pulp/mixq_pulp.h: each core has its own im2col columns


def column_codes(node, graph: Graph) -> int:
    """K: codes in one im2col column (taps x input channels)."""
    return int(np.prod(node.weight.shape[1:], dtype=np.int64))


def padded_codes(k: int, w_bits: int) -> int:
    """Kp: K rounded up to whole packed weight words.

    Example:
        >>> padded_codes(27, 8), padded_codes(27, 2)
        (28, 32)
    """
    per_word = 32 // w_bits
    return -(-k // per_word) * per_word


def pack_pulp_words(weight: np.ndarray, w_bits: int, lane_bits: int) -> np.ndarray:
    """32-bit weight words (``<u4`` bytes) of ``mixq_pulp_conv_l<lane_bits>_w<w_bits>``.

    Rows padded to Kp codes and to a multiple of 4 channels (zeros); per block of 4 channels and
    per group of ``32 / w_bits`` codes, the 4 channels' words. With ``lane_bits == w_bits`` code
    ``i`` of a group sits at bits ``w_bits * i``; with 8-bit lanes and sub-byte weights, code
    ``4 * j + b`` sits in byte ``b`` at bit ``w_bits * j`` (part ``j`` is one shift pair away).

    Args:
        weight: int codes (C_out, K), K tap-major (OHWI flattened).
        w_bits: 8, 4 or 2. lane_bits: 8, or equal to ``w_bits``.

    Example:
        >>> pack_pulp_words(np.array([[1, 2, 3, 4, 5, 6, 7, -1]]), 4, 8)[:4].tolist()
        [81, 98, 115, 244]
        >>> pack_pulp_words(np.array([[1, -2]]), 8, 8)[:4].tolist()
        [1, 254, 0, 0]
    """
    weight = np.asarray(weight, dtype=np.int64)
    c_out, k = weight.shape
    per_word = 32 // w_bits
    kp, cp = padded_codes(k, w_bits), -(-c_out // 4) * 4
    rows = np.zeros((cp, kp), np.int64)
    rows[:c_out, :k] = weight
    groups = rows.reshape(cp, kp // per_word, per_word) & ((1 << w_bits) - 1)
    idx = np.arange(per_word)
    if lane_bits == w_bits:
        shifts = w_bits * idx
    else:  # code 4j + b -> byte b, bit w_bits * j
        shifts = 8 * (idx % 4) + w_bits * (idx // 4)
    words = np.bitwise_or.reduce(groups.astype(np.uint64) << shifts.astype(np.uint64), axis=-1)
    blocks = words.reshape(cp // 4, 4, -1).transpose(0, 2, 1)  # (block, group, channel)
    return np.ascontiguousarray(blocks.astype("<u4")).view(np.uint8).ravel()


# How mixq_pulp_conv_* requantizes and stores a layer's outputs (pulp_out_t in mixq_pulp_out.h),
# the word after the weight words of its blob
OUT_ANY, OUT_HI, OUT_LO, OUT_MIX = 0, 1, 2, 3


def output_mode(node, graph: Graph) -> int:
    """The output stage of a conv / pw / FC layer on the pulp kernels: ``OUT_HI`` (8, 4 or 2-bit
    outputs, every shift >= 32: the high word alone), ``OUT_LO`` (every shift in [2, 31]
    and the clamp range inside [-2^30, 2^30): the pair shifted after its high word is clipped to
    [-2^(s-1), 2^(s-1) - 1], exact because a clipped result lands within 2^(32-s) <= 2^30 of
    INT32_MIN / INT32_MAX, beyond the clamp range), ``OUT_MIX`` (every shift >= 2, the clamp
    range as for ``OUT_LO``: either form, chosen per channel by a branch on its shift) or
    ``OUT_ANY`` (the C path per output).

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((2, 2, 16), seed=0)
        >>> g = b.build(b.pw(b.input, 4, out="u8"))
        >>> output_mode(g.nodes[0], g) in (OUT_HI, OUT_LO)
        True
    """
    rq, shift = node.requant, np.asarray(node.requant.shift)
    if graph.tensor(node.output).bits not in (8, 4, 2):
        return OUT_ANY
    if (shift >= 32).all():
        return OUT_HI
    in_range = -(2**30) <= rq.activation_min and rq.activation_max < 2**30
    if not in_range or (shift < 2).any():
        return OUT_ANY
    return OUT_LO if (shift < 32).all() else OUT_MIX


def _geometry(node, graph: Graph) -> tuple[np.ndarray, int]:
    return node.weight.reshape(node.weight.shape[0], -1), int(node.weight_bits)


def lane_bits_for(node, graph: Graph, nn: bool) -> int:
    """SIMD lane width of a layer: 8 on XpulpV2; on XpulpNN the weight width when the input
    codes fit it (4 or 2), else 8."""
    w_bits, a_bits = int(node.weight_bits), graph.tensor(node.input).bits
    return w_bits if nn and w_bits < 8 and a_bits <= w_bits else 8


def pulp_fits(node, graph: Graph) -> bool:
    """Dense layers whose int32 accumulator cannot overflow (Kp * 255 * 128 <= INT32_MAX)."""
    if getattr(node, "sparse", None) is not None:
        return False
    if isinstance(node, Conv2d) and node.groups != 1:
        return False
    return padded_codes(column_codes(node, graph), node.weight_bits) * 255 * 128 <= INT32_MAX


def dw_scratch_bytes(node, graph: Graph, out_rows: int | None = None) -> int:
    """Mirror of ``mixq_pulp_dw_scratch_bytes``: per core, one channel's zero-padded plane
    (every output row's input rows, one code per byte, rows a word multiple apart that holds
    each window's last 4-tap word) and its weights (k_h rows of ceil(k_w / 4) words);
    ``out_rows``: for an L1 tile of that many output rows instead of the whole output.

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((8, 8, 16), seed=0)
        >>> g = b.build(b.dw(b.input, kernel=3))
        >>> dw_scratch_bytes(g.nodes[0], g)  # 8 cores x (10 rows x 12 bytes + 3 words)
        1056
    """
    _, k_h, k_w, _ = node.weight.shape
    out_h, out_w, _ = graph.tensor(node.output).shape
    out_h = out_h if out_rows is None else out_rows
    stride_h, stride_w = node.stride
    words = -(-k_w // 4)
    stride = -(-((out_w - 1) * stride_w + 4 * words) // 4) * 4
    return CORES * (((out_h - 1) * stride_h + k_h) * stride + 4 * k_h * words)


def pack_pulp_dw_weights(node, graph: Graph) -> np.ndarray:
    """Weight blob of ``mixq_pulp_dwconv_l8``: 8-bit weights per channel as k_h rows of
    ceil(k_w / 4) words of signed bytes (taps beyond k_w zero), read in place by the kernel;
    sub-byte weights in the reference layout (:func:`~mixq.codegen.kernels_ref.pack_dw_weights`,
    unpacked per channel by the kernel, so they keep their flash size).

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((4, 4, 2), seed=0)
        >>> g = b.build(b.dw(b.input, kernel=3))
        >>> blob = pack_pulp_dw_weights(g.nodes[0], g)
        >>> first_row = g.nodes[0].weight[0, 0, :, 0].tolist() + [0]  # channel 0, ky 0
        >>> blob.shape, blob[:4].view(np.int8).tolist() == first_row
        ((24,), True)
    """
    if node.weight_bits != 8:
        return pack_dw_weights(node, graph)
    c, k_h, k_w, _ = node.weight.shape
    rows = np.zeros((c, k_h, 4 * (-(-k_w // 4))), np.int8)
    rows[:, :, :k_w] = node.weight[..., 0]  # (C, KH, KW, 1) -> (C, KH, KW)
    return rows.view(np.uint8).ravel()


def dw_fits(node, graph: Graph) -> bool:
    """Dense depthwise layers whose int32 accumulator cannot overflow (taps * 255 * 128)."""
    return node.weight.shape[1] * node.weight.shape[2] * 255 * 128 <= INT32_MAX


def pulp_add_inplace_inputs(node, graph: Graph) -> tuple[int, ...]:
    """Inputs of an Add that ``mixq_pulp_add`` may overwrite: those of the output's code width
    (each core then reads and writes only its own pixels; a wider input would put a core's
    output over another core's pixels)."""
    out_bits = graph.tensor(node.output).bits
    return tuple(i for i, t in enumerate(node.inputs) if graph.tensor(t).bits == out_bits)


def pulp_kernels(kernel_set: KernelSet) -> tuple[Kernel, ...]:
    """The conv / pw / fc kernels of ``kernel_set`` (XpulpNN lanes for ``KernelSet.PULPNN``)."""
    nn = kernel_set == KernelSet.PULPNN
    out = []
    for w_bits, weights in WEIGHTS.items():
        lane_options = (8, w_bits) if nn and w_bits < 8 else (8,)
        for lane in lane_options:
            def accepts(node, graph, lane=lane):
                return pulp_fits(node, graph) and lane_bits_for(node, graph, nn) == lane

            def pack(node, graph, lane=lane):  # the weight words, then the output mode
                weight, bits = _geometry(node, graph)
                mode = np.array([output_mode(node, graph)], "<u4").view(np.uint8)
                return np.concatenate([pack_pulp_words(weight, bits, lane), mode])

            def scratch(node, graph, lane=lane):
                return CORES * 2 * padded_codes(column_codes(node, graph), node.weight_bits) * lane // 8

            dtypes = frozenset((i, w, o) for i in ACTS for w in weights for o in ACTS)
            for op in ("conv", "pw", "fc"):
                out.append(Kernel(
                    op=op, function=f"mixq_pulp_conv_l{lane}_w{w_bits}", sources=SOURCES,
                    source_dir=SOURCE_DIR, target=kernel_set.value, variant=f"simd-l{lane}",
                    dtypes=dtypes, accepts=accepts, scratch_bytes=scratch, pack_weights=pack,
                    priority=10))
    # depthwise: 8-bit lanes for every input and weight width (unpacked in the kernel)
    out.append(Kernel(op="dw", function="mixq_pulp_dwconv_l8", sources=DW_SOURCES,
                      source_dir=SOURCE_DIR, target=kernel_set.value, variant="simd-dw",
                      accepts=dw_fits, scratch_bytes=dw_scratch_bytes,
                      pack_weights=pack_pulp_dw_weights, priority=10))
    # pooling and add: the portable loops, split over the cores
    for op, function, sources, where in (
            (LayerKind.POOL, "mixq_pulp_avgpool", POOL_SOURCES, SOURCE_DIR),
            (LayerKind.MAXPOOL, "mixq_pulp_maxpool", POOL_SOURCES, SOURCE_DIR),
            (LayerKind.AVGPOOL, "mixq_pulp_avgpool2d", POOL_SOURCES, SOURCE_DIR),
            (LayerKind.ADD, "mixq_pulp_add", ADD_SOURCES, RUNTIME_DIR)):
        out.append(Kernel(op=op, function=function, sources=sources, source_dir=where,
                          target=kernel_set.value, variant="cluster", priority=10))
    out.append(Kernel(op=LayerKind.ADD, function="mixq_pulp_add", sources=ADD_SOURCES,
                      source_dir=RUNTIME_DIR, target=kernel_set.value, variant="cluster-inplace",
                      accepts=lambda node, graph: bool(pulp_add_inplace_inputs(node, graph)),
                      inplace_inputs=pulp_add_inplace_inputs, priority=10))
    return tuple(out)


# The XpulpV2 and XpulpNN kernel sets (rows of mixq.codegen.kernels.kernel_set_table).
KERNELS = pulp_kernels(KernelSet.PULP)
NN_KERNELS = pulp_kernels(KernelSet.PULPNN)

__all__ = ["KERNELS", "NN_KERNELS", "column_codes", "dw_fits", "dw_scratch_bytes",
           "lane_bits_for", "output_mode", "pack_pulp_dw_weights", "pack_pulp_words", "padded_codes",
           "pulp_add_inplace_inputs", "pulp_fits", "pulp_kernels"]
