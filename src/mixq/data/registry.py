"""Datasets by name, for the CLI and scripts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from mixq.data.cifar10 import cifar10
from mixq.data.digits import digits
from mixq.data.imagefolder import image_folder
from mixq.data.mnist import fashion_mnist, mnist
from mixq.data.splits import DatasetSplits
from mixq.data.synthetic import synthetic
from mixq.errors import MixqError


class DataRoot(Enum):
    """Where a dataset's files come from."""

    NONE = "none"          # embedded or generated: no folder
    REQUIRED = "required"  # the user names the folder
    DEFAULT = "default"    # the set-up installs the files where the loader looks; root overrides


@dataclass(frozen=True)
class DatasetEntry:
    """How a named dataset is loaded.

    Attributes:
        loader: returns the DatasetSplits; file-based loaders take the folder first.
        root: where its files come from.
    """

    loader: Callable[..., DatasetSplits]
    root: DataRoot = DataRoot.NONE


DATASETS = {
    "digits": DatasetEntry(digits),
    "synthetic": DatasetEntry(synthetic),
    "cifar10": DatasetEntry(cifar10, DataRoot.REQUIRED),
    "mnist": DatasetEntry(mnist, DataRoot.REQUIRED),
    "fashion-mnist": DatasetEntry(fashion_mnist, DataRoot.DEFAULT),
    "image-folder": DatasetEntry(image_folder, DataRoot.REQUIRED),
}


def load_dataset(name: str = "digits", root=None, **kwargs) -> DatasetSplits:
    """Load a dataset by name.

    Args:
        name: 'digits' (embedded default), 'synthetic', 'fashion-mnist' (installed by the set-up;
            ``root`` overrides its folder), 'cifar10', 'mnist' or 'image-folder' (your own
            PNG/JPEG class subfolders, streamed in batches; ``root`` required).
        root: folder with the dataset's files (ignored by 'digits' and 'synthetic').
        **kwargs: passed to the loader (e.g. ``size=16`` for digits, ``seed=1`` for synthetic).

    Returns:
        The loader's DatasetSplits.

    Raises:
        MixqError: unknown name, or a dataset that needs a folder without ``root``.

    Example:
        >>> load_dataset("synthetic", num_samples=40).name
        'synthetic'
        >>> load_dataset("imagenet")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: unknown dataset 'imagenet'; known: cifar10, digits, ..., synthetic
    """
    if name not in DATASETS:
        raise MixqError(f"unknown dataset '{name}'; known: {', '.join(sorted(DATASETS))}")
    entry = DATASETS[name]
    if entry.root is DataRoot.NONE:
        return entry.loader(**kwargs)
    if root is None and entry.root is DataRoot.REQUIRED:
        raise MixqError(f"dataset '{name}' is read from local files; pass the folder "
                        "holding them as root (--data-root)")
    return entry.loader(root, **kwargs)
