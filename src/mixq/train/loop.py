"""The training loop: model-agnostic, seeded, resumable.

Works on any ``nn.Module`` mapping float32 NCHW images to logits; QAT models from ``mixq.nn`` are
ordinary modules to it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mixq.data import DatasetSplits, Split, batches, epoch_seed, num_batches
from mixq.errors import MixqError
from mixq.nn.modes import eval_mode
from mixq.train.checkpoint import (apply_checkpoint, check_config, check_model_id,
                                   read_checkpoint, save_checkpoint, set_rng_state)
from mixq.train.config import TrainConfig
from mixq.train.distributed import (all_sum, autocast, join_process_group, resolve_device, shard,
                                    sync_buffers, unwrap_ddp, wrap_ddp)
from mixq.train.progress import Progress
from mixq.train.schedule import make_optimizer, make_scheduler


@dataclass(frozen=True)
class EpochStats:
    """One epoch of training.

    Attributes:
        epoch: 0-based epoch index.
        loss: mean training loss over the epoch's batches.
        train_top1: training accuracy (on augmented batches, in training mode), in [0, 1].
        test_top1: test accuracy after the epoch, in [0, 1].
        lr: learning rate of the epoch's last step.
    """

    epoch: int
    loss: float
    train_top1: float
    test_top1: float
    lr: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        top1: final test top-1 accuracy in [0, 1] (the weights after the last epoch).
        history: one EpochStats per epoch, including epochs restored from a checkpoint.
        start_epoch: epoch this call started at (> 0 when it resumed from a checkpoint).
    """

    top1: float
    history: tuple[EpochStats, ...]
    start_epoch: int = 0


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (CPU for a model with neither)."""
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def evaluate(model: nn.Module, split: Split, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on ``split``, in eval mode, without gradients.

    Every submodule's train/eval flag is restored afterwards, so a model with some modules
    deliberately in eval mode (e.g. frozen BatchNorm during QAT) comes back exactly as it was.

    Args:
        model: maps float32 NCHW images to logits (N, num_classes).
        split: the data.
        batch_size: images per forward pass.

    Returns:
        Fraction of correctly classified images, in [0, 1].

    Raises:
        MixqError: the split is empty.

    Example:
        >>> m = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).train()
        >>> s = Split(torch.rand(5, 1, 2, 2), torch.zeros(5, dtype=torch.int64))
        >>> 0.0 <= evaluate(m, s) <= 1.0, m.training
        (True, True)
    """
    if len(split) == 0:
        raise MixqError("cannot evaluate on an empty split")
    device = model_device(model)
    correct = 0
    with eval_mode(model), torch.no_grad():
        for x, y in batches(split, batch_size):
            logits = model(x.to(device))
            correct += int((logits.argmax(dim=1).cpu() == y).sum())
    return correct / len(split)


