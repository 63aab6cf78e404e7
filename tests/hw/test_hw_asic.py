"""The standard-cell flow: Liberty reading, cell models, the energy model checked against hand
computations on sky130 cells, and (slow) a small engine mapped, timed, simulated bit-exact and
priced on sky130 with SRAM macros.

The Liberty files live in ``../shared/data/asic`` (never in the repository); tests that need
them skip, saying so, when that folder is absent."""

import dataclasses
import json
import shutil

import numpy as np
import pytest

from mixq.cli import main
from mixq.hw.asic import asic_folder
from mixq.hw.gatesim import load_netlist, simulate_activity
from mixq.hw.liberty import Library, eval_function, truth_table

ASIC = asic_folder()
needs_asic = pytest.mark.skipif(ASIC is None, reason="../shared/data/asic (Liberty files) is "
                                "absent: the standard-cell flow cannot be tested")
SKY = "sky130_fd_sc_hd__tt_025C_1v80.lib.gz"


def test_functions_and_truth_tables():
    a, b, c = (np.array([(i >> k) & 1 for i in range(8)]) for k in range(3))
    assert eval_function("(!A&!B&!CIN) | (A&B&!CIN)", {"A": a, "B": b, "CIN": c}).tolist() == \
        [1, 0, 0, 1, 0, 0, 0, 0]
    assert truth_table("(A0*(!S0))+(A1*S0)", ["A0", "A1", "S0"]) == 0b11001010
    assert eval_function("A B'", {"A": a, "B": b}).tolist() == ((a == 1) & (b == 0)).tolist()


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    if ASIC is None:
        pytest.skip("../shared/data/asic is absent")
    return Library(ASIC / SKY)


def _tiny(tmp_path):
    """a -> inv_1 -> nand2_1.A (B = b) -> y -> dfxtp_1 -> q, as a Yosys JSON netlist."""
    def port(d, bit):
        return {"direction": d, "bits": [bit]}
    mod = {"ports": {"a": port("input", 2), "b": port("input", 3), "clk": port("input", 4),
                     "y": port("output", 6), "q": port("output", 7)},
           "cells": {"i": {"type": "sky130_fd_sc_hd__inv_1", "connections": {"A": [2], "Y": [5]}},
                     "n": {"type": "sky130_fd_sc_hd__nand2_1",
                           "connections": {"A": [5], "B": [3], "Y": [6]}},
                     "f": {"type": "sky130_fd_sc_hd__dfxtp_1",
                           "connections": {"CLK": [4], "D": [6], "Q": [7]}}},
           "netnames": {}}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"modules": {"top": mod}}))
    return path


@needs_asic
def test_energy_model_matches_a_hand_computation(sky, tmp_path):
    from mixq.hw.cellmodels import LibraryModels
    from mixq.hw.power import net_energy

    net = load_netlist(_tiny(tmp_path), LibraryModels(sky))
    # y = !(!a & b) = a | !b; q = y one cycle later (flip-flops start at 0)
    trace = {"a": [0, 1, 0, 1], "b": [1, 1, 1, 1], "y": [0, 1, 0, 1], "q": [0, 0, 1, 0]}
    act = simulate_activity(net, trace)
    assert act.toggles[5] == 3 and act.toggles[7] == 2
    ne = net_energy(net, sky)
    # By hand from the sky130 Liberty text. Net 5 (inv_1.Y): load = nand2_1 A 0.002315 pF +
    # wire load (Small, fanout 1: 23.2746 * 1.42e-5 = 0.0003305) = 0.0026455 pF; switching
    # 0.5 * 0.0026455 * 1.8^2 = 0.0042857 pJ. inv_1 Y internal power at input slew 0.05 ns,
    # load 0.0026455 pF (bilinear between index_1 0.0230506/0.0531329 and index_2
    # 0.001335165/0.003565333): rise 0.0110247, fall -0.0057057, mean 0.0026595 pJ. nand2_1
    # pin A's own internal power at the inverter's output slew (about 0.03 ns; the table is
    # flat to 0.1% there, values at index 0.0230506): rise -0.0038941, fall 0.0048016, mean
    # 0.0004538 pJ.
    assert ne.per_toggle_pj[5] == pytest.approx(0.0042857 + 0.0026595 + 0.0004538, rel=1e-3)
    # Clock per cycle: dfxtp_1 CLK internal power at slew 0.05 ns: rise 0.0174419 + fall
    # 0.0223659 pJ; clock net (0.001794 + 0.0003305 pF) * 1.8^2 = 0.0068834 pJ.
    assert ne.clock_pj == pytest.approx(0.0174419 + 0.0223659 + 0.0068834, rel=2e-3)
    assert ne.ff_net[7] and not ne.ff_net[5]
    leak = sum(sky.leakage_nw(c) for c in ("sky130_fd_sc_hd__inv_1", "sky130_fd_sc_hd__nand2_1",
                                           "sky130_fd_sc_hd__dfxtp_1"))
    assert ne.leakage_nw == pytest.approx(leak)
    # a wrong expected output is caught, cycle and pin named
    with pytest.raises(Exception, match="differs from the RTL"):
        simulate_activity(net, dict(trace, q=[0, 1, 1, 0]))


