"""RV32IMC build (riscv64-unknown-elf-gcc) + Unicorn RV32 emulation + per-layer counts."""

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings

from mixq.deploy.deploy import deploy, deploy_summary
from mixq.deploy.profile import disassemble, profile_call
from mixq.deploy.riscv import RV32IMC, Rv32Core
from mixq.errors import MixqError
from mixq.platform import get_platform
from mixq.platform.cycles import RV32_CORE

from deploy_c_snippets import DOT_C, MARKED_C, check_dot_and_reset, snippet_image
from deploy_graphs import deploy_json, small_graph
from strategies import random_graph

pytestmark = pytest.mark.cross

REQUIRED = {"bitexact": bool, "samples": int, "mismatches": int, "flash_bytes": int,
            "arena_bytes": int, "arena_lower_bound_bytes": int, "instructions": int,
            "est_cycles": int, "est_latency_ms": float, "layers": list, "cluster": dict}


@pytest.fixture(scope="module")
def dot_image(tmp_path_factory):
    return snippet_image(RV32IMC, tmp_path_factory.mktemp("rvdot"), DOT_C,
                         ("dot_s8", "bump", "copy_bytes"))


def test_elf_is_rv32imc_only(dot_image):
    # -march=rv32imc: no atomics, no floating point, compressed instructions present
    classes = disassemble(dot_image.path, RV32IMC)
    assert classes and {c for c, _ in classes.values()} <= {"alu", "load", "store", "mul", "mulh", "div",
                                                 "branch", "jump"}


def test_dot_product_and_data_reset(dot_image):
    check_dot_and_reset(Rv32Core(dot_image, {"a": 257, "b": 257}))


def test_overrun_faults_with_the_buffer_named(dot_image):
    core = Rv32Core(dot_image, {"dst": 16, "src": 64})
    with pytest.raises(MixqError, match="past the end of 'dst'"):
        core.call("copy_bytes", ("dst", "src", 64))


def test_marks_split_counts(tmp_path):
    core = Rv32Core(snippet_image(RV32IMC, tmp_path, MARKED_C, ("marked",)), {"scratch": 16})
    prof = profile_call(core, "marked", ("scratch", 10, 1000))
    seg0, seg1 = prof.segments[0].instructions, prof.segments[1].instructions
    assert seg1 > 50 * seg0 > 0  # the second spin runs 100x longer
    assert sum(s.instructions for s in prof.segments.values()) == prof.instructions
    assert prof.total.est_cycles(RV32_CORE) >= prof.instructions


def test_cycle_model_counts_classes():
    assert RV32_CORE.estimate(Counter(alu=4, load=2, div=1, jump=1)) == 28


def test_deploy_rv32imc_contract_and_determinism(tmp_path):
    g = small_graph()
    result = deploy(g, tmp_path / "a", get_platform("pulp-xpulpnn"), emulate=20)
    r = result.to_json()
    assert json.loads((tmp_path / "a" / "deploy.json").read_text()) == r
    for key, typ in REQUIRED.items():
        assert isinstance(r[key], typ), key
    assert r["bitexact"] and r["mismatches"] == 0 and r["samples"] == 20
    assert r["isa"] == "rv32imc" and r["target"] == "pulp-xpulpnn"
    assert r["host"] is None or r["host"]["bitexact"]
    assert [layer["name"] for layer in r["layers"]] == [n.name for n in g.nodes]
    per_layer = sum(layer["instructions"] for layer in r["layers"])
    assert 0.95 * r["instructions"] < per_layer <= r["instructions"]
    assert "estimate" in r["cycle_model"] and "estimate" in r["cluster"]["note"]
    assert r["cluster"]["est_cycles"] == sum(x["est_cycles"] for x in r["cluster"]["layers"])
    assert "RV32IMC" in deploy_summary(result) and "cluster" in deploy_summary(result)
    again = deploy_json(g, tmp_path / "b", "pulp-xpulpnn", emulate=20, host_check=False)
    assert (tmp_path / "a" / "mixq_model.elf").read_bytes() == \
        (tmp_path / "b" / "mixq_model.elf").read_bytes()
    assert {k: v for k, v in again.items() if k != "host"} == \
        {k: v for k, v in r.items() if k != "host"}


@given(random_graph(max_layers=4))
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_random_graphs_bitexact_on_rv32(tmp_path, graph):
    r = deploy_json(graph, tmp_path / "p", "pulp-xpulpnn", emulate=8, host_check=False)
    assert r["bitexact"], r["mismatches"]
