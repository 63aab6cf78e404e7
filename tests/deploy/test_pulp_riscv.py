"""RV32IMC build (riscv64-unknown-elf-gcc) + Unicorn RV32 emulation + per-layer counts."""

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from mixq.codegen.synth import GraphBuilder
from mixq.deploy.deploy import deploy_graph, deploy_summary
from mixq.deploy.emulator_rv32 import Rv32Core, load_rv32_image, profile_rv32_call
from mixq.platform.cycles import RV32_CORE
from mixq.deploy.riscv import (build_rv32_elf, disassemble_rv,
                               find_riscv_toolchain)
from mixq.errors import MixqError, ToolchainError

from deploy_c_snippets import DOT_C, MARKED_C
from strategies import random_graph

pytestmark = pytest.mark.cross

REQUIRED = {"bitexact": bool, "samples": int, "mismatches": int, "flash_bytes": int,
            "arena_bytes": int, "arena_lower_bound_bytes": int, "instructions": int,
            "est_cycles": int, "est_latency_ms": float, "layers": list, "cluster": dict}


@pytest.fixture(scope="module")
def dot_image(tmp_path_factory):
    d = tmp_path_factory.mktemp("rvdot")
    (d / "dot.c").write_text(DOT_C)
    return load_rv32_image(build_rv32_elf([d / "dot.c"], d / "dot.elf",
                                          entries=("dot_s8", "bump", "copy_bytes")))


def small_graph(seed=0):
    b = GraphBuilder((8, 8, 3), seed=seed)
    y = b.conv(b.input, 8, kernel=3, stride=2, out="u4", weight="s4")
    y = b.dw(y, weight="t2", out="u2")
    y = b.pw(y, 16, weight="s2", out="u8")
    return b.build(b.fc(b.avgpool(y), 10, out="s8"))


def test_missing_toolchain_message():
    with pytest.raises(ToolchainError, match="gcc-riscv64-unknown-elf"):
        find_riscv_toolchain(path="/nonexistent")


def test_build_error_is_one_line(tmp_path):
    (tmp_path / "bad.c").write_text("int f(void) { int unused; return 0; }\n")
    with pytest.raises(ToolchainError) as e:
        build_rv32_elf([tmp_path / "bad.c"], tmp_path / "bad.elf", entries=("f",))
    assert "\n" not in str(e.value) and "unused" in str(e.value)


def test_elf_is_rv32imc_only(dot_image):
    # -march=rv32imc: no atomics, no floating point, compressed instructions present
    classes = disassemble_rv(dot_image.path)
    assert classes and set(classes.values()) <= {"alu", "load", "store", "mul", "mulh", "div",
                                                 "branch", "jump"}


def test_dot_product_and_data_reset(dot_image):
    rng = np.random.default_rng(0)
    core = Rv32Core(dot_image, {"a": 257, "b": 257})
    for n in (0, 1, 7, 257):
        a = rng.integers(-128, 128, n, dtype=np.int8)
        b = rng.integers(-128, 128, n, dtype=np.int8)
        core.write("a", a)
        core.write("b", b)
        assert core.call("dot_s8", ("a", "b", n)) == int(a.astype(np.int64) @ b.astype(np.int64))
    assert [core.call("bump"), core.call("bump")] == [6, 7]
    core.reset_data()
    assert core.call("bump") == 6


def test_overrun_faults_with_the_buffer_named(dot_image):
    core = Rv32Core(dot_image, {"dst": 16, "src": 64})
    with pytest.raises(MixqError, match="past the end of 'dst'"):
        core.call("copy_bytes", ("dst", "src", 64))


def test_marks_split_counts(tmp_path):
    (tmp_path / "m.c").write_text(MARKED_C)
    image = load_rv32_image(build_rv32_elf([tmp_path / "m.c"], tmp_path / "m.elf",
                                           entries=("marked",)))
    core = Rv32Core(image, {"scratch": 16})
    prof = profile_rv32_call(core, "marked", ("scratch", 10, 1000), disassemble_rv(image.path))
    seg0, seg1 = prof.segments[0]["instructions"], prof.segments[1]["instructions"]
    assert seg1 > 50 * seg0 > 0  # the second spin runs 100x longer
    assert sum(s["instructions"] for s in prof.segments.values()) == prof.instructions
    assert RV32_CORE.estimate(prof.total) >= prof.instructions


def test_cycle_model_counts_classes():
    assert RV32_CORE.estimate(Counter(alu=4, load=2, div=1, jump=1)) == 28


def test_deploy_gap8_contract_and_determinism(tmp_path):
    g = small_graph()
    r = deploy_graph(g, tmp_path / "a", target="gap8", emulate=20)
    assert json.loads((tmp_path / "a" / "deploy.json").read_text()) == r
    for key, typ in REQUIRED.items():
        assert isinstance(r[key], typ), key
    assert r["bitexact"] and r["mismatches"] == 0 and r["samples"] == 20
    assert r["isa"] == "rv32imc" and r["target"] == "gap8"
    assert r["host"] is None or r["host"]["bitexact"]
    assert [layer["name"] for layer in r["layers"]] == [n.name for n in g.nodes]
    per_layer = sum(layer["instructions"] for layer in r["layers"])
    assert 0.95 * r["instructions"] < per_layer <= r["instructions"]
    assert "estimate" in r["cycle_model"] and "estimate" in r["cluster"]["note"]
    assert r["cluster"]["est_cycles"] == sum(x["est_cycles"] for x in r["cluster"]["layers"])
    assert "RV32IMC" in deploy_summary(r) and "cluster" in deploy_summary(r)
    again = deploy_graph(g, tmp_path / "b", target="gap8", emulate=20, host_check=False)
    assert (tmp_path / "a" / "mixq_model.elf").read_bytes() == \
        (tmp_path / "b" / "mixq_model.elf").read_bytes()
    assert {k: v for k, v in again.items() if k != "host"} == \
        {k: v for k, v in r.items() if k != "host"}


def test_a_wrong_result_is_reported(tmp_path, monkeypatch):
    import mixq.deploy.riscv as rv

    real = rv.interpret
    monkeypatch.setattr(rv, "interpret",
                        lambda graph, x: real(graph, x) + x.reshape(len(x), -1)[:, :1] % 2)
    r = deploy_graph(small_graph(2), tmp_path, target="pulp-xpulpnn", emulate=10,
                     host_check=False)
    assert not r["bitexact"] and 0 < r["mismatches"] <= 10


@given(random_graph(max_layers=4))
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_random_graphs_bitexact_on_rv32(tmp_path, graph):
    r = deploy_graph(graph, tmp_path / "p", target="gap8", emulate=8, host_check=False)
    assert r["bitexact"], r["mismatches"]
