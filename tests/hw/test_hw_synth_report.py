"""Synthesis with Debian's Yosys, gate-level replay of an RTL run, energy calibration and a
small ``mixq hw report`` (one shared work folder, so each engine is synthesized once)."""

import json

import pytest

from mixq.cli import main
from mixq.errors import ToolchainError
from mixq.hw.config import EngineConfig
from mixq.hw.gatesim import load_netlist, simulate_activity
from mixq.hw.program import lower_node
from mixq.hw.report import ReportConfig, run_report
from mixq.hw.sim import run_program_rtl
from mixq.hw.synth import BLOCK_ORDER, synthesize
from mixq.hw.synthetic import DEMO_BLOCKS, DEMO_FIRST_CHANNELS, demo_graph, random_layer
from mixq.ir.serialize import save_graph

pytestmark = pytest.mark.hw


def test_small_engine_synthesizes_replays_and_reports(tmp_path):
    cfg = EngineConfig(lanes=8, channels=2, structure="1:8")
    result = synthesize(cfg, tmp_path / "synth")
    area = result.block_area()
    assert all(area[b] > 0 for b in BLOCK_ORDER), area
    assert result.flip_flops > 0 and "Yosys" in result.yosys_version

    # the netlist reproduces the RTL's outputs every cycle of a real layer, and toggles
    graph, node, env = random_layer("1:8", seed=2, kind="pw", c_in=16, c_out=4, size=2)
    prog = lower_node(node, graph, env[node.input][0], cfg)[0]
    run = run_program_rtl(prog, record=True)
    netlist = load_netlist(result.netlist)
    act = simulate_activity(netlist, run.trace)
    assert act.toggles.sum() > 0 and act.weighted.shape == (run.cycles + 1,)
    bad = dict(run.trace, y_data=[v ^ 1 for v in run.trace["y_data"]])
    with pytest.raises(ToolchainError, match="differs from the RTL"):
        simulate_activity(netlist, bad)

    # a one-structure report reusing the synthesized engine, with a saved graph per inference
    save_graph(demo_graph("1:8", 0.05, seed=4, width=0.5)[0], tmp_path / "graph")
    rc = ReportConfig(lanes=(8,), channels=2, structures=("1:8",), densities=(0.02,),
                      bench_rows=1, graph=str(tmp_path / "graph"))
    report = run_report(tmp_path, rc, log=lambda m: None)
    on_disk = json.loads((tmp_path / "hw.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    keys = {"engine", "structure", "density", "lanes", "mac_per_cycle", "area_nand2",
            "energy_pj_per_mac"}
    assert [p["engine"] for p in on_disk["design_points"]] == ["int8", "ternary_sparse"]
    for p in on_disk["design_points"]:
        assert keys <= set(p) and p["area_nand2"] > 0 and p["energy_pj_per_mac"] > 0
        assert p["bitexact"] and p["cycle_model_matches_rtl"]
    assert on_disk["yosys_version"].startswith("Yosys")
    t = on_disk["design_points"][1]
    assert t["area_nand2"] == pytest.approx(result.area_nand2, abs=0.1)
    cal = on_disk["calibration"]
    assert all(0.1 < v / cal["e_unit_pj"] < 10 for v in cal["implied_e_unit_pj"].values())
    md = (tmp_path / "hw.md").read_text()
    assert "area ratio" in md and "Horowitz" in md and "1:8 at 2%" in md
    assert (tmp_path / "hw_ratios.png").stat().st_size > 0
    gi = on_disk["graph_inference"]["points"]
    assert [p["engine"] for p in gi] == ["int8", "ternary_sparse"]
    assert gi[0]["macs"] == gi[1]["macs"] and all(p["cycles"] > 0 for p in gi)


def test_missing_yosys_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["hw", "report", "--out", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get install -y yosys" in err


def test_demo_shapes_match_the_model_zoo():
    from mixq.models import tiny

    assert (DEMO_FIRST_CHANNELS, DEMO_BLOCKS) == (tiny.DEMO_FIRST_CHANNELS, tiny.DEMO_BLOCKS)
