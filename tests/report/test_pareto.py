"""`mixq report`: Pareto front of accuracy / estimated latency / flash over several runs."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from mixq.cli import main
from mixq.report.pareto import RunPoint, load_points, pareto_front, write_pareto_report


def fake_run(path, models, target="gap8"):
    path.mkdir(parents=True)
    rows = []
    for name, top1, flash, lat in models:
        row = {"name": name, "top1_float": top1, "top1_fakequant": top1, "top1_integer": top1,
               "flash_bytes": flash, "ram_peak_bytes": 1000, "macs": 1, "fits": True,
               "integer_mismatches": 0}
        if lat is not None:
            row.update({"est_latency_ms": 10 * lat, "est_cluster_latency_ms": lat})
        rows.append(row)
    (path / "report.json").write_text(json.dumps(
        {"budget": {"flash_bytes": 1, "ram_bytes": 1}, "config": {"target": target},
         "models": rows}))
    return path


def test_report_cli_writes_front(tmp_path, capsys):
    a = fake_run(tmp_path / "a", [("int8", 0.98, 11000, 0.5), ("mixed", 0.96, 6000, 0.6)])
    b = fake_run(tmp_path / "b", [("int8", 0.97, 12000, 0.7), ("mixed", 0.95, 5000, 0.4)])
    rc = main(["report", str(a), str(b), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0 and "on the Pareto front" in out
    data = json.loads((tmp_path / "out" / "pareto.json").read_text())
    front = {(p["run"], p["model"]) for p in data["points"] if p["pareto"]}
    assert front == {("a", "int8"), ("a", "mixed"), ("b", "mixed")}  # b:int8 is dominated
    md = (tmp_path / "out" / "pareto.md").read_text()
    assert "estimate" in md and "a:int8@gap8" in md
    assert (tmp_path / "out" / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = tmp_path / "again"
    write_pareto_report([a, b], again)
    assert (again / "pareto.png").read_bytes() == (tmp_path / "out" / "pareto.png").read_bytes()


def test_runs_without_latency_use_accuracy_and_flash(tmp_path):
    a = fake_run(tmp_path / "x" / "run", [("float", 0.99, 36000, None),
                                          ("int8", 0.98, 11000, None)])
    b = fake_run(tmp_path / "y" / "run", [("mixed", 0.97, 6000, None)])
    points = pareto_front(load_points([a, b / "report.json"]))
    assert [p.run for p in points] == ["run", "run", "run#2"]  # same folder names: made unique
    assert all(p.pareto for p in points) and all(p.latency_ms is None for p in points)


def test_undeployed_models_count_as_slowest(tmp_path):
    a = fake_run(tmp_path / "a", [("float", 0.97, 36000, None), ("int8", 0.98, 11000, 0.5)])
    b = fake_run(tmp_path / "b", [("int8", 0.98, 11000, 16.0), ("tiny", 0.5, 100, None)])
    front = {(p.run, p.model) for p in pareto_front(load_points([a, b])) if p.pareto}
    assert front == {("a", "int8"), ("b", "tiny")}  # same accuracy and flash: faster wins


def test_bad_run_dirs_are_one_line_errors(tmp_path, capsys):
    rc = main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "report.json not found" in err and "\n" not in err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "report.json").write_text("{}")
    rc = main(["report", str(tmp_path / "bad"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "not a mixq report" in capsys.readouterr().err


points = st.lists(st.tuples(st.floats(0, 1), st.integers(1, 10**6), st.floats(0.01, 100)),
                  min_size=1, max_size=12)


@given(points)
@settings(max_examples=200, deadline=None)
def test_front_is_exactly_the_non_dominated_set(values):
    pts = pareto_front([RunPoint(f"r{i}", "m", "", a, f, l, "cluster")
                        for i, (a, f, l) in enumerate(values)])
    for p in pts:
        dominated = any(q.top1 >= p.top1 and q.flash_bytes <= p.flash_bytes and
                        q.latency_ms <= p.latency_ms and
                        (q.top1 > p.top1 or q.flash_bytes < p.flash_bytes or
                         q.latency_ms < p.latency_ms) for q in pts if q is not p)
        assert p.pareto == (not dominated)
    assert any(p.pareto for p in pts)

