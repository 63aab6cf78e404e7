"""``mixq demo``: float, 8-bit and memory-driven mixed-precision models on one task, one report.

The pipeline, in execution order (:func:`run_demo`; each training run checkpoints atomically and
resumes when re-run):

1. train the float model;
2. set the budget (unless given: the uniform 8-bit model's linked build with its weights' and
   activations' bytes cut to fractions) and allocate bits under it (Rusci et al. 2020), closed on
   the target's linked build (:func:`mixq.deploy.fit_loop.close_allocation`: code, then weights;
   its kernel trades kept in ``models/mixed/allocation.json``, as an ``--allocation``'s honoured);
3. QAT the 8-bit, the mixed and the reference models; integerize each, check the graph bit for bit
   against the QAT integer-exact mode;
4. find the widest 8-bit model whose linked build fits the same budget ("int8-fit") and train it
   the same way;
5. build every integer model for the target (``fits`` from the linked image and RAM), save the
   test inputs and deploy the quantized models to the emulated core;
6. write ``report.json``, ``report.md`` and ``tradeoff.png`` (rendering: :mod:`mixq.report`).
"""

from __future__ import annotations

import hashlib
import io
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from mixq.data import load_dataset
from mixq.deploy.fit import LinkedFit, link_fit
from mixq.deploy.fit_loop import close_allocation
from mixq.errors import MixqError
from mixq.fileio import write_bytes_atomic
from mixq.ir.capture import input_codes, integer_codes, integerize
from mixq.ir.interpret import interpret
from mixq.ir.serialize import save_graph
from mixq.models import get_model
from mixq.nn import prepare
from mixq.platform import get_platform
from mixq.quant.spec import BitAllocation
from mixq.report.render import write_report
from mixq.report.rows import ModelRow
from mixq.search.memory import (MemoryBudget, flash_bytes, layer_shapes, ram_peak_bytes,
                               with_model_figures)
from mixq.search.memory_driven import allocate_bits
from mixq.train import TrainConfig, evaluate, train
from mixq.train.distributed import is_writer, resolve_device

MODEL_NAMES = ("float", "int8", "int8-fit", "mixed")


@dataclass(frozen=True)
class DemoConfig:
    """What the demo trains and under which budget.

    Attributes:
        dataset: 'digits' (embedded default), 'cifar10' or 'mnist' (read from ``data_root``).
        data_root: folder with the dataset's standard files (not needed for digits).
        seed: seeds data split, initialisation and training.
        quick: a few epochs only (smoke tests); accuracy is then not meaningful.
        flash_bytes, ram_bytes: the budget; None = the 8-bit model's linked build with its
            weights' bytes scaled by ``flash_fraction`` and its activations' peak bytes by
            ``ram_fraction`` (code, stack and buffers kept): the 8-bit model does not fit.
        emulate: test inputs run on the emulated Cortex-M7 per deployed model (0: no deploy).
        target: target name: every integer model is built for it (``fits``) and deployed on it.
        width: width multiplier of the demo network.
        granularity: 'per-channel' (MixPC) or 'per-layer' (MixPL).
        device: where training runs: 'auto' (CUDA when present), 'cpu' or 'cuda'. Under
            ``torchrun`` every process trains its share of each batch, rank 0 alone writes.
    """

    dataset: str = "digits"
    data_root: str | None = None
    seed: int = 0
    quick: bool = False
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    emulate: int = 100
    target: str = "stm32h7"
    width: float = 1.0
    granularity: str = "per-channel"
    allocation: str | None = None   # JSON file: use this allocation for the mixed model
    reference_bits: int | None = 2  # also train a uniform w{b}a{b} model as a reference point
    float_epochs: int = 20          # float pre-training
    qat_epochs: int = 10            # each QAT run, starting from the float weights
    flash_fraction: float = 1.25    # default budget: the 8-bit build with its weights' bytes
    ram_fraction: float = 0.5       # at 125% (room for the sub-byte kernels' code) and its
                                    # activations' peak bytes at 50%
    calibration_samples: int = 256  # float activations used to initialise PACT ranges
    check_samples: int | None = None  # test samples on which ir.interpret is compared with the
                                      # QAT integer-exact mode (None: all)
    device: str = "auto"
    threads: int = 1                # torch threads: the demo net is too small to gain from more,
                                    # and on a busy 2-core machine 2 threads ran 25x slower

    @property
    def float_config(self) -> TrainConfig:
        return TrainConfig(epochs=2 if self.quick else self.float_epochs, lr=3e-3, seed=self.seed)

    @property
    def qat_config(self) -> TrainConfig:
        return TrainConfig(epochs=1 if self.quick else self.qat_epochs, lr=1e-3, seed=self.seed)


