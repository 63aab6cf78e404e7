"""The kernel benchmark's measurement and output formats (tiny layers; figures live in bench/)."""

import json
import runpy
import sys
from pathlib import Path

import pytest

import mixq.deploy.kernel_bench as kb

pytestmark = pytest.mark.cross

BENCH = Path(__file__).resolve().parents[2] / "bench" / "kernels.py"


@pytest.mark.parametrize("layer", ["pw1x1", "dw3x3", "conv3x3"])
def test_measure_case_counts_only_the_layer(layer):
    case = kb.LayerCase(layer, 4, 8, 8)
    row = kb.measure_case(case, 4, 4)
    macs = {"pw1x1": 16 * 8 * 8, "dw3x3": 16 * 8 * 9, "conv3x3": 16 * 8 * 8 * 9}[layer]
    assert row["macs"] == macs and row["layer"] == layer
    assert "dsp" in row["kernel"]
    assert macs < row["instructions"] < 40 * macs


def test_bench_json_output(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["kernels.py", "--json", "--shape", "pw:2x2x4:4:1x1:s1",
                                      "--shape", "add:2x2x4:4:1x1:s1", "--precisions",
                                      "wta8"])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(BENCH), run_name="__main__")
    assert e.value.code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["layer"], r["w_bits"], r["a_bits"]) for r in rows] == \
        [("pw", "ternary", 8), ("add", None, 8)]
    assert all(set(r) == {"layer", "w_bits", "a_bits", "macs", "instructions", "shape"}
               for r in rows)
    assert rows[0]["shape"] == "2x2x4:4:1x1:s1" and rows[1]["macs"] == 16


@pytest.mark.parametrize("argv", [["--shape", "conv:32x32:16:3x3:s2"],
                                  ["--shape", "pool:4x4x4:4:2x2:s2"], ["--precisions", "w3a8"]])
def test_bench_bad_arguments_are_one_line(monkeypatch, capsys, argv):
    monkeypatch.setattr(sys, "argv", ["kernels.py", *argv])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(BENCH), run_name="__main__")
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("mixq: error: ") and err.count("\n") == 1


def _measure_variants(monkeypatch, spec, variants, tolerance):
    """Layer 1 of ``spec``'s benchmark graph run with each kernel variant in turn: the variant
    the code generator chose and the counts; each estimate within ``tolerance`` of its count."""
    import mixq.codegen.kernels as registry

    g = kb.case_graph(kb.LayerCase.parse(spec), 8, 8)
    costs = registry.kernel_costs(g.nodes[1], g, "armv7em")
    chosen = registry.select_kernel(g.nodes[1], g, "armv7em")
    measured, cheapest = {}, registry._cheapest
    for variant in variants:
        monkeypatch.setattr(registry, "_cheapest", lambda found, node, graph, v=variant: next(
            (k for k in found if k.variant == v), None) or cheapest(found, node, graph))
        r = kb.measure_graph(g)
        measured[variant] = r["instructions"]
        estimate = costs[f"{r['kernel']}/{variant}"]
        assert abs(estimate - r["instructions"]) < tolerance * r["instructions"], \
            (spec, variant, estimate, r["instructions"])
    return chosen.variant, measured


@pytest.mark.parametrize("spec", ["conv:8x8x3:8:3x3:s2",    # staged window (3 channels)
                                  "conv:8x8x16:16:3x3:s1"])  # rows of whole words: direct
def test_layout_choice_by_cost_picks_the_faster_kernel(monkeypatch, spec):
    """The code generator's per-layer choice (lowest estimate) is the layout that runs fewer
    instructions, and the calibrated estimates are within 10% of the emulated counts."""
    chosen, measured = _measure_variants(monkeypatch, spec, ("dsp", "dsp-window"), 0.1)
    assert chosen == min(measured, key=measured.get) == "dsp-window"


def test_depthwise_choice_by_cost_picks_the_faster_kernel(monkeypatch):
    """3x3 depthwise runs on both DSP kernels: the choice (lowest ``dw_cost`` estimate) is the
    one that runs fewer instructions, the estimates within 15% of the counts (a 5x5 layer on
    the any-size kernel too)."""
    chosen, measured = _measure_variants(monkeypatch, "dw:6x6x32:32:3x3:s2",
                                         ("dsp3x3", "dsp"), 0.15)
    assert chosen == min(measured, key=measured.get) == "dsp3x3"
    assert _measure_variants(monkeypatch, "dw:8x8x16:16:5x5:s1", ("dsp",), 0.15)[0] == "dsp"
