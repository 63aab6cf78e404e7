"""Reference interpreter: the meaning of every integer op (numpy, int64, explicit saturation).

C kernels, the emulator runs and the accelerator simulation are tested against this module bit for
bit. Batched: every tensor here is (N, *shape) with int64 codes.
"""

from __future__ import annotations

import numpy as np

from mixq.ir.graph import Add, AvgPool, Concat, Conv2d, FullyConnected, Graph, Pool2d, Requant
from mixq.quant.integer import avgpool_divide


def apply_requant(acc: np.ndarray, rq: Requant) -> np.ndarray:
    """ICN requantization of an int64 accumulator (..., C) with a node's :class:`Requant`."""
    return rq.apply(acc)


def conv2d_acc(x: np.ndarray, weight: np.ndarray, stride, padding, groups: int) -> np.ndarray:
    """int64 accumulator of a 2-D convolution.

    Args:
        x: int codes (N, H, W, C_in).
        weight: int codes (C_out, KH, KW, C_in // groups).
        stride: (sh, sw); padding: (top, bottom, left, right) zero padding.
        groups: 1 or C_in (depthwise, C_out == C_in).

    Returns:
        int64 (N, H_out, W_out, C_out).

    Example:
        >>> x = np.arange(9).reshape(1, 3, 3, 1)
        >>> conv2d_acc(x, np.ones((1, 2, 2, 1), np.int8), (1, 1), (0, 0, 0, 0), 1)[0, :, :, 0]
        array([[ 8, 12],
               [20, 24]])
    """
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(weight, dtype=np.int64)
    top, bottom, left, right = padding
    x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    c_out, kh, kw, _ = w.shape
    sh, sw = stride
    # (N, Hp, Wp, C) -> (N, Ho, Wo, C, KH, KW)
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    if groups == 1:
        return np.einsum("nhwcij,oijc->nhwo", win, w, optimize=True)
    if groups == x.shape[3] == c_out:
        return np.einsum("nhwcij,cij->nhwc", win, w[..., 0], optimize=True)
    raise ValueError(f"groups={groups} unsupported: use 1 or depthwise (groups == C_in == C_out)")


def _with_sparse(op, node) -> np.ndarray:
    """acc = op(weight), or for a dense+sparse layer dense_scale * op(T) + op(S)."""
    if node.sparse is None:
        return op(node.weight)
    k = node.sparse.dense_scale.astype(np.int64)
    return op(node.weight) * k + op(node.sparse.values)


def _conv2d(node: Conv2d, env) -> np.ndarray:
    def conv(w):
        return conv2d_acc(env[node.input], w, node.stride, node.padding, node.groups)

    return apply_requant(_with_sparse(conv, node), node.requant)


def _fully_connected(node: FullyConnected, env) -> np.ndarray:
    x = env[node.input]
    flat = x.reshape(x.shape[0], -1).astype(np.int64)  # (N, H, W, C) -> (N, H*W*C)
    return apply_requant(_with_sparse(lambda w: flat @ w.astype(np.int64).T, node), node.requant)


def _avgpool(node: AvgPool, env) -> np.ndarray:
    x = env[node.input].astype(np.int64)
    return avgpool_divide(x.sum(axis=(1, 2), keepdims=True), x.shape[1] * x.shape[2])


def _add(node: Add, env) -> np.ndarray:
    return node.rule.apply(env[node.input_a].astype(np.int64), env[node.input_b].astype(np.int64))


def pool2d_windows(x: np.ndarray, kernel, stride, padding, fill: int) -> np.ndarray:
    """Pooling windows of ``x`` (N, H, W, C) padded with ``fill``: (N, H_out, W_out, C, KH, KW).

    Example:
        >>> x = np.arange(4).reshape(1, 2, 2, 1)
        >>> pool2d_windows(x, (2, 2), (1, 1), (0, 1, 0, 1), -9)[0, :, :, 0].max(axis=(-2, -1))
        array([[3, 3],
               [3, 3]])
    """
    top, bottom, left, right = padding
    x = np.pad(np.asarray(x, np.int64), ((0, 0), (top, bottom), (left, right), (0, 0)),
               constant_values=fill)
    win = np.lib.stride_tricks.sliding_window_view(x, tuple(kernel), axis=(1, 2))
    return win[:, ::stride[0], ::stride[1]]


def _pool2d(node: Pool2d, env) -> np.ndarray:
    x = env[node.input]
    if node.maximum:  # padding never wins: fill below every code
        return pool2d_windows(x, node.kernel, node.stride, node.padding,
                              np.iinfo(np.int64).min).max(axis=(-2, -1))
    total = pool2d_windows(x, node.kernel, node.stride, node.padding, 0).sum(axis=(-2, -1))
    if node.count_include_pad:
        return avgpool_divide(total, node.kernel[0] * node.kernel[1])
    ones = np.ones((1,) + x.shape[1:3] + (1,), np.int64)
    count = pool2d_windows(ones, node.kernel, node.stride, node.padding, 0).sum(axis=(-2, -1))
    return avgpool_divide(total, count)


def _concat(node: Concat, env) -> np.ndarray:
    lo, hi = node.activation_min, node.activation_max
    return np.concatenate([r.apply(env[t], lo, hi) for t, r in zip(node.inputs, node.rescales)],
                          axis=-1)


# The interpreter's dispatch table: IR node type -> (node, env) -> int64 output.
INTERPRETERS = {Conv2d: _conv2d, FullyConnected: _fully_connected, AvgPool: _avgpool, Add: _add,
                Pool2d: _pool2d, Concat: _concat}


def run_node(node, env: dict[str, np.ndarray]) -> np.ndarray:
    """Evaluate one node on the batched tensors in ``env``; returns its int64 output."""
    try:
        run = INTERPRETERS[type(node)]
    except KeyError:
        raise TypeError(f"unknown IR node type {type(node).__name__}") from None
    return run(node, env)


def interpret(graph: Graph, x: np.ndarray, return_all: bool = False):
    """Run the graph on a batch of integer inputs.

    Args:
        graph: the integer graph.
        x: network input codes, (N, H, W, C) (u8 codes for the network input).
        return_all: return every tensor (name -> array) instead of the first output.

    Returns:
        int64 codes of the first graph output, (N, *shape); or the dict of all tensors.

    Raises:
        ValueError: if the input's shape or codes do not match the graph's input tensor.
    """
    in_name = graph.inputs[0]
    t = graph.tensor(in_name)
    x = np.asarray(x)
    if tuple(x.shape[1:]) != tuple(t.shape):
        raise ValueError(f"input shape {tuple(x.shape[1:])} does not match graph input {t.shape}")
    if x.size and (x.min() < t.qmin or x.max() > t.qmax):
        raise ValueError(f"input codes outside [{t.qmin}, {t.qmax}] of tensor '{in_name}'")
    env = {in_name: x.astype(np.int64)}
    for node in graph.nodes:
        env[node.output] = run_node(node, env)
    return env if return_all else env[graph.outputs[0]]
