"""On-the-fly augmentation with plain torch ops (``affine_grid`` + ``grid_sample``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mixq.data.splits import Augment


def augment_batch(x: torch.Tensor, augment: Augment, generator: torch.Generator) -> torch.Tensor:
    """Apply one random affine transform per image (shift, rotation, zoom, optional flip).

    Bilinear sampling with zero padding: outputs are convex mixes of inputs and zeros, so values
    stay in [0, 1]. All randomness comes from ``generator`` (on the CPU), which makes the result
    a pure function of the generator's state.

    Args:
        x: float32 images (N, C, H, W), values in [0, 1].
        augment: ranges of the random transform.
        generator: CPU generator the random parameters are drawn from.

    Returns:
        Augmented images, same shape, dtype and device as ``x``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.rand(4, 1, 16, 16, generator=g)
        >>> y = augment_batch(x, Augment(), torch.Generator().manual_seed(1))
        >>> y.shape == x.shape, bool(y.min() >= 0), bool(y.max() <= 1)
        (True, True, True)
        >>> bool(torch.equal(y, augment_batch(x, Augment(), torch.Generator().manual_seed(1))))
        True
    """
    n = x.shape[0]
    if n == 0:
        return x

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)

    angle = uniform(-1.0, 1.0) * math.radians(augment.max_rotation_deg)
    # Zoom is drawn log-uniformly so that 0.9..1.1 shrinks as often as it enlarges.
    lo, hi = augment.scale
    zoom = torch.exp(uniform(math.log(lo), math.log(hi)))
    # affine_grid works in normalized coordinates [-1, 1]: a shift of f * side is 2 * f.
    shift = 2.0 * augment.max_shift * (2.0 * torch.rand(n, 2, generator=generator,
                                                         dtype=torch.float64) - 1.0)
    flip = torch.ones(n, dtype=torch.float64)
    if augment.hflip:
        flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).double()

    # theta maps output coordinates to input coordinates: the inverse of "rotate, zoom, shift".
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([
        torch.stack([cos * flip, -sin, shift[:, 0]], dim=1),
        torch.stack([sin * flip, cos, shift[:, 1]], dim=1),
    ], dim=1).to(dtype=x.dtype, device=x.device)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp_(0.0, 1.0)