def run_demo(out, cfg: DemoConfig = DemoConfig()) -> dict:
    """Run the whole demo into folder ``out``; returns the report dict (also in report.json).

    Raises:
        MixqError: bad dataset/budget (e.g. a budget no allocation can meet).
    """
    out = Path(out)
    torch.set_num_threads(cfg.threads)
    resolve_device(cfg.device)  # no GPU for --device cuda fails now, not after data loading
    platform = get_platform(cfg.target)  # an unknown target fails now, not after training
    user_alloc = BitAllocation.load(cfg.allocation) if cfg.allocation else None
    demo = Stages(out, cfg, platform=platform)

    # 1. the float model
    float_model, _ = demo.train_float("float", cfg.width)
    shapes = layer_shapes(float_model, demo.input_shape)
    layers = [(s.name, s.kind) for s in shapes]

    # 2. the budget and the allocations
    int8 = BitAllocation.uniform(layers, 8, cfg.granularity)
    budget = default_budget(shapes, cfg, None if cfg.flash_bytes and cfg.ram_bytes else
                            demo.sizing_fit("int8", float_model, int8))
    first = float_row(float_model, shapes, budget, evaluate(float_model, demo.data.test))
    steps = []
    runs = [("int8", int8), ("mixed", _mixed_allocation(user_alloc, demo, float_model, shapes,
                                                         layers, budget, steps))]
    if cfg.reference_bits:
        b = cfg.reference_bits
        runs.append((f"w{b}a{b}", BitAllocation.uniform(layers, b, cfg.granularity)))

    # 3. QAT + integer graph of each allocation
    rows = [first]
    for tag, alloc in runs:
        qat = demo.train_qat(tag, float_model, cfg.width, alloc)
        rows.append(demo.integer_row(tag, qat, shapes, alloc, budget, first.top1_float))
    references = [r for r in rows if r.name not in MODEL_NAMES]
    rows = [r for r in rows if r.name in MODEL_NAMES]

    # 4. the widest uniform 8-bit model that fits
    rows.append(_int8_fit_row(demo, budget))
    rows.sort(key=lambda r: MODEL_NAMES.index(r.name))
    rows, references = (linked_rows(out / "fit", r, platform, budget, demo.fits, demo.platforms)
                        for r in (rows, references))

    # 5. deployment on the emulated core (under torchrun the other ranks only helped train)
    writer = is_writer()
    if writer:
        save_test_inputs(out, demo)
        if cfg.emulate > 0:
            rows = deploy_rows(out, rows, platform, cfg.emulate, DEPLOYED,
                               platforms=demo.platforms)

    # 6. the report
    report = {"budget": {"flash_bytes": budget.flash_bytes, "ram_bytes": budget.ram_bytes},
              "dataset": cfg.dataset, "config": asdict(cfg),
              "fit_steps": [s.to_json() for s in steps],
              "models": [r.to_dict() for r in rows],
              "references": [r.to_dict(with_bits=False) for r in references]}
    if writer:
        write_report(out, report)
    return report


def _alloc_hash(alloc: BitAllocation) -> str:  # the bits (the kernels do not change training)
    return hashlib.sha256(replace(alloc, excluded_kernels=()).to_json().encode()).hexdigest()[:12]


