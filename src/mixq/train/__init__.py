"""Training: a model-agnostic, seeded, resumable loop with atomic checkpoints.

- :class:`TrainConfig`: hyper-parameters; :func:`train` -> :class:`TrainResult`.
- :func:`evaluate`: top-1 accuracy without changing the model's train/eval flags.
- :func:`save_checkpoint` / :func:`load_checkpoint`: checked against ``model_id`` and shapes.
"""

from mixq.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from mixq.train.config import TrainConfig
from mixq.train.loop import EpochStats, TrainResult, evaluate, seed_everything, train
from mixq.train.schedule import lr_factor, make_optimizer, make_scheduler

__all__ = [
    "Checkpoint", "EpochStats", "TrainConfig", "TrainResult", "evaluate", "load_checkpoint",
    "lr_factor", "make_optimizer", "make_scheduler", "save_checkpoint", "seed_everything", "train",
]
