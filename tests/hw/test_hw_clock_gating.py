"""Architecture step 1, clock gating: the library's integrated clock-gating cell in the gate
simulation (a gated flip-flop keeps its state while the enable is 0) and in the energy model
(its clock edges charged only in enabled cycles), checked on a hand-built sky130 netlist; and
(slow) a small clock-gated engine mapped to sky130, replayed bit-exact against its RTL.

Needs ``../shared/data/asic`` (skips, saying so, when it is absent)."""

import json
import shutil

import pytest

from mixq.hw.asic import asic_folder
from mixq.hw.gatesim import load_netlist, simulate_activity
from mixq.hw.liberty import Library

ASIC = asic_folder()
needs_asic = pytest.mark.skipif(ASIC is None, reason="../shared/data/asic (Liberty files) is "
                                "absent: the standard-cell flow cannot be tested")
SKY = "sky130_fd_sc_hd__tt_025C_1v80.lib.gz"
ICG, FF = "sky130_fd_sc_hd__dlclkp_1", "sky130_fd_sc_hd__dfxtp_1"


@pytest.fixture(scope="module")
def sky():
    if ASIC is None:
        pytest.skip("../shared/data/asic is absent")
    return Library(ASIC / SKY)


def _gated_netlist(tmp_path):
    """d -> dfxtp_1 -> q, its clock through dlclkp_1 (GATE = en), as a Yosys JSON netlist."""
    def port(d, bit):
        return {"direction": d, "bits": [bit]}
    mod = {"ports": {"clk": port("input", 2), "en": port("input", 3), "d": port("input", 4),
                     "q": port("output", 6)},
           "cells": {"g": {"type": ICG, "connections": {"CLK": [2], "GATE": [3], "GCLK": [5]}},
                     "f": {"type": FF, "connections": {"CLK": [5], "D": [4], "Q": [6]}}},
           "netnames": {}}
    path = tmp_path / "gated.json"
    path.write_text(json.dumps({"modules": {"top": mod}}))
    return path


@needs_asic
def test_gated_flip_flop_holds_and_is_clocked_only_when_enabled(sky, tmp_path):
    from mixq.hw.cellmodels import LibraryModels, icg_pins
    from mixq.hw.power import NOMINAL_SLEW_NS, CellPower, _mean_tables, net_energy, wire_cap_pf

    assert icg_pins(sky, ICG) == ("CLK", "GATE", "GCLK")
    assert icg_pins(sky, "sky130_fd_sc_hd__sdlclkp_1") is None  # has a scan enable: not used
    net = load_netlist(_gated_netlist(tmp_path), LibraryModels(sky))
    assert net.gated == {5: 3}
    # q takes d only after a cycle whose enable is 1
    trace = {"en": [1, 0, 0, 1, 0], "d": [1, 0, 0, 0, 1], "q": [0, 1, 1, 1, 0]}
    act = simulate_activity(net, trace)
    assert act.ones[3] == 2 and act.toggles[6] == 2
    with pytest.raises(Exception, match="differs from the RTL"):  # an ungated q would be 0
        simulate_activity(net, dict(trace, q=[0, 1, 0, 0, 0]))
    ne = net_energy(net, sky)
    # every cycle: the gating cell's clock pin (internal rise + fall at 0.05 ns) and its
    # capacitance 0.004151 pF + wire load (fanout 1: 0.0003305 pF) switched on the clock net
    clk = CellPower(sky).pin(ICG, "CLK")
    every = sum(r.at(NOMINAL_SLEW_NS) + f.at(NOMINAL_SLEW_NS) for r, f in clk["power"])
    every /= len(clk["power"])
    assert ne.clock_pj == pytest.approx(every + (0.004151 + 0.0003305) * 1.8 ** 2, rel=2e-3)
    # per enabled cycle: dfxtp_1 CLK internal 0.0174419 + 0.0223659 pJ (as in test_hw_asic),
    # the gated net (0.001794 pF + wire 0.0003305) switched, the GCLK output's rise and fall
    load = 0.001794 + wire_cap_pf(sky, 1)
    gclk = 2 * _mean_tables(CellPower(sky).pin(ICG, "GCLK")["power"], NOMINAL_SLEW_NS, load)
    assert 0 < gclk < 0.02
    assert ne.gated_clock_pj[3] == pytest.approx(
        0.0174419 + 0.0223659 + (0.001794 + 0.0003305) * 1.8 ** 2 + gclk, rel=2e-3)


