"""``mixq demo``: float, 8-bit and memory-driven mixed-precision models on one task, one report.

The pipeline, in execution order (:func:`run_demo`; each training run checkpoints atomically and
resumes when re-run):

1. train the float model;
2. set the budget (fractions of the uniform 8-bit model's flash and RAM unless given) and allocate
   bits under it (Rusci et al. 2020);
3. QAT the 8-bit, the mixed and the reference models; integerize each, check the graph bit for bit
   against the QAT integer-exact mode;
4. find the widest 8-bit model that fits the same budget ("int8-fit") and train it the same way;
5. save the test inputs and deploy the quantized models to the emulated core;
6. write ``report.json``, ``report.md`` and ``tradeoff.png`` (rendering: :mod:`mixq.report`).
"""

from __future__ import annotations

import copy
import hashlib
import io
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from mixq.data import load_dataset
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
from mixq.search.memory import MemoryBudget, flash_bytes, layer_shapes, ram_peak_bytes
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
        flash_bytes, ram_bytes: the budget; None = a fraction of the 8-bit model's needs
            (``flash_fraction``, ``ram_fraction``), so that the 8-bit model does not fit.
        emulate: test inputs run on the emulated Cortex-M7 per deployed model (0: no deploy).
        target: deployment target name.
        width: width multiplier of the demo network.
        granularity: 'per-channel' (MixPC) or 'per-layer' (MixPL).
        device: where training runs: 'auto' (CUDA when present), 'cpu' or 'cuda'. Under
            ``torchrun`` every process trains its share of each batch and rank 0 alone
            writes files.
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
    flash_fraction: float = 0.55    # default flash budget / 8-bit model flash
    ram_fraction: float = 0.5       # default RAM budget / 8-bit model peak RAM
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
    _check_target(cfg)  # an unknown target fails now, not after training
    user_alloc = BitAllocation.load(cfg.allocation) if cfg.allocation else None
    demo = Stages(out, cfg)

    # 1. the float model
    float_model, _ = demo.train_float("float", cfg.width)
    shapes = layer_shapes(float_model, demo.input_shape)
    layers = [(s.name, s.kind) for s in shapes]

    # 2. the budget and the allocations
    budget = default_budget(shapes, cfg)
    first = float_row(float_model, shapes, budget, evaluate(float_model, demo.data.test))
    runs = [("int8", BitAllocation.uniform(layers, 8, cfg.granularity)),
            ("mixed", _mixed_allocation(user_alloc, cfg, shapes, layers, budget))]
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

    # 5. deployment on the emulated core (under torchrun the other ranks only helped train)
    writer = is_writer()
    if writer:
        save_test_inputs(out, demo)
        if cfg.emulate > 0:
            rows = deploy_rows(out, rows, get_platform(cfg.target), cfg.emulate, DEPLOYED)

    # 6. the report
    report = {"budget": {"flash_bytes": budget.flash_bytes, "ram_bytes": budget.ram_bytes},
              "dataset": cfg.dataset, "config": asdict(cfg),
              "models": [r.to_dict() for r in rows],
              "references": [r.to_dict(with_bits=False) for r in references]}
    if writer:
        write_report(out, report)
    return report


def _alloc_hash(alloc: BitAllocation) -> str:
    return hashlib.sha256(alloc.to_json().encode()).hexdigest()[:12]


def _check_target(cfg: DemoConfig) -> None:
    if cfg.emulate > 0:
        get_platform(cfg.target)


class Stages:
    """The dataset and the training steps shared by every model of one run.

    The demo uses it with ``demo_net``; ``mixq study`` with a zoo network (any registered model
    taking ``width``, ``resolution``, ``in_channels`` and ``num_classes``) and its own data.

    Args:
        out: run folder (checkpoints under ``out/models/<tag>/``).
        cfg: seed, epochs, calibration samples, device.
        model: registered model name (:func:`mixq.models.get_model`).
        data: the dataset; None = ``load_dataset(cfg.dataset, cfg.data_root)``.
    """

    def __init__(self, out: Path, cfg: DemoConfig, model: str = "demo_net", data=None):
        self.out, self.cfg, self.model = out, cfg, model
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
        qat = prepare(copy.deepcopy(float_model), alloc, calibration=self.calib)
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