class Stages:
    """The dataset and the training steps shared by every model of one run.

    The demo uses it with ``demo_net``; ``mixq study`` with a zoo network (any registered model
    taking ``width``, ``resolution``, ``in_channels`` and ``num_classes``) and its own data.

    Args:
        out: run folder (checkpoints under ``out/models/<tag>/``).
        cfg: seed, epochs, calibration samples, device.
        model: registered model name (:func:`mixq.models.get_model`).
        data: the dataset; None = ``load_dataset(cfg.dataset, cfg.data_root)``.
        platform: the target the models are built for (:meth:`sizing_fit`); None =
            ``cfg.target``.
    """

    def __init__(self, out: Path, cfg: DemoConfig, model: str = "demo_net", data=None,
                 platform=None):
        self.out, self.cfg, self.model = out, cfg, model
        self._platform = platform
        self.fits: dict[str, LinkedFit] = {}  # model tag -> linked figures already measured
        self.platforms: dict = {}  # model tag -> its platform (kernel variants traded away)
        self.data = load_dataset(cfg.dataset, cfg.data_root) if data is None else data
        self.input_shape = tuple(self.data.input_shape)
        self.calib = self.data.train.x[: cfg.calibration_samples]

    def float_model(self, width: float) -> torch.nn.Module:
        c, h, _ = self.input_shape
        torch.manual_seed(self.cfg.seed)
        return get_model(self.model, num_classes=self.data.num_classes, width=width,
                         resolution=h, in_channels=c)

    def train_float(self, tag: str, width: float):
        model = self.float_model(width)
        res = train(model, self.data, self.cfg.float_config, desc=f"{tag} float",
                    checkpoint_path=self.out / "models" / tag / "float.ckpt",
                    model_id={"model": self.model, "width": width, "stage": "float"},
                    device=self.cfg.device, mixed_precision=True)
        return model.cpu(), res

    def train_qat(self, tag: str, float_model, width: float, alloc: BitAllocation):
        qat = prepare(float_model, alloc, calibration=self.calib)  # copies the weights
        train(qat, self.data, self.cfg.qat_config, desc=f"{tag} QAT",
              checkpoint_path=self.out / "models" / tag / "qat.ckpt",
              model_id={"model": self.model, "width": width,
                        "allocation": _alloc_hash(alloc)},
              device=self.cfg.device)
        qat.cpu().eval()
        if is_writer():
            write_bytes_atomic(self.out / "models" / tag / "allocation.json",
                               alloc.to_json().encode())
        return qat

    @property
    def platform(self):
        """The target the models are built for (``cfg.target`` unless given)."""
        self._platform = self._platform or get_platform(self.cfg.target)
        return self._platform

    def sizing_graph(self, float_model, alloc: BitAllocation):
        """The integer graph of ``alloc`` without training (its sizes are the trained one's)."""
        qat = prepare(float_model, alloc, example_input=self.calib[:1], sizing_only=True)
        return integerize(qat.eval(), self.input_shape, name="sizing")

    def sizing_fit(self, tag: str, float_model, alloc: BitAllocation) -> LinkedFit:
        """The linked figures of ``alloc`` on the target (built, not trained or emulated)."""
        fit = link_fit(self.sizing_graph(float_model, alloc), self.out / "fit" / tag, self.platform)
        return self.fits.setdefault(tag, fit)

    def integer_row(self, tag: str, qat, shapes, alloc, budget, top1_float: float) -> ModelRow:
        graph = integerize(qat, self.input_shape, name=f"{self.model}-{tag}")
        if is_writer():
            save_graph(graph, self.out / "models" / tag)
        x, y = self.data.test.x, self.data.test.y.numpy()
        codes = interpret(graph, input_codes(qat, x))
        n = len(x) if self.cfg.check_samples is None else min(len(x), self.cfg.check_samples)
        mismatches = int((codes[:n] != integer_codes(qat, x[:n])).reshape(n, -1).any(axis=1).sum())
        flash, ram = flash_bytes(shapes, alloc), ram_peak_bytes(shapes, alloc)
        return ModelRow(tag, top1_float, evaluate(qat, self.data.test),
                        float((codes.argmax(-1) == y).mean()), flash, ram,
                        sum(s.macs for s in shapes),
                        flash <= budget.flash_bytes and ram <= budget.ram_bytes, mismatches,
                        allocation=alloc, graph=graph)


