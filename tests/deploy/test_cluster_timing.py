"""The cluster model over the executed Xpulp programs (mixq.deploy.cluster_timing): TCDM bank
conflicts, L1 tiling and double-buffered DMA in deploy.json's ``cluster`` entry."""

from collections import Counter

import pytest

from mixq.deploy.cluster_timing import layer_cycles, tcdm_stalls
from mixq.deploy.xpulp_timing import FORK_JOIN_CYCLES, LayerTiming
from mixq.platform.spec import get_platform
from mixq.platform.tiling import LayerGeometry

from deploy_graphs import deploy_json, small_graph

CLUSTER = get_platform("pulp-open-nn").cluster


@pytest.mark.cross
def test_deploy_json_cluster_entry_from_the_executed_programs(tmp_path):
    r = deploy_json(small_graph(), tmp_path, target="pulp-open-nn", emulate=1,
                    host_check=False)
    c = r["cluster"]
    assert r["bitexact"] and c["note"].startswith("model:") and c["tcdm_banks"] == 16
    assert c["est_cycles"] == sum(layer["est_cycles"] for layer in c["layers"])
    assert r["cluster_model_cycles"] >= c["est_cycles"]
    for layer, row in zip(r["layers"], c["layers"]):
        assert layer["name"] == row["name"] and layer["cluster_cycles"] == row["est_cycles"]
        assert row["tiles"] >= 1 and row["l1_bytes"] <= CLUSTER.l1_usable_bytes
        assert row["est_cycles"] >= row["compute_cycles"] and row["dma_cycles"] > 0
        if row["tiles"] == 1:  # nothing overlaps: load, compute, store
            assert row["est_cycles"] - row["compute_cycles"] in (row["dma_cycles"],
                                                                 row["dma_cycles"] + 1)
    split = [row for layer, row in zip(r["layers"], c["layers"])
             if layer["kernel"].startswith("mixq_pulp_conv")]
    assert split and all(row["tcdm_stall_cycles"] > 0 for row in split)

def test_tcdm_stalls_grow_with_cores_and_access_rate():
    one = tcdm_stalls([1000] * 2, [400] * 2, 16)[0]
    eight = tcdm_stalls([1000] * 8, [400] * 8, 16)[0]
    busy = tcdm_stalls([1000] * 8, [800] * 8, 16)[0]
    assert 0 < one < eight < busy
    assert tcdm_stalls([1000] * 8, [400] * 8, 32)[0] < eight  # more banks, fewer conflicts


def test_large_layer_tiles_hide_dma_under_compute():
    # 112x112x32 -> 64 pointwise: ~56 double-buffered tiles; compute from 8 equal programs
    g = LayerGeometry("pw", (112, 112, 32), (112, 112, 64))
    timing = LayerTiming(0, Counter(), 0, 0, 8, serial_cycles=100,
                         core_cycles=(3_000_000,) * 8, core_memory=(1_200_000,) * 8)
    r = layer_cycles(g, timing, CLUSTER, 8 * 512)
    assert r["tiles"] > 8 and r["double_buffered"] and r["l1_bytes"] <= CLUSTER.l1_usable_bytes
    assert r["compute_cycles"] == 100 + 3_000_000 + r["tcdm_stall_cycles"] + \
        FORK_JOIN_CYCLES * r["tiles"]
    assert r["exposed_dma_cycles"] < r["dma_cycles"] / 10  # mostly hidden
    assert r["cycles"] == r["compute_cycles"] + r["exposed_dma_cycles"]