def default_budget(shapes, cfg: DemoConfig) -> MemoryBudget:
    """The configured budget, or fractions of the uniform 8-bit model's flash and peak RAM."""
    int8 = BitAllocation.uniform([(s.name, s.kind) for s in shapes], 8, cfg.granularity)
    flash = cfg.flash_bytes or int(flash_bytes(shapes, int8) * cfg.flash_fraction)
    ram = cfg.ram_bytes or int(ram_peak_bytes(shapes, int8) * cfg.ram_fraction)
    return MemoryBudget(flash, ram)


def float_row(model, shapes, budget: MemoryBudget, top1: float) -> ModelRow:
    """The float model's row: fp32 weights (4 B each) and the largest fp32 input + output."""
    params = sum(p.numel() for p in model.parameters())
    ram = max(4 * (int(np.prod(s.in_shape)) + int(np.prod(s.out_shape))) for s in shapes)
    flash = 4 * params
    return ModelRow("float", top1, None, None, flash, ram, sum(s.macs for s in shapes),
                    flash <= budget.flash_bytes and ram <= budget.ram_bytes, None)


def _mixed_allocation(user_alloc, cfg: DemoConfig, shapes, layers, budget) -> BitAllocation:
    """The user's allocation (checked against the network's layers) or the memory-driven one."""
    if user_alloc is None:
        return allocate_bits(shapes, budget, cfg.granularity)
    if user_alloc.names != tuple(n for n, _ in layers):
        raise MixqError(f"{cfg.allocation}: layers {list(user_alloc.names)} do not match "
                        f"demo_net's {[n for n, _ in layers]}; write one entry per layer")
    return user_alloc


def _fitting_width(demo: Stages, budget: MemoryBudget, granularity: str) -> float | None:
    """Widest demo-net width (steps of 1/16) whose uniform 8-bit model fits the budget."""
    for k in range(16, 0, -1):
        width = demo.cfg.width * k / 16
        shapes = layer_shapes(demo.float_model(width), demo.input_shape)
        alloc = BitAllocation.uniform([(s.name, s.kind) for s in shapes], 8, granularity)
        if flash_bytes(shapes, alloc) <= budget.flash_bytes and \
                ram_peak_bytes(shapes, alloc) <= budget.ram_bytes:
            return width
    return None


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


def deploy_rows(out: Path, rows: list[ModelRow], platform, emulate: int, names,
                host_check: bool = True) -> list[ModelRow]:
    """The rows with the deployment figures of each model named in ``names`` added.

    Args:
        out: run folder; each model deploys into ``out/deploy/<name>/``.
        rows: the report rows (rows without a graph or not named are returned unchanged).
        platform: the :class:`mixq.platform.spec.Platform` to deploy on.
        emulate: test inputs (``out/test_inputs.npz``) checked bit for bit on the emulator.
        names: the row names to deploy.
        host_check: also build and run each on the host with gcc (about 10 of the 13 CPU
            seconds of a MobileNetV1-0.125 deployment).
    """
    from mixq.deploy.rundir import deploy_row_fields, deploy_with_progress, load_test_inputs

    inputs, _ = load_test_inputs(out)
    done = []
    for row in rows:
        if row.graph is None or row.name not in names:
            done.append(row)
            continue
        result = deploy_with_progress(row.name, row.graph, out / "deploy" / row.name,
                                      platform, emulate=emulate, inputs=inputs,
                                      host_check=host_check)
        fields = {**deploy_row_fields(result), "target": result.target, "cpu": result.cpu}
        if result.cluster is not None:  # PULP targets: the multi-core cluster's latency
            c = result.cluster
            fields.update({"est_cluster_cycles": c["est_cycles"],
                           "est_cluster_latency_ms": c["est_latency_ms"],
                           "cluster_clock_hz": c["clock_hz"], "cluster_cores": c["cores"]})
        done.append(replace(row, deployment=fields))
    return done
