"""The intra-layer search: density x structure x criterion, in parallel, resumable.

``run_sweep(out, SweepConfig())`` trains the float model once (checkpointed), then runs every
trial not yet in ``out/results.jsonl`` on an engine (:mod:`mixq.engine`: local worker processes by
default, or Ray tasks on a cluster; one torch thread per trial either way). Each finished trial is
appended as one JSON line by the driver (see :mod:`mixq.intralayer.results`), so killing the sweep
loses only the trials in flight and running it again, on either engine, finishes the rest. At the end it writes ``table.md``, ``accuracy_vs_bits.png`` and
``heatmap.png`` (:mod:`mixq.intralayer.report`).

Trials: the reference models (uniform 8/4/2-bit middle layers), the pure ternary model (density
0, shared by every structure and criterion) and one dense+sparse model per (density, structure,
criterion) that the structure allows (N:M caps the density at N/M), each for every seed.
"""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from mixq.engine import Engine, LocalEngine
from mixq.errors import MixqError
from mixq.intralayer.results import append_result, read_results, repair_tail
from mixq.intralayer.select import check_criterion
from mixq.intralayer.structures import STRUCTURES, check_structure, max_density

DENSITIES = (0.0, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.10)
QUICK_DENSITIES = (0.0, 0.01, 0.05)
REFERENCE_BITS = (8, 4, 2)
CRITERIA = ("magnitude", "fisher")  # the default grid; 'refit' on request (--criteria)


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Trial:
    """One model of the sweep.

    Attributes:
        kind: 'reference' (uniform ``bits`` middle layers), 'ternary' (density 0) or
            'dense+sparse'.
        density, structure, criterion: the outlier set ('dense+sparse' only).
        bits: middle-layer weight bits ('reference' only).
        seed: QAT seed.
    """

    kind: str
    density: float = 0.0
    structure: str | None = None
    criterion: str | None = None
    bits: int | None = None
    seed: int = 0

    @property
    def id(self) -> str:
        """Stable name, the key of ``results.jsonl``.

        Example:
            >>> Trial("dense+sparse", 0.01, "2:8", "fisher").id, Trial("reference", bits=4).id
            ('1.00%-2:8-fisher-s0', 'w4-s0')
        """
        if self.kind == "reference":
            return f"w{self.bits}-s{self.seed}"
        if self.kind == "ternary":
            return f"ternary-s{self.seed}"
        return f"{self.density * 100:.2f}%-{self.structure}-{self.criterion}-s{self.seed}"


