"""MNIST from the standard idx files on local disk (plain or gzip, no download)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from mixq.data.splits import DatasetSplits, Split
from mixq.errors import MixqError

_FIX = "download the four MNIST idx files (http://yann.lecun.com/exdb/mnist/) into it"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# idx magic: two zero bytes, the element type (0x08 = unsigned byte), the number of dimensions.
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def _has_any(folder: Path) -> bool:
    return any((folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in FILES.values())


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise MixqError(f"MNIST file '{folder / name}' (or .gz) is missing; {_FIX}")


def read_idx(path, magic: int) -> np.ndarray:
    """Read an unsigned-byte idx file (optionally gzip-compressed).

    Args:
        path: the file; a name ending in ``.gz`` is decompressed.
        magic: expected magic number (0x803 for images, 0x801 for labels).

    Returns:
        uint8 array with the shape stored in the header.

    Raises:
        MixqError: unreadable file, wrong magic number, or data size not matching the header.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
        >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 2]))
        >>> read_idx(p, LABELS_MAGIC).tolist()
        [7, 1, 2]
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise MixqError(f"MNIST file '{path}' cannot be read ({type(e).__name__}: {e}); "
                        f"{_FIX} again") from None
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        found = raw[:4].hex() if len(raw) >= 4 else "a truncated header"
        raise MixqError(f"MNIST file '{path}' has a bad header (found {found}, expected magic "
                        f"{magic:08x}); {_FIX} again")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise MixqError(f"MNIST file '{path}' holds {len(raw) - header} bytes of data but its "
                        f"header says {'x'.join(map(str, dims))} = {expected}; {_FIX} again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _split(folder: Path, images_name: str, labels_name: str) -> Split:
    images_path, labels_path = _find(folder, images_name), _find(folder, labels_name)
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC).astype(np.int64)
    if len(images) != len(labels):
        raise MixqError(f"MNIST files '{images_path}' and '{labels_path}' disagree: "
                        f"{len(images)} images, {len(labels)} labels; {_FIX} again")
    if len(labels) and labels.max() > 9:
        raise MixqError(f"MNIST file '{labels_path}' has labels outside 0..9; {_FIX} again")
    x = torch.from_numpy(images.copy()).float().div_(255.0).unsqueeze(1)  # (N,H,W)->(N,1,H,W)
    return Split(x, torch.from_numpy(labels))


def mnist(root) -> DatasetSplits:
    """MNIST read from the four standard idx files (each may also be ``<name>.gz``).

    Args:
        root: folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``; torchvision's layout
            ``root/MNIST/raw`` is found too.

    Returns:
        DatasetSplits, images float32 (N, 1, 28, 28) in [0, 1], 10 classes, no augmentation.

    Raises:
        MixqError: missing folder or file, bad header, or size mismatch.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise MixqError(f"MNIST folder '{folder}' does not exist; create it and {_FIX}")
    if not _has_any(folder) and _has_any(folder / "MNIST" / "raw"):
        folder = folder / "MNIST" / "raw"
    train = _split(folder, FILES["train_images"], FILES["train_labels"])
    test = _split(folder, FILES["test_images"], FILES["test_labels"])
    if train.x.shape[1:] != test.x.shape[1:]:
        raise MixqError(f"MNIST train images are {tuple(train.x.shape[2:])} but test images are "
                        f"{tuple(test.x.shape[2:])}; {_FIX} again")
    return DatasetSplits(train, test, num_classes=10, input_shape=tuple(train.x.shape[1:]),
                         name="mnist")
