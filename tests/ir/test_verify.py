"""IR verifier and graph files: every broken graph is refused with a message naming the node."""

import numpy as np
import pytest

from mixq.errors import MixqError
from mixq.ir.graph import AvgPool, Conv2d, FullyConnected, Graph, Requant, TensorType
from mixq.ir.serialize import load_graph, save_graph
from mixq.ir.verify import IRError, accumulator_bound, verify
from mixq.quant.integer import icn_bias, quantize_multipliers


def _rq(c, lo=0, hi=255, real=0.01):
    m, s = quantize_multipliers(np.full(c, real))
    return Requant(icn_bias(np.zeros(c), m, s), m, s, lo, hi)


def _conv_graph(weight, x_shape=(6, 6, 4), y_shape=(6, 6, 3), bits=8, rq=None, padding=(1, 1, 1, 1),
                x_bits=8):
    tensors = (("x", TensorType(x_shape, 8, False, 1 / 255)), ("y", TensorType(y_shape, bits, False, 0.1)))
    node = Conv2d("c", "x", "y", weight, rq or _rq(weight.shape[0]), padding=padding, weight_bits=bits)
    return Graph("g", tensors, (node,), ("x",), ("y",))


def test_valid_graph_passes():
    verify(_conv_graph(np.ones((3, 3, 3, 4), np.int8)))


def test_weight_codes_outside_bits():
    with pytest.raises(IRError, match="node 'c': weight codes outside \\[-8, 7\\]"):
        verify(_conv_graph(np.full((3, 3, 3, 4), 9, np.int8), bits=4))


def test_wrong_output_shape():
    with pytest.raises(IRError, match="output shape"):
        verify(_conv_graph(np.ones((3, 3, 3, 4), np.int8), y_shape=(5, 5, 3)))


def test_clamp_outside_output_range():
    with pytest.raises(IRError, match="clamp"):
        verify(_conv_graph(np.ones((3, 3, 3, 4), np.int8), bits=4, rq=_rq(3, 0, 255)))


def test_static_int32_overflow_bound():
    # fan-in 70,000 * 255 * 128 > 2^31: refused before anything runs.
    c_in = 70_000
    tensors = (("x", TensorType((c_in,), 8, False, 1.0)), ("y", TensorType((2,), 8, True, 1.0)))
    node = FullyConnected("fc", "x", "y", np.zeros((2, c_in), np.int8), _rq(2, -128, 127))
    with pytest.raises(IRError, match="node 'fc': the accumulator may reach"):
        verify(Graph("g", tensors, (node,), ("x",), ("y",)))
    assert accumulator_bound(c_in, 8, False, 8, False) == c_in * 255 * 128


def test_read_before_write_and_double_write():
    t = TensorType((4, 4, 2), 8, False, 1.0)
    pool_t = TensorType((1, 1, 2), 8, False, 1.0)
    tensors = (("x", t), ("p", pool_t))
    with pytest.raises(IRError, match="reads 'q' before it is written"):
        verify(Graph("g", tensors + (("q", pool_t),), (AvgPool("a", "q", "p"),), ("x",), ("p",)))
    with pytest.raises(IRError, match="writes 'p' a second time"):
        verify(Graph("g", tensors, (AvgPool("a", "x", "p"), AvgPool("b", "x", "p")), ("x",), ("p",)))


def test_load_missing_and_corrupt(tmp_path):
    with pytest.raises(MixqError, match="not found"):
        load_graph(tmp_path / "nothing")
    g = _conv_graph(np.ones((3, 3, 3, 4), np.int8))
    save_graph(g, tmp_path / "g")
    (tmp_path / "g" / "graph.npz").write_bytes(b"garbage")
    with pytest.raises(MixqError, match="corrupt graph files"):
        load_graph(tmp_path / "g")
    assert not list((tmp_path / "g").glob("*.tmp"))
