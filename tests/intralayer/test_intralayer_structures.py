"""Outlier mask builders: every structure's constraint, density, determinism, IR verifier."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixq.errors import MixqError
from mixq.intralayer.structures import (STRUCTURES, build_mask, from_ir_layout, max_density,
                                        to_ir_layout)
from mixq.ir.graph import Conv2d, Graph, Requant, SparseOutliers, TensorType, parse_nm
from mixq.ir.verify import verify
from mixq.quant.integer import icn_bias, quantize_multipliers


def _verify_mask(mask: np.ndarray, structure: str) -> None:
    """Run the IR verifier on a conv carrying this mask (raises on a structure violation)."""
    c_out, kh, kw, c_in = mask.shape
    m, s = quantize_multipliers(np.full(c_out, 1e-3))
    node = Conv2d("c", "x", "y", np.zeros(mask.shape, np.int8),
                  Requant(icn_bias(np.zeros(c_out), m, s), m, s, 0, 255),
                  weight_bits=2, ternary=True,
                  sparse=SparseOutliers(np.where(mask, 3, 0), np.ones(c_out), structure, mask))
    tensors = (("x", TensorType((kh, kw, c_in), 8, False, 1.0)),
               ("y", TensorType((1, 1, c_out), 8, False, 1.0)))
    verify(Graph("g", tensors, (node,), ("x",), ("y",)))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(STRUCTURES), st.integers(1, 6), st.sampled_from([1, 3]),
       st.integers(1, 20), st.sampled_from([0.0, 0.0025, 0.01, 0.05, 0.1, 0.25]),
       st.integers(0, 2**16))
def test_masks_follow_their_structure(structure, c_out, k, c_in, density, seed):
    density = min(density, max_density(structure))
    scores = np.random.default_rng(seed).random((c_out, k, k, c_in))
    mask = build_mask(scores, structure, density)
    assert mask.shape == scores.shape and mask.dtype == bool
    np.testing.assert_array_equal(mask, build_mask(scores, structure, density))  # deterministic
    _verify_mask(mask, structure)
    if density == 0.0:
        assert not mask.any()
    target = round(density * scores.size)
    if structure == "unstructured":
        assert mask.sum() == target
        if 0 < target < scores.size:  # the highest scores are chosen
            assert scores[mask].min() >= scores[~mask].max()
    elif structure == "row":
        per_row = mask.reshape(c_out, -1).sum(axis=1)
        assert (per_row == round(density * scores.size / c_out)).all()
    elif parse_nm(structure):
        assert mask.sum() <= target
    else:  # block1x4: whole aligned blocks, count as close as possible to the target
        assert abs(int(mask.sum()) - target) <= 4


def test_nm_prefers_the_best_of_each_group():
    s = np.array([[9.0, 8, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]])
    assert np.flatnonzero(build_mask(s, "1:8", 0.125)).tolist() == [0, 8]
    assert np.flatnonzero(build_mask(s, "2:8", 0.125)).tolist() == [0, 1]


def test_errors_and_caps():
    with pytest.raises(MixqError, match="not one of"):
        build_mask(np.ones((2, 8)), "3:4", 0.1)
    with pytest.raises(MixqError, match=r"in \[0, 1\]"):
        build_mask(np.ones((2, 8)), "row", 1.5)
    # N:M caps the density at N/M even when more is asked
    assert build_mask(np.ones((2, 16)), "1:16", 0.5).sum() == 2


def test_layouts_roundtrip():
    w = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    assert to_ir_layout(w).shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(from_ir_layout(to_ir_layout(w)), w)
    fc = np.arange(24).reshape(2, 12)
    np.testing.assert_array_equal(from_ir_layout(to_ir_layout(fc, (3, 2, 2)), (3, 2, 2)), fc)