@dataclass(frozen=True)
class SweepConfig:
    """What the sweep trains. The grid fields (densities ... seeds) may change between runs of
    one output folder; the recipe fields (everything else) may not.

    Example:
        >>> len(SweepConfig().trials()), len(SweepConfig.quick_preset().trials())
        (74, 28)
    """

    dataset: str = "digits"
    data_root: str | None = None
    dataset_options: tuple = ()        # (name, value) pairs for the dataset loader
    model: str = "demo_net"
    width: float = 1.0
    densities: tuple = DENSITIES
    structures: tuple = STRUCTURES
    criteria: tuple = CRITERIA
    reference_bits: tuple = REFERENCE_BITS
    seeds: tuple = (0,)
    float_epochs: int = 20
    qat_epochs: int = 10
    float_lr: float = 3e-3
    qat_lr: float = 1e-3
    act_bits: int = 8
    edge_bits: int | None = 8
    reselect_every: int = 1
    freeze_last: int = 2
    fisher_batches: int = 4
    train_samples: int | None = None   # train on the first N training samples (None: all)
    test_samples: int | None = None    # measure on the first N test samples (None: all)
    quick: bool = False                # recorded only: the --quick preset was used
    _grid = ("densities", "structures", "criteria", "reference_bits", "seeds", "quick")

    def __post_init__(self):
        for s in self.structures:
            check_structure(s)
        for c in self.criteria:
            check_criterion(c)
        for d in self.densities:
            if not 0.0 <= d <= 1.0:
                raise MixqError(f"density {d} must be in [0, 1]")
        for name in ("train_samples", "test_samples"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise MixqError(f"{name}={getattr(self, name)} must be positive (or None)")

    @classmethod
    def quick_preset(cls, **changes) -> "SweepConfig":
        """The ``--quick`` preset: densities 0, 1, 5 %, short training (a smoke test)."""
        return replace(cls(densities=QUICK_DENSITIES, float_epochs=6, qat_epochs=3,
                           freeze_last=1, quick=True), **changes)

    def recipe(self) -> dict:
        """The fields that decide a trial's result (not the grid)."""
        d = asdict(self)
        for k in self._grid:
            d.pop(k, None)
        d["dataset_options"] = [list(p) for p in self.dataset_options]
        d.pop("data_root")  # where the files are does not change them
        return d

    def recipe_hash(self) -> str:
        return _hash(self.recipe())

    def float_recipe_hash(self) -> str:
        """Hash of what decides the float model (sweeps differing only in QAT share it)."""
        r = self.recipe()
        keys = ("dataset", "dataset_options", "model", "width", "float_epochs", "float_lr",
                "train_samples", "test_samples")
        return _hash({**{k: r[k] for k in keys}, "seed": self.seeds[0] if self.seeds else 0})

    def trials(self) -> list[Trial]:
        """Every trial of the grid: references, ternary, then dense+sparse by density."""
        out = []
        for seed in self.seeds:
            out += [Trial("reference", bits=b, seed=seed) for b in self.reference_bits]
            if self.densities:
                out.append(Trial("ternary", seed=seed))
            for d in sorted(x for x in self.densities if x > 0):
                for s in self.structures:
                    if d > max_density(s) + 1e-12:
                        continue
                    out += [Trial("dense+sparse", d, s, c, seed=seed) for c in self.criteria]
        return out


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # one thread per worker: workers run side by side on the cores


def _run_one(float_ckpt: bytes, job) -> tuple[str, dict | None, str | None]:
    trial, cfg = job
    from mixq.intralayer.trial import run_trial

    try:
        return trial.id, run_trial(trial, cfg, float_ckpt), None
    except MixqError as e:
        return trial.id, None, str(e)


def _train_float(out: Path, cfg: SweepConfig, progress: bool, device: str = "cpu") -> Path:
    from mixq.intralayer.trial import (float_model, float_model_id, float_train_config,
                                       sweep_dataset)
    from mixq.train import train

    import torch

    data = sweep_dataset(cfg.dataset, cfg.data_root, tuple(cfg.dataset_options),
                         cfg.train_samples, cfg.test_samples)
    path = out / "float.ckpt"
    # One thread, like the trials: the float weights then do not depend on the core count (the
    # reduction order does), and a busy machine does not thrash.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(float_model(cfg, data), data, float_train_config(cfg), checkpoint_path=path,
              model_id=float_model_id(cfg), progress=progress, desc="float", device=device,
              mixed_precision=True)
    finally:
        torch.set_num_threads(threads)
    return path


