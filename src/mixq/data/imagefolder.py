"""Your own images: class subfolders of PNG/JPEG files, decoded batch by batch (never all at once).

Layout (torchvision's ImageFolder, one folder per split)::

    root/train/<class name>/*.png|*.jpg|*.jpeg
    root/test/<class name>/...        (``val`` is accepted instead of ``test``)

Classes are the sorted subfolder names of ``train``; label i is the i-th name. Only the file list
and the labels are held in memory; each batch's files are opened and decoded when the batch is
drawn, so a data set larger than the RAM trains the same way as a small one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from mixq.data.splits import DatasetSplits
from mixq.errors import MixqError

EXTENSIONS = (".png", ".jpg", ".jpeg")
_MODES = {1: "L", 3: "RGB"}  # channels -> Pillow mode every image is converted to
_LAYOUT = "root/train/<class>/*.png|jpg and root/test/<class>/..."


def _unreadable(path: Path, e: Exception) -> MixqError:
    return MixqError(f"image '{path}' cannot be read ({type(e).__name__}: {e}); replace or "
                     "remove it")


@dataclass(frozen=True, eq=False)
class ImageFolderSplit:
    """One split of an image folder: file paths and labels in memory, pixels read per batch.

    Attributes:
        paths: image files, one per sample.
        y: int64 labels (N,), the class index of each file.
        image_shape: (C, H, W) every image is converted to (C = 1: grey, 3: RGB; H, W: resized
            when they differ).
        classes: class names; label i is ``classes[i]``.
    """

    paths: tuple[Path, ...]
    y: torch.Tensor
    image_shape: tuple[int, int, int]
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def x(self):
        raise MixqError("an image-folder dataset is read batch by batch and never held in "
                        "memory as one tensor; use its batches (mixq.data.batches, train, "
                        "evaluate) or take(indices)")

    def load(self, path: Path) -> np.ndarray:
        """One image as uint8 (H, W, C), converted to this split's channels and size.

        Raises:
            MixqError: the file is not a readable image.
        """
        c, h, w = self.image_shape
        try:
            with Image.open(path) as image:
                image = image.convert(_MODES[c])
                if image.size != (w, h):
                    image = image.resize((w, h), Image.Resampling.BILINEAR)
                pixels = np.asarray(image, dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise _unreadable(path, e) from None
        return pixels.reshape(h, w, c)

    def take(self, index: slice | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode the images at ``index`` (a slice or an int64 index tensor).

        Returns:
            (x, y): float32 images (B, C, H, W) in [0, 1] and int64 labels (B,).
        """
        rows = range(len(self))[index] if isinstance(index, slice) else index.tolist()
        c, h, w = self.image_shape
        x = np.empty((len(rows), h, w, c), dtype=np.uint8)
        for i, row in enumerate(rows):
            x[i] = self.load(self.paths[row])
        # (B, H, W, C) -> (B, C, H, W)
        images = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
        return images, self.y[torch.as_tensor(list(rows), dtype=torch.int64)]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in EXTENSIONS)


def _list_split(folder: Path, classes: list[str]) -> tuple[tuple[Path, ...], torch.Tensor]:
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    extra = sorted(set(found) - set(classes))
    if extra:
        raise MixqError(f"image folder '{folder}' has classes {', '.join(extra)} that "
                        f"'{folder.parent / 'train'}' lacks; use the same class subfolders")
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = _files(folder / name) if (folder / name).is_dir() else []
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise MixqError(f"image folder '{folder}' holds no {'/'.join(EXTENSIONS)} files in its "
                        f"class subfolders; expected {_LAYOUT}")
    return tuple(paths), torch.tensor(labels, dtype=torch.int64)


def image_folder(root, size: int | tuple[int, int] | None = None,
                 channels: int | None = None) -> DatasetSplits:
    """A classification data set from class subfolders of PNG/JPEG files.

    Args:
        root: folder with ``train/<class>/`` and ``test/<class>/`` (or ``val/<class>/``).
        size: resize every image to size x size (or (H, W)); None keeps the first training
            image's size (others are resized to it).
        channels: 1 (grey) or 3 (RGB); None takes 1 when the first training image is grey,
            else 3.

    Returns:
        DatasetSplits whose splits stream images from disk in batches (see
        :class:`ImageFolderSplit`); images float32 (N, C, H, W) in [0, 1], no augmentation.

    Raises:
        MixqError: missing folders, a class without images, classes that differ between the
            splits, or an unreadable image.

    Example:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for split in ("train", "test"):
        ...     for name, grey in (("cat", 30), ("dog", 200)):
        ...         (root / split / name).mkdir(parents=True)
        ...         Image.new("L", (4, 3), grey).save(root / split / name / "a.png")
        >>> d = image_folder(root)
        >>> d.input_shape, d.num_classes, len(d.train)
        ((1, 3, 4), 2, 2)
        >>> x, y = d.test.take(slice(0, 2))
        >>> tuple(x.shape), y.tolist(), round(float(x[1].max()) * 255)
        ((2, 1, 3, 4), [0, 1], 200)
    """
    if channels not in (None, *_MODES):
        raise MixqError(f"image folder channels={channels} must be 1 (grey) or 3 (RGB)")
    root = Path(root)
    train_dir = root / "train"
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), root / "test")
    for folder in (train_dir, test_dir):
        if not folder.is_dir():
            raise MixqError(f"image folder '{folder}' does not exist; expected {_LAYOUT}")
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise MixqError(f"image folder '{train_dir}' has {len(classes)} class subfolder(s); a "
                        f"classifier needs at least 2 ({_LAYOUT})")
    empty = [name for name in classes if not _files(train_dir / name)]
    if empty:
        raise MixqError(f"class folder '{train_dir / empty[0]}' holds no "
                        f"{'/'.join(EXTENSIONS)} files; add images or remove the folder")
    train_paths, train_y = _list_split(train_dir, classes)
    test_paths, test_y = _list_split(test_dir, classes)
    if size is None or channels is None:
        try:
            with Image.open(train_paths[0]) as first:
                w, h = first.size
                grey = first.mode in ("1", "L", "I", "I;16", "F")
        except (OSError, UnidentifiedImageError) as e:
            raise _unreadable(train_paths[0], e) from None
        channels = channels or (1 if grey else 3)
        size = size or (h, w)
    h, w = (size, size) if isinstance(size, int) else size
    shape = (int(channels), int(h), int(w))
    names = tuple(classes)
    return DatasetSplits(ImageFolderSplit(train_paths, train_y, shape, names),
                         ImageFolderSplit(test_paths, test_y, shape, names),
                         num_classes=len(classes), input_shape=shape, name="image-folder")
