"""``mixq deploy RUN_DIR``: deploy the integer graphs a ``mixq demo`` run saved.

A run folder holds ``models/<name>/graph.json`` + ``graph.npz`` per integerized model and
``test_inputs.npz`` (u8 NHWC test inputs and labels).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from mixq.deploy.deploy import DeployResult, deploy, deploy_summary
from mixq.errors import MixqError
from mixq.ir.serialize import load_graph
from mixq.platform.spec import Platform
from mixq.quant.spec import BitAllocation


def load_test_inputs(run_dir) -> tuple[np.ndarray, np.ndarray]:
    """(inputs u8 (N, H, W, C), labels (N,)) saved by the demo in ``run_dir``."""
    path = Path(run_dir) / "test_inputs.npz"
    if not path.is_file():
        raise MixqError(f"{path} not found; is '{run_dir}' a folder written by `mixq demo`?")
    try:
        with np.load(path) as z:
            return z["inputs"], z["labels"]
    except Exception as e:
        raise MixqError(f"{path} is corrupt ({type(e).__name__}); re-run `mixq demo`") from None


def model_graph_dirs(run_dir) -> dict[str, Path]:
    """Model name -> folder holding its integer graph, in name order."""
    root = Path(run_dir) / "models"
    found = {p.parent.name: p.parent for p in sorted(root.glob("*/graph.json"))}
    if not found:
        raise MixqError(f"no integer graphs under {root}; run `mixq demo --out {run_dir}` first")
    return found


def excluded_kernels_arg(text: str) -> frozenset:
    """``mixq deploy --exclude-kernels``: comma-separated ``function/variant`` names, or a
    ``.json`` allocation file (``mixq allocate --target T --json``) whose ``excluded_kernels``
    are taken. The names are checked against the target's kernel set when the C is emitted.

    Example:
        >>> sorted(excluded_kernels_arg("mixq_fc_dsp_s8/dsp-fc, mixq_conv2d_dsp_s8/dsp"))
        ['mixq_conv2d_dsp_s8/dsp', 'mixq_fc_dsp_s8/dsp-fc']
    """
    if text.endswith(".json"):
        return BitAllocation.load(text).excluded_kernels
    return frozenset(name.strip() for name in text.split(",") if name.strip())


def deploy_row_fields(result: DeployResult) -> dict:
    """The deployment figures that go into a report row (see issue 3)."""
    return {"bitexact": result.bitexact, "emulated_samples": result.samples,
            "emulator_mismatches": result.mismatches,
            "deployed_flash_bytes": result.flash_bytes, "arena_bytes": result.arena_bytes,
            "arena_lower_bound_bytes": result.arena_lower_bound_bytes,
            "instructions": result.instructions, "est_cycles": result.est_cycles,
            "est_latency_ms": result.est_latency_ms, "clock_hz": result.clock_hz}


def deploy_with_progress(name: str, graph, out_dir, platform: Platform, *, emulate: int,
                         inputs: np.ndarray | None = None, stream=None,
                         host_check: bool = True) -> DeployResult:
    """:func:`mixq.deploy.deploy.deploy` with a line on ``stream`` (stderr) before and after.

    One model's deployment (C, cross build, bit-exact emulation, profile) takes ~20 s; the lines
    say what runs and, after, how long it took and the verdict.
    """
    stream = sys.stderr if stream is None else stream
    print(f"mixq: deploying {name} to {platform.name}: C project, build, {emulate} input(s) "
          "checked on the emulator, profile ...", file=stream, flush=True)
    start = time.monotonic()
    result = deploy(graph, out_dir, platform, emulate=emulate, inputs=inputs,
                    host_check=host_check)
    print(f"mixq: {name} deployed in {time.monotonic() - start:.1f} s: {deploy_summary(result)}",
          file=stream, flush=True)
    return result


def deploy_run_dir(run_dir, platform: Platform, out=None, emulate: int = 100,
                   models: list[str] | None = None, exclude=None) -> dict[str, DeployResult]:
    """Deploy every (or the named) model of a demo run; returns name -> its result.

    Args:
        run_dir: folder written by ``mixq demo``.
        platform: the deployment target (:func:`mixq.platform.get_platform`).
        out: output folder (``<out>/<model>/`` gets the C project, ELF and deploy.json).
        emulate: number of test inputs checked on the emulator.
        models: model names to deploy (default: all).
        exclude: kernel variants (``function/variant``) no model uses; None: each model's
            ``models/<name>/allocation.json``'s ``excluded_kernels`` (the kernels a closing
            loop traded away for flash: deployed as it measured).

    Raises:
        MixqError: not a run folder, unknown model name, corrupt graph or inputs.
    """
    dirs = model_graph_dirs(run_dir)
    names = models or list(dirs)
    unknown = [n for n in names if n not in dirs]
    if unknown:
        raise MixqError(f"run '{run_dir}' has no model(s) {unknown}; it has {list(dirs)}")
    inputs, _ = load_test_inputs(run_dir)
    out = Path(out) if out else Path(run_dir) / "deploy"
    return {name: deploy_with_progress(name, load_graph(dirs[name]), out / name,
                                       model_platform(platform, dirs[name], exclude),
                                       emulate=emulate, inputs=inputs) for name in names}


def model_platform(platform: Platform, model_dir: Path, exclude) -> Platform:
    """``platform`` excluding ``exclude``, or (None) the model's ``allocation.json``'s
    ``excluded_kernels`` (the kernel variants its closing loop traded away)."""
    if exclude is None:
        alloc = model_dir / "allocation.json"
        exclude = BitAllocation.load(alloc).excluded_kernels if alloc.is_file() else frozenset()
    return replace(platform, excluded_kernels=frozenset(exclude))
