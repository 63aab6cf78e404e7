"""Datasets as in-memory tensors: float32 NCHW images in [0, 1], int64 labels.

- :func:`digits`: the embedded default (scikit-learn's digits, upsampled, augmented).
- :func:`synthetic`: learnable random data for tests.
- :func:`cifar10`, :func:`mnist`: standard files from a local folder (nothing is downloaded).
- :func:`fashion_mnist`: the real benchmark, installed by Debian's ``dataset-fashion-mnist``.
- :func:`image_folder`: your own PNG/JPEG class subfolders, decoded batch by batch.
- :func:`load_dataset`: any of the above by name; :func:`batches`: a fast batch iterator.
"""

from mixq.data.augment import augment_batch
from mixq.data.batches import batches, epoch_seed, num_batches
from mixq.data.cifar10 import cifar10
from mixq.data.digits import digits, stratified_split
from mixq.data.imagefolder import ImageFolderSplit, image_folder
from mixq.data.mnist import fashion_mnist, mnist
from mixq.data.registry import DATASETS, load_dataset
from mixq.data.splits import Augment, DatasetSplits, Samples, Split
from mixq.data.synthetic import synthetic

__all__ = [
    "Augment", "DatasetSplits", "ImageFolderSplit", "Samples", "Split", "DATASETS",
    "augment_batch", "batches", "cifar10", "digits", "epoch_seed", "fashion_mnist",
    "image_folder", "load_dataset", "mnist", "num_batches", "stratified_split", "synthetic",
]
