"""The demo's models on the PULP targets: RV32IMC bit-exact, cluster latency in the report.

The three quantized demo models (uniform 8-bit, memory-driven mixed precision under the demo's
default budget, the narrower 8-bit model that fits it) are built as ``mixq demo`` builds them
but without training (calibration only): bit-exactness does not depend on the weights' values.
"""

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mixq.data import load_dataset
from mixq.ir.capture import input_codes, integerize
from mixq.models import get_model
from mixq.nn import prepare
from mixq.quant.spec import BitAllocation
from mixq.pipeline import DemoConfig, default_budget
from mixq.report.render import render_markdown, render_plot
from mixq.search.memory import flash_bytes, layer_shapes, ram_peak_bytes
from mixq.search.memory_driven import allocate_bits

from deploy_graphs import deploy_json

pytestmark = pytest.mark.cross


@pytest.fixture(scope="module")
def demo_graphs():
    data = load_dataset("digits")
    torch.manual_seed(0)
    net = get_model("demo_net")
    shapes = layer_shapes(net)
    layers = [(s.name, s.kind) for s in shapes]
    # the demo's budget rule over the 8-bit model's memory-model figures (no linked build here),
    # its weights' bytes halved so that the mixed model has sub-byte weights
    int8 = BitAllocation.uniform(layers, 8)
    budget = default_budget(shapes, DemoConfig(flash_fraction=0.5), SimpleNamespace(
        flash_bytes=flash_bytes(shapes, int8), ram_bytes=ram_peak_bytes(shapes, int8)))
    narrow = get_model("demo_net", width=0.5)
    allocs = {"int8": (net, BitAllocation.uniform(layers, 8)),
              "mixed": (net, allocate_bits(shapes, budget)),
              "int8-fit": (narrow, BitAllocation.uniform(
                  [(s.name, s.kind) for s in layer_shapes(narrow)], 8))}
    calib = data.test.x[:64]
    graphs = {}
    for name, (model, alloc) in allocs.items():
        qat = prepare(copy.deepcopy(model), alloc, calibration=calib)
        qat.eval()
        graphs[name] = integerize(qat, name=f"demo_net-{name}")
    codes = input_codes(qat, data.test.x[:12])
    return graphs, codes


@pytest.mark.slow
def test_demo_models_bitexact_on_rv32_with_cluster_estimate(tmp_path, demo_graphs):
    graphs, codes = demo_graphs
    target = "pulp-xpulpnn"  # the portable kernels on the plain RV32IMC core
    rows = []
    for name, graph in graphs.items():
        r = deploy_json(graph, tmp_path / name, target=target, emulate=len(codes),
                         inputs=codes, host_check=False)
        assert r["bitexact"] and r["samples"] == len(codes), name
        assert all(layer["instructions"] > 0 for layer in r["layers"] if layer["macs"])
        assert r["cluster"]["est_cycles"] > 0
        rows.append({"name": name, "top1_float": 0.9, "top1_fakequant": 0.9,
                     "top1_integer": 0.9, "flash_bytes": r["flash_bytes"],
                     "ram_peak_bytes": r["arena_bytes"], "macs": r["macs"], "fits": True,
                     "integer_mismatches": 0, "bitexact": True, "emulated_samples": 12,
                     "deployed_flash_bytes": r["flash_bytes"], "arena_bytes": r["arena_bytes"],
                     "arena_lower_bound_bytes": r["arena_lower_bound_bytes"],
                     "instructions": r["instructions"], "est_cycles": r["est_cycles"],
                     "est_latency_ms": r["est_latency_ms"], "clock_hz": r["clock_hz"],
                     "target": target, "cpu": r["cpu"],
                     "est_cluster_latency_ms": r["cluster"]["est_latency_ms"],
                     "est_cluster_cycles": r["cluster"]["est_cycles"],
                     "cluster_clock_hz": r["cluster"]["clock_hz"],
                     "cluster_cores": r["cluster"]["cores"]})
    # the cluster is far faster than the single RV32IMC core that was emulated
    assert all(r["est_cluster_latency_ms"] < r["est_latency_ms"] / 8 for r in rows)
    md = render_markdown({"budget": {"flash_bytes": 1, "ram_bytes": 1}, "models": rows})
    assert "emulated RV32IMC core" in md and "est. cluster latency ms" in md and "estimate" in md
    assert render_plot({"budget": {"flash_bytes": 1, "ram_bytes": 1}, "models": rows})[:4] == \
        b"\x89PNG"
    assert np.isfinite([r["est_cluster_latency_ms"] for r in rows]).all()


def test_xpulpnn_cluster_is_faster_on_the_sub_byte_model(demo_graphs):
    # Same RV32IMC build as gap8 (only the cluster differs): compare the estimates.
    from mixq.deploy.cluster import estimate_graph
    from mixq.platform.spec import get_platform

    graphs, _ = demo_graphs
    v2, nn = get_platform("gap8").cluster, get_platform("pulp-xpulpnn").cluster
    mixed_v2, mixed_nn = (estimate_graph(graphs["mixed"], c)["est_cycles"] for c in (v2, nn))
    int8_v2 = estimate_graph(graphs["int8"], v2)["est_cycles"]
    assert mixed_nn < mixed_v2       # native sub-byte SIMD
    assert mixed_v2 > 0.5 * int8_v2  # XpulpV2 gains little or loses from sub-byte operands


@pytest.mark.slow
@pytest.mark.parametrize("target,models", [("pulp-open-nn", ("int8", "mixed")),
                                           ("pulp-open", ("mixed",)), ("gap8", ("int8-fit",))])
def test_demo_models_bitexact_on_the_xpulp_core(tmp_path, demo_graphs, target, models):
    # The Xpulp kernels (pulpnn / pulp) on the functional Xpulp core, with modelled cycles
    # (few inputs: the Xpulp instructions run in Python).
    graphs, codes = demo_graphs
    for name in models:
        graph = graphs[name]
        r = deploy_json(graph, tmp_path / name, target=target, emulate=2, inputs=codes[:2],
                        host_check=name == "mixed")
        assert r["bitexact"] and r["samples"] == 2, name
        assert r["host"] is None or r["host"]["bitexact"]
        assert r["cpu"].startswith("ri5cy") and "model" in r["model_cycles_note"]
        assert r["model_cycles"] >= sum(layer["model_cycles"] for layer in r["layers"]) > 0
        # every layer runs a pulp kernel (conv, depthwise, pool) split over the cores
        assert all(layer["kernel"].startswith("mixq_pulp_") for layer in r["layers"])
        pulp = [layer for layer in r["layers"] if layer["macs"]]
        assert pulp and all(layer["mac_per_cycle"] > 0 for layer in pulp)
        # the 8 cores' programs: each PULP layer faster on the cluster, the run too
        assert all(layer["cluster_mac_per_cycle"] > 2 * layer["mac_per_cycle"] for layer in pulp)
        assert sum(layer["cluster_cycles"] for layer in r["layers"]) <= \
            r["cluster_model_cycles"] < r["model_cycles"]
        # the headline estimate is the cluster's pipeline model (was 0: the RV32IMC per-class
        # model saw none of its classes in the Xpulp profile)
        assert r["est_cycles"] == r["cluster_model_cycles"] and "cluster" in r["cycle_model"]
        assert [layer["est_cycles"] for layer in r["layers"]] == \
            [layer["cluster_cycles"] for layer in r["layers"]]
        assert r["est_latency_ms"] == pytest.approx(r["est_cycles"] / r["clock_hz"] * 1e3,
                                                    abs=1e-6)