@needs_asic
def test_sram_macros_from_the_ihp_files():
    from mixq.hw.config import EngineConfig
    from mixq.hw.sram import engine_buffers, find_macros

    macros = {m.name: m for m in find_macros(ASIC)}
    m = macros["RM_IHPSG13_1P_1024x32_c2_bm_bist"]
    # the A_CLK internal power in the read / write states of the Liberty file, area from 'area'
    assert (m.words, m.bits, m.read_pj, m.write_pj) == (1024, 32, 48.2666, 58.9183)
    assert m.area_um2 == pytest.approx(140182.6944)
    cfg = EngineConfig(engine="int8", lanes=16, channels=4, structure="dense")
    bufs = {b.name: b for b in engine_buffers(cfg, list(macros.values()), 4, 16, 0,
                                              {"w_re": 10, "rb_we": 4, "rb_re_a": 10})}
    w = bufs["weights"]
    assert w.width == 512 and w.n_macros == 16 and w.macro.words == 256
    assert w.access_pj == pytest.approx(10 * 16 * w.macro.read_pj)


def test_missing_liberty_file_is_a_one_line_error(tmp_path, capsys):
    rc = main(["hw", "report", "--out", str(tmp_path), "--liberty", str(tmp_path / "no.lib")])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1 and "no.lib" in err


