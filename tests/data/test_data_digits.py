import numpy as np
import pytest
import torch

from mixq.data import (Augment, Split, augment_batch, batches, digits, epoch_seed, num_batches,
                       stratified_split)
from mixq.errors import MixqError


@pytest.fixture(scope="module")
def d16():
    return digits(size=16, seed=0)


def test_digits_shapes_dtypes_range(d16):
    for split in (d16.train, d16.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert tuple(split.x.shape[1:]) == (1, 16, 16)
        assert float(split.x.min()) >= 0.0 and float(split.x.max()) <= 1.0
    assert len(d16.train) + len(d16.test) == 1797
    assert d16.num_classes == 10 and d16.input_shape == (1, 16, 16)
    assert d16.augment is not None and d16.name == "digits"
    # Pixels 0..16 are scaled to [0, 1]: the brightest pixels reach 1.
    assert float(d16.train.x.max()) > 0.95


def test_digits_original_resolution_keeps_values():
    d = digits(size=8, augment=False)
    assert d.augment is None and d.input_shape == (1, 8, 8)
    # Original 0..16 values divided by 16: every pixel is a multiple of 1/16.
    assert torch.equal(d.train.x * 16, (d.train.x * 16).round())


def test_digits_split_is_stratified_and_seeded(d16):
    train_counts = torch.bincount(d16.train.y, minlength=10)
    test_counts = torch.bincount(d16.test.y, minlength=10)
    share = test_counts.float() / (train_counts + test_counts).float()
    assert torch.all((share - 0.2).abs() < 0.02)
    again = digits(size=16, seed=0)
    assert torch.equal(again.train.x, d16.train.x) and torch.equal(again.test.y, d16.test.y)
    other = digits(size=16, seed=1)
    assert not torch.equal(other.test.x, d16.test.x)


def test_stratified_split_partitions():
    labels = np.repeat(np.arange(3), [7, 11, 4])
    tr, te = stratified_split(labels, 0.25, seed=5)
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(len(labels)))
    with pytest.raises(MixqError, match="test_fraction"):
        stratified_split(labels, 1.0, seed=0)


def test_digits_rejects_small_size():
    with pytest.raises(MixqError, match="size=4"):
        digits(size=4)


def test_augment_deterministic_in_range_and_changes_images(d16):
    x = d16.train.x[:32]
    a = augment_batch(x, Augment(), torch.Generator().manual_seed(7))
    b = augment_batch(x, Augment(), torch.Generator().manual_seed(7))
    c = augment_batch(x, Augment(), torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float32 and a.shape == x.shape
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert (a - x).abs().mean() > 0.01


def test_augment_identity_when_ranges_are_zero():
    x = torch.rand(4, 3, 8, 8)
    none = Augment(max_shift=0, max_rotation_deg=0, scale=(1, 1))
    assert torch.allclose(augment_batch(x, none, torch.Generator().manual_seed(0)), x, atol=1e-6)


def test_augment_hflip_flips():
    x = torch.rand(64, 1, 6, 6)
    flip = Augment(max_shift=0, max_rotation_deg=0, scale=(1, 1), hflip=True)
    y = augment_batch(x, flip, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.allclose(yi, xi.flip(-1), atol=1e-6) for xi, yi in zip(x, y)])
    same = torch.tensor([torch.allclose(yi, xi, atol=1e-6) for xi, yi in zip(x, y)])
    assert torch.all(flipped | same) and 10 < int(flipped.sum()) < 54


def test_augment_validation():
    with pytest.raises(MixqError, match="scale"):
        Augment(scale=(1.2, 1.1))
    with pytest.raises(MixqError, match="max_shift"):
        Augment(max_shift=-0.1)


def test_batches_cover_split_and_are_seeded():
    s = Split(torch.rand(23, 1, 2, 2), torch.arange(23))
    ys = [y for _, y in batches(s, 5, shuffle=True, seed=1)]
    assert [len(y) for y in ys] == [5, 5, 5, 5, 3]
    assert sorted(torch.cat(ys).tolist()) == list(range(23))
    again = [y for _, y in batches(s, 5, shuffle=True, seed=1)]
    assert all(torch.equal(a, b) for a, b in zip(ys, again))
    other = torch.cat([y for _, y in batches(s, 5, shuffle=True, seed=2)])
    assert not torch.equal(torch.cat(ys), other)
    assert len(list(batches(s, 5, drop_last=True))) == num_batches(23, 5, True) == 4
    # Images and labels stay paired under shuffling.
    for x, y in batches(s, 4, shuffle=True, seed=3):
        assert torch.equal(x, s.x[y])
    with pytest.raises(MixqError, match="batch_size"):
        next(batches(s, 0))


def test_batches_augment_deterministic(d16):
    def run(seed):
        return [x for x, _ in batches(d16.train, 64, shuffle=True, seed=seed,
                                      augment=d16.augment)][:3]
    assert all(torch.equal(a, b) for a, b in zip(run(4), run(4)))
    assert not torch.equal(run(4)[0], run(5)[0])


def test_epoch_seed_distinct():
    seeds = {epoch_seed(s, e) for s in range(5) for e in range(50)}
    assert len(seeds) == 250 and all(0 <= v < 2**63 for v in seeds)


def test_split_validation():
    with pytest.raises(MixqError, match="float32"):
        Split(torch.zeros(2, 1, 2, 2, dtype=torch.float64), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(MixqError, match="2 images but 3 labels"):
        Split(torch.zeros(2, 1, 2, 2), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(MixqError, match="int64"):
        Split(torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.int32))
