"""`mixq allocate --method sensitivity`: same JSON contract as the memory method, clear errors."""

import json

import pytest

from mixq.cli import main
from mixq.models import get_model
from mixq.train.checkpoint import save_checkpoint

KEYS = {"layers", "flash_bytes", "ram_peak_bytes", "basis"}
LAYER_KEYS = {"name", "kind", "w_bits", "in_bits", "out_bits"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "float.ckpt"
    save_checkpoint(path, get_model("demo_net", width=0.25))
    return str(path)


def run(capsys, *args):
    rc = main(["allocate", "--model", "demo_net", "--width", "0.25", *args])
    out, err = capsys.readouterr()
    return rc, out, err.strip()


def test_same_json_contract_as_memory(capsys, checkpoint):
    budget = ["--flash", "1500", "--ram", "1200", "--json"]
    rc, out, _ = run(capsys, "--method", "sensitivity", "--checkpoint", checkpoint,
                     "--samples", "32", "--estimator", "fisher", *budget)
    assert rc == 0
    sens = json.loads(out)
    rc, out, _ = run(capsys, *budget)
    mem = json.loads(out)
    assert set(sens) == set(mem) == KEYS
    assert [set(l) for l in sens["layers"]] == [LAYER_KEYS] * len(mem["layers"])
    assert [l["name"] for l in sens["layers"]] == [l["name"] for l in mem["layers"]]
    assert sens["flash_bytes"] <= 1500 and sens["ram_peak_bytes"] <= 1200


def test_latency_budget_on_a_target(capsys, checkpoint):
    common = ["--method", "sensitivity", "--checkpoint", checkpoint, "--samples", "16",
              "--target", "gap8", "--flash", "1500", "--ram", "1200"]
    rc, out, _ = run(capsys, *common, "--latency-ms", "10")
    assert rc == 0 and "est. latency" in out and "estimate" in out
    rc, _, err = run(capsys, *common, "--latency-ms", "0.0001")
    assert rc == 2 and "latency budget" in err and "\n" not in err


@pytest.mark.parametrize("args, message", [
    (["--method", "sensitivity", "--flash", "9000", "--ram", "9000"], None),
    (["--flash", "9000", "--ram", "9000", "--latency-ms", "1"], "no latency constraint"),
    (["--method", "sensitivity", "--flash", "9000", "--ram", "9000", "--latency-ms", "1"],
     "needs a --target"),
    ([], "give the budget"),
])
def test_errors_are_one_line(capsys, args, message):
    rc = main(["allocate", "--model", "mobilenet_v1", "--width", "0.25", "--resolution", "32",
               *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert (message or "needs trained weights") in err


def test_target_gives_the_default_budget_and_closes_on_its_linked_build(capsys):
    rc = main(["allocate", "--model", "ds_cnn", "--target", "stm32f746", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["flash_bytes"] <= 1_024_000 and out["ram_peak_bytes"] <= 320_000
    assert out["basis"] == "linked build on stm32f746" and out["steps"]
    assert out["fit"]["flash_bytes"] <= 1_024_000 and out["fit"]["ram_bytes"] <= 320_000
    assert out["fit"] == out["steps"][-1]["fit"]
    assert out["excluded_kernels"] == out["steps"][-1]["excluded_kernels"]


def test_target_json_lists_the_kernels_its_build_traded(capsys, tmp_path):
    from mixq.deploy.rundir import excluded_kernels_arg

    args = ["allocate", "--model", "demo_net", "--width", "0.25", "--target", "stm32h7",
            "--ram", "100000", "--json"]
    assert main([*args, "--flash", "1000000"]) == 0
    image = json.loads(capsys.readouterr().out)["fit"]["flash_bytes"]
    # 2,000 B under the 8-bit image: the DSP FC is traded (the allocation's bits kept)
    assert main([*args, "--flash", str(image - 2_000)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["excluded_kernels"] == ["mixq_fc_dsp_s8/dsp-fc"]
    assert out["fit"]["flash_bytes"] <= image - 2_000
    (tmp_path / "a.json").write_text(json.dumps(out))  # what `mixq deploy` reads back
    assert excluded_kernels_arg(str(tmp_path / "a.json")) == {"mixq_fc_dsp_s8/dsp-fc"}


def test_json_stdout_is_only_json(checkpoint):
    # In a fresh process: HiGHS prints a banner on the C-level stdout (capsys cannot see it).
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "mixq", "allocate", "--model", "demo_net", "--width", "0.25",
         "--method", "sensitivity", "--checkpoint", checkpoint, "--samples", "16",
         "--estimator", "fisher", "--flash", "1500", "--ram", "1200", "--json"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) == KEYS  # the whole of stdout parses


def test_plain_state_dict_checkpoint(capsys, checkpoint, tmp_path):
    import torch

    from mixq.train.checkpoint import load_weights

    model = get_model("demo_net", width=0.25)
    load_weights(checkpoint, model)
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    args = ["--method", "sensitivity", "--samples", "16", "--estimator", "fisher",
            "--flash", "1500", "--ram", "1200", "--json"]
    rc, out, err = run(capsys, *args, "--checkpoint", str(tmp_path / "plain.pt"))
    assert rc == 0, err
    assert json.loads(out) == json.loads(run(capsys, *args, "--checkpoint", checkpoint)[1])
    torch.save(model, tmp_path / "whole.pt")
    rc, _, err = run(capsys, *args, "--checkpoint", str(tmp_path / "whole.pt"))
    assert rc == 2 and "torch.save(model.state_dict(), path) instead" in err
    assert "\x1b" not in err and "\n" not in err


def test_without_target_the_memory_model_is_named(capsys):
    rc = main(["allocate", "--model", "ds_cnn", "--flash", "20000", "--ram", "20000"])
    out = capsys.readouterr().out
    assert rc == 0 and "memory model (Rusci et al. 2020); not checked against a linked build" in out
