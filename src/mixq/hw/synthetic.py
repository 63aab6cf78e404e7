"""Random, verifier-valid dense-ternary + sparse-int8 layers and demo-shaped graphs (numpy only).

Used by the tests (bit-exactness on every structure) and by ``mixq hw report`` (activity for the
energy estimate, whole-network estimates) when no trained graph is given. Requantization is
calibrated on the random batch so the output codes spread over their range.
"""

from __future__ import annotations

import numpy as np

from mixq.ir.graph import (AvgPool, Conv2d, FullyConnected, Graph, Requant, SparseOutliers,
                           TensorType)
from mixq.ir.interpret import run_node
from mixq.ir.verify import verify
from mixq.quant.integer import icn_bias, qrange, quantize_multipliers
from mixq.quant.kinds import LayerKind
from mixq.quant.sparsity import Family, SparseStructure

# demo_net's shapes (mixq.models.tiny: DEMO_FIRST_CHANNELS, DEMO_BLOCKS), repeated here because
# hw/ must not import torch; tests/hw check that they agree.
DEMO_INPUT = (16, 16, 1)
DEMO_FIRST_CHANNELS = 16
DEMO_BLOCKS = ((1, 32), (2, 64), (1, 64))
DEMO_CLASSES = 10


def outlier_mask(shape, structure: str, density: float, rng) -> np.ndarray:
    """A random outlier mask of about ``density`` that satisfies ``structure``.

    Args:
        shape: weight shape, input channels last ((C_out, KH, KW, C_in) or (C_out, C_in)).
        structure: one of :data:`mixq.ir.graph.SPARSE_STRUCTURES`.
        density: expected fraction of selected positions.
        rng: numpy Generator.

    Returns:
        bool array of ``shape``.

    Example:
        >>> m = outlier_mask((8, 3, 3, 16), "1:8", 0.05, np.random.default_rng(0))
        >>> int(m.reshape(-1, 2, 8).sum(axis=2).max()) <= 1
        True
    """
    structure = SparseStructure(structure)
    cin = shape[-1]
    rows = int(np.prod(shape[:-1]))
    if structure.family is Family.UNSTRUCTURED:
        return rng.random(shape) < density
    if structure.family is Family.ROW:
        per = int(round(density * int(np.prod(shape[1:]))))
        mask = np.zeros((shape[0], int(np.prod(shape[1:]))), bool)
        for c in range(shape[0]):
            mask[c, rng.choice(mask.shape[1], per, replace=False)] = True
        return mask.reshape(shape)
    group = structure.group
    mask = np.zeros((rows, cin), bool)
    for g0 in range(0, cin, group):
        size = min(group, cin - g0)
        if structure.family is Family.BLOCK:
            mask[:, g0:g0 + size] = (rng.random(rows) < density)[:, None]
            continue
        n = min(structure.nm[0], size)
        q = min(1.0, density * size / n)
        counts = rng.binomial(n, q, size=rows)
        for r in np.nonzero(counts)[0]:
            mask[r, g0 + rng.choice(size, counts[r], replace=False)] = True
    return mask.reshape(shape)


def sparse_weights(shape, structure: str, density: float, rng, k_max: int = 40):
    """Ternary codes T and :class:`SparseOutliers` (T is 0 on the mask; some outliers are 0)."""
    mask = outlier_mask(shape, structure, density, rng)
    t = rng.integers(-1, 2, size=shape).astype(np.int8)
    t[mask] = 0
    vals = rng.integers(-128, 128, size=shape)
    vals[rng.random(shape) < 0.03] = 0  # a selected code may be 0
    vals = np.where(mask, vals, 0).astype(np.int8)
    k = rng.integers(1, k_max + 1, size=shape[0])
    return t, SparseOutliers(vals, k, structure, mask)


def _requant(acc: np.ndarray, out: tuple[int, bool], rng) -> Requant:
    """ICN parameters spreading each channel's accumulator over the output range."""
    bits, signed = out
    c = acc.shape[-1]
    flat = acc.reshape(-1, c).astype(np.float64)  # (N, ..., C) -> (N*..., C)
    std = flat.std(axis=0) + 1.0
    centre = 0.0 if signed else 0.75
    bias = -flat.mean(axis=0) + rng.normal(centre, 0.5, c) * std
    real = 2**bits / (4.0 * std) * 2 ** rng.uniform(-1.0, 1.0, c)
    real = np.where(rng.random(c) < 0.15, -real, real)
    mult, shift = quantize_multipliers(real)
    lo, hi = qrange(bits, signed)
    return Requant(icn_bias(bias, mult, shift), mult, shift, lo, hi)