@pytest.mark.slow
@pytest.mark.hw
@needs_asic
def test_small_engine_on_sky130_maps_times_simulates_and_prices(tmp_path):
    if shutil.which("sta") is None or shutil.which("yosys") is None:
        pytest.skip("yosys and sta (Debian opensta) are needed: make setup")
    from mixq.hw.report import ReportConfig, run_report

    rc = ReportConfig(lanes=(8,), channels=2, structures=("1:8",), densities=(0.02,),
                      bench_rows=2, liberty=(str(ASIC / SKY),))
    report = run_report(tmp_path, rc, log=lambda m: None)
    on_disk = json.loads((tmp_path / "hw.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    pts = [p for p in on_disk["design_points"] if p["library"].startswith("sky130")]
    assert [p["engine"] for p in pts] == ["int8", "ternary_sparse"]
    keys = {"engine", "lanes", "structure", "density", "area_um2", "area_nand2",
            "energy_pj_per_mac", "fmax_mhz", "library"}
    for p in pts:
        assert keys <= set(p) and p["bitexact_gate_level"]
        split = p["energy_split_pj_per_mac"]
        assert all(split[k] > 0 for k in ("logic", "flip_flops_clock", "sram", "leakage"))
        assert sum(split.values()) == pytest.approx(p["energy_pj_per_mac"], rel=1e-4)
        assert 10 < p["fmax_mhz"] < 2000 and p["area_um2"] > p["logic_area_um2"] > 0
        assert p["clock_mhz"] <= p["fmax_mhz"] + 1e-6
        assert set(p["sram_buffers"]) >= {"weights", "activations", "requant"}
    assert "sparse" in pts[1]["sram_buffers"]
    md = (tmp_path / "hw.md").read_text()
    assert "sky130" in md and "fmax" in md
    # architecture steps: the first re-prices nothing, weight-stationary cuts SRAM energy,
    # clock gating cuts flip-flop energy (both engines)
    steps = on_disk["architecture_steps"]
    assert [s["step"] for s in steps] == ["as built", "weight-stationary", "one row-buffer copy",
                                          "clock-gated flip-flops"]
    assert steps[0]["energy_ratio"] == pytest.approx(
        pts[1]["energy_pj_per_mac"] / pts[0]["energy_pj_per_mac"])
    for engine in ("int8", "ternary"):
        assert steps[1][engine]["sram"] < steps[0][engine]["sram"]
        assert steps[3][engine]["flip_flops_clock"] < steps[2][engine]["flip_flops_clock"]
    assert "Architecture steps" in md

    # architecture step "memories" on the same (cached) mapping: buffers of at most 16 words
    # as register files; totals add up (one benchmark row is enough for these sums)
    rc16 = dataclasses.replace(rc, regfile_words=16, bench_rows=1)
    report16 = run_report(tmp_path, rc16, log=lambda m: None)
    for p in [p for p in report16["design_points"] if p["library"].startswith("sky130")]:
        mem = {m["buffer"]: m for m in p["memories"]}
        rf = [m for m in mem.values() if m["memory"] == "register file"]
        assert rf and all(m["words"] <= 16 for m in rf)
        assert set(p["sram_buffers"]) == {k for k, m in mem.items() if m["memory"] == "SRAM"}
        assert p["area_blocks_um2"]["register_files"] == pytest.approx(
            sum(m["area_um2"] for m in rf), abs=1)
        assert p["area_um2"] == pytest.approx(p["logic_area_um2"] + p["sram_area_um2"], abs=1)
        assert p["sram_area_um2"] == pytest.approx(
            sum(m["area_um2"] for m in mem.values() if m["memory"] == "SRAM"), abs=1)
        assert sum(p["energy_split_pj_per_mac"].values()) == pytest.approx(
            p["energy_pj_per_mac"], rel=1e-4)
        assert p["energy_split_pj_per_mac"]["sram"] == pytest.approx(
            sum(m["pj_per_mac"] for m in mem.values() if m["memory"] == "SRAM"), abs=2e-3)
    assert report16["architecture_steps"] == []
    assert "Memories per engine" in (tmp_path / "hw.md").read_text()

    # the same netlist, run by iverilog with cell models written from the Liberty functions,
    # agrees with the RTL every cycle on another layer; a corrupted expectation is caught
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog is needed for the cross-check: make setup")
    from mixq.hw.asic import prepare_library
    from mixq.hw.cellmodels import LibraryModels
    from mixq.hw.config import EngineConfig
    from mixq.hw.program import lower_node
    from mixq.hw.sim import run_program_rtl
    from mixq.hw.synthetic import random_layer
    from mixq.hw.vsim import check_with_iverilog

    cfg = EngineConfig(lanes=8, channels=2, structure="1:8")
    graph, node, env = random_layer("1:8", seed=2, kind="pw", c_in=16, c_out=4, size=2)
    run = run_program_rtl(lower_node(node, graph, env[node.input][0], cfg)[0], record=True)
    lib, _ = prepare_library(ASIC / SKY, tmp_path / "asic")
    folder = next((tmp_path / "asic").glob("ternary_sparse-1of8-L8xP2-sky130*"))
    mod = json.loads((folder / "netlist.json").read_text())["modules"]["top"]
    ports = {n: (p["direction"], len(p["bits"])) for n, p in mod["ports"].items()}
    check_with_iverilog(folder / "mapped.v", lib, ports, run.trace)
    simulate_activity(load_netlist(folder / "netlist.json", LibraryModels(lib)), run.trace)
    bad = dict(run.trace, y_data=[v ^ 1 for v in run.trace["y_data"]])
    with pytest.raises(Exception, match="differs from the RTL"):
        check_with_iverilog(folder / "mapped.v", lib, ports, bad)
