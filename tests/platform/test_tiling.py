"""The L1 tiler (mixq.platform.tiling): every tiling fits L1 and covers the output once."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixq.errors import MixqError
from mixq.platform.tiling import LayerGeometry, choose_tiling, tile_bytes, tiled_cycles

L1 = 65_536 - 12_288  # pulp-open(-nn) / gap8 usable L1

BITS = st.tuples(*[st.sampled_from([8, 4, 2])] * 3)


@st.composite
def layers(draw):
    kind = draw(st.sampled_from(["conv", "dw", "pw", "fc", "pool", "gpool", "add"]))
    h, w = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    c_in, c_out = draw(st.integers(1, 160)), draw(st.integers(1, 160))
    k, s = draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 2]))
    wb, ib, ob = draw(BITS)
    ho, wo = -(-h // s), -(-w // s)
    if kind == "fc":
        return LayerGeometry("fc", (1, 1, c_in * draw(st.integers(1, 32))), (1, 1, c_out),
                             w_bits=wb, in_bits=ib, out_bits=ob)
    if kind == "gpool":
        return LayerGeometry("pool", (h, w, c_out), (1, 1, c_out), (h, w), 8, ib, ob)
    if kind == "add":
        return LayerGeometry("add", (h, w, c_out), (h, w, c_out), in_bits=ib, out_bits=ob,
                             inputs=2)
    if kind == "pw":
        return LayerGeometry("pw", (h, w, c_in), (ho, wo, c_out), (1, 1), wb, ib, ob, stride=s)
    per_channel = kind in ("dw", "pool")
    return LayerGeometry(kind, (h, w, c_out if per_channel else c_in), (ho, wo, c_out),
                         (k, k), 8 if kind == "pool" else wb, ib, ob, stride=s)


@given(layers(), st.integers(0, 24_000), st.sampled_from([0, 0, 96, 1200]))
@settings(max_examples=300, deadline=None)
def test_every_tiling_fits_l1_and_covers_the_output_once(g, scratch, per_row):
    try:
        t = choose_tiling(g, L1, scratch, scratch_row_bytes=per_row)
    except MixqError as e:  # only when the smallest tile does not fit once
        assert "\n" not in str(e) and "cannot be tiled into L1" in str(e)
        assert sum(tile_bytes(g, 1, min(4, g.out_hwc[2]))) + scratch > L1
        return
    assert t.l1_bytes <= L1
    buffers = 2 if t.double_buffered else 1
    assert buffers * (t.in_bytes + t.weight_bytes + t.out_bytes) + scratch + \
        per_row * (t.h - 1) == t.l1_bytes
    assert (t.in_bytes, t.weight_bytes, t.out_bytes) == tile_bytes(g, t.h, t.c)
    assert t.c == g.out_hwc[2] or t.c % 4 == 0
    covered = np.zeros((t.rows, t.channels), dtype=int)
    for (r0, r1), (c0, c1) in t.ranges():
        assert r1 - r0 <= t.h and c1 - c0 <= t.c
        covered[r0:r1, c0:c1] += 1
    assert (covered == 1).all() and len(list(t.ranges())) == t.tiles
    r = tiled_cycles(t, 1000.0 * t.tiles, 8.0, 100)
    assert r.cycles >= 1000 * t.tiles and r.dma_cycles >= t.transfers * 100


def test_whole_channel_tiles_first_and_halo_rows():
    g = LayerGeometry("conv", (32, 32, 32), (32, 32, 64), (3, 3))
    t = choose_tiling(g, L1, 8 * 2 * 288)
    assert t.c == 64 and t.tiles > 1 and t.double_buffered
    assert t.in_bytes == (t.h + 2) * 32 * 32  # two halo rows


def test_weights_too_large_split_channels():
    g = LayerGeometry("pw", (4, 4, 512), (4, 4, 512))  # 256 kB of weights
    t = choose_tiling(g, L1)
    assert t.c < 512 and t.l1_bytes <= L1 and t.load_bytes >= 512 * 512


def test_untileable_layer_is_a_one_line_error():
    g = LayerGeometry("conv", (4, 4096, 64), (4, 4096, 64), (3, 3))
    with pytest.raises(MixqError, match=r"layer 'big' \(conv .*cannot be tiled into L1"):
        choose_tiling(g, L1, name="big")
