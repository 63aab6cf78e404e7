"""``mixq study``: the network chosen for a platform, retrained with mixed precision, deployed,
compared with the best 8-bit network that fits.

The study, in execution order (:func:`run_study`); the training, integerization and deployment
stages are the demo's (:class:`mixq.pipeline.Stages`, :func:`mixq.pipeline.uniform_row`,
:func:`mixq.pipeline.deploy_rows`), each training run checkpointed and resumed when re-run:

1. load the dataset (optionally a fixed subset) and select the networks
   (:func:`mixq.study.select.select_networks`): the chosen one and the 8-bit baseline;
2. for each seed: train the chosen network in float; QAT it at uniform 8 bits and with each
   mixed allocation (memory-driven: Rusci et al. 2020; sensitivity: HAWQ-V3-style ILP on the
   trained float weights), all starting from the float weights; train the baseline float ->
   8-bit QAT; integerize each and check ``ir.interpret`` against the QAT integer-exact mode on
   the whole test split (the accuracy is ``ir.interpret``'s);
   each mixed allocation is first closed on the platform's linked build
   (:func:`mixq.api.close_on_target`, started under the model budget: when the linked image is
   over the flash budget, kernel variants are traded for cycles first
   (:mod:`mixq.deploy.code_trade`); when the image or RAM is still over, the model's budget is
   tightened by the excess and the allocator runs again; the rounds are printed and kept in
   ``seed<k>/fit/<model>.json``, and the model deploys with the variants the loop gave up);
3. deploy each integer graph on the platform's core (emulated), bit-exact on ``emulate`` test
   inputs; ``fits`` from the linked image (flash) and arena + static RAM + stack + io buffers
   (RAM) of the deployed ELF (:meth:`mixq.report.rows.ModelRow.with_linked`);
4. mean and standard deviation over the seeds; ``report.json``, ``report.md`` and the plots
   (:func:`mixq.report.study.write_study_report`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from mixq.data import load_dataset
from mixq.data.splits import DatasetSplits, Split
from mixq.api import close_on_target
from mixq.deploy.fit_loop import ClosedAllocation
from mixq.errors import MixqError
from mixq.fileio import write_json_atomic
from mixq.pipeline import (DemoConfig, Stages, deploy_rows, float_row, save_test_inputs,
                            uniform_row)
from mixq.platform import get_platform
from mixq.quant.spec import BitAllocation
from mixq.report.study import summarize_runs, write_study_report
from mixq.search.memory import MemoryBudget, layer_shapes, with_model_figures
from mixq.search.memory_driven import allocate_bits
from mixq.search.sensitivity import estimate_sensitivity
from mixq.search.sensitivity_allocation import allocate_sensitivity
from mixq.study.select import CandidateSpace, RuntimeReserve, model_budget, select_networks
from mixq.train import evaluate
from mixq.train.distributed import resolve_device

METHODS = ("memory", "sensitivity")
QUICK_SPACE = CandidateSpace(widths=(0.125, 0.1875, 0.25), max_macs=800_000)


@dataclass(frozen=True)
class StudyConfig:
    """What the study trains, where it deploys, under which budget.

    Attributes:
        platform: platform name or .toml file (its core, clock and default budget).
        dataset, data_root: the data (:func:`mixq.data.load_dataset`).
        flash_bytes, ram_bytes: the budget; None = the platform's memory.
        latency_ms: a latency bound for the selection (estimated on the platform), or None.
        seeds: independent repetitions (seeds 0 .. seeds-1) of every training.
        train_samples, test_samples: a fixed (seed 0) random subset of each split; None = all.
        float_epochs, qat_epochs: training length of the float and of each QAT run.
        emulate: test inputs run bit for bit on the emulated core per deployed model.
        check_samples: test inputs on which ``ir.interpret`` is compared with the QAT
            integer-exact mode (None: all; the accuracy is ``ir.interpret``'s on all of them).
        methods: the mixed allocations: 'memory' (Rusci et al.), 'sensitivity' (ILP).
        sensitivity_samples: training samples the sensitivity is estimated on.
        space, reserve, min_mean_w_bits: the selection (:mod:`mixq.study.select`).
        granularity: 'per-channel' (MixPC) or 'per-layer' (MixPL).
        device: 'auto', 'cpu' or 'cuda'.
        threads: torch threads (1: on a busy 2-core machine 2 threads ran a step 9x slower).
    """

    platform: str = "stm32h7"
    dataset: str = "fashion-mnist"
    data_root: str | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    latency_ms: float | None = None
    seeds: int = 3
    train_samples: int | None = None
    test_samples: int | None = None
    float_epochs: int = 2
    qat_epochs: int = 1
    emulate: int = 20
    check_samples: int | None = 1000
    methods: tuple[str, ...] = METHODS
    sensitivity_samples: int = 512
    space: CandidateSpace = field(default_factory=CandidateSpace)
    reserve: RuntimeReserve = field(default_factory=RuntimeReserve)
    min_mean_w_bits: float = 4.0
    granularity: str = "per-channel"
    device: str = "auto"
    threads: int = 1

    def __post_init__(self):
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise MixqError(f"study methods {list(self.methods)}: give one or more of {METHODS}")
        if self.latency_ms is not None and not self.latency_ms > 0:
            raise MixqError(f"study latency_ms={self.latency_ms} must be positive")
        for name in ("seeds", "emulate", "sensitivity_samples", "threads"):
            if getattr(self, name) < 1:
                raise MixqError(f"study {name}={getattr(self, name)} must be >= 1")

    @classmethod
    def quick(cls, **overrides) -> "StudyConfig":
        """Few samples, one epoch, one seed, small networks: a smoke run, not a result."""
        base = dict(seeds=1, train_samples=4096, test_samples=1000, float_epochs=1,
                    qat_epochs=1, emulate=4, sensitivity_samples=256, space=QUICK_SPACE)
        return cls(**{**base, **overrides})


def _subset(split, n: int | None):
    """A fixed random subset of ``n`` samples (all when None or larger than the split)."""
    if n is None or n >= len(split):
        return split
    index = torch.randperm(len(split), generator=torch.Generator().manual_seed(0))[:n]
    return Split(*split.take(index.sort().values))


def study_data(cfg: StudyConfig) -> DatasetSplits:
    """The dataset, cut to ``train_samples`` / ``test_samples``."""
    data = load_dataset(cfg.dataset, cfg.data_root)
    return replace(data, train=_subset(data.train, cfg.train_samples),
                   test=_subset(data.test, cfg.test_samples))


def run_study(out, cfg: StudyConfig = StudyConfig()) -> dict:
    """Run the whole study into folder ``out``; returns the report (also ``report.json``).

    Raises:
        MixqError: unknown platform/dataset, a budget no candidate fits, bad settings.
    """
    out = Path(out)
    platform = get_platform(cfg.platform)
    torch.set_num_threads(cfg.threads)
    resolve_device(cfg.device)
    budget = MemoryBudget(cfg.flash_bytes or platform.flash_bytes,
                          cfg.ram_bytes or platform.ram_bytes)
    data = study_data(cfg)
    selection = select_networks(cfg.space, data.input_shape, data.num_classes, budget,
                                cfg.reserve, cfg.granularity, cfg.min_mean_w_bits, platform,
                                cfg.latency_ms)
    runs, report = [], {}
    for seed in range(cfg.seeds):  # the report is rewritten after each seed
        rows = _seed_rows(out / f"seed{seed}", cfg, seed, data, selection, budget, platform)
        runs += [{"seed": seed, **row} for row in rows]
        report = _report(cfg, platform, budget, data, selection, runs)
        write_study_report(out, report)
    return report


def _report(cfg: StudyConfig, platform, budget: MemoryBudget, data, selection, runs) -> dict:
    return {"kind": "study", "platform": platform.name, "dataset": cfg.dataset,
            "budget": {"flash_bytes": budget.flash_bytes, "ram_bytes": budget.ram_bytes,
                       **({} if cfg.latency_ms is None else {"latency_ms": cfg.latency_ms})},
            "model_budget": asdict(model_budget(budget, cfg.reserve)),
            "train_samples": len(data.train), "test_samples": len(data.test),
            "accuracy_source": "ir.interpret of the integer graph on the whole test split; "
                               "integer_mismatches: samples where it differs from the QAT "
                               "integer-exact mode, out of the first integer_checked_samples",
            "integer_checked_samples": min(len(data.test), cfg.check_samples or len(data.test)),
            "seeds_done": len({r["seed"] for r in runs}),
            "selection": selection.to_dict(), "config": asdict(cfg),
            "models": summarize_runs(runs), "runs": runs}


def _seed_rows(out: Path, cfg: StudyConfig, seed: int, data, selection, budget: MemoryBudget,
               platform) -> list[dict]:
    """Every model of one seed, trained, integerized and deployed: its report rows."""
    demo_cfg = DemoConfig(dataset=cfg.dataset, data_root=cfg.data_root, seed=seed,
                          emulate=cfg.emulate, target=platform.name, granularity=cfg.granularity,
                          float_epochs=cfg.float_epochs, qat_epochs=cfg.qat_epochs,
                          device=cfg.device, threads=cfg.threads,
                          check_samples=cfg.check_samples)
    chosen, left = selection.chosen, model_budget(budget, cfg.reserve)
    stages = Stages(out, demo_cfg, model=chosen.family, data=data)
    float_model, _ = stages.train_float("float", chosen.width)
    shapes = layer_shapes(float_model, stages.input_shape)
    layers = [(s.name, s.kind) for s in shapes]
    rows = [replace(float_row(float_model, shapes, left, evaluate(float_model, data.test)),
                    width=chosen.width)]
    allocations = [("int8", BitAllocation.uniform(layers, 8, cfg.granularity))]
    allocators = {}
    if "memory" in cfg.methods:
        allocators["mixed-memory"] = lambda b: allocate_bits(shapes, b, cfg.granularity)
    if "sensitivity" in cfg.methods:
        n = cfg.sensitivity_samples
        sens = estimate_sensitivity(float_model, data.train.x[:n], data.train.y[:n],
                                    granularity=cfg.granularity, seed=seed)
        allocators["mixed-sensitivity"] = \
            lambda b: allocate_sensitivity(shapes, b, sens, cfg.granularity)
    platforms = {}  # the mixed models' platforms: the kernel variants closing gave up
    for tag, allocator in allocators.items():
        closed = _closed_on_build(out, tag, allocator, shapes, float_model, stages.calib[:1],
                                  platform, budget, left)
        allocations.append((tag, replace(closed.allocation,  # into its allocation.json
                                         excluded_kernels=closed.excluded_kernels)))
        platforms[tag] = closed.platform_for(platform)
    for tag, alloc in allocations:
        qat = stages.train_qat(tag, float_model, chosen.width, alloc)
        rows.append(replace(stages.integer_row(tag, qat, shapes, alloc, left, rows[0].top1_float),
                            width=chosen.width))
    rows.append(uniform_row(stages, "int8-fit", selection.baseline.width, left))
    save_test_inputs(out, stages)
    # bit-exact on the emulated core, fits from its linked ELF; the host build (gcc) is the
    # demo's and the tests' check
    rows = deploy_rows(out, rows, platform, cfg.emulate, {r.name for r in rows[1:]},
                       host_check=False, budget=budget, platforms=platforms)
    return [{**r.to_dict(), "network": f"{chosen.family} w{r.width:g}"} for r in rows]


def _closed_on_build(out: Path, tag: str, allocator, shapes, float_model, example, platform,
                     budget: MemoryBudget, left: MemoryBudget) -> ClosedAllocation:
    """``allocator``'s allocation closed on ``platform``'s linked build
    (:func:`mixq.api.close_on_target`): first under the model budget ``left``, until the linked
    image and RAM fit ``budget``; each round printed and written to ``out/fit/<tag>.json``."""
    closed = close_on_target(with_model_figures(allocator, shapes), float_model, example,
                             platform, budget, name=tag, start=left, out_dir=out / "fit" / tag,
                             on_step=lambda step: print(f"mixq study: {tag} {step}"))
    write_json_atomic(out / "fit" / f"{tag}.json", [step.to_json() for step in closed.steps])
    return closed