class _Progress:
    """A tqdm bar over trials on a terminal, one line per finished trial otherwise."""

    def __init__(self, enabled: bool, total: int, done: int):
        from tqdm.auto import tqdm

        self.enabled, self.total, self.done = enabled, total, done
        self.bar = (tqdm(total=total, initial=done, desc="intra-layer sweep", unit="trial",
                         file=sys.stderr, dynamic_ncols=True)
                    if enabled and sys.stderr.isatty() else None)

    def update(self, trial_id: str, rec: dict | None, error: str | None) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            if rec is not None:
                self.bar.set_postfix_str(f"{trial_id} {rec['top1_integer']:.1%}")
        elif self.enabled:
            what = (f"top-1 {rec['top1_integer']:.1%}, {rec['bits_per_weight']:.2f} bits/weight"
                    if rec is not None else f"FAILED: {error}")
            print(f"[{self.done}/{self.total}] {trial_id}: {what}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def pending_trials(path, cfg: SweepConfig) -> tuple[list[dict], list[Trial]]:
    """Finished records of this recipe and the trials still to run.

    Raises:
        MixqError: the file holds trials of another recipe (another output folder is needed).
    """
    records = read_results(path)
    other = {r.get("recipe") for r in records} - {cfg.recipe_hash()}
    if other:
        raise MixqError(f"{path} holds trials of another sweep recipe ({', '.join(sorted(map(str, other)))}"
                        f"; this one is {cfg.recipe_hash()}): use another --out folder")
    done = {r["trial"] for r in records}
    return records, [t for t in cfg.trials() if t.id not in done]


def run_sweep(out, cfg: SweepConfig = SweepConfig(), workers: int | None = None,
              progress: bool = True, report: bool = True,
              engine: Engine | None = None, device: str = "cpu") -> list[dict]:
    """Run (or resume) a sweep into folder ``out``.

    Args:
        out: output folder (``results.jsonl``, ``float.ckpt``, ``table.md``, plots).
        cfg: the sweep.
        workers: worker processes of the default local engine (default: the number of CPU
            cores); 0 runs trials in this process (debugging). Ignored when ``engine`` is given.
        progress: show progress (a bar on a terminal, one line per trial otherwise).
        report: write ``table.md`` and the plots at the end.
        engine: where trials run (:func:`mixq.engine.make_engine`); started before anything is
            written, so an unreachable cluster leaves ``out`` untouched. An engine created here
            is closed here; a given one is left to its owner.
        device: where the float pre-training runs ('auto', 'cpu', 'cuda'; bfloat16 autocast
            on CUDA). Trials run on the CPU (one thread each), side by side.

    Returns:
        The records of every finished trial of the grid (in ``results.jsonl`` order).

    Raises:
        MixqError: an unreachable engine, a results file of another recipe, bad dataset, or
            failed trials (after every other trial finished and the outputs were written).
    """
    owned = engine is None
    engine = LocalEngine(workers) if owned else engine
    try:
        from mixq.train.distributed import env_ranks, resolve_device

        if env_ranks().distributed:
            raise MixqError("the sweep's trials are independent: spread them with --engine ray "
                            "(see README, Scaling out), not torchrun")
        resolve_device(device)  # --device cuda without a GPU fails before anything is written
        engine.start()
        return _sweep(Path(out), cfg, engine, progress, report, device)
    finally:
        if owned:
            engine.close()


def _sweep(out: Path, cfg: SweepConfig, engine: Engine, progress: bool, report: bool,
           device: str) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.jsonl"
    repair_tail(path)
    _, todo = pending_trials(path, cfg)
    failures = []
    if todo:
        float_ckpt = _train_float(out, cfg, progress, device).read_bytes()
        total = len(cfg.trials())
        bar = _Progress(progress, total, total - len(todo))
        jobs = {t.id: (t, cfg) for t in todo}
        main_thread = threading.current_thread() is threading.main_thread()
        # SIGTERM -> KeyboardInterrupt: the engine then stops its workers / cancels its tasks.
        old_handler = signal.signal(signal.SIGTERM, _raise_interrupt) if main_thread else None
        in_process = isinstance(engine, LocalEngine) and engine.workers == 0
        try:
            if in_process:
                import torch

                threads = torch.get_num_threads()
                _init_worker()
            try:
                _consume(engine.run(_run_one, float_ckpt, jobs, init=_init_worker), path, bar,
                         failures)
            finally:
                if in_process:
                    torch.set_num_threads(threads)
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, old_handler)
            bar.close()
    wanted = {t.id for t in cfg.trials()}
    records = [r for r in read_results(path) if r["trial"] in wanted]
    if report:
        from mixq.intralayer.report import write_report

        write_report(out, records, cfg)
    if failures:
        raise MixqError(f"{len(failures)} trial(s) failed ({failures[0][0]}: {failures[0][1]}); "
                        "run the sweep again to retry them")
    return records


def _consume(outcomes, path: Path, bar: _Progress, failures: list) -> None:
    for outcome in outcomes:
        if outcome.error is not None:
            trial_id, rec, error = outcome.key, None, outcome.error
        else:
            trial_id, rec, error = outcome.value
        if rec is not None:
            append_result(path, rec)
        else:
            failures.append((trial_id, error))
        bar.update(trial_id, rec, error)
