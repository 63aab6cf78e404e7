"""Training hyper-parameters: one frozen dataclass with commented defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mixq.errors import MixqError

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Same config (seed included) and same initial model give the same weights.

    Example:
        >>> TrainConfig(epochs=3, lr=0.01).optimizer
        'adam'
        >>> TrainConfig(optimizer="rmsprop")
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: TrainConfig.optimizer='rmsprop' is not one of ('adam', 'adamw', 'sgd')
    """

    epochs: int = 20              # passes over the training split
    batch_size: int = 64          # samples per step; an incomplete last batch is dropped
    lr: float = 3e-3              # peak learning rate, reached after warmup
    weight_decay: float = 1e-4    # applied to weight matrices/kernels only (ndim > 1), not to
                                  # biases, BatchNorm or scalar clipping parameters
    optimizer: str = "adam"       # 'adam' (L2 decay), 'adamw' (decoupled decay), 'sgd'
    momentum: float = 0.9         # sgd only (Nesterov)
    schedule: str = "cosine"      # 'cosine': per step from lr down to min_lr_ratio * lr;
                                  # 'constant': lr throughout (after warmup)
    warmup_epochs: float = 0.0    # linear ramp from 0 to lr over this many epochs
    min_lr_ratio: float = 0.0     # final lr of the cosine schedule, as a fraction of lr
    label_smoothing: float = 0.0  # cross-entropy label smoothing, in [0, 1)
    grad_clip_norm: float | None = None  # clip the global gradient norm (None: no clipping)
    seed: int = 0                 # seeds python, numpy, torch, batch order and augmentation

    def __post_init__(self):
        def bad(field_name, rule):
            return MixqError(f"TrainConfig.{field_name}={getattr(self, field_name)!r} {rule}")

        if self.epochs < 0:
            raise bad("epochs", "must be >= 0")
        if self.batch_size <= 0:
            raise bad("batch_size", "must be positive")
        if not self.lr > 0:
            raise bad("lr", "must be positive")
        if self.weight_decay < 0:
            raise bad("weight_decay", "must be >= 0")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", f"is not one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise bad("schedule", f"is not one of {SCHEDULES}")
        if self.warmup_epochs < 0:
            raise bad("warmup_epochs", "must be >= 0")
        if not 0 <= self.min_lr_ratio <= 1:
            raise bad("min_lr_ratio", "must be in [0, 1]")
        if not 0 <= self.label_smoothing < 1:
            raise bad("label_smoothing", "must be in [0, 1)")
        if self.grad_clip_norm is not None and not self.grad_clip_norm > 0:
            raise bad("grad_clip_norm", "must be positive or None")

    def to_dict(self) -> dict:
        """Plain dict of the fields (what checkpoints store).

        Example:
            >>> TrainConfig(seed=3).to_dict()["seed"]
            3
        """
        return asdict(self)
