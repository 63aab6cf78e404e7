"""Architecture steps re-price measured points: step 0 is the measurement, each later step
changes exactly the traffic, storage or clocking it names (no yosys: hand-made points)."""

import pytest

from mixq.hw.arch_steps import STEPS, architecture_steps, steps_markdown

LIB = {"latch_um2": 15.0, "latch_leakage_nw": 0.01, "mux2_um2": 11.0, "mux2_leakage_nw": 0.005}


def _point(engine: str, wbits: int, copies: int) -> dict:
    macs, cycles = 1024, 20
    buf = {"weights": dict(reads=16, writes=0, read_pj=4.0 * wbits, write_pj=0.0),
           "activations": dict(reads=16 * copies, writes=4, read_pj=8.0, write_pj=10.0 * copies),
           "requant": dict(reads=64, writes=0, read_pj=12.0, write_pj=0.0)}
    for b in buf.values():
        b.update(leakage_nw=100.0, area_um2=1000.0 * copies if b is buf["activations"]
                 else 1000.0, copies=1)
    buf["activations"]["copies"] = copies
    sram = sum((b["reads"] * b["read_pj"] + b["writes"] * b["write_pj"]) / macs
               + b["leakage_nw"] * 10.0 * 1e-3 / (macs / cycles) for b in buf.values())
    split = {"logic": 3.0 if wbits == 8 else 1.0, "flip_flops_clock": 0.6,
             "sram": sram, "leakage": 0.05}
    whole = dict(buf["activations"], read_pj=11.0, write_pj=13.0 * copies,
                 area_um2=3000.0 * copies, leakage_nw=250.0)
    return {"engine": engine, "library": "lib", "sram_alternatives": {
                "activations_whole_layer": whole}, "lanes": 16, "channels": 4,
            "structure": "dense" if wbits == 8 else "1:16", "density": 0.0 if wbits == 8 else 0.02,
            "energy_split_pj_per_mac": split, "energy_pj_per_mac": sum(split.values()),
            "macs_simulated": macs, "cycles_simulated": cycles, "period_ns": 10.0,
            "sram_buffers": buf, "access": {"rb_re_a": 16, "rb_re_b": 16 * (copies - 1)},
            "loop": {"rows_simulated": 4, "rows_layer": 64, "groups": 16, "chunks": 4},
            "clock_pj_per_mac": 0.4, "ff_toggle_rate": 0.1, "flip_flops": 500,
            "weight_bits": wbits, "q_word_bits": 110 if wbits == 8 else 118,
            "logic_area_um2": 4e5 if wbits == 8 else 2e5, "mac_per_cycle": macs / cycles}


def test_steps_start_at_the_measurement_and_change_what_they_name():
    int8, tern = _point("int8", 8, 1), _point("ternary_sparse", 2, 2)
    report = {"design_points": [int8, tern], "libraries": {"lib": LIB}}
    rows = architecture_steps(report)
    assert [r["step"] for r in rows] == list(STEPS)
    built, ws, one_copy, gated = rows
    # as built: the measured figures, unchanged
    assert built["ternary"] == pytest.approx(tern["energy_split_pj_per_mac"])
    assert built["energy_ratio"] == pytest.approx(tern["energy_pj_per_mac"]
                                                  / int8["energy_pj_per_mac"])
    # weight-stationary: weight and requant reads / 64 rows; rows read from an SRAM holding
    # the whole layer input (same accesses, the bigger macro's energy and leakage)
    w, q, a = (int8["sram_buffers"][k] for k in ("weights", "requant", "activations"))
    whole = int8["sram_alternatives"]["activations_whole_layer"]
    saved = (w["reads"] * w["read_pj"] + q["reads"] * q["read_pj"]) * (1 - 1 / 64) / 1024
    added = (a["reads"] * (whole["read_pj"] - a["read_pj"])
             + a["writes"] * (whole["write_pj"] - a["write_pj"])) / 1024
    added += (whole["leakage_nw"] - a["leakage_nw"]) * 10.0 * 1e-3 / (1024 / 20)
    assert ws["int8"]["sram"] == pytest.approx(built["int8"]["sram"] - saved + added)
    assert ws["int8"]["leakage"] > built["int8"]["leakage"]  # the latch array leaks
    assert ws["area_ratio"] != built["area_ratio"]
    # one row-buffer copy: the ternary engine only
    assert one_copy["int8"] == ws["int8"]
    assert one_copy["ternary"]["sram"] < ws["ternary"]["sram"]
    # clock gating: flip-flop clock energy falls to (toggle rate + 1/8) of the clock part
    assert gated["int8"]["flip_flops_clock"] == pytest.approx(0.6 - 0.4 * (1 - 0.1 - 1 / 8))
    assert built["energy_ratio_vs_built_int8"] == pytest.approx(built["energy_ratio"])
    assert gated["energy_ratio_vs_built_int8"] == pytest.approx(
        gated["ternary_pj_per_mac"] / int8["energy_pj_per_mac"])
    assert "| lib | 16 | 1:16 | 2% | clock-gated flip-flops |" in "\n".join(
        steps_markdown(report))
    # no library facts (e.g. a library without latches): no steps, nothing in hw.md
    assert architecture_steps({"design_points": [int8, tern], "libraries": {}}) == []


def test_points_measured_with_clock_gating_are_not_gated_again():
    report = {"design_points": [_point("int8", 8, 1), _point("ternary_sparse", 2, 2)],
              "libraries": {"lib": LIB}, "config": {"clock_gating": True}}
    assert [r["step"] for r in architecture_steps(report)] == list(STEPS[:-1])