def train(model: nn.Module, data: DatasetSplits, config: TrainConfig = TrainConfig(), *,
          checkpoint_path=None, resume: bool = True, progress: bool = True, desc: str = "train",
          model_id: dict | None = None,
          on_epoch_end: Callable[[int, nn.Module], None] | None = None,
          device=None, mixed_precision: bool = False) -> TrainResult:
    """Train ``model`` on ``data.train`` (cross-entropy), evaluating on ``data.test`` each epoch.

    Reproducible: python, numpy and torch are seeded from ``config.seed`` at the start, and each
    epoch's batch order and augmentation come from (seed, epoch) alone, so the same config and the
    same initial weights give the same final weights, resumed or not. The model is trained on the
    device of its parameters (batches are moved there). Deterministic kernels are not forced
    (``torch.use_deterministic_algorithms``): CPU kernels already are, for a fixed thread count.

    With ``checkpoint_path``, a checkpoint is written atomically after every epoch. If the file
    exists and ``resume`` is true, it must belong to this model (``model_id``, state_dict keys
    and shapes) and config, otherwise MixqError is raised and the file is left untouched;
    training then continues at the next epoch (a finished run just re-evaluates). With
    ``resume=False`` an existing file is overwritten.

    Started by ``torchrun`` (``WORLD_SIZE`` > 1), every process trains a DistributedDataParallel
    replica on rows ``rank::world_size`` of each global batch (``batch_size`` must be a multiple
    of the process count) and the gradients are averaged, so the steps are those of one process
    on the same global batches (up to float summation order, and BatchNorm statistics per rank
    on CPU: :mod:`mixq.train.distributed`). Rank 0 alone writes the checkpoint; it holds the
    plain model, so any number of processes can resume it.

    Args:
        model: any module mapping float32 NCHW images in [0, 1] to logits (N, num_classes).
        data: train and test splits; ``data.augment`` is applied to training batches.
        config: hyper-parameters and seed.
        checkpoint_path: file to save/resume from, or None for no checkpoints.
        resume: continue from an existing checkpoint at ``checkpoint_path``.
        progress: show progress (a bar on a terminal, one line per epoch otherwise).
        desc: label for the progress display.
        model_id: JSON-able dict naming the architecture; stored in and checked against the
            checkpoint.
        on_epoch_end: ``f(epoch, model)`` called after each epoch's training steps, before the
            test evaluation and the checkpoint (``epoch`` is the 0-based index just finished;
            e.g. QAT freezes BatchNorm statistics here). When resuming, it is first called for
            every completed epoch, before the saved weights are loaded, so that state it sets
            outside the state_dict (module flags) is restored; changes it makes to weights are
            then overwritten by the checkpoint.
        device: 'auto', 'cpu', 'cuda' or a torch.device to move the model to first (None: train
            where the model is).
        mixed_precision: bfloat16 autocast on CUDA (float pre-training; leave False for QAT,
            whose fake quantizers need float32). Ignored on the CPU.

    Returns:
        TrainResult with the final test top-1 and the per-epoch history. The model is left in
        training mode (with whatever flags ``on_epoch_end`` set).

    Raises:
        MixqError: checkpoint from another model or config, corrupt checkpoint, or a non-finite
            loss (lower the learning rate).

    Example:
        >>> from mixq.data import synthetic
        >>> data = synthetic(200, (1, 4, 4), num_classes=2)
        >>> _ = torch.manual_seed(0)
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
        >>> result = train(model, data, TrainConfig(epochs=3, batch_size=32, lr=0.05),
        ...                progress=False)
        >>> len(result.history), result.top1 > 0.9
        (3, True)
    """
    seed_everything(config.seed)
    if device is not None:
        model.to(resolve_device(device))
    device = model_device(model)
    ranks = join_process_group(device)
    drop_last = len(data.train) >= config.batch_size  # no BatchNorm step on a 1-sample tail
    if ranks.distributed and (config.batch_size % ranks.world_size or not drop_last):
        raise MixqError(f"{desc}: batch size {config.batch_size} must be a multiple of the "
                        f"{ranks.world_size} processes and at most the {len(data.train)} "
                        "training samples; change --nproc_per_node or the batch size")
    steps_per_epoch = num_batches(len(data.train), config.batch_size, drop_last)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    model.train()

    start_epoch, history = 0, []
    if checkpoint_path is not None and resume and Path(checkpoint_path).exists():
        payload = read_checkpoint(checkpoint_path)
        check_model_id(payload, checkpoint_path, model_id)
        check_config(payload, checkpoint_path, config)
        if on_epoch_end is not None:
            for epoch in range(int(payload["epoch"])):
                on_epoch_end(epoch, model)
        ckpt = apply_checkpoint(payload, checkpoint_path, model, optimizer, scheduler)
        start_epoch = min(ckpt.epoch, config.epochs)
        history = [EpochStats(**h) for h in ckpt.history][:start_epoch]
        set_rng_state(ckpt.rng_state)

    net = wrap_ddp(model, device) if ranks.distributed else model
    writes = checkpoint_path is not None and ranks.rank == 0
    bar = Progress(progress and ranks.rank == 0, desc, config.epochs, steps_per_epoch,
                   start_epoch)
    try:
        for epoch in range(start_epoch, config.epochs):
            loss_sum, correct, seen = 0.0, 0, 0
            for x, y in batches(data.train, config.batch_size, shuffle=True,
                                seed=epoch_seed(config.seed, epoch), augment=data.augment,
                                drop_last=drop_last):
                x, y = shard(x.to(device), y.to(device), ranks)
                with autocast(device, mixed_precision):
                    logits = net(x)
                    loss = loss_fn(logits.float(), y)
                loss_value = float(loss.detach())
                if ranks.distributed:  # the global mean; every rank stops on a bad loss
                    loss_value = all_sum([loss_value], device)[0] / ranks.world_size
                if not np.isfinite(loss_value):
                    raise MixqError(f"{desc}: the loss became {loss_value} in epoch {epoch + 1}; "
                                    f"lower the learning rate (lr={config.lr}) or clip gradients "
                                    "(grad_clip_norm)")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.grad_clip_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
                optimizer.step()
                scheduler.step()
                n = len(y) * ranks.world_size
                loss_sum += loss_value * n
                correct += int((logits.detach().argmax(dim=1) == y).sum())
                seen += n
                bar.step(loss_sum / seen, correct * ranks.world_size / seen)  # this rank's
            if ranks.distributed:
                sync_buffers(model)
                correct = int(all_sum([correct], device)[0])
            if on_epoch_end is not None:
                on_epoch_end(epoch, model)
            stats = EpochStats(epoch=epoch, loss=loss_sum / max(seen, 1),
                               train_top1=correct / max(seen, 1),
                               test_top1=evaluate(model, data.test),
                               lr=optimizer.param_groups[0]["lr"])
            history.append(stats)
            bar.epoch(epoch, stats.loss, stats.train_top1, stats.test_top1, stats.lr)
            if writes:
                save_checkpoint(checkpoint_path, model, optimizer=optimizer, scheduler=scheduler,
                                epoch=epoch + 1, config=config, model_id=model_id,
                                history=history)
    finally:
        bar.close()
        if ranks.distributed:
            unwrap_ddp(model)

    top1 = history[-1].test_top1 if start_epoch < config.epochs else evaluate(model, data.test)
    return TrainResult(top1=top1, history=tuple(history), start_epoch=start_epoch)
