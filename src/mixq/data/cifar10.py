"""CIFAR-10 from the standard python pickle batches on local disk (no download)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from mixq.data.splits import Augment, DatasetSplits, Split
from mixq.errors import MixqError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_FIX = f"download and extract {CIFAR10_URL} there"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
# Random crops (as shifts with zero padding) and flips: the usual CIFAR recipe.
CIFAR10_AUGMENT = Augment(max_shift=0.125, max_rotation_deg=0.0, scale=(1.0, 1.0), hflip=True)


class _RefusedObject(pickle.UnpicklingError):
    """The pickle names a global that a CIFAR-10 batch never holds."""


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays: a batch file cannot run arbitrary code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),  # proto 5
        # Protocol 2 written by Python 3 stores bytes as _codecs.encode(text, 'latin1').
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise _RefusedObject(f"{module}.{name}")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module[len("numpy.core."):]  # numpy >= 2 renamed it
        return super().find_class(module, name)


def _folder(root) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise MixqError(f"CIFAR-10 folder '{root}' does not exist; {_FIX}")
    nested = root / "cifar-10-batches-py"
    if not (root / TEST_FILE).exists() and nested.is_dir():
        return nested
    return root


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch: uint8 images (N, 3, 32, 32) and int64 labels (N,)."""
    if not path.is_file():
        raise MixqError(f"CIFAR-10 file '{path}' is missing; {_FIX}")
    try:
        with open(path, "rb") as f:
            entry = _BatchUnpickler(f, encoding="bytes").load()
    except _RefusedObject as e:
        raise MixqError(f"CIFAR-10 file '{path}' holds a {e} object, which a batch never does "
                        f"(refused: loading it could run code); {_FIX} again") from None
    except Exception as e:  # any other unpickling failure means a damaged file
        raise MixqError(f"CIFAR-10 file '{path}' is corrupt or truncated ({type(e).__name__}: "
                        f"{e}); {_FIX} again") from None
    if not isinstance(entry, dict):
        raise MixqError(f"CIFAR-10 file '{path}' is not a batch dictionary; {_FIX} again")
    data = entry.get(b"data", entry.get("data"))
    labels = entry.get(b"labels", entry.get("labels"))
    if data is None or labels is None:
        raise MixqError(f"CIFAR-10 file '{path}' has no 'data'/'labels' entries; {_FIX} again")
    try:
        data = np.asarray(data, dtype=np.uint8)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise MixqError(f"CIFAR-10 file '{path}' holds malformed arrays ({e}); "
                        f"{_FIX} again") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise MixqError(f"CIFAR-10 file '{path}' has images of shape {data.shape}, expected "
                        f"(N, 3072); {_FIX} again")
    if len(data) != len(labels):
        raise MixqError(f"CIFAR-10 file '{path}' has {len(data)} images but {len(labels)} labels; "
                        f"{_FIX} again")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise MixqError(f"CIFAR-10 file '{path}' has labels outside 0..9; {_FIX} again")
    return data.reshape(-1, 3, 32, 32), labels  # rows are R, G, B planes of 32x32


def _to_split(parts: list[tuple[np.ndarray, np.ndarray]]) -> Split:
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return Split(torch.from_numpy(x).float().div_(255.0), torch.from_numpy(y))


def cifar10(root, augment: bool = True) -> DatasetSplits:
    """CIFAR-10 read from the python version's pickle batches.

    Args:
        root: folder holding ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``, or holding
            the extracted ``cifar-10-batches-py`` folder.
        augment: attach :data:`CIFAR10_AUGMENT` (shifts + flips) for training batches.

    Returns:
        DatasetSplits, images float32 (N, 3, 32, 32) in [0, 1], 10 classes (50000/10000 images
        for the full dataset).

    Raises:
        MixqError: missing folder or file, corrupt file, or images and labels that disagree.
    """
    folder = _folder(root)
    train = _to_split([_read_batch(folder / name) for name in TRAIN_FILES])
    test = _to_split([_read_batch(folder / TEST_FILE)])
    return DatasetSplits(train, test, num_classes=10, input_shape=(3, 32, 32),
                         augment=CIFAR10_AUGMENT if augment else None, name="cifar10")
