"""CIFAR-10 and MNIST loaders on tiny files written in the real formats."""

import gzip
import importlib
import pickle
import struct

import numpy as np
import pytest
import torch

from mixq.data import cifar10, fashion_mnist, load_dataset, mnist
from mixq.data.mnist import FASHION_MNIST_CLASSES, FASHION_MNIST_ROOT
from mixq.errors import MixqError


def write_cifar(folder, n_train=4, n_test=3, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    written = {}
    for name in names:
        n = n_test if name == "test_batch" else n_train
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": data, b"labels": labels}, f)
        written[name] = (data, labels)
    return written


def test_cifar10_reads_batches(tmp_path):
    written = write_cifar(tmp_path)
    d = cifar10(tmp_path)
    assert len(d.train) == 20 and len(d.test) == 3
    assert d.input_shape == (3, 32, 32) and d.num_classes == 10 and d.name == "cifar10"
    assert d.train.x.dtype == torch.float32 and d.train.y.dtype == torch.int64
    data, labels = written["data_batch_1"]
    # Row layout: 1024 red, 1024 green, 1024 blue values, each a 32x32 image row by row.
    assert torch.equal(d.train.x[0, 1, 0, 5] * 255, torch.tensor(float(data[0, 1024 + 5])))
    assert d.train.y[:4].tolist() == labels
    test_data, _ = written["test_batch"]
    assert torch.allclose(d.test.x.flatten(1) * 255, torch.from_numpy(test_data).float())
    assert float(d.train.x.max()) <= 1.0 and d.augment is not None and d.augment.hflip


def test_cifar10_nested_folder_and_registry(tmp_path):
    write_cifar(tmp_path / "cifar-10-batches-py")
    assert len(load_dataset("cifar10", root=tmp_path, augment=False).test) == 3


def test_cifar10_missing_folder(tmp_path):
    with pytest.raises(MixqError, match="does not exist; download and extract"):
        cifar10(tmp_path / "absent")


def test_cifar10_missing_file(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(MixqError, match="data_batch_3' is missing") as e:
        cifar10(tmp_path)
    assert "\n" not in str(e.value)


def test_cifar10_corrupt_and_truncated(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(b"not a pickle at all")
    with pytest.raises(MixqError, match="test_batch' is corrupt"):
        cifar10(tmp_path)
    raw = (tmp_path / "data_batch_1").read_bytes()
    (tmp_path / "data_batch_1").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(MixqError, match="data_batch_1' is corrupt"):
        cifar10(tmp_path)


def test_cifar10_size_mismatch(tmp_path):
    write_cifar(tmp_path)
    with open(tmp_path / "data_batch_2", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2]}, f)
    with pytest.raises(MixqError, match="4 images but 3 labels"):
        cifar10(tmp_path)
    with open(tmp_path / "data_batch_2", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 1000), np.uint8), b"labels": [0] * 4}, f)
    with pytest.raises(MixqError, match=r"expected \(N, 3072\)"):
        cifar10(tmp_path)
    with open(tmp_path / "data_batch_2", "wb") as f:
        pickle.dump({b"labels": [0] * 4}, f)
    with pytest.raises(MixqError, match="no 'data'/'labels'"):
        cifar10(tmp_path)


def test_cifar10_refuses_code_in_pickle(tmp_path):
    write_cifar(tmp_path)
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": print, b"labels": []}, f)  # a global that is not a numpy array
    with pytest.raises(MixqError, match=r"data_batch_1' holds a builtins.print object, which a "
                       r"batch never does \(refused: loading it could run code\)"):
        cifar10(tmp_path)


@pytest.mark.parametrize("protocol", [2, 3, 4, pickle.HIGHEST_PROTOCOL])
def test_cifar10_any_pickle_protocol(tmp_path, protocol):
    # Protocol 2 from Python 3 stores bytes as _codecs.encode(...): a valid batch, not corrupt.
    written = write_cifar(tmp_path)
    data, labels = written["test_batch"]
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"batch_label": b"test", b"data": data, b"labels": labels}, f,
                    protocol=protocol)
    d = cifar10(tmp_path)
    assert torch.equal(d.test.x.flatten(1) * 255, torch.from_numpy(data).float())
    assert d.test.y.tolist() == labels


def test_cifar10_corrupt_names_the_cause(tmp_path):
    write_cifar(tmp_path)
    raw = (tmp_path / "data_batch_4").read_bytes()
    (tmp_path / "data_batch_4").write_bytes(raw[:100])
    with pytest.raises(MixqError, match=r"data_batch_4' is corrupt or truncated "
                       r"\((EOFError|UnpicklingError): \S") as e:
        cifar10(tmp_path)
    assert "\n" not in str(e.value)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) \
        + array.astype(np.uint8).tobytes()


