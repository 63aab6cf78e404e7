"""Memory-driven allocation on MobileNetV1, derived by hand, and the issue's CLI example."""

import json

import pytest

from mixq.models import mobilenet_v1
from mixq.search.memory import MemoryBudget, flash_bytes, layer_shapes, ram_peak_bytes
from mixq.search.memory_driven import BudgetError, allocate_bits, allocate_for_model


@pytest.fixture(scope="module")
def mbv1_025_128():
    return layer_shapes(mobilenet_v1(0.25, 128, 1000))


def test_mobilenet_025_128_by_hand(mbv1_025_128):
    """MobileNetV1 0.25/128/1000, MixPC, RAM 64,000 bytes, flash 240,000 bytes, delta 0.05.

    Activation elements (8 bits = 1 byte each): input 128x128x3 = 49,152; conv0 64x64x8 =
    32,768; dw1 32,768; pw1 64x64x16 = 65,536; dw2 32x32x16 = 16,384; pw2 32,768; dw3 32,768;
    pw3 32,768; dw4 16x16x32 = 8,192; later layers are smaller (pw4 in+out 24,576 at most).

    Sweep 1, forward:
      conv0: 49,152 + 32,768 = 81,920 > 64,000; the input is never cut -> out 4: 65,536 > 64,000
             -> out 2: 49,152 + 8,192 = 57,344 ok.
      dw1:   8,192 + 32,768 ok.
      pw1:   32,768 + 65,536 = 98,304; equal bits, output larger -> out 4: 32,768 + 32,768 =
             65,536 > 64,000; now the input has more bits -> defer pw1.
      dw2:   32,768 (4 bit) + 16,384 ok.    pw2: 16,384 + 32,768 ok.
      dw3:   32,768 + 32,768 = 65,536; exact tie -> out 4: 32,768 + 16,384 = 49,152 ok.
      pw3:   16,384 + 32,768 ok; the rest fits.
    Sweep 2, backward: everything down to pw1 fits; pw1 cuts its input (dw1's output) to 4:
      16,384 + 32,768 = 49,152 ok; dw1 8,192 + 16,384 and conv0 57,344 ok. Nothing deferred.
    Peak RAM: conv0's 57,344.

    Weights (bytes at 8 bits): conv0 216, dw1 72, pw1 128, dw2 144, pw2 512, dw3 288, pw3 1,024,
    dw4 288, pw4 2,048, dw5 576, pw5 4,096, dw6 576, pw6 8,192, dw7..11 1,152 each, pw7..11
    16,384 each, dw12 1,152, pw12 32,768, dw13 2,304, pw13 65,536, fc 256,000: 463,600 in all.
    Overhead: 27 non-last layers with 2,736 output channels: 10 * 2,736 + 8 * 27 = 27,576; fc
    7 * 1,000 + 4 = 7,004; 34,580 in all. Flash at 8 bits: 498,180 > 240,000.
      1: fc 256,000 / 463,600 = .552 is r_max, alone above .502 -> fc 4: 128,000; 370,180.
      2: fc 128,000 / 335,600 = .381 (pw13 .195) -> fc 2: 64,000; flash 306,180.
      3: fc is at 2 bits; pw13 65,536 / 271,600 = .241 (pw12 .121) -> pw13 4: 273,412.
      4: pw12 and pw13 both 32,768 / 238,832 = .137 (pw7..11 .069 < .087) -> lowest index pw12
         -> 4: 16,384; flash 257,028.
      5: pw13 32,768 / 222,448 = .147; pw7..12 .074 < .097 -> pw13 2: 16,384; flash 240,644.
      6: pw7..12 16,384 / 206,064 = .0795 is r_max; threshold .0295: pw6 8,192 / 206,064 =
         .0398 qualifies and has the lowest index -> pw6 4: 4,096; flash 236,548 <= 240,000.
    """
    shapes = mbv1_025_128
    trace = []
    alloc = allocate_bits(shapes, MemoryBudget(240_000, 64_000), "per-channel", 0.05, trace)
    assert [str(s) for s in trace] == [
        "1F cut conv0.out 4", "1F cut conv0.out 2", "1F cut pw1.out 4", "1F defer pw1",
        "1F cut dw3.out 4", "2B cut pw1.in 4",
        "W cut fc.w 4", "W cut fc.w 2", "W cut pw13.w 4", "W cut pw12.w 4", "W cut pw13.w 2",
        "W cut pw6.w 4"]
    bits = {l.name: (l.w_bits, l.in_bits, l.out_bits) for l in alloc.layers}
    assert bits["conv0"] == (8, 8, 2) and bits["dw1"] == (8, 2, 4) and bits["pw1"] == (8, 4, 4)
    assert bits["dw2"] == (8, 4, 8) and bits["dw3"] == (8, 8, 4) and bits["pw3"] == (8, 4, 8)
    assert bits["pw6"] == (4, 8, 8) and bits["pw12"] == (4, 8, 8) and bits["pw13"] == (2, 8, 8)
    assert bits["fc"] == (2, 8, 8)
    changed = {"conv0", "dw1", "pw1", "dw2", "dw3", "pw3", "pw6", "pw12", "pw13", "fc"}
    assert all(v == (8, 8, 8) for k, v in bits.items() if k not in changed)
    assert ram_peak_bytes(shapes, alloc) == 57_344
    assert flash_bytes(shapes, alloc) == 236_548