class _Builder:
    """Appends calibrated layers to a graph (one random batch flows through)."""

    def __init__(self, shape, rng, batch: int, signed_input: bool = False):
        self.rng = rng
        self.tensors = {"x": TensorType(tuple(shape), 8, signed_input, 1 / 16)}
        lo, hi = qrange(8, signed_input)
        self.env = {"x": rng.integers(lo, hi + 1, size=(batch, *shape)).astype(np.int64)}
        self.nodes, self.last = [], "x"

    def add(self, make, out=(8, False), shape=None):
        """``make(name, input, output, requant)`` builds the node; requant is calibrated."""
        name, out_name = f"l{len(self.nodes)}", f"t{len(self.nodes) + 1}"
        acc = run_node(make(name, self.last, out_name, None), self.env)  # raw accumulator
        node = make(name, self.last, out_name, _requant(acc, out, self.rng))
        if shape is None:
            shape = acc.shape[1:]
        self.tensors[out_name] = TensorType(tuple(shape), out[0], out[1], 1 / 16)
        self.nodes.append(node)
        self.env[out_name] = run_node(node, self.env)
        self.last = out_name
        return node

    def graph(self, name: str) -> Graph:
        return verify(Graph(name, tuple(self.tensors.items()), tuple(self.nodes), ("x",),
                            (self.last,)))


def _conv(weight, sparse, stride=1, padding=(0, 0, 0, 0), groups=1, ternary=True):
    def make(name, i, o, rq):
        return Conv2d(name, i, o, weight, rq if rq is not None else _RAW, (stride, stride),
                      padding, groups, 2 if ternary else 8, ternary, sparse)
    return make


def _fc(weight, sparse, ternary=True):
    def make(name, i, o, rq):
        return FullyConnected(name, i, o, weight, rq if rq is not None else _RAW,
                              2 if ternary else 8, ternary, sparse)
    return make


# A requant that leaves the accumulator unchanged ((acc * 2 + 0) >> 1 == acc), so calibration
# reads raw accumulators through mixq.ir.interpret.run_node.
_RAW = Requant(np.zeros(1), np.full(1, 2), np.ones(1), -(2**31), 2**31 - 1)


def random_layer(structure: str, seed: int = 0, kind: LayerKind | str = LayerKind.CONV,
                 density: float = 0.06, batch: int = 2, signed_input: bool = False, c_in: int = 12,
                 c_out: int = 5, size: int = 4):
    """A graph whose last node is a random dense-ternary + sparse-int8 layer.

    Args:
        structure: outlier structure, or 'dense' for an int8 layer without outliers.
        seed: random seed.
        kind: 'conv' (3x3, stride 1, padding 1), 'pw' (1x1), 'fc' or 'dw' (depthwise 3x3).
        density: outlier density.
        batch: number of input samples.
        signed_input: the layer reads s8 codes (an int8 1x1 stem layer with s8 output comes
            first, since graph inputs are u8).
        c_in, c_out: channels (c_out is c_in for 'dw'); size: input height = width.

    Returns:
        (graph, node, env): the graph, the layer under test and every tensor of the random
        batch (``env[node.input]``: the layer's input, ``env[node.output]``: the reference).

    Example:
        >>> g, node, env = random_layer("1:8", seed=1, kind="pw")
        >>> node.sparse.structure, env[node.input].shape
        ('1:8', (2, 4, 4, 12))
    """
    kind = LayerKind.parse(kind)
    rng = np.random.default_rng(seed)
    shape = (c_in,) if kind is LayerKind.FC else (size, size, c_in)
    b = _Builder(shape, rng, batch)
    if signed_input:
        stem_shape = (c_in, c_in) if kind is LayerKind.FC else (c_in, 1, 1, c_in)
        stem = rng.integers(-128, 128, size=stem_shape).astype(np.int8)
        b.add((_fc if kind is LayerKind.FC else _conv)(stem, None, ternary=False), out=(8, True))
    c_out = c_in if kind is LayerKind.DW else c_out
    wshape = {LayerKind.CONV: (c_out, 3, 3, c_in), LayerKind.PW: (c_out, 1, 1, c_in),
              LayerKind.FC: (c_out, c_in), LayerKind.DW: (c_in, 3, 3, 1)}[kind]
    if structure == "dense":
        w, sp, ternary = rng.integers(-128, 128, size=wshape).astype(np.int8), None, False
    else:
        (w, sp), ternary = sparse_weights(wshape, structure, density, rng), True
    if kind is LayerKind.FC:
        make = _fc(w, sp, ternary)
    else:
        pad = (0, 0, 0, 0) if kind is LayerKind.PW else (1, 1, 1, 1)
        make = _conv(w, sp, 1, pad, c_in if kind is LayerKind.DW else 1, ternary)
    node = b.add(make, (8, bool(rng.random() < 0.3)))
    return b.graph(f"rand_{kind}_{structure}"), node, b.env


