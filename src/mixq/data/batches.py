"""A DataLoader-free batch iterator: the datasets are small tensors already in memory."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from mixq.data.augment import augment_batch
from mixq.data.splits import Augment, Samples
from mixq.errors import MixqError


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed for one epoch's batch order and augmentation, derived from (seed, epoch).

    Depending only on these two numbers (not on any global RNG) is what lets a resumed run draw
    exactly the batches the uninterrupted run would have drawn.

    Example:
        >>> epoch_seed(0, 1) == epoch_seed(0, 1), epoch_seed(0, 1) != epoch_seed(0, 2)
        (True, True)
    """
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, np.uint64)[0]
               >> np.uint64(1))


def num_batches(num_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches :func:`batches` yields.

    Example:
        >>> num_batches(10, 4), num_batches(10, 4, drop_last=True), num_batches(3, 4, True)
        (3, 2, 0)
    """
    return num_samples // batch_size if drop_last else -(-num_samples // batch_size)


def batches(split: Samples, batch_size: int, *, shuffle: bool = False, seed: int = 0,
            augment: Augment | None = None,
            drop_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Iterate over ``split`` in batches.

    Args:
        split: the data: in memory, or streamed from files (only one batch is loaded at a time).
        batch_size: samples per batch (the last one may be smaller unless ``drop_last``).
        shuffle: visit samples in a random order drawn from ``seed``.
        seed: seeds the order and the augmentation; same seed, same batches.
        augment: random transform applied to each batch's images, or None.
        drop_last: skip a final incomplete batch (keeps BatchNorm away from batches of 1).

    Yields:
        (x, y): float32 images (B, C, H, W) in [0, 1] and int64 labels (B,), on the CPU.

    Raises:
        MixqError: batch_size is not positive.

    Example:
        >>> from mixq.data.splits import Split
        >>> s = Split(torch.rand(10, 1, 2, 2), torch.arange(10))
        >>> [len(y) for _, y in batches(s, 4)]
        [4, 4, 2]
        >>> sorted(torch.cat([y for _, y in batches(s, 4, shuffle=True, seed=3)]).tolist())
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    if batch_size <= 0:
        raise MixqError(f"batch_size={batch_size} must be positive")
    generator = torch.Generator().manual_seed(int(seed))
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else None
    for b in range(num_batches(n, batch_size, drop_last)):
        lo, hi = b * batch_size, min((b + 1) * batch_size, n)
        x, y = split.take(slice(lo, hi) if order is None else order[lo:hi])
        if augment is not None:
            x = augment_batch(x, augment, generator)
        yield x, y
