"""Learnable random data for tests: one random pattern per class plus noise."""

from __future__ import annotations

import torch

from mixq.data.splits import DatasetSplits, Split
from mixq.errors import MixqError


def synthetic(num_samples: int = 512, input_shape: tuple[int, int, int] = (1, 8, 8),
              num_classes: int = 4, seed: int = 0, noise: float = 0.25,
              test_fraction: float = 0.25) -> DatasetSplits:
    """A fast, learnable dataset: image = clamp(pattern[class] + noise * N(0, 1), 0, 1).

    Each class has a random pattern with values in [0, 1]; classes are balanced and the samples
    shuffled. With the default noise a small net separates the classes in a few epochs.

    Args:
        num_samples: total images (train + test).
        input_shape: (C, H, W) of one image.
        num_classes: number of classes (>= 2).
        seed: same seed, same data.
        noise: standard deviation of the Gaussian noise added to the patterns.
        test_fraction: share of the samples in the test split.

    Returns:
        DatasetSplits with float32 images in [0, 1] and int64 labels, no augmentation.

    Raises:
        MixqError: a split would be empty, or fewer than 2 classes.

    Example:
        >>> d = synthetic(100, (3, 4, 4), num_classes=5, seed=1)
        >>> len(d.train), len(d.test), tuple(d.train.x.shape[1:]), int(d.train.y.max()) < 5
        (75, 25, (3, 4, 4), True)
    """
    if num_classes < 2:
        raise MixqError(f"synthetic num_classes={num_classes} must be at least 2")
    num_test = int(round(test_fraction * num_samples))
    if num_test <= 0 or num_test >= num_samples:
        raise MixqError(f"synthetic num_samples={num_samples} with test_fraction={test_fraction} "
                        "leaves a split empty; use more samples")
    shape = tuple(int(s) for s in input_shape)
    g = torch.Generator().manual_seed(int(seed))
    patterns = torch.rand((num_classes, *shape), generator=g)
    y = torch.arange(num_samples) % num_classes
    y = y[torch.randperm(num_samples, generator=g)]
    x = patterns[y] + noise * torch.randn((num_samples, *shape), generator=g)
    x = x.clamp_(0.0, 1.0)
    return DatasetSplits(
        train=Split(x[num_test:].contiguous(), y[num_test:].contiguous()),
        test=Split(x[:num_test].contiguous(), y[:num_test].contiguous()),
        num_classes=num_classes,
        input_shape=shape,
        name="synthetic",
    )
