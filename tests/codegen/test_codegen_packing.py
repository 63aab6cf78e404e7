"""Packed sub-byte layout: round trips and the reference weight layouts."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mixq.codegen.kernels_ref import pack_dw_weights, pack_fc_weights
from mixq.codegen.packing import pack_codes, row_bytes, unpack_codes
from mixq.codegen.synth import GraphBuilder
from mixq.quant.integer import qrange


@given(st.sampled_from([2, 4, 8]), st.booleans(), st.data())
@settings(max_examples=60, deadline=None)
def test_round_trip(bits, signed, data):
    lo, hi = qrange(bits, signed)
    codes = data.draw(hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=9),
                                 elements=st.integers(lo, hi)))
    packed = pack_codes(codes, bits)
    assert packed.dtype == np.uint8
    assert packed.shape == codes.shape[:-1] + (row_bytes(codes.shape[-1], bits),)
    np.testing.assert_array_equal(unpack_codes(packed, bits, signed, codes.shape[-1]), codes)


def test_lowest_channel_in_lowest_bits_and_zero_padding():
    assert pack_codes(np.array([1, 2, 3]), 4).tolist() == [0x21, 0x03]
    assert pack_codes(np.array([3, 0, 1, 2, 1]), 2).tolist() == [0b10010011, 0b01]
    assert pack_codes(np.array([-8, 7]), 4).tolist() == [0x78]


def test_reference_weight_layouts():
    b = GraphBuilder((3, 2, 5), seed=0)
    y = b.dw(b.input, kernel=3, weight="s4")
    g = b.build(b.fc(y, 4, weight="s2"))
    dw, fc = g.nodes
    # dw: (KH, KW) rows of C codes -> 9 rows of 3 bytes (5 s4 codes)
    packed = pack_dw_weights(dw, g).reshape(3, 3, 3)
    np.testing.assert_array_equal(unpack_codes(packed, 4, True, 5),
                                  dw.weight[..., 0].transpose(1, 2, 0))
    # fc: (C_out, pixels) rows of C codes -> 4 x 6 rows of 2 bytes (5 s2 codes)
    packed = pack_fc_weights(fc, g).reshape(4, 6, 2)
    np.testing.assert_array_equal(unpack_codes(packed, 2, True, 5).reshape(4, -1), fc.weight)
