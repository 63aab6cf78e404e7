"""The cluster model over the executed Xpulp programs (mixq.deploy.cluster_timing): TCDM bank
conflicts, L1 tiling and double-buffered DMA in deploy.json's ``cluster`` entry."""

from collections import Counter

import pytest

from mixq.deploy.cluster_timing import layer_cycles, tcdm_stalls
from mixq.deploy.deploy import deploy, deploy_summary
from mixq.deploy.xpulp_timing import FORK_JOIN_CYCLES, LayerTiming
from mixq.platform.spec import get_platform
from mixq.platform.tiling import LayerGeometry

from deploy_graphs import small_graph

CLUSTER = get_platform("pulp-open-nn").cluster


@pytest.mark.cross
def test_deploy_json_cluster_entry_from_the_executed_programs(tmp_path):
    result = deploy(small_graph(), tmp_path, get_platform("pulp-open-nn"), emulate=1,
                    host_check=False)
    r, c = result.to_json(), result.cluster
    assert "cluster ~" in deploy_summary(result) and "cycles (model," in deploy_summary(result)
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


def test_report_names_the_cluster_model_on_the_xpulp_cores():
    from mixq.report.render import render_markdown

    row = {"name": "m", "top1_float": 0.9, "top1_fakequant": 0.9, "top1_integer": 0.9,
           "flash_bytes": 1, "ram_peak_bytes": 1, "macs": 1, "fits": True,
           "integer_mismatches": 0, "bitexact": True, "emulated_samples": 1,
           "deployed_flash_bytes": 1, "arena_bytes": 1, "arena_lower_bound_bytes": 1,
           "instructions": 1, "est_cycles": 1, "est_latency_ms": 0.1, "clock_hz": 250e6,
           "target": "pulp-open-nn", "cpu": "ri5cy-xpulpnn", "est_cluster_latency_ms": 0.01,
           "est_cluster_cycles": 1, "cluster_clock_hz": 250e6, "cluster_cores": 8}
    md = render_markdown({"budget": {"flash_bytes": 1, "ram_bytes": 1}, "models": [row]})
    assert "emulated RI5CY core (Xpulp)" in md and "mixq.deploy.cluster_timing" in md


def test_weights_streamed_from_l3_bound_the_layer():
    g = LayerGeometry("fc", (1, 1, 1024), (1, 1, 1000))  # 1 MB of weights: not in L2
    timing = LayerTiming(0, Counter(), 0, 0, 8, serial_cycles=0, core_cycles=(10_000,) * 8,
                         core_memory=(4_000,) * 8)
    in_l2 = layer_cycles(g, timing, CLUSTER, 0)
    streamed = layer_cycles(g, timing, CLUSTER, 0, weights_in_l3=True)
    assert in_l2["l3_cycles"] == 0 and streamed["l3_cycles"] == 1024 * 1000 * 2
    assert streamed["cycles"] > streamed["l3_cycles"] > in_l2["cycles"]


def test_depthwise_plane_scratch_follows_the_tile_rows():
    # 96x96x4 dw3x3: its whole-layer plane scratch (8 x 98 rows x 100 B) alone overflows L1;
    # sized for the tile's rows it tiles
    from mixq.codegen.synth import GraphBuilder
    from mixq.deploy.cluster import geometries_from_graph
    from mixq.deploy.cluster_timing import layer_scratch

    b = GraphBuilder((96, 96, 4), seed=0)
    graph = b.build(b.dw(b.input, kernel=3))
    layer = {"name": graph.nodes[0].name, "function": "mixq_pulp_dwconv_l8"}
    one, per_row = layer_scratch(graph, layer)
    assert per_row == 8 * 100 and one + per_row * 95 > CLUSTER.l1_usable_bytes
    g = geometries_from_graph(graph)[0][1]
    timing = LayerTiming(0, Counter(), 0, 0, 8, core_cycles=(10_000,) * 8,
                         core_memory=(4_000,) * 8)
    r = layer_cycles(g, timing, CLUSTER, one, scratch_row_bytes=per_row)
    assert r["tiles"] > 1 and r["l1_bytes"] <= CLUSTER.l1_usable_bytes
