"""Effective bits per weight: values, scales and indices of every weight layer (numpy only).

The storage model (one place, so that it can follow the deployed formats):

- **values**: a dense ternary layer stores a 2-bit code for *every* position (packed 2-bit codes,
  a masked position holds 0); each outlier adds an 8-bit value. A uniform b-bit layer stores b
  bits per weight.
- **scales**: every quantized weight tensor has one scale per output channel (per layer for
  per-layer schemes), counted at :data:`SCALE_BITS`; a dense+sparse layer with outliers also stores
  its integer ratio k_c (= alpha_c / s_c, in [1, 127]) at :data:`RATIO_BITS` per scale.
  Requantization (ICN) arrays are not counted: every model has the same ones, whatever its
  weight precision.
- **indices**: the sparse part's bits beyond 8 per selected value in the format the deployed
  kernels read, :func:`mixq.codegen.sparse_formats.index_bits` (byte-wide index fields, per-row
  counts; N:M as per-group counts + in-group indices or fixed slots, whichever is smaller;
  block padding lanes). Nothing when a layer has no outliers (it deploys as a plain ternary
  layer).

Not counted: byte padding of packed rows, the kernels' per-layer header and alignment (the
memory model of :mod:`mixq.search.memory` covers those for flash budgets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixq.intralayer.structures import check_structure

SCALE_BITS = 16   # one per-channel weight scale (alpha_c or a b-bit step)
RATIO_BITS = 8    # k_c of a dense+sparse layer, in [1, 127]
TERNARY_BITS = 2  # packed 2-bit ternary codes
SPARSE_BITS = 8   # int8 outlier values


@dataclass(frozen=True)
class LayerCost:
    """Storage of one weight layer, in bits.

    Attributes:
        name: layer name.
        weights: number of weights.
        value_bits, scale_bits, index_bits: the three parts (see the module docstring).
        nnz: number of outliers (0 for a uniform layer).
    """

    name: str
    weights: int
    value_bits: int
    scale_bits: int
    index_bits: int
    nnz: int = 0

    @property
    def total_bits(self) -> int:
        return self.value_bits + self.scale_bits + self.index_bits

    @property
    def bits_per_weight(self) -> float:
        return self.total_bits / self.weights


def uniform_cost(name: str, weights: int, bits: int, scales: int) -> LayerCost:
    """A uniform b-bit (or ternary, bits=2) layer with ``scales`` weight scales.

    Example:
        >>> uniform_cost("fc", 640, 8, 10).total_bits
        5280
    """
    return LayerCost(name, int(weights), int(weights) * bits, scales * SCALE_BITS, 0)


def index_bits(mask: np.ndarray, structure: str) -> int:
    """Index bits of an outlier mask (IR layout, input channels last) in the deployed format.

    Example:
        >>> m = np.zeros((4, 16), bool); m[0, 3] = m[2, 9] = True
        >>> index_bits(m, "unstructured"), index_bits(m, "1:8"), index_bits(m, "2:8")
        (48, 14, 22)
    """
    structure = check_structure(structure)
    mask = np.asarray(mask, dtype=bool)
    nnz = int(mask.sum())
    if nnz == 0:
        return 0
    return int(structure.index_bits(mask.shape, nnz, mask))


def dense_sparse_cost(name: str, mask: np.ndarray, structure: str, scales: int) -> LayerCost:
    """Storage of a dense ternary + sparse int8 layer with outlier ``mask`` (IR layout).

    Args:
        name: layer name.
        mask: bool outlier positions, IR layout (input channels last).
        structure: the mask's structure (sets the index format).
        scales: number of weight scales (C_out per channel, 1 per layer).

    Example:
        >>> m = np.zeros((4, 16), bool); m[0, 3] = m[2, 9] = True
        >>> c = dense_sparse_cost("pw", m, "unstructured", scales=4)
        >>> c.value_bits, c.scale_bits, c.index_bits, c.total_bits
        (144, 96, 48, 288)
    """
    mask = np.asarray(mask, dtype=bool)
    nnz = int(mask.sum())
    values = mask.size * TERNARY_BITS + nnz * SPARSE_BITS
    scale = scales * (SCALE_BITS + (RATIO_BITS if nnz else 0))
    return LayerCost(name, int(mask.size), values, scale, index_bits(mask, structure), nnz)


def effective_bits_per_weight(costs) -> float:
    """Total bits over total weights of a set of layers.

    Example:
        >>> effective_bits_per_weight([uniform_cost("a", 100, 8, 4), uniform_cost("b", 300, 2, 4)])
        3.82
    """
    costs = list(costs)
    weights = sum(c.weights for c in costs)
    return sum(c.total_bits for c in costs) / weights if weights else 0.0
