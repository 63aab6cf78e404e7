"""Optimizer and learning-rate schedule built from a :class:`TrainConfig`."""

from __future__ import annotations

import math

import torch
from torch import nn

from mixq.train.config import TrainConfig


def lr_factor(step: int, total_steps: int, warmup_steps: int, config: TrainConfig) -> float:
    """Multiplier of ``config.lr`` before optimizer step ``step`` (0-based).

    Linear warmup over ``warmup_steps`` steps, then cosine decay to ``min_lr_ratio`` at
    ``total_steps`` (or constant).

    Example:
        >>> c = TrainConfig(min_lr_ratio=0.0)
        >>> [round(lr_factor(s, 10, 2, c), 3) for s in (0, 1, 2, 6, 10)]
        [0.5, 1.0, 1.0, 0.5, 0.0]
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if config.schedule == "constant":
        return 1.0
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``config``; weight decay only on parameters with ndim > 1.

    Biases, BatchNorm affine parameters and scalar parameters (e.g. PACT clipping values) are not
    decayed: decaying them pulls scales and offsets toward 0, which is not a regularizer.

    Example:
        >>> opt = make_optimizer(nn.Linear(2, 3), TrainConfig(weight_decay=0.1))
        >>> [(len(g["params"]), g["weight_decay"]) for g in opt.param_groups]
        [(1, 0.1), (1, 0.0)]
    """
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]] or groups[:1]  # torch rejects empty groups
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr)
    return torch.optim.Adam(groups, lr=config.lr)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR following :func:`lr_factor` (step it after every optimizer step).

    The lambda is a plain closure, so the scheduler's state_dict holds only numbers and can be
    checkpointed.
    """
    total = config.epochs * steps_per_epoch
    warmup = int(round(config.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        return lr_factor(step, total, warmup, config)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
