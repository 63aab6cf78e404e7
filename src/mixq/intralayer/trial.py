"""One sweep trial: QAT from the shared float model, integerize, check, measure.

Runs in a sweep worker process (or in-process); everything it needs arrives as plain values.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
import time
from pathlib import Path

import torch

from mixq.data import Split, load_dataset
from mixq.intralayer.qat import IntraLayerConfig, cost_summary, train_intralayer
from mixq.ir.capture import input_codes, integer_codes, integerize
from mixq.ir.interpret import interpret
from mixq.models import get_model
from mixq.train import TrainConfig, evaluate, load_checkpoint


@functools.lru_cache(maxsize=2)
def sweep_dataset(name: str, root, options: tuple, train_samples: int | None = None,
                  test_samples: int | None = None):
    """The sweep's dataset, loaded once per process; ``train_samples`` / ``test_samples`` cut
    its splits to their first that many samples (None: whole).

    Example:
        >>> d = sweep_dataset("synthetic", None, (("num_samples", 40),), 10, 3)
        >>> len(d.train), len(d.test)
        (10, 3)
    """
    data = load_dataset(name, root, **dict(options))
    cut = {}
    for split, n in (("train", train_samples), ("test", test_samples)):
        if n is not None and n < len(getattr(data, split)):
            cut[split] = Split(*getattr(data, split).take(slice(0, n)))
    return dataclasses.replace(data, **cut) if cut else data


def float_model(cfg, data) -> torch.nn.Module:
    """A freshly initialised float model of the sweep (seeded by the first seed)."""
    c, h, _ = data.input_shape
    torch.manual_seed(cfg.seeds[0] if cfg.seeds else 0)
    return get_model(cfg.model, num_classes=data.num_classes, width=cfg.width, resolution=h,
                     in_channels=c)


def float_model_id(cfg) -> dict:
    return {"model": cfg.model, "width": cfg.width, "dataset": cfg.dataset, "stage": "float",
            "float_recipe": cfg.float_recipe_hash()}


def float_train_config(cfg) -> TrainConfig:
    seed = cfg.seeds[0] if cfg.seeds else 0
    return TrainConfig(epochs=cfg.float_epochs, lr=cfg.float_lr, seed=seed)


def intralayer_config(trial, cfg) -> IntraLayerConfig:
    """The :class:`IntraLayerConfig` of a trial under the sweep's recipe."""
    common = dict(act_bits=cfg.act_bits, edge_bits=cfg.edge_bits,
                  reselect_every=cfg.reselect_every, freeze_last=cfg.freeze_last,
                  fisher_batches=cfg.fisher_batches)
    if trial.kind == "reference":
        return IntraLayerConfig(density=0.0, middle_bits=trial.bits, **common)
    if trial.kind == "ternary":
        return IntraLayerConfig(density=0.0, **common)
    return IntraLayerConfig(density=trial.density, structure=trial.structure,
                            criterion=trial.criterion, **common)


def run_trial(trial, cfg, float_ckpt) -> dict:
    """Train and measure one trial; returns its ``results.jsonl`` record.

    Args:
        trial: a :class:`mixq.intralayer.sweep.Trial`.
        cfg: the :class:`mixq.intralayer.sweep.SweepConfig`.
        float_ckpt: the trained float model's checkpoint: its path, or its bytes (what the
            sweep sends, so that workers on other machines need no shared file system).
    """
    start = time.perf_counter()
    data = sweep_dataset(cfg.dataset, cfg.data_root, tuple(cfg.dataset_options),
                         cfg.train_samples, cfg.test_samples)
    model = float_model(cfg, data)
    if isinstance(float_ckpt, bytes):
        with tempfile.TemporaryDirectory(prefix="mixq-trial-") as tmp:
            (Path(tmp) / "float.ckpt").write_bytes(float_ckpt)
            load_checkpoint(Path(tmp) / "float.ckpt", model, model_id=float_model_id(cfg))
    else:
        load_checkpoint(Path(float_ckpt), model, model_id=float_model_id(cfg))
    icfg = intralayer_config(trial, cfg)
    train_cfg = TrainConfig(epochs=cfg.qat_epochs, lr=cfg.qat_lr, seed=trial.seed)
    qat, result = train_intralayer(model, data, icfg, train_cfg, progress=False, desc=trial.id)
    graph = integerize(qat, data.input_shape, name=f"{cfg.model}-{trial.id}")
    x, y = data.test.x, data.test.y.numpy()
    codes = interpret(graph, input_codes(qat, x))
    mismatches = int((codes != integer_codes(qat, x)).reshape(len(x), -1).any(axis=1).sum())
    cost = cost_summary(qat)
    return {
        "trial": trial.id, "kind": trial.kind, "density": trial.density,
        "structure": trial.structure, "criterion": trial.criterion, "bits": trial.bits,
        "seed": trial.seed, "recipe": cfg.recipe_hash(),
        "top1_fakequant": evaluate(qat, data.test),
        "top1_integer": float((codes.argmax(-1) == y).mean()),
        "integer_mismatches": mismatches, "test_samples": len(y),
        "sparse_layers": sum(1 for n in graph.weight_nodes if n.sparse is not None),
        "qat_history": [round(h.test_top1, 4) for h in result.history],
        "seconds": round(time.perf_counter() - start, 2),
        **{k: v for k, v in cost.items() if k != "layers"},
        "layers": cost["layers"],
    }
