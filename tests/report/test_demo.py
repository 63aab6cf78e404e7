"""mixq demo end to end (quick mode) and the CLI's error paths."""

import json

import pytest

from mixq.cli import main
from mixq.pipeline import DemoConfig, run_demo

REPORT_FIELDS = {"name", "top1_float", "top1_fakequant", "top1_integer", "flash_bytes",
                 "ram_peak_bytes", "macs", "fits", "integer_mismatches",
                 "model_flash_bytes", "model_ram_bytes"}
LINKED_FIELDS = {"linked_flash_bytes", "arena_bytes", "static_ram_bytes", "stack_bytes",
                 "io_bytes", "linked_ram_bytes"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    report = run_demo(out, DemoConfig(quick=True, emulate=3))
    return out, report


@pytest.mark.slow
def test_demo_writes_stable_report(quick_run):
    out, report = quick_run
    for f in ("report.md", "report.json", "tradeoff.png", "test_inputs.npz"):
        assert (out / f).is_file()
    on_disk = json.loads((out / "report.json").read_text())
    assert set(on_disk["budget"]) >= {"flash_bytes", "ram_bytes"}
    names = [m["name"] for m in on_disk["models"]]
    assert names == ["float", "int8", "int8-fit", "mixed"]
    for m in on_disk["models"]:
        assert REPORT_FIELDS <= set(m)
    rows = {m["name"]: m for m in on_disk["models"]}
    budget = on_disk["budget"]
    # The default budget excludes the 8-bit model; the mixed and the narrower 8-bit fit it.
    assert not rows["int8"]["fits"]
    assert rows["mixed"]["fits"] and rows["int8-fit"]["fits"]
    assert rows["mixed"]["flash_bytes"] <= budget["flash_bytes"]
    assert rows["mixed"]["ram_peak_bytes"] <= budget["ram_bytes"]
    for name in ("int8", "int8-fit", "mixed"):
        assert rows[name]["integer_mismatches"] == 0
        assert rows[name]["bitexact"] is True and rows[name]["emulated_samples"] == 3
    assert on_disk["fit_steps"] and on_disk["fit_steps"][-1]["flash_excess"] == 0


@pytest.mark.slow
def test_demo_fits_agree_with_the_deployed_builds(quick_run):
    """Every deployed model's fits is its linked image and RAM (arena + static + stack + io)
    against the budget, and those figures are the deployed ELF's (deploy.json)."""
    out, _ = quick_run
    report = json.loads((out / "report.json").read_text())
    budget = report["budget"]
    for m in report["models"] + report["references"]:
        if m["name"] == "float":
            assert m["fit_basis"] == "memory model"
            continue
        assert LINKED_FIELDS <= set(m) and m["fit_basis"] == "linked build"
        assert m["fits"] == (m["linked_flash_bytes"] <= budget["flash_bytes"]
                             and m["linked_ram_bytes"] <= budget["ram_bytes"])
        if m["name"] in ("int8", "int8-fit", "mixed"):
            fit = json.loads((out / "deploy" / m["name"] / "deploy.json").read_text())["fit"]
            assert (fit["flash_bytes"], fit["ram_bytes"], fit["arena_bytes"]) == \
                (m["linked_flash_bytes"], m["linked_ram_bytes"], m["arena_bytes"])
            assert m["deployed_flash_bytes"] == m["linked_flash_bytes"]
    md = (out / "report.md").read_text()
    assert "| model flash B | linked flash B | model RAM B | linked RAM B |" in md
    assert (out / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_demo_rerun_resumes_from_checkpoints(quick_run, tmp_path):
    out, report = quick_run
    again = run_demo(out, DemoConfig(quick=True, emulate=0))
    a = {m["name"]: m["top1_integer"] for m in report["models"]}
    b = {m["name"]: m["top1_integer"] for m in again["models"]}
    assert a == b  # finished checkpoints are reused, not retrained


@pytest.mark.slow
def test_deploy_cli_on_run_dir(quick_run, tmp_path, capsys):
    out, _ = quick_run
    rc = main(["deploy", str(out), "--out", str(tmp_path / "dep"), "--emulate", "4",
               "--model", "mixed"])
    assert rc == 0
    d = json.loads((tmp_path / "dep" / "mixed" / "deploy.json").read_text())
    assert d["bitexact"] and d["samples"] == 4 and d["mismatches"] == 0
    assert d["arena_bytes"] >= d["arena_lower_bound_bytes"] > 0


def test_cli_unknown_model_is_one_line_error(capsys):
    rc = main(["allocate", "--model", "nope", "--flash", "1000", "--ram", "1000"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "unknown model 'nope'" in err


def test_cli_impossible_budget_names_budget_and_layer(capsys):
    rc = main(["allocate", "--model", "mobilenet_v1", "--width", "0.25", "--resolution", "128",
               "--num-classes", "10", "--flash", "1000", "--ram", "512000", "--json"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "flash" in err and "1000" in err and "layer" in err


def test_cli_allocate_json_contract(capsys):
    rc = main(["allocate", "--model", "mobilenet_v1", "--width", "0.75", "--resolution", "224",
               "--num-classes", "1000", "--flash", "2048000", "--ram", "512000", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and set(out) == {"layers", "flash_bytes", "ram_peak_bytes", "basis"}
    assert out["basis"].startswith("memory model (Rusci et al. 2020)")
    assert len(out["layers"]) == 28
    assert out["flash_bytes"] <= 2048000 and out["ram_peak_bytes"] <= 512000
    for l in out["layers"]:
        assert set(l) == {"name", "kind", "w_bits", "in_bits", "out_bits"}


def test_deploy_cli_not_a_run_dir(tmp_path, capsys):
    rc = main(["deploy", str(tmp_path), "--out", str(tmp_path / "o")])
    assert rc == 2 and "mixq demo" in capsys.readouterr().err


def test_demo_malformed_allocation_file(tmp_path, capsys):
    bad = tmp_path / "alloc.json"
    bad.write_text('{"layers": [{"name": "conv0", "kind": "conv", "w_bits": 3}]}')
    rc = main(["demo", "--out", str(tmp_path / "run"), "--quick", "--allocation", str(bad)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "alloc.json" in err and "misses" in err
    assert not (tmp_path / "run").exists()  # failed before writing anything
    bad.write_text("{not json")
    assert main(["demo", "--out", str(tmp_path / "run"), "--allocation", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_demo_unknown_target_fails_before_training(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path / "run"), "--quick", "--target", "esp32"])
    assert rc == 2 and "stm32h7" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_demo_checkpoint_from_another_model_is_refused(quick_run, capsys):
    out, _ = quick_run
    ckpt = out / "models" / "float" / "float.ckpt"
    before = ckpt.read_bytes()
    rc = main(["demo", "--out", str(out), "--quick", "--width", "0.5", "--emulate", "0"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "checkpoint" in err and err.count("\n") == 0
    assert ckpt.read_bytes() == before  # nothing overwritten
