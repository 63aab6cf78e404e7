"""deploy end to end: C project + ELF + emulator bit-exact check + deploy.json."""

import json
import re

import numpy as np
import pytest

from mixq.codegen.synth import GraphBuilder
from mixq.platform import get_platform
from mixq.errors import MixqError

from deploy_graphs import deploy_json, small_graph

pytestmark = pytest.mark.cross

REQUIRED = {"bitexact": bool, "samples": int, "mismatches": int, "flash_bytes": int,
            "arena_bytes": int, "arena_lower_bound_bytes": int, "instructions": int,
            "est_cycles": int, "layers": list}


@pytest.mark.parametrize("target", ["stm32h7", "stm32h7-ref"])
def test_deploy_json_contract(tmp_path, target):
    g = small_graph()
    r = deploy_json(g, tmp_path, target=target, emulate=20)
    on_disk = json.loads((tmp_path / "deploy.json").read_text())
    assert on_disk == r
    for key, typ in REQUIRED.items():
        assert isinstance(r[key], typ), key
    assert r["bitexact"] and r["samples"] == 20 and r["mismatches"] == 0
    assert r["host"] is None or r["host"]["bitexact"]
    assert [layer["name"] for layer in r["layers"]] == [n.name for n in g.nodes]
    assert all(set(layer) >= {"name", "macs", "instructions"} for layer in r["layers"])
    assert sum(layer["instructions"] for layer in r["layers"]) <= r["instructions"]
    assert sum(layer["instructions"] for layer in r["layers"]) > 0.95 * r["instructions"]
    assert r["arena_lower_bound_bytes"] <= r["arena_bytes"] <= r["arena_greedy_bytes"]
    assert r["flash_bytes"] > 0 and "estimate" in r["cycle_model"]
    assert (tmp_path / "mixq_model.elf").exists() and (tmp_path / "c" / "mixq_model.c").exists()
    # the per-layer kernel choice: every layer chosen by estimated cost ran its cheapest variant
    by_cost = [layer for layer in r["layers"] if "kernel_costs" in layer]
    assert bool(by_cost) == (target == "stm32h7")
    for layer in by_cost:
        costs = layer["kernel_costs"]
        assert min(costs, key=costs.get) == f"{layer['kernel']}/{layer['variant']}"


def test_deploy_is_deterministic(tmp_path):
    g = small_graph(1)
    a = deploy_json(g, tmp_path / "a", emulate=3, host_check=False)
    b = deploy_json(g, tmp_path / "b", emulate=3, host_check=False)
    assert a == b
    assert (tmp_path / "a" / "mixq_model.elf").read_bytes() == \
        (tmp_path / "b" / "mixq_model.elf").read_bytes()


def test_given_inputs_and_signed_output(tmp_path):
    b = GraphBuilder((4, 4, 2), seed=3)
    g = b.build(b.conv(b.input, 5, kernel=3, out="s4", weight="s8"))
    x = np.random.default_rng(0).integers(0, 256, size=(7, 4, 4, 2))
    r = deploy_json(g, tmp_path, emulate=100, inputs=x, host_check=False)
    assert r["samples"] == 7 and r["bitexact"]


@pytest.mark.parametrize("target", ["stm32h7", "pulp-xpulpnn"])
def test_a_wrong_result_is_reported_not_hidden(tmp_path, monkeypatch, target):
    # One patch site for every ISA: the compare step is written once (mixq.deploy.run).
    import mixq.deploy.run as run

    real = run.interpret
    monkeypatch.setattr(run, "interpret",
                        lambda graph, x: real(graph, x) + x.reshape(len(x), -1)[:, :1] % 2)
    r = deploy_json(small_graph(2), tmp_path, target, emulate=10, host_check=False)
    assert not r["bitexact"] and 0 < r["mismatches"] <= 10


def test_bad_target_and_inputs(tmp_path):
    with pytest.raises(MixqError, match="stm32h7"):
        get_platform("esp32")
    with pytest.raises(MixqError, match="do not match"):
        deploy_json(small_graph(), tmp_path, inputs=np.zeros((2, 3, 3, 3)))


@pytest.mark.parametrize("emulate", [0, -3])
def test_emulate_below_one_is_refused(tmp_path, emulate):
    # Was: 0 crashed in numpy; -3 silently checked inputs[:-3] (97 of 100).
    with pytest.raises(MixqError, match=rf"emulate={emulate}: .*pass emulate >= 1"):
        deploy_json(small_graph(), tmp_path, emulate=emulate, host_check=False)
    assert not (tmp_path / "deploy.json").exists()


def test_deploy_with_progress_says_what_runs_and_how_long(tmp_path, capsys):
    from mixq.deploy.rundir import deploy_with_progress

    r = deploy_with_progress("small", small_graph(), tmp_path, get_platform("stm32h7"),
                             emulate=2, host_check=False)  # the lines, not the host build
    lines = capsys.readouterr().err.strip().splitlines()
    assert r.bitexact and len(lines) == 2
    assert lines[0].startswith("mixq: deploying small to stm32h7: C project, build, 2 input(s)")
    assert re.match(r"mixq: small deployed in \d+\.\d s: bit-exact 2/2 on the emulated", lines[1])
