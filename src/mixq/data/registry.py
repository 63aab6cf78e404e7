"""Datasets by name, for the CLI and scripts."""

from __future__ import annotations

from mixq.data.cifar10 import cifar10
from mixq.data.digits import digits
from mixq.data.mnist import mnist
from mixq.data.splits import DatasetSplits
from mixq.data.synthetic import synthetic
from mixq.errors import MixqError

# name -> (loader, reads files from `root`)
DATASETS = {
    "digits": (digits, False),
    "synthetic": (synthetic, False),
    "cifar10": (cifar10, True),
    "mnist": (mnist, True),
}


def load_dataset(name: str = "digits", root=None, **kwargs) -> DatasetSplits:
    """Load a dataset by name.

    Args:
        name: 'digits' (embedded default), 'synthetic', 'cifar10' or 'mnist'.
        root: folder with the files, for 'cifar10' and 'mnist' (ignored by the others).
        **kwargs: passed to the loader (e.g. ``size=16`` for digits, ``seed=1`` for synthetic).

    Returns:
        The loader's DatasetSplits.

    Raises:
        MixqError: unknown name, or a file-based dataset without ``root``.

    Example:
        >>> load_dataset("synthetic", num_samples=40).name
        'synthetic'
        >>> load_dataset("imagenet")
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: unknown dataset 'imagenet'; known: cifar10, digits, mnist, synthetic
    """
    if name not in DATASETS:
        raise MixqError(f"unknown dataset '{name}'; known: {', '.join(sorted(DATASETS))}")
    loader, needs_root = DATASETS[name]
    if needs_root:
        if root is None:
            raise MixqError(f"dataset '{name}' is read from local files; pass the folder "
                            "holding them as root")
        return loader(root, **kwargs)
    return loader(**kwargs)