def test_mobilenet_025_128_ram_too_small(mbv1_025_128):
    # conv0 reads the 49,152-byte 8-bit input; with its output at 2 bits it needs 57,344.
    with pytest.raises(BudgetError, match="RAM budget 57343 bytes .* layer 'conv0' still needs "
                                          "57344 bytes"):
        allocate_bits(mbv1_025_128, MemoryBudget(240_000, 57_343))


def test_mobilenet_025_128_flash_too_small(mbv1_025_128):
    # All weights at 2 bits: ceil(463,600 / 4) = 115,900 + overhead 34,580 = 150,480 bytes;
    # fc alone 64,000 + 7,004.
    with pytest.raises(BudgetError, match="flash budget 150000 bytes .* still needs 150480 "
                                          "bytes, layer 'fc' alone 71004"):
        allocate_bits(mbv1_025_128, MemoryBudget(150_000, 64_000))


@pytest.mark.parametrize("granularity", ["per-channel", "per-layer"])
def test_issue_example_075_224_fits_2mb_512kb(granularity):
    # mixq allocate --model mobilenet_v1 --width 0.75 --resolution 224 --num-classes 1000
    #   --flash 2048000 --ram 512000: the paper's MixPC 0.75_224 fits with 8/4-bit tensors.
    result = allocate_for_model("mobilenet_v1", 0.75, 224, 1000, 2_048_000, 512_000,
                                granularity, 0.05)
    json.dumps(result)  # plain JSON types only
    layers = result["layers"]
    assert len(layers) == 28 and layers[0]["name"] == "conv0" and layers[-1]["kind"] == "fc"
    assert result["flash_bytes"] <= 2_048_000 and result["ram_peak_bytes"] <= 512_000
    assert layers[0]["in_bits"] == 8 and layers[-1]["out_bits"] == 8
    bits = [b for l in layers for b in (l["w_bits"], l["in_bits"], l["out_bits"])]
    assert set(bits) <= {8, 4} and bits.count(8) > bits.count(4)
    # The 8-bit 0.75/224 net needs 112x112x24 + 112x112x48 = 903,168 bytes at pw1 and ~2.6 MB of
    # weights: the early activations and the largest weight layers (fc, pw13) drop to 4 bits.
    by_name = {l["name"]: l for l in layers}
    assert by_name["pw1"]["out_bits"] == 4 and by_name["fc"]["w_bits"] == 4
    assert by_name["pw13"]["w_bits"] == 4