def default_budget(shapes, cfg: DemoConfig, int8_fit: LinkedFit | None = None) -> MemoryBudget:
    """The configured budget, or the uniform 8-bit model's linked build (``int8_fit``) with its
    weights' bytes (memory model) scaled by ``flash_fraction`` and its activations' peak bytes by
    ``ram_fraction``: the kernels' code, stack and buffers stay. (Below 1 for flash, the
    sub-byte kernels' code outweighs what a 6 kB network saves on its weights: measured, the
    mixed demo_net's image was 712 B larger than the 8-bit one's with half its weight bytes.)"""
    int8 = BitAllocation.uniform([(s.name, s.kind) for s in shapes], 8, cfg.granularity)
    cut_flash = int(flash_bytes(shapes, int8) * (1 - cfg.flash_fraction))
    cut_ram = int(ram_peak_bytes(shapes, int8) * (1 - cfg.ram_fraction))
    return MemoryBudget(cfg.flash_bytes or int8_fit.flash_bytes - cut_flash,
                        cfg.ram_bytes or int8_fit.ram_bytes - cut_ram)


def float_row(model, shapes, budget: MemoryBudget, top1: float) -> ModelRow:
    """The float model's row: fp32 weights (4 B each) and the largest fp32 input + output."""
    params = sum(p.numel() for p in model.parameters())
    ram = max(4 * (int(np.prod(s.in_shape)) + int(np.prod(s.out_shape))) for s in shapes)
    flash = 4 * params
    return ModelRow("float", top1, None, None, flash, ram, sum(s.macs for s in shapes),
                    flash <= budget.flash_bytes and ram <= budget.ram_bytes, None)


def _mixed_allocation(user_alloc, demo: Stages, float_model, shapes, layers, budget,
                      steps: list) -> BitAllocation:
    """The user's allocation (checked against the network's layers) or the memory-driven one,
    closed on the target's linked build (its rounds appended to ``steps``)."""
    cfg = demo.cfg
    if user_alloc is None:
        allocate = with_model_figures(lambda b: allocate_bits(shapes, b, cfg.granularity), shapes)
        closed = close_allocation(allocate, lambda a: demo.sizing_graph(float_model, a),
                                  demo.platform, budget, out_dir=demo.out / "fit" / "mixed",
                                  on_step=lambda s: print(f"mixq: mixed allocation {s}",
                                                          file=sys.stderr, flush=True))
        steps.extend(closed.steps)
        demo.fits["mixed"] = closed.fit
        demo.platforms["mixed"] = closed.platform_for(demo.platform)  # its allocation.json too
        return replace(closed.allocation, excluded_kernels=closed.excluded_kernels)
    if user_alloc.names != tuple(n for n, _ in layers):
        raise MixqError(f"{cfg.allocation}: layers {list(user_alloc.names)} do not match "
                        f"demo_net's {[n for n, _ in layers]}; write one entry per layer")
    demo.platforms["mixed"] = replace(demo.platform, excluded_kernels=user_alloc.excluded_kernels)
    return user_alloc


def _fitting_width(demo: Stages, budget: MemoryBudget, granularity: str) -> float | None:
    """Widest demo-net width (steps of 1/16) whose uniform 8-bit model's linked build fits the
    budget (bisection: a narrower network never takes more)."""
    def fits(k: int) -> bool:
        model = demo.float_model(demo.cfg.width * k / 16)
        layers = [(s.name, s.kind) for s in layer_shapes(model, demo.input_shape)]
        return demo.sizing_fit(f"int8-fit-{k}", model, BitAllocation.uniform(
            layers, 8, granularity)).fits(budget.flash_bytes, budget.ram_bytes)

    lo, hi = 1, 16  # fits(lo) holds
    if not fits(1):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    demo.fits["int8-fit"] = demo.fits[f"int8-fit-{lo}"]
    return demo.cfg.width * lo / 16


def _int8_fit_row(demo: Stages, budget: MemoryBudget) -> ModelRow:
    cfg = demo.cfg
    width = _fitting_width(demo, budget, cfg.granularity)
    if width is None:
        raise MixqError(f"no 8-bit demo_net fits flash {budget.flash_bytes} B / RAM "
                        f"{budget.ram_bytes} B; raise the budget")
    return uniform_row(demo, "int8-fit", width, budget)


