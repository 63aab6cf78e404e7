"""The intra-layer sweep on a real local Ray cluster: a killed worker's trial is retried, the
results equal the local engine's, a sweep resumes across engines, a bad address writes nothing."""

import os
import signal
import threading
import time

import pytest

from mixq.cli import main
from mixq.engine.ray_engine import RayEngine
from mixq.intralayer.results import append_result, read_results
from mixq.intralayer.sweep import SweepConfig, run_sweep

ray = pytest.importorskip("ray")

TINY = SweepConfig(dataset="synthetic", dataset_options=(("num_samples", 160),
                                                         ("input_shape", (1, 8, 8)),
                                                         ("num_classes", 3)),
                   width=0.25, float_epochs=1, qat_epochs=1, freeze_last=0, fisher_batches=1,
                   densities=(0.0, 0.05), structures=("unstructured",),
                   criteria=("magnitude",), reference_bits=(8,))


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance per module: 2 CPUs, loopback only, no dashboard."""
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False)
    yield
    ray.shutdown()


def _comparable(records):
    return {r["trial"]: {k: v for k, v in r.items() if k != "seconds"} for r in records}


def _kill_first_task(pid_dir, killed: list, stop: threading.Event):
    """SIGKILL the worker of the first task seen running, once, a moment into its trial."""
    while not stop.is_set():
        marks = sorted(pid_dir.glob("*.pid"))
        if marks:
            time.sleep(0.5)
            key, pid = marks[0].name.rsplit(".", 2)[:2]
            os.kill(int(pid), signal.SIGKILL)
            killed.append((key, int(pid)))
            return
        time.sleep(0.05)


def test_killed_worker_is_retried_and_results_equal_local(ray_cluster, tmp_path):
    local = run_sweep(tmp_path / "local", TINY, workers=0, progress=False, report=False)
    assert len(local) == len(TINY.trials()) == 3
    # resume across engines: the Ray sweep starts from a folder the local engine began
    out = tmp_path / "ray"
    append_result(out / "results.jsonl", local[0])
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=_kill_first_task, args=(pid_dir, killed, stop))
    killer.start()
    try:
        records = run_sweep(out, TINY, engine=RayEngine(pid_dir=pid_dir, max_retries=2),
                            progress=False, report=False)
    finally:
        stop.set()
        killer.join()
    assert len(killed) == 1, "no task was seen running"
    key, pid = killed[0]
    # the killed worker never finished its task (its mark is left); the retry did
    left = sorted(p.name for p in pid_dir.glob("*.pid"))
    assert left == [f"{key}.{pid}.pid"]
    assert key in {r["trial"] for r in records}
    assert read_results(out / "results.jsonl")[0] == local[0]
    assert _comparable(records) == _comparable(local)
    assert all(r["integer_mismatches"] == 0 for r in records)


def test_unreachable_address_is_one_line_exit_2_nothing_written(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    out = tmp_path / "sweep"
    start = time.monotonic()
    rc = main(["intralayer", "sweep", "--quick", "--engine", "ray", "--ray-address",
               "127.0.0.1:1", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and time.monotonic() - start < 30
    assert err.startswith("mixq: error: no Ray cluster reachable at 127.0.0.1:1")
    assert err.count("\n") == 1 and "ray start --head" in err
    assert not out.exists()
    rc = main(["intralayer", "sweep", "--ray-address", "127.0.0.1:1", "--out", str(out)])
    assert rc == 2 and "needs --engine ray" in capsys.readouterr().err and not out.exists()


def test_mixq_does_not_import_ray_until_a_ray_engine_starts():
    import subprocess
    import sys

    code = ("import sys, mixq.cli, mixq.intralayer.sweep, mixq.engine; "
            "mixq.cli.build_parser(); mixq.engine.make_engine('ray'); "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is present")
def test_device_cuda_without_a_gpu_is_one_line_and_writes_nothing(tmp_path, capsys):
    for argv in (["intralayer", "sweep", "--quick"], ["demo", "--quick", "--emulate", "0"]):
        out = tmp_path / argv[0]
        assert main(argv + ["--device", "cuda", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("mixq: error: --device cuda but no CUDA GPU") and err.count("\n") == 1
        assert not out.exists()


def test_sweep_under_torchrun_is_refused_before_writing(tmp_path, monkeypatch):
    from mixq.errors import MixqError

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(MixqError, match="--engine ray"):
        run_sweep(tmp_path / "s", TINY, workers=0, progress=False)
    assert not (tmp_path / "s").exists()
