"""Lowering one IR layer to what the accelerator runs: im2col rows, per-group weights, outliers.

The engine computes, for every im2col row r and output channel c of a group of ``channels``,

    acc[r, c] = k[c] * sum_l x[r, l] * T[c, l] + sum_l x[r, l] * S[c, l]

then the ICN rule of :func:`mixq.quant.integer.requantize`. :class:`LayerProgram` holds exactly
these operands (padded to whole chunks of ``lanes`` and whole groups of ``channels``); the bit
formats of the memories that carry them are in :mod:`mixq.hw.streams`.

Mapping of the IR ops (one sample, NHWC):

- ``Conv2d`` (groups 1, any kernel/stride/padding) and ``FullyConnected``: one program, one row
  per output pixel (FC: one row), row = the (KH, KW, C_in) window flattened like the OHWI weight.
- Depthwise ``Conv2d``: one program per group of ``channels`` channels; its rows hold the
  ``channels * KH * KW`` window values of those channels (channel-major) and its weights are
  block diagonal, so the same datapath runs it (at 1/channels of its peak MAC rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixq.hw.config import EngineConfig, HwConfigError
from mixq.ir.graph import Add, AvgPool, Concat, Conv2d, FullyConnected, Graph, Pool2d
from mixq.quant.integer import requantize


@dataclass(frozen=True, eq=False)
class LayerProgram:
    """One engine run (a whole layer, or one channel group of a depthwise layer).

    Attributes:
        name: layer name (with '/g<i>' for depthwise groups).
        cfg: the engine it is lowered for.
        rows: int64 (n_rows, n_chunks * lanes) activation codes, zero padded.
        x_signed: activations are signed (s8/s4/s2) rather than unsigned codes.
        dense: int64 (n_groups, n_chunks, channels, lanes): ternary codes {-1, 0, 1} or int8
            weights (int8 engine).
        outliers: int64, same shape: int8 outlier values S (0 off the mask).
        mask: bool, same shape: outlier positions (the sparse stream carries these).
        dense_scale: int64 (n_groups * channels,) k >= 0 (1 for layers without outliers).
        bias, multiplier, shift: ICN parameters per padded channel (int64).
        act_min, act_max: output clamp.
        out_index: int64 (n_rows, n_groups * channels): flat index of each output in the IR
            output tensor of one sample, -1 for padding channels.
        out_size: number of elements of that tensor.
        macs: useful multiply-accumulates (the IR layer's own count, no padding).
    """

    name: str
    cfg: EngineConfig
    rows: np.ndarray
    x_signed: bool
    dense: np.ndarray
    outliers: np.ndarray
    mask: np.ndarray
    dense_scale: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    act_min: int
    act_max: int
    out_index: np.ndarray
    out_size: int
    macs: int

    @property
    def n_rows(self) -> int:
        return int(self.rows.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.dense.shape[0])

    @property
    def n_chunks(self) -> int:
        return int(self.dense.shape[1])


def im2col(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """Sliding windows of one NHWC sample.

    Args:
        x: codes (H, W, C).
        kernel: (KH, KW); stride: (sh, sw); padding: (top, bottom, left, right), zeros.

    Returns:
        int64 (H_out * W_out, KH, KW, C), output pixels in row-major order.

    Example:
        >>> im2col(np.arange(9).reshape(3, 3, 1), (2, 2), (1, 1), (0, 0, 0, 0))[:, :, :, 0].tolist()
        [[[0, 1], [3, 4]], [[1, 2], [4, 5]], [[3, 4], [6, 7]], [[4, 5], [7, 8]]]
    """
    t, b, l, r = padding
    xp = np.pad(np.asarray(x, np.int64), ((t, b), (l, r), (0, 0)))
    kh, kw = kernel
    # (Hp, Wp, C) -> (Ho, Wo, C, KH, KW) -> (Ho*Wo, KH, KW, C)
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(0, 1))
    win = win[::stride[0], ::stride[1]]
    return np.ascontiguousarray(win.transpose(0, 1, 3, 4, 2)).reshape(-1, kh, kw, xp.shape[2])


def _check_layer(node, graph: Graph, cfg: EngineConfig) -> tuple[bool, object]:
    x_t, y_t = graph.tensor(node.input), graph.tensor(node.output)
    if x_t.bits > 8 or y_t.bits > 8:
        raise HwConfigError(f"layer '{node.name}': the engine reads and writes codes of at most "
                            "8 bits")
    if cfg.engine == "ternary_sparse" and not node.ternary:
        raise HwConfigError(f"layer '{node.name}' has {node.weight_bits}-bit weights: the "
                            "ternary engine runs ternary (+ sparse int8) layers only")
    return x_t.signed, y_t


def _split(node, cfg: EngineConfig):
    """(T, S, mask, k) as int64 (C_out, ...) arrays for this engine's datapath."""
    w = node.weight.astype(np.int64)
    c_out = w.shape[0]
    sp = node.sparse
    if cfg.engine == "int8":
        eff = w if sp is None else w * sp.dense_scale.astype(np.int64).reshape(
            (-1,) + (1,) * (w.ndim - 1)) + sp.values.astype(np.int64)
        if eff.min(initial=0) < -128 or eff.max(initial=0) > 127:
            raise HwConfigError(f"layer '{node.name}': k*T + S leaves int8, so the int8 engine "
                                "cannot run it")
        return eff, np.zeros_like(w), np.zeros(w.shape, bool), np.ones(c_out, np.int64)
    if sp is None:
        return w, np.zeros_like(w), np.zeros(w.shape, bool), np.ones(c_out, np.int64)
    k = sp.dense_scale.astype(np.int64)
    if k.max(initial=0) >= 1 << cfg.k_bits:
        raise HwConfigError(f"layer '{node.name}': dense scale {k.max()} needs more than "
                            f"k_bits={cfg.k_bits} bits")
    return w, sp.values.astype(np.int64), sp.mask.copy(), k


def _program(name, cfg, rows, mats, k, rq, sel, act, out_index, out_size, macs, x_signed):
    """Pad rows to whole chunks and channels to whole groups; ``mats`` are (C, K) arrays."""
    lanes, p = cfg.lanes, cfg.channels
    c, kdim = mats[0].shape
    n_chunks = max(1, -(-kdim // lanes))
    n_groups = -(-c // p)
    if n_chunks > cfg.max_chunks or n_groups > cfg.max_groups:
        raise HwConfigError(f"layer '{name}': {n_chunks} chunks x {n_groups} groups exceed the "
                            f"buffers ({cfg.max_chunks} x {cfg.max_groups}); enlarge max_chunks/"
                            "max_groups")
    if rows.shape[0] >= 1 << cfg.row_bits:
        raise HwConfigError(f"layer '{name}': {rows.shape[0]} rows exceed row_bits")
    kp, cp = n_chunks * lanes, n_groups * p
    rows = np.pad(rows, ((0, 0), (0, kp - kdim)))

    def grouped(a):  # (C, K) -> (G, J, P, L)
        a = np.pad(a, ((0, cp - c), (0, kp - kdim)))
        return np.ascontiguousarray(a.reshape(n_groups, p, n_chunks, lanes).transpose(0, 2, 1, 3))

    def padc(a, fill):
        return np.concatenate([np.asarray(a, np.int64)[sel], np.full(cp - c, fill, np.int64)])

    out_index = np.pad(out_index, ((0, 0), (0, cp - c)), constant_values=-1)
    return LayerProgram(
        name=name, cfg=cfg, rows=rows, x_signed=x_signed, dense=grouped(mats[0]),
        outliers=grouped(mats[1]), mask=grouped(mats[2]).astype(bool), dense_scale=padc(k, 0),
        bias=padc(rq.bias, 0), multiplier=padc(rq.multiplier, 0), shift=padc(rq.shift, 1),
        act_min=act[0], act_max=act[1], out_index=out_index, out_size=out_size, macs=macs)


def lower_node(node, graph: Graph, x: np.ndarray, cfg: EngineConfig) -> list[LayerProgram]:
    """Lower a ``Conv2d`` / ``FullyConnected`` node applied to one input sample.

    Args:
        node: the IR node (ternary with optional :class:`~mixq.ir.graph.SparseOutliers` for the
            ternary engine; any weights whose effective codes fit int8 for the int8 engine).
        graph: its graph (for the tensor types).
        x: one sample of the node's input, codes (H, W, C) or (C,).
        cfg: the engine.

    Returns:
        The programs to run in order (one, or one per channel group for depthwise layers).

    Raises:
        HwConfigError: the layer does not fit this engine or its buffers.
    """
    try:
        lower = LOWERINGS[type(node)]
    except KeyError:
        raise TypeError(f"unknown IR node type {type(node).__name__}") from None
    return lower(node, graph, x, cfg)


def _unsupported(node, graph: Graph, x: np.ndarray, cfg: EngineConfig) -> list[LayerProgram]:
    raise HwConfigError(f"layer '{node.name}' ({type(node).__name__}) does not run on the engine")


def _lower_fc(node: FullyConnected, graph: Graph, x: np.ndarray,
              cfg: EngineConfig) -> list[LayerProgram]:
    x_signed, _ = _check_layer(node, graph, cfg)
    act = (node.requant.activation_min, node.requant.activation_max)
    t, s, mask, k = _split(node, cfg)
    c_out = t.shape[0]
    rows = np.asarray(x, np.int64).reshape(1, -1)  # (H, W, C) -> (1, H*W*C)
    return [_program(node.name, cfg, rows, (t, s, mask), k, node.requant, slice(None), act,
                     np.arange(c_out)[None, :], c_out, t.size, x_signed)]


def _lower_conv(node: Conv2d, graph: Graph, x: np.ndarray,
                cfg: EngineConfig) -> list[LayerProgram]:
    x_signed, _ = _check_layer(node, graph, cfg)
    act = (node.requant.activation_min, node.requant.activation_max)
    t, s, mask, k = _split(node, cfg)
    rq, c_out = node.requant, t.shape[0]
    _, kh, kw, _ = t.shape
    win = im2col(x, (kh, kw), node.stride, node.padding)  # (n_pix, KH, KW, C_in)
    n_pix = win.shape[0]
    if node.groups == 1:
        flat = [a.reshape(c_out, -1) for a in (t, s, mask)]  # (C, KH, KW, Cin) -> (C, K)
        out_index = np.arange(n_pix * c_out).reshape(n_pix, c_out)
        return [_program(node.name, cfg, win.reshape(n_pix, -1), flat, k, rq, slice(None), act,
                         out_index, n_pix * c_out, n_pix * t.size, x_signed)]
    programs, p, kk = [], cfg.channels, kh * kw
    for g0 in range(0, c_out, p):
        ch = np.arange(g0, min(g0 + p, c_out))
        # (n_pix, KH, KW, P) -> (n_pix, P, KH, KW) -> (n_pix, P*KH*KW): channel-major rows
        rows = win[..., ch].transpose(0, 3, 1, 2).reshape(n_pix, -1)
        mats = []
        for a in (t, s, mask):
            bd = np.zeros((len(ch), len(ch) * kk), a.dtype)
            for i, c in enumerate(ch):
                bd[i, i * kk:(i + 1) * kk] = a[c].reshape(-1)
            mats.append(bd)
        out_index = np.arange(n_pix)[:, None] * c_out + ch[None, :]
        programs.append(_program(f"{node.name}/g{g0 // p}", cfg, rows, mats, k, rq, ch, act,
                                 out_index, n_pix * c_out, n_pix * kk * len(ch), x_signed))
    return programs


# The engine's dispatch table: IR node type -> lowering (pool and add run on the host).
LOWERINGS = {Conv2d: _lower_conv, FullyConnected: _lower_fc, AvgPool: _unsupported,
             Add: _unsupported, Pool2d: _unsupported, Concat: _unsupported}


def program_reference(prog: LayerProgram) -> np.ndarray:
    """The output stream the engine must produce (numpy, int64 (n_rows, n_groups*channels)).

    Example:
        >>> from mixq.hw.synthetic import random_layer
        >>> g, node, env = random_layer("2:8", seed=0)
        >>> cfg = EngineConfig(lanes=8, channels=2, structure="2:8")
        >>> prog = lower_node(node, g, env[node.input][0], cfg)[0]
        >>> y = scatter_outputs([prog], [program_reference(prog)])
        >>> bool((y == env[node.output][0].reshape(-1)).all())
        True
    """
    g, j, p, l = prog.dense.shape
    rows = prog.rows.reshape(prog.n_rows, j * l)
    # (G, J, P, L) -> (G*P, J*L): one matrix row per padded output channel
    dense = prog.dense.transpose(0, 2, 1, 3).reshape(g * p, j * l)
    outl = prog.outliers.transpose(0, 2, 1, 3).reshape(g * p, j * l)
    acc = (rows @ dense.T) * prog.dense_scale + rows @ outl.T
    return requantize(acc, prog.bias, prog.multiplier, prog.shift, prog.act_min, prog.act_max)


def scatter_outputs(programs: list[LayerProgram], streams: list[np.ndarray]) -> np.ndarray:
    """Put the engine's output streams back into the IR output tensor (flat, one sample).

    Args:
        programs: the programs of one layer (from :func:`lower_node`).
        streams: their outputs, each (n_rows, n_groups * channels).

    Returns:
        int64 flat output tensor (elements no program wrote stay 0).
    """
    out = np.zeros(programs[0].out_size, np.int64)
    for prog, ys in zip(programs, streams):
        keep = prog.out_index >= 0
        out[prog.out_index[keep]] = np.asarray(ys)[keep]
    return out
