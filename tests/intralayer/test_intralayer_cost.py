"""Effective bits per weight against a hand computation (deployed sparse formats)."""

import numpy as np
import pytest

from mixq.intralayer.cost import (dense_sparse_cost, effective_bits_per_weight, index_bits,
                                  uniform_cost)


def test_effective_bits_match_a_hand_computation():
    # A pointwise layer, 8 output channels x 32 input channels (256 weights), 2:8 outliers:
    # channel 0 has 2 outliers in lanes 0..7, channel 5 has 1 in lanes 24..31 -> 3 outliers.
    mask = np.zeros((8, 1, 1, 32), bool)
    mask[0, 0, 0, [1, 6]] = True
    mask[5, 0, 0, 30] = True
    c = dense_sparse_cost("pw", mask, "2:8", scales=8)
    # values: 256 ternary codes x 2 bits + 3 outliers x 8 bits = 536
    # scales: 8 channels x (16-bit alpha + 8-bit k) = 192
    # indices, counted N:M form: 32 groups x bit_length(2) = 2 count bits -> 64,
    #   + 3 outliers x log2(8) = 3 in-group index bits -> 9; total 73
    #   (the fixed-slot form would take 32 x 2 x 3 + 8 x (64 - 3) = 680 bits)
    assert (c.value_bits, c.scale_bits, c.index_bits) == (536, 192, 73)
    # An 8-bit first layer: 3x3x1 conv with 4 channels: 36 x 8 + 4 x 16 = 352 bits.
    first = uniform_cost("conv0", 36, 8, 4)
    assert first.total_bits == 352
    assert effective_bits_per_weight([first, c]) == pytest.approx((352 + 536 + 192 + 73) / 292)
    assert c.bits_per_weight == pytest.approx((536 + 192 + 73) / 256)


@pytest.mark.parametrize("structure, expected", [
    # 3 outliers in a (8, 1, 1, 32) layer: rows of K = 32 positions
    ("unstructured", 8 * 8 + 3 * 8),          # uint8 count per row + uint8 column per outlier
    ("row", 3 * 8),                           # the count is in the header; uint8 columns
    ("1:16", 16 * 1 + 3 * 4),                 # 16 groups x 1 count bit + 3 x log2(16)
    ("1:8", 32 * 1 + 3 * 3),
])
def test_index_bits_per_structure(structure, expected):
    mask = np.zeros((8, 1, 1, 32), bool)
    mask[0, 0, 0, 1] = mask[3, 0, 0, 17] = mask[5, 0, 0, 30] = True
    assert index_bits(mask, structure) == expected


def test_block_index_counts_padding_lanes():
    mask = np.zeros((4, 1, 1, 10), bool)  # 3 blocks per row (the last one 2 lanes)
    mask[1, 0, 0, 4:8] = True
    mask[2, 0, 0, 8:10] = True
    # uint8 block count per row (4 x 8) + uint8 block index per block (2 x 8)
    # + 2 padding lanes of the short block stored as int8 zeros (2 x 8)
    assert index_bits(mask, "block1x4") == 32 + 16 + 16
    assert dense_sparse_cost("dw", np.zeros((16, 3, 3, 1), bool), "1:8", 16).index_bits == 0


def test_density_zero_costs_like_a_ternary_layer():
    empty = dense_sparse_cost("pw", np.zeros((8, 32), bool), "unstructured", scales=8)
    assert empty.total_bits == uniform_cost("pw", 256, 2, 8).total_bits