@pytest.mark.slow
@pytest.mark.hw
@needs_asic
def test_clock_gated_engine_on_sky130_is_bit_exact_and_saves_clock_energy(sky, tmp_path):
    if shutil.which("sta") is None or shutil.which("yosys") is None:
        pytest.skip("yosys and sta (Debian opensta) are needed: make setup")
    from mixq.hw.asic import map_verilog
    from mixq.hw.cellmodels import LibraryModels
    from mixq.hw.config import EngineConfig
    from mixq.hw.power import asic_run_energy, net_energy
    from mixq.hw.program import lower_node
    from mixq.hw.sim import run_program_rtl
    from mixq.hw.synth import BLOCKS, engine_verilog
    from mixq.hw.synthetic import random_layer

    cfg = EngineConfig(lanes=8, channels=2, structure="1:8", clock_gating=True)
    res = map_verilog(engine_verilog(cfg), ASIC / SKY, tmp_path, "cg", clock_gating=True)
    lib = Library(next(tmp_path.glob("lib-*/cells.lib")))
    net = load_netlist(res.netlist, LibraryModels(lib))
    assert 3 <= len(net.gated) < 40  # one gating cell per distinct enable, shared by its bank
    gated_ffs = sum(1 for _, t, c in net.cells if t.endswith("dfxtp_1") and c["CLK"] in net.gated)
    assert gated_ffs > len(net.ffs) / 2
    graph, node, env = random_layer("1:8", seed=2, kind="pw", c_in=16, c_out=4, size=2)
    run = run_program_rtl(lower_node(node, graph, env[node.input][0], cfg)[0], record=True)
    ne = net_energy(net, lib)
    e = asic_run_energy(net, ne, run.trace, 10.0, BLOCKS)  # replays bit-exact or raises
    ungated = (ne.clock_pj + sum(ne.gated_clock_pj.values())) * e.cycles
    assert ne.clock_pj * e.cycles < e.clock_pj < 0.8 * ungated
    assert 10 < res.fmax_mhz < 2000


@pytest.mark.hw
@pytest.mark.parametrize("structure", ["1:8", "dense"])
def test_clock_gated_rtl_is_bitexact_with_the_same_cycles(structure):
    """The enables added for clock gating change no output and no cycle (RTL vs interpret,
    cycle model vs RTL)."""
    import numpy as np

    from mixq.hw.config import EngineConfig
    from mixq.hw.cyclemodel import program_cycles
    from mixq.hw.program import lower_node, program_reference
    from mixq.hw.sim import run_program_rtl
    from mixq.hw.synthetic import random_layer

    small = dict(max_chunks=32, max_groups=16, sparse_depth=512, row_bits=8, clock_gating=True)
    cfg = (EngineConfig(engine="int8", lanes=8, channels=2, structure="dense", **small)
           if structure == "dense" else EngineConfig(lanes=8, channels=4, structure="1:8", **small))
    graph, node, env = random_layer("1:8", seed=5, kind="conv", c_in=5, c_out=6, size=3)
    for p in lower_node(node, graph, env[node.input][0], cfg):
        r = run_program_rtl(p)
        np.testing.assert_array_equal(r.outputs, program_reference(p))
        assert program_cycles(p).cycles == r.cycles


@needs_asic
def test_clock_gating_on_a_library_without_a_gating_cell_is_a_one_line_error(tmp_path, capsys):
    from mixq.cli import main

    ihp = ASIC / "sg13g2_stdcell_typ_1p20V_25C.lib.gz"  # its lgcp is marked don't-use
    rc = main(["hw", "report", "--out", str(tmp_path), "--clock-gating", "--liberty", str(ihp)])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1
    assert err.startswith("mixq: error:") and "clock-gating cell" in err
    assert not (tmp_path / "hw.json").exists()
