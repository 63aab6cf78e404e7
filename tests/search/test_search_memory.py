"""Memory model: packed sizes, the paper's per-layer overheads, shapes from hooks, totals."""

import pytest

from mixq.errors import MixqError
from mixq.models import get_model, mobilenet_v1
from mixq.quant.spec import BitAllocation, LayerBits
from mixq.search.memory import (LayerShape, MemoryBudget, activation_bytes, flash_bytes,
                                layer_flash_bytes, layer_shapes, overhead_bytes, ram_peak_bytes,
                                weight_bytes)


def test_packed_sizes_round_up():
    s = LayerShape("l", "conv", (3, 3, 1), (3, 3, 1), 9, 1, 81)
    assert [weight_bytes(s, b) for b in (8, 4, 2)] == [9, 5, 3]      # 9, 4.5, 2.25 bytes
    assert [activation_bytes((1, 1, 5), b) for b in (8, 4, 2)] == [5, 3, 2]


def test_overheads_are_the_papers():
    c = 64
    assert overhead_bytes(c, "PL+FB") == 4 * c + 20
    assert overhead_bytes(c, "PL+ICN") == 9 * c + 12
    assert overhead_bytes(c, "PC+ICN") == 10 * c + 8
    assert overhead_bytes(c, "PC+ICN", last=True) == 7 * c + 4
    assert overhead_bytes(c, "PL+FB", last=True) == overhead_bytes(c, "PL+ICN", last=True) == 4 * c + 20
    with pytest.raises(MixqError, match="scheme"):
        overhead_bytes(c, "PX")


def test_layer_flash_adds_weights_and_overhead():
    s = LayerShape("pw", "pw", (4, 4, 8), (4, 4, 16), 128, 16, 2048)
    assert layer_flash_bytes(s, LayerBits("pw", "pw", 4, 8, 8, "PL+ICN")) == 64 + 9 * 16 + 12


def test_layer_shapes_match_tf_slim_params_and_macs():
    # TF-slim mobilenet_v1.py tables: body params / MACs 3,185,088 / 567,716,352 (1.0, 224) and
    # 1,800,144 / 106,002,432 (0.75, 128); the FC adds C * classes weights and MACs.
    for width, res, params, macs in ((1.0, 224, 3_185_088, 567_716_352),
                                     (0.75, 128, 1_800_144, 106_002_432)):
        shapes = layer_shapes(mobilenet_v1(width, res, 1000))
        body = shapes[:-1]
        assert sum(s.weight_count for s in body) == params
        assert sum(s.macs for s in body) == macs
        assert shapes[-1].macs == shapes[-1].weight_count == shapes[-1].in_shape[2] * 1000


def test_layer_shapes_are_hwc_and_fc_input_is_flattened():
    shapes = layer_shapes(get_model("ds_cnn"))
    assert shapes[0].in_shape == (49, 10, 1) and shapes[0].out_shape == (25, 5, 64)
    assert shapes[0].weight_count == 10 * 4 * 64 and shapes[0].macs == 25 * 5 * 64 * 40
    assert shapes[1].kind == "dw" and shapes[1].weight_count == 9 * 64
    assert shapes[1].macs == 25 * 5 * 64 * 9
    assert shapes[-1].in_shape == (1, 1, 64) and shapes[-1].out_shape == (1, 1, 12)
    assert shapes[-1].out_channels == 12 and shapes[-1].weight_count == 768   # bias excluded
    assert layer_shapes(get_model("ds_cnn"), input_shape=(1, 98, 10))[0].out_shape == (49, 5, 64)


def test_mobilenet_8bit_totals_by_hand():
    shapes = layer_shapes(mobilenet_v1(1.0, 224, 1000))
    alloc = BitAllocation.uniform([(s.name, s.kind) for s in shapes], 8)
    # weights 4,209,088 bytes; MixPC overhead: 27 non-last layers with 10,944 output channels
    # in all (the BN channel count) -> 10 * 10,944 + 8 * 27; the FC: 7 * 1000 + 4.
    assert flash_bytes(shapes, alloc) == 4_209_088 + 109_440 + 216 + 7_004
    # peak: pw1 reads 112x112x32 and writes 112x112x64 at 8 bits = 401,408 + 802,816.
    assert ram_peak_bytes(shapes, alloc) == 1_204_224
    pl = BitAllocation.uniform([(s.name, s.kind) for s in shapes], 8, granularity="per-layer")
    # MixPL at 8 bits: PL+FB everywhere, 4C + 20 (the last layer too).
    assert flash_bytes(shapes, pl) == 4_209_088 + 4 * 10_944 + 20 * 27 + 4 * 1000 + 20


def test_network_input_counts_at_8_bits():
    s = (LayerShape("c", "conv", (10, 10, 1), (10, 10, 2), 18, 2, 1800),
         LayerShape("f", "fc", (1, 1, 2), (1, 1, 3), 6, 3, 6))
    alloc = BitAllocation.uniform([("c", "conv"), ("f", "fc")], 2)
    assert ram_peak_bytes(s, alloc) == 100 + 50   # input 100 x 8 bit + output 200 x 2 bit


def test_allocation_must_match_layers():
    s = (LayerShape("c", "conv", (4, 4, 1), (4, 4, 2), 18, 2, 288),)
    with pytest.raises(MixqError, match="do not match"):
        flash_bytes(s, BitAllocation.uniform([("x", "conv")], 8))


@pytest.mark.parametrize("flash, ram", [(0, 10), (10, -1), (1.5, 10), (True, 10)])
def test_budget_must_be_positive_integers(flash, ram):
    with pytest.raises(MixqError, match="memory budget"):
        MemoryBudget(flash, ram)