def uniform_row(demo: Stages, tag: str, width: float, budget: MemoryBudget,
                bits: int = 8) -> ModelRow:
    """Train the network at ``width`` in float, then uniform ``bits``-bit QAT; its row.

    Its float model is its own (trained under ``tag``), so its ``top1_float`` is that model's.
    """
    fit_float, _ = demo.train_float(tag, width)
    fit_shapes = layer_shapes(fit_float, demo.input_shape)
    fit_alloc = BitAllocation.uniform([(s.name, s.kind) for s in fit_shapes], bits,
                                      demo.cfg.granularity)
    qat = demo.train_qat(tag, fit_float, width, fit_alloc)
    return replace(demo.integer_row(tag, qat, fit_shapes, fit_alloc, budget,
                                    evaluate(fit_float, demo.data.test)), width=width)


def save_test_inputs(out: Path, demo: Stages) -> None:
    """Test-set input codes (u8 NHWC) and labels, for ``mixq deploy RUN_DIR``."""
    x = demo.data.test.x
    codes = torch.clamp(torch.round(x * 255.0), 0, 255).to(torch.uint8).permute(0, 2, 3, 1)
    buf = io.BytesIO()
    np.savez(buf, inputs=codes.numpy(), labels=demo.data.test.y.numpy())
    write_bytes_atomic(out / "test_inputs.npz", buf.getvalue())


DEPLOYED = ("int8", "mixed", "int8-fit")


def linked_rows(out: Path, rows: list[ModelRow], platform, budget: MemoryBudget,
                known: dict | None = None, platforms: dict | None = None) -> list[ModelRow]:
    """Each row with a graph given its linked figures and ``fits`` from them
    (:meth:`ModelRow.with_linked`): from ``known`` (name -> :class:`LinkedFit` of an untrained
    build of the same allocation: same sizes, checked by the demo test against the deployed
    ELFs), else built for ``platforms[name]`` or ``platform`` (``out/<name>/``, no emulation)."""
    known, platforms = known or {}, platforms or {}
    return [r if r.graph is None else r.with_linked(known.get(r.name) or link_fit(
        r.graph, Path(out) / r.name, platforms.get(r.name, platform)), budget) for r in rows]


def deploy_rows(out: Path, rows: list[ModelRow], platform, emulate: int, names,
                host_check: bool = True, budget: MemoryBudget | None = None,
                platforms: dict | None = None) -> list[ModelRow]:
    """The rows with the deployment figures of each model named in ``names`` added (others,
    and rows without a graph, unchanged); each deploys into ``out/deploy/<name>/`` and checks
    ``emulate`` inputs of ``out/test_inputs.npz`` bit for bit on ``platform``'s emulator (or
    ``platforms[name]``: a closed allocation's, with its traded kernels). ``host_check``: also
    build and run on the host with gcc (10 of the 13 CPU seconds of a MobileNetV1-0.125
    deployment). ``budget``: the rows take the deployed ELF's linked figures and ``fits``."""
    from mixq.deploy.rundir import deploy_row_fields, deploy_with_progress, load_test_inputs

    inputs, _ = load_test_inputs(out)
    done = []
    for row in rows:
        if row.graph is None or row.name not in names:
            done.append(row)
            continue
        result = deploy_with_progress(row.name, row.graph, out / "deploy" / row.name,
                                      (platforms or {}).get(row.name, platform),
                                      emulate=emulate, inputs=inputs,
                                      host_check=host_check)
        fields = {**deploy_row_fields(result), "target": result.target, "cpu": result.cpu}
        if result.cluster is not None:  # PULP targets: the multi-core cluster's latency
            c = result.cluster
            fields.update({"est_cluster_cycles": c["est_cycles"],
                           "est_cluster_latency_ms": c["est_latency_ms"],
                           "cluster_clock_hz": c["clock_hz"], "cluster_cores": c["cores"]})
        # the deployed ELF's figures unless the row has them (the demo's untrained build's);
        # with a budget, ``fits`` from them
        fit = row.linked or result.fit
        row = row.with_linked(fit, budget) if budget is not None else replace(row, linked=fit)
        done.append(replace(row, deployment=fields))
    return done
