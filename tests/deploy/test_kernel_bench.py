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
