"""The embedded default dataset: scikit-learn's handwritten digits, upsampled.

scikit-learn ships the 1797 8x8 digit images inside its package (``load_digits`` reads a file next
to its code), so this dataset needs no download and no network.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from mixq.data.splits import Augment, DatasetSplits, Split
from mixq.errors import MixqError

# Shifts of 2 px, rotations and zoom at 16x16: enough variation that a narrow net at uniform
# 2-bit weights and activations clearly trails its 8-bit twin (the demo needs that gap).
DIGITS_AUGMENT = Augment(max_shift=0.125, max_rotation_deg=15.0, scale=(0.9, 1.1))


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray,
                                                                                     np.ndarray]:
    """Indices of a stratified train/test split: each class keeps its share in both parts.

    Args:
        labels: int class labels (N,).
        test_fraction: share of each class that goes to the test part, in (0, 1).
        seed: seeds the choice; same seed, same split.

    Returns:
        (train_idx, test_idx): sorted int64 index arrays that partition range(N).

    Example:
        >>> tr, te = stratified_split(np.array([0] * 10 + [1] * 5), 0.2, seed=0)
        >>> len(tr), len(te), sorted(np.array([0] * 10 + [1] * 5)[te].tolist())
        (12, 3, [0, 0, 1])
    """
    if not 0 < test_fraction < 1:
        raise MixqError(f"test_fraction={test_fraction} must be in (0, 1)")
    rng = np.random.default_rng(seed)
    test_parts = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(round(test_fraction * len(idx)))
        test_parts.append(rng.permutation(idx)[:k])
    test_idx = np.sort(np.concatenate(test_parts)).astype(np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx).astype(np.int64)
    return train_idx, test_idx


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 images as float32 (N, 64) in 0..16 and int64 labels, read once per process."""
    from sklearn.datasets import load_digits  # imported here: slow to import, only needed here

    bunch = load_digits()
    data = np.asarray(bunch.data, dtype=np.float32)
    labels = np.asarray(bunch.target, dtype=np.int64)
    data.flags.writeable = labels.flags.writeable = False
    return data, labels


def digits(size: int = 16, seed: int = 0, augment: bool = True,
           test_fraction: float = 0.2) -> DatasetSplits:
    """scikit-learn's digits (10 classes, 1797 images), grayscale, upsampled to ``size`` x ``size``.

    Pixel values 0..16 are scaled to [0, 1], then upsampled bilinearly. The split is stratified
    and fixed by ``seed`` (80/20 per class by default: 1438 train, 359 test images).

    Args:
        size: output side in pixels (8 keeps the original resolution).
        seed: seeds the train/test split.
        augment: attach :data:`DIGITS_AUGMENT` for training batches (the test split is never
            augmented).
        test_fraction: share of each class held out for testing.

    Returns:
        DatasetSplits with images float32 (N, 1, size, size) in [0, 1] and int64 labels.

    Raises:
        MixqError: size < 8 or test_fraction outside (0, 1).

    Example:
        >>> d = digits(size=16)
        >>> len(d.train), len(d.test), d.num_classes, d.input_shape
        (1438, 359, 10, (1, 16, 16))
    """
    if size < 8:
        raise MixqError(f"digits size={size} must be at least the original 8 pixels")
    data, labels = _raw_digits()
    x = torch.from_numpy(data / 16.0)
    x = x.reshape(-1, 1, 8, 8)  # (N, 64) -> (N, 1, 8, 8)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = x.clamp_(0.0, 1.0).contiguous()
    y = torch.from_numpy(labels.copy())
    train_idx, test_idx = stratified_split(labels, test_fraction, seed)
    return DatasetSplits(
        train=Split(x[train_idx], y[train_idx]),
        test=Split(x[test_idx], y[test_idx]),
        num_classes=10,
        input_shape=(1, size, size),
        augment=DIGITS_AUGMENT if augment else None,
        name="digits",
    )
