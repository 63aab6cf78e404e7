"""The dense-ternary + sparse-int8 layer in the IR: meaning, verification, save/load."""

import numpy as np
import pytest

from mixq.errors import MixqError
from mixq.ir.graph import Conv2d, FullyConnected, Graph, Requant, SparseOutliers, TensorType
from mixq.ir.interpret import conv2d_acc, interpret
from mixq.ir.serialize import graph_hash, load_graph, save_graph
from mixq.ir.verify import verify
from mixq.quant.integer import icn_bias, quantize_multipliers


def _rq(c, real=0.01):
    m, s = quantize_multipliers(np.full(c, real))
    return Requant(icn_bias(np.zeros(c), m, s), m, s, 0, 255)


def _graph(node, x_shape, y_shape):
    tensors = (("x", TensorType(x_shape, 8, False, 1 / 255)), ("y", TensorType(y_shape, 8, False, 0.1)))
    return Graph("g", tensors, (node,), ("x",), ("y",))


def _layer(rng, c_out=4, c_in=8, structure="unstructured"):
    t = rng.integers(-1, 2, size=(c_out, 3, 3, c_in)).astype(np.int8)
    mask = np.zeros(t.shape, bool)
    if structure == "2:8":
        mask[..., 0] = mask[..., 5] = True
    elif structure == "block1x4":
        mask[0, 1, 1, 4:8] = True
    else:
        mask[0, 0, 0, 0] = mask[2, 1, 2, 3] = True
    t[mask] = 0
    vals = np.where(mask, rng.integers(-128, 128, size=t.shape), 0).astype(np.int8)
    return t, SparseOutliers(vals, rng.integers(1, 20, size=c_out), structure, mask)


@pytest.mark.parametrize("structure", ["unstructured", "2:8", "block1x4"])
def test_dense_sparse_conv_means_k_times_ternary_plus_sparse(structure):
    rng = np.random.default_rng(0)
    t, sp = _layer(rng, structure=structure)
    node = Conv2d("c", "x", "y", t, _rq(4), padding=(1, 1, 1, 1), weight_bits=2, ternary=True,
                  sparse=sp)
    g = verify(_graph(node, (5, 5, 8), (5, 5, 4)))
    x = rng.integers(0, 256, size=(3, 5, 5, 8))
    acc = conv2d_acc(x, t, (1, 1), (1, 1, 1, 1), 1) * sp.dense_scale.astype(np.int64) + \
        conv2d_acc(x, sp.values, (1, 1), (1, 1, 1, 1), 1)
    # The same accumulator as one conv with the effective integer weight k*T + S.
    w_eff = t.astype(np.int64) * sp.dense_scale[:, None, None, None] + sp.values
    np.testing.assert_array_equal(acc, conv2d_acc(x, w_eff, (1, 1), (1, 1, 1, 1), 1))
    ref = ((acc * node.requant.multiplier.astype(np.int64) + node.requant.bias)
           >> node.requant.shift.astype(np.int64)).clip(0, 255)
    np.testing.assert_array_equal(interpret(g, x), ref)


def test_dense_sparse_fc_and_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    t = rng.integers(-1, 2, size=(3, 12)).astype(np.int8)
    mask = np.zeros(t.shape, bool)
    mask[:, 2] = True
    t[mask] = 0
    sp = SparseOutliers(np.where(mask, 7, 0), np.array([3, 4, 5]), "row", mask)
    node = FullyConnected("f", "x", "y", t, _rq(3), weight_bits=2, ternary=True, sparse=sp)
    g = verify(_graph(node, (12,), (3,)))
    x = rng.integers(0, 256, size=(4, 12))
    expected_acc = x @ (t.astype(np.int64) * np.array([[3], [4], [5]]) + sp.values).T
    assert np.array_equal(interpret(g, x), ((expected_acc * node.requant.multiplier.astype(np.int64) + node.requant.bias) >> node.requant.shift.astype(np.int64)).clip(0, 255))
    save_graph(g, tmp_path / "g")
    again = load_graph(tmp_path / "g")
    assert graph_hash(again) == graph_hash(g)
    assert np.array_equal(again.nodes[0].sparse.mask, mask)


@pytest.mark.parametrize("bad, msg", [
    ("overlap", "off the ternary support"),
    ("nm", "more than 2 outliers in a group of 8"),
    ("block", "union of 1x4 blocks"),
    ("row", "same count per channel"),
    ("not_ternary", "need a ternary dense weight"),
])
def test_verifier_rejects_broken_outliers(bad, msg):
    rng = np.random.default_rng(2)
    t, sp = _layer(rng, structure={"nm": "2:8", "block": "block1x4", "row": "row"}.get(bad, "unstructured"))
    mask = sp.mask.copy()
    ternary = True
    if bad == "overlap":
        t = t.copy(); t[0, 0, 0, 0] = 1
    elif bad == "nm":
        mask[0, 0, 0, 1] = True; t = t.copy(); t[0, 0, 0, 1] = 0
    elif bad == "block":
        mask[0, 1, 1, 4] = False
    elif bad == "not_ternary":
        ternary = False
    sp2 = SparseOutliers(np.where(mask, sp.values, 0), sp.dense_scale, sp.structure, mask)
    node = Conv2d("c", "x", "y", t, _rq(4), padding=(1, 1, 1, 1), weight_bits=2, ternary=ternary, sparse=sp2)
    with pytest.raises(MixqError, match=msg):
        verify(_graph(node, (5, 5, 8), (5, 5, 4)))