def demo_graph(structure: str, density: float, seed: int = 0, width: float = 1.0,
               batch: int = 1) -> tuple[Graph, np.ndarray]:
    """demo_net's shapes as an IR graph: int8 first conv and classifier, every depthwise and
    pointwise layer dense-ternary + sparse-int8 with ``structure`` at ``density``.

    Returns:
        (graph, x) with a random u8 input batch.

    Example:
        >>> g, x = demo_graph("1:16", 0.02)
        >>> [n.name for n in g.nodes if getattr(n, "sparse", None) is not None]
        ['l1', 'l2', 'l3', 'l4', 'l5', 'l6']
    """
    rng = np.random.default_rng(seed)
    b = _Builder(DEMO_INPUT, rng, batch)

    def ch(c):
        return max(int(c * width), 2)

    c = ch(DEMO_FIRST_CHANNELS)
    w0 = rng.integers(-128, 128, size=(c, 3, 3, DEMO_INPUT[2])).astype(np.int8)
    b.add(_conv(w0, None, 1, (1, 1, 1, 1), 1, ternary=False))
    for stride, c_next in DEMO_BLOCKS:
        c_next = ch(c_next)
        size = b.tensors[b.last].shape[0]
        total = max((-(-size // stride) - 1) * stride + 3 - size, 0)
        pad = (total // 2, total - total // 2) * 2
        b.add(_conv(*sparse_weights((c, 3, 3, 1), structure, density, rng, 8), stride, pad, c))
        b.add(_conv(*sparse_weights((c_next, 1, 1, c), structure, density, rng)))
        c = c_next
    b.nodes.append(AvgPool(f"l{len(b.nodes)}", b.last, "pool"))
    b.tensors["pool"] = TensorType((1, 1, c), 8, False, 1 / 16)
    b.env["pool"] = run_node(b.nodes[-1], b.env)
    b.last = "pool"
    wf = rng.integers(-128, 128, size=(DEMO_CLASSES, c)).astype(np.int8)
    b.add(_fc(wf, None, ternary=False), out=(8, True))
    return b.graph(f"demo_{structure}_{density:g}"), b.env["x"]

def int8_twin(graph: Graph, node, env: dict, seed: int = 0, weight_std: float = 24.0):
    """The same layer shape with dense int8 weights, on the same input activations.

    Weights are a rounded normal of std ``weight_std`` codes clipped to [-127, 127], the shape
    of trained per-channel int8 weights (max at about 5 std); the requantization is calibrated
    like every other synthetic layer.

    Returns:
        (graph, node, env) as :func:`random_layer`.
    """
    rng = np.random.default_rng(seed)
    x = env[node.input]
    b = _Builder(graph.tensor(node.input).shape, rng, x.shape[0])
    b.env["x"] = x
    w = np.clip(np.round(rng.normal(0, weight_std, node.weight.shape)), -127, 127).astype(np.int8)
    if isinstance(node, FullyConnected):
        make = _fc(w, None, ternary=False)
    else:
        make = _conv(w, None, node.stride[0], node.padding, node.groups, ternary=False)
    y = graph.tensor(node.output)
    new = b.add(make, (y.bits, y.signed))
    return b.graph(f"{graph.name}_int8"), new, b.env