def write_mnist(folder, n_train=5, n_test=3, side=28, gz=False):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": (rng.integers(0, 256, (n_train, side, side)), 0x803),
        "train-labels-idx1-ubyte": (rng.integers(0, 10, n_train), 0x801),
        "t10k-images-idx3-ubyte": (rng.integers(0, 256, (n_test, side, side)), 0x803),
        "t10k-labels-idx1-ubyte": (rng.integers(0, 10, n_test), 0x801),
    }
    for name, (array, magic) in arrays.items():
        raw = idx_bytes(array, magic)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    d = mnist(tmp_path)
    assert len(d.train) == 5 and len(d.test) == 3 and d.input_shape == (1, 28, 28)
    images, _ = arrays["train-images-idx3-ubyte"]
    assert torch.allclose(d.train.x[:, 0] * 255, torch.from_numpy(images).float())
    assert d.test.y.tolist() == arrays["t10k-labels-idx1-ubyte"][0].tolist()
    assert d.train.x.dtype == torch.float32 and d.test.y.dtype == torch.int64


def test_mnist_torchvision_layout(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw", gz=True)
    assert len(load_dataset("mnist", root=tmp_path).train) == 5


def test_mnist_missing(tmp_path):
    with pytest.raises(MixqError, match="MNIST folder .* does not exist"):
        mnist(tmp_path / "absent")
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(MixqError, match=r"t10k-labels-idx1-ubyte' \(or .gz\) is missing"):
        mnist(tmp_path)


def test_mnist_bad_header(tmp_path):
    arrays = write_mnist(tmp_path)
    images, _ = arrays["train-images-idx3-ubyte"]
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(images, 0x801)[:4] + b"xx")
    with pytest.raises(MixqError, match="bad header .*expected magic 00000803"):
        mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(MixqError, match="truncated header"):
        mnist(tmp_path)


def test_mnist_size_mismatch(tmp_path):
    arrays = write_mnist(tmp_path)
    images, _ = arrays["train-images-idx3-ubyte"]
    raw = idx_bytes(images, 0x803)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-10])
    with pytest.raises(MixqError, match="header says 5x28x28 = 3920"):
        mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4), 0x801))
    with pytest.raises(MixqError, match="disagree: 5 images, 4 labels"):
        mnist(tmp_path)


def test_mnist_corrupt_gzip(tmp_path):
    write_mnist(tmp_path, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(MixqError, match="cannot be read"):
        mnist(tmp_path)


def test_mnist_error_names_files_not_a_dead_url(tmp_path):
    with pytest.raises(MixqError) as e:
        mnist(tmp_path)
    message = str(e.value)
    assert "lecun" not in message and "http" not in message
    assert "train-images-idx3-ubyte" in message and "--dataset fashion-mnist" in message


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_fashion_mnist_reads_idx_from_data_root(tmp_path, layout):
    folder = tmp_path if layout == "flat" else tmp_path / "FashionMNIST" / "raw"
    arrays = write_mnist(folder, n_train=6, n_test=4, gz=True)
    d = load_dataset("fashion-mnist", root=tmp_path)
    assert d.name == "fashion-mnist" and d.num_classes == 10 and d.input_shape == (1, 28, 28)
    assert len(d.train) == 6 and len(d.test) == 4
    images, _ = arrays["t10k-images-idx3-ubyte"]
    assert torch.equal(d.test.x[:, 0] * 255, torch.from_numpy(images).float())
    assert d.train.y.tolist() == arrays["train-labels-idx1-ubyte"][0].tolist()


def test_fashion_mnist_default_root_names_the_debian_package(tmp_path, monkeypatch):
    idx = importlib.import_module("mixq.data.mnist")  # the module, not the function of that name
    monkeypatch.setattr(idx, "FASHION_MNIST_ROOT", tmp_path / "absent")
    with pytest.raises(MixqError, match="Fashion-MNIST folder .*absent' does not exist; install "
                       "Debian's dataset-fashion-mnist") as e:
        load_dataset("fashion-mnist")
    assert "\n" not in str(e.value) and "--data-root" in str(e.value)
    write_mnist(tmp_path / "absent", n_train=2, n_test=2)
    assert len(load_dataset("fashion-mnist").test) == 2  # the default folder, no root given


@pytest.mark.skipif(not (FASHION_MNIST_ROOT / "t10k-labels-idx1-ubyte.gz").is_file(),
                    reason="dataset-fashion-mnist not installed (make setup installs it)")
def test_fashion_mnist_real_files():
    d = fashion_mnist()  # the Debian package's folder
    assert (len(d.train), len(d.test)) == (60000, 10000) and d.input_shape == (1, 28, 28)
    # Balanced classes: 6,000 training and 1,000 test images of each of the 10 classes.
    assert torch.bincount(d.train.y).tolist() == [6000] * 10
    assert torch.bincount(d.test.y).tolist() == [1000] * 10
    assert 0.0 == float(d.test.x.min()) and float(d.test.x.max()) == 1.0
    assert len(FASHION_MNIST_CLASSES) == 10
