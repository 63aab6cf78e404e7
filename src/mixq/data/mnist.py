"""MNIST-format datasets from the standard idx files on local disk (plain or gzip, no download).

Two datasets share the format and this reader: MNIST (files the user provides) and Fashion-MNIST,
installed on every mixq machine by Debian's ``dataset-fashion-mnist`` package (``make setup``).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mixq.data.splits import DatasetSplits, Split
from mixq.errors import MixqError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# yann.lecun.com has refused downloads since 2024: name the files, not a dead URL.
_MNIST_FIX = ("put the four MNIST idx files (" + ", ".join(FILES.values()) + ", each may be "
              ".gz) in it; or use --dataset fashion-mnist (same format, installed by Debian's "
              "dataset-fashion-mnist)")
# Debian's dataset-fashion-mnist installs the four .gz files here (`dpkg -L dataset-fashion-mnist`).
FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FIX = ("install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist; "
                "`make setup` does it) or pass --data-root with the four idx files")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
# idx magic: two zero bytes, the element type (0x08 = unsigned byte), the number of dimensions.
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def _has_any(folder: Path) -> bool:
    return any((folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in FILES.values())


def _find(folder: Path, name: str, title: str, fix: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise MixqError(f"{title} file '{folder / name}' (or .gz) is missing; {fix}")


def read_idx(path, magic: int, title: str = "MNIST", fix: str = _MNIST_FIX) -> np.ndarray:
    """Read an unsigned-byte idx file (optionally gzip-compressed).

    Args:
        path: the file; a name ending in ``.gz`` is decompressed.
        magic: expected magic number (0x803 for images, 0x801 for labels).
        title: dataset name used in error messages.
        fix: what the user should do, appended to error messages.

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
        raise MixqError(f"{title} file '{path}' cannot be read ({type(e).__name__}: {e}); "
                        f"{fix}") from None
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        found = raw[:4].hex() if len(raw) >= 4 else "a truncated header"
        raise MixqError(f"{title} file '{path}' has a bad header (found {found}, expected magic "
                        f"{magic:08x}); {fix}")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise MixqError(f"{title} file '{path}' holds {len(raw) - header} bytes of data but its "
                        f"header says {'x'.join(map(str, dims))} = {expected}; {fix}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _split(folder: Path, kind: str, title: str, fix: str) -> Split:
    images_path = _find(folder, FILES[f"{kind}_images"], title, fix)
    labels_path = _find(folder, FILES[f"{kind}_labels"], title, fix)
    images = read_idx(images_path, IMAGES_MAGIC, title, fix)
    labels = read_idx(labels_path, LABELS_MAGIC, title, fix).astype(np.int64)
    if len(images) != len(labels):
        raise MixqError(f"{title} files '{images_path}' and '{labels_path}' disagree: "
                        f"{len(images)} images, {len(labels)} labels; {fix}")
    if len(labels) and labels.max() > 9:
        raise MixqError(f"{title} file '{labels_path}' has labels outside 0..9; {fix}")
    x = torch.from_numpy(images.copy()).float().div_(255.0).unsqueeze(1)  # (N,H,W)->(N,1,H,W)
    return Split(x, torch.from_numpy(labels))


@dataclass(frozen=True)
class IdxDataset:
    """A 10-class dataset stored as the four MNIST-layout idx files.

    Attributes:
        name: the DatasetSplits name ('mnist', 'fashion-mnist').
        title: how error messages name the dataset.
        torchvision_dir: torchvision's folder name (``root/<torchvision_dir>/raw`` is found too).
        fix: what error messages tell the user to do.
    """

    name: str
    title: str
    torchvision_dir: str
    fix: str

    def read(self, root) -> DatasetSplits:
        """Read the train and test splits from ``root``.

        Returns:
            DatasetSplits, images float32 (N, 1, H, W) in [0, 1], 10 classes, no augmentation.

        Raises:
            MixqError: missing folder or file, bad header, or size mismatch.
        """
        title, fix = self.title, self.fix
        folder = Path(root)
        if not folder.is_dir():
            raise MixqError(f"{title} folder '{folder}' does not exist; {fix}")
        nested = folder / self.torchvision_dir / "raw"
        if not _has_any(folder) and _has_any(nested):
            folder = nested
        train = _split(folder, "train", title, fix)
        test = _split(folder, "test", title, fix)
        if train.x.shape[1:] != test.x.shape[1:]:
            raise MixqError(f"{title} train images are {tuple(train.x.shape[2:])} but test images "
                            f"are {tuple(test.x.shape[2:])}; {fix}")
        return DatasetSplits(train, test, num_classes=10, input_shape=tuple(train.x.shape[1:]),
                             name=self.name)


MNIST = IdxDataset("mnist", "MNIST", "MNIST", _MNIST_FIX)
FASHION_MNIST = IdxDataset("fashion-mnist", "Fashion-MNIST", "FashionMNIST", _FASHION_FIX)


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
    return MNIST.read(root)


def fashion_mnist(root=None) -> DatasetSplits:
    """Fashion-MNIST (Xiao et al. 2017): 60,000/10,000 28x28 grey images of 10 clothing classes.

    The project's real benchmark. Debian's ``dataset-fashion-mnist`` package (installed by
    ``scripts/install-system-deps.sh``) puts the idx files in :data:`FASHION_MNIST_ROOT`.

    Args:
        root: folder with the four idx files (``.gz`` or plain); None reads
            :data:`FASHION_MNIST_ROOT`. torchvision's ``root/FashionMNIST/raw`` is found too.

    Returns:
        DatasetSplits, images float32 (N, 1, 28, 28) in [0, 1], labels in
        :data:`FASHION_MNIST_CLASSES` order, no augmentation.

    Raises:
        MixqError: the files are missing (the message names the Debian package) or damaged.
    """
    return FASHION_MNIST.read(FASHION_MNIST_ROOT if root is None else root)
