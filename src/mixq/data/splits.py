"""In-memory dataset containers: a split is two tensors, a dataset is a train and a test split.

Every loader in :mod:`mixq.data` returns the same shape of value, so training and evaluation never
care where the data came from:

- images: float32, NCHW, values in [0, 1] (the deployed network quantizes its input to u8 codes
  with scale 1/255),
- labels: int64 class indices in [0, num_classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from mixq.errors import MixqError


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset, fully in memory.

    Attributes:
        x: float32 images, (N, C, H, W), values in [0, 1].
        y: int64 labels, (N,).

    Example:
        >>> s = Split(torch.zeros(3, 1, 4, 4), torch.tensor([0, 1, 0]))
        >>> len(s), tuple(s.x.shape[1:])
        (3, (1, 4, 4))
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self):
        if self.x.dtype != torch.float32 or self.x.dim() != 4:
            raise MixqError(f"split images must be float32 NCHW, got {self.x.dtype} "
                            f"with shape {tuple(self.x.shape)}")
        if self.y.dtype != torch.int64 or self.y.dim() != 1:
            raise MixqError(f"split labels must be a 1-D int64 tensor, got {self.y.dtype} "
                            f"with shape {tuple(self.y.shape)}")
        if len(self.x) != len(self.y):
            raise MixqError(f"split has {len(self.x)} images but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.x.shape[1:])

    def take(self, index: slice | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The images and labels at ``index`` (a slice or an int64 index tensor).

        Example:
            >>> s = Split(torch.zeros(3, 1, 2, 2), torch.tensor([5, 6, 7]))
            >>> s.take(torch.tensor([2, 0]))[1].tolist()
            [7, 5]
        """
        return self.x[index], self.y[index]


class Samples(Protocol):
    """What training and evaluation read from a split: :class:`Split` (in memory) or a streamed
    one such as :class:`mixq.data.imagefolder.ImageFolderSplit`.

    ``y`` holds every label (int64, (N,)); ``take`` returns one batch, images float32
    (B, C, H, W) in [0, 1] and int64 labels (B,).
    """

    y: torch.Tensor

    def __len__(self) -> int: ...

    @property
    def image_shape(self) -> tuple[int, int, int]: ...

    def take(self, index: slice | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass(frozen=True)
class Augment:
    """Random geometric augmentation applied to training batches on the fly.

    Each image gets its own random affine transform (zero padding outside the image), drawn from a
    ``torch.Generator``, so a seed fixes every augmented batch.

    Attributes:
        max_shift: largest translation, as a fraction of the image side (0.125 = 2 px at 16x16).
        max_rotation_deg: largest rotation, in degrees, either way.
        scale: (low, high) range of the zoom factor (> 1 enlarges the content).
        hflip: also flip left-right with probability 1/2 (natural images, not digits).
    """

    max_shift: float = 0.125
    max_rotation_deg: float = 15.0
    scale: tuple[float, float] = (0.9, 1.1)
    hflip: bool = False

    def __post_init__(self):
        if not 0 <= self.max_shift <= 1:
            raise MixqError(f"Augment.max_shift={self.max_shift} must be in [0, 1]")
        if not 0 <= self.max_rotation_deg <= 180:
            raise MixqError(f"Augment.max_rotation_deg={self.max_rotation_deg} must be in [0, 180]")
        lo, hi = self.scale
        if not 0 < lo <= hi:
            raise MixqError(f"Augment.scale={self.scale} must be (low, high) with 0 < low <= high")


@dataclass(frozen=True, eq=False)
class DatasetSplits:
    """A dataset: train and test splits plus what a model needs to know about them.

    Attributes:
        train: training split (in memory, or streamed from files).
        test: test split (never augmented).
        num_classes: number of classes; labels are in [0, num_classes).
        input_shape: (C, H, W) of one image.
        augment: augmentation for training batches, or None.
        name: short name ('digits', 'synthetic', 'cifar10', 'mnist').
    """

    train: Samples
    test: Samples
    num_classes: int
    input_shape: tuple[int, int, int]
    augment: Augment | None = None
    name: str = ""

    def __post_init__(self):
        for split_name in ("train", "test"):
            split = getattr(self, split_name)
            if tuple(split.image_shape) != tuple(self.input_shape):
                raise MixqError(f"{split_name} images have shape {tuple(split.image_shape)}, "
                                f"expected input_shape {tuple(self.input_shape)}")
