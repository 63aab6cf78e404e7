"""The sweep: trial grid, durable results, resume after an interruption, outputs."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mixq.errors import MixqError
from mixq.intralayer.results import append_result, read_results
from mixq.intralayer.sweep import SweepConfig, Trial, pending_trials, run_sweep

TINY = dict(dataset="synthetic", dataset_options=(("num_samples", 160), ("input_shape", (1, 8, 8)),
                                                  ("num_classes", 3)),
            width=0.25, float_epochs=1, qat_epochs=1, freeze_last=0, fisher_batches=1)


def _tiny(**changes):
    return SweepConfig(**{**TINY, "densities": (0.0, 0.05), "structures": ("unstructured", "1:8"),
                          "criteria": ("magnitude",), "reference_bits": (8,), **changes})


def _fake_record(trial: Trial, cfg: SweepConfig) -> dict:
    return {"trial": trial.id, "kind": trial.kind, "density": trial.density,
            "structure": trial.structure, "criterion": trial.criterion, "bits": trial.bits,
            "seed": trial.seed, "recipe": cfg.recipe_hash(), "top1_integer": 0.5,
            "top1_fakequant": 0.5, "bits_per_weight": 3.0, "bits_per_weight_dense_sparse": 2.5,
            "achieved_density": trial.density, "integer_mismatches": 0, "prewritten": True}


def test_grid():
    full = SweepConfig()
    ids = [t.id for t in full.trials()]
    assert len(ids) == len(set(ids)) == 3 + 1 + 6 * 6 * 2 - 2  # 1:16 cannot hold 10%
    assert "10.00%-1:16-fisher-s0" not in ids and "10.00%-1:8-fisher-s0" in ids
    assert len(SweepConfig(seeds=(0, 1)).trials()) == 2 * len(ids)
    # the grid may grow between runs of one folder; the recipe may not
    assert SweepConfig(densities=(0.0,)).recipe_hash() == full.recipe_hash()
    assert SweepConfig(qat_epochs=3).recipe_hash() != full.recipe_hash()
    assert SweepConfig(train_samples=100).recipe_hash() != full.recipe_hash()
    assert SweepConfig(train_samples=100).float_recipe_hash() != full.float_recipe_hash()
    with pytest.raises(MixqError, match="test_samples=0 must be positive"):
        SweepConfig(test_samples=0)
    with pytest.raises(MixqError, match="structure"):
        SweepConfig(structures=("3:4",))


def test_resume_runs_only_the_missing_trials(tmp_path):
    cfg = _tiny()
    trials = cfg.trials()
    assert len(trials) == 4
    path = tmp_path / "results.jsonl"
    for t in trials[:2]:
        append_result(path, _fake_record(t, cfg))
    before = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"trial": "cut short by a cra')  # a partial line from a killed run
    records = run_sweep(tmp_path, cfg, workers=2, progress=False)
    assert path.read_bytes().startswith(before)
    assert sorted(r["trial"] for r in records) == sorted(t.id for t in trials)
    ran = [r for r in records if not r.get("prewritten")]
    assert sorted(r["trial"] for r in ran) == sorted(t.id for t in trials[2:])
    assert all(r["integer_mismatches"] == 0 for r in ran)
    for name in ("table.md", "accuracy_vs_bits.png", "heatmap.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "## Target" in (tmp_path / "table.md").read_text()
    # nothing left to do: a second run trains nothing
    assert pending_trials(path, cfg)[1] == []


def test_results_of_another_recipe_are_refused(tmp_path):
    cfg = _tiny()
    append_result(tmp_path / "results.jsonl", _fake_record(cfg.trials()[0], cfg))
    with pytest.raises(MixqError, match="another sweep recipe"):
        run_sweep(tmp_path, _tiny(qat_epochs=2), workers=0, progress=False)
    (tmp_path / "results.jsonl").write_text('{"trial": 1}\nnot json\n')
    with pytest.raises(MixqError, match="line 2 is not a JSON object"):
        read_results(tmp_path / "results.jsonl")


@pytest.mark.slow
def test_killed_sweep_finishes_the_rest_on_restart(tmp_path):
    cfg = _tiny(structures=("unstructured", "1:8", "2:8", "row"))
    script = textwrap.dedent(f"""
        from mixq.intralayer.sweep import SweepConfig, run_sweep
        if __name__ == "__main__":
            cfg = SweepConfig(**{dict(TINY, densities=cfg.densities, structures=cfg.structures,
                                      criteria=cfg.criteria, reference_bits=cfg.reference_bits)!r})
            run_sweep({str(tmp_path)!r}, cfg, workers=1, progress=False)
    """)
    (tmp_path / "run.py").write_text(script)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "run.py")], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    path = tmp_path / "results.jsonl"
    deadline = time.monotonic() + 240
    try:
        while not (path.exists() and path.read_bytes().count(b"\n") >= 1):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no trial finished in time"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker, mid-run
        proc.wait()
    first = read_results(path)
    assert 1 <= len(first) < len(cfg.trials())
    records = run_sweep(tmp_path, cfg, workers=0, progress=False)
    ids = [r["trial"] for r in records]
    assert sorted(ids) == sorted(t.id for t in cfg.trials()) and len(set(ids)) == len(ids)
    assert records[: len(first)] == first
    assert json.loads(path.read_text().splitlines()[0]) == first[0]


def test_mobilenet_v2_trial_is_bit_exact_and_counts_every_layer():
    """The benchmark network's dense+sparse model (MobileNetV2 blocks with residual adds,
    grey 28x28 input) integerizes bit-exactly, with outliers in every middle layer."""
    from mixq.intralayer.trial import run_trial
    from mixq.intralayer.sweep import _train_float

    cfg = SweepConfig(dataset="synthetic", dataset_options=(("num_samples", 48),
                      ("input_shape", (1, 28, 28)), ("num_classes", 10)),
                      model="mobilenet_v2_small", width=0.25, float_epochs=1, qat_epochs=1,
                      freeze_last=0, fisher_batches=1, train_samples=32, test_samples=8)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = _train_float(Path(tmp), cfg, progress=False)
        rec = run_trial(Trial("dense+sparse", 0.02, "1:16", "magnitude"), cfg, ckpt)
    assert rec["integer_mismatches"] == 0 and rec["test_samples"] == 8
    middle = rec["layers"][1:-1]
    assert rec["sparse_layers"] == len(middle) == 15 and all(m["nnz"] > 0 for m in middle)
    assert 0.015 < rec["achieved_density"] <= 0.0625
