import pytest
import torch

from mixq.data import load_dataset, synthetic
from mixq.errors import MixqError


def test_synthetic_shapes_balance_and_seed():
    d = synthetic(400, (2, 5, 5), num_classes=4, seed=3)
    assert len(d.train) == 300 and len(d.test) == 100
    assert d.input_shape == (2, 5, 5) and d.num_classes == 4 and d.augment is None
    assert d.train.x.dtype == torch.float32 and d.train.y.dtype == torch.int64
    assert 0 <= float(d.train.x.min()) and float(d.train.x.max()) <= 1
    counts = torch.bincount(torch.cat([d.train.y, d.test.y]), minlength=4)
    assert counts.tolist() == [100] * 4
    again = synthetic(400, (2, 5, 5), num_classes=4, seed=3)
    assert torch.equal(again.train.x, d.train.x) and torch.equal(again.test.y, d.test.y)
    assert not torch.equal(synthetic(400, (2, 5, 5), num_classes=4, seed=4).train.x, d.train.x)


def test_synthetic_is_learnable_by_nearest_class_mean():
    d = synthetic(600, (1, 6, 6), num_classes=5, seed=0)
    xs, ys = d.train.x.flatten(1), d.train.y
    means = torch.stack([xs[ys == c].mean(0) for c in range(5)])
    pred = torch.cdist(d.test.x.flatten(1), means).argmin(1)
    assert float((pred == d.test.y).float().mean()) > 0.95


def test_synthetic_errors():
    with pytest.raises(MixqError, match="num_classes"):
        synthetic(10, num_classes=1)
    with pytest.raises(MixqError, match="empty"):
        synthetic(2, test_fraction=0.1)


def test_registry():
    assert load_dataset("synthetic", num_samples=20, seed=1).name == "synthetic"
    assert load_dataset().name == "digits"
    with pytest.raises(MixqError, match="known: cifar10, digits, fashion-mnist, image-folder, "
                       "mnist, synthetic"):
        load_dataset("imagenet")
    with pytest.raises(MixqError, match="pass the folder"):
        load_dataset("mnist")


def test_registry_passes_root(tmp_path):
    with pytest.raises(MixqError, match="CIFAR-10 folder"):
        load_dataset("cifar10", root=tmp_path / "nope")
