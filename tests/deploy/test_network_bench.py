"""The network benchmark's rows and output (a tiny stand-in network; figures live in bench/)."""

import json
import runpy
from pathlib import Path

import pytest
from torch import nn

pytestmark = pytest.mark.cross

BENCH = Path(__file__).resolve().parents[2] / "bench" / "networks.py"
ROW_KEYS = {"network", "bits", "macs", "instructions", "est_cycles", "clock_hz", "est_ms",
            "reference_ms", "ratio", "bitexact"}


class _Tiny(nn.Module):
    input_shape = (3, 6, 6)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pw = nn.Conv2d(8, 8, 1)
        self.pool = nn.AvgPool2d(6)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = nn.functional.relu(self.conv(x))
        x = nn.functional.relu(self.pw(x) + x)
        return self.fc(self.pool(x).flatten(1))


@pytest.fixture(scope="module")
def bench():
    return runpy.run_path(str(BENCH), run_name="bench_networks")


def test_bench_json_rows_are_bitexact_and_complete(bench, capsys):
    bench["NETWORKS"]["kws_dscnn"] = _Tiny
    assert bench["main"](["--json", "--layers", "--networks", "kws_dscnn", "--bits", "mixed"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["network"], r["bits"]) for r in rows] == [("kws_dscnn", "mixed")]
    for r in rows:
        assert ROW_KEYS <= set(r) and r["bitexact"]
        assert r["ratio"] == round(r["est_cycles"] / 4_130_000, 3)
        assert r["est_ms"] == round(r["est_cycles"] / r["clock_hz"] * 1e3, 2)
        assert [layer["kind"] for layer in r["layers"]] == ["conv", "pw", "add", "pool", "fc"]
        assert sum(layer["instructions"] for layer in r["layers"]) <= r["instructions"]
        assert set(r["kinds"]) == {"conv", "pw", "add", "pool", "fc"}


def test_bench_unknown_network_is_one_line_error(bench, capsys):
    assert bench["main"](["--networks", "lenet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mixq: error: unknown network(s) ['lenet']") and "\n" not in err
