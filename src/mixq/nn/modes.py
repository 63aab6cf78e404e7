"""One way to run a model in eval mode and give it back as it was."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

from torch import nn


@contextmanager
def eval_mode(model: nn.Module, *, keep_training: Iterable[nn.Module] = ()) -> Iterator[nn.Module]:
    """Every module of ``model`` in eval mode inside the block; each module's own train/eval flag
    restored on exit (also on an exception).

    Two uses share it: plain evaluation (dropout off, BatchNorm uses its running statistics), and
    BatchNorm re-estimation, where ``keep_training`` lists the BatchNorm layers that must update
    their statistics while everything else is in eval mode. Restoring each module's flag (not
    ``model.train(was_training)``, which would overwrite every submodule with the root's flag)
    keeps a deliberately frozen submodule frozen.

    Example:
        >>> m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).train()
        >>> _ = m[1].eval()  # a frozen BatchNorm inside a training model
        >>> with eval_mode(m, keep_training=[m[0]]):
        ...     [m.training, m[0].training, m[1].training]
        [False, True, False]
        >>> [m.training, m[0].training, m[1].training]
        [True, True, False]
    """
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        for m in keep_training:
            m.train()
        yield model
    finally:
        for m, training in modes:
            m.training = training
