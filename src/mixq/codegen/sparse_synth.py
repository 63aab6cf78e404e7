"""Synthetic dense-ternary + sparse-int8 layers for kernel tests and benchmarks (numpy only).

:func:`random_mask` draws an outlier mask of a structure at a density; :class:`SparseGraphBuilder`
adds dense+sparse layers (verifier-valid, calibrated like every :class:`GraphBuilder` layer) next
to ordinary ones.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from mixq.codegen.synth import GraphBuilder, IntPair, parse_dtype
from mixq.ir.graph import Conv2d, FullyConnected, Requant, SparseOutliers
from mixq.ir.interpret import conv2d_acc
from mixq.quant.sparsity import Family, SparseStructure


def random_mask(shape, structure: str, density: float, rng: np.random.Generator) -> np.ndarray:
    """A bool outlier mask of ``shape`` following ``structure``, with about ``density`` of the
    positions selected (capped at what the structure allows; 'row' rounds per output channel).

    Args:
        shape: weight shape (C_out, ...); groups and blocks run along the last axis.
        structure: 'unstructured', 'row', 'N:M' or 'block1x4'.
        density: fraction in [0, 1].
        rng: numpy generator.

    Example:
        >>> m = random_mask((4, 3, 3, 8), "2:8", 0.5, np.random.default_rng(0))
        >>> int(m.sum()), int(m.reshape(-1, 8).sum(axis=1).max())
        (72, 2)
    """
    shape = tuple(int(s) for s in shape)
    size = int(np.prod(shape))
    lanes = shape[-1]
    rows = size // lanes
    target = int(round(density * size))
    mask = np.zeros(size, bool)
    structure = SparseStructure(structure)
    family = structure.family
    if family is Family.UNSTRUCTURED:
        mask[rng.permutation(size)[:target]] = True
    elif family is Family.ROW:
        per = size // shape[0]
        count = int(round(density * per))
        for c in range(shape[0]):
            mask[c * per + rng.permutation(per)[:count]] = True
    elif family is Family.NM:
        n, m = structure.nm
        per_tap = -(-lanes // m)
        filled = np.zeros(rows * per_tap, np.int64)
        chosen = 0
        for pos in rng.permutation(size):
            if chosen >= target:
                break
            group = (pos // lanes) * per_tap + (pos % lanes) // m
            if filled[group] < n:
                filled[group] += 1
                mask[pos] = True
                chosen += 1
    else:  # Family.BLOCK
        per_tap = -(-lanes // 4)
        blocks = rng.permutation(rows * per_tap)[: int(round(density * size / min(4, lanes)))]
        for b in blocks:
            row, j = divmod(int(b), per_tap)
            mask[row * lanes + 4 * j: row * lanes + min(4 * j + 4, lanes)] = True
    return mask.reshape(shape)


def random_outliers(ternary: np.ndarray, structure: str, density: float,
                    rng: np.random.Generator, dense_scale=(1, 48)) -> tuple[np.ndarray,
                                                                             SparseOutliers]:
    """Outliers for a ternary weight: returns (T with 0 on the mask, SparseOutliers).

    Values are random int8 codes in the mask (some may be 0, as the IR allows); ``dense_scale``
    is a (low, high) range of k_c or a fixed int.
    """
    mask = random_mask(ternary.shape, structure, density, rng)
    t = np.where(mask, 0, ternary).astype(np.int8)
    values = np.where(mask, rng.integers(-128, 128, size=ternary.shape), 0).astype(np.int8)
    c_out = ternary.shape[0]
    if isinstance(dense_scale, (int, np.integer)):
        k = np.full(c_out, int(dense_scale))
    else:
        k = rng.integers(dense_scale[0], dense_scale[1] + 1, size=c_out)
    return t, SparseOutliers(values, k, structure, mask)


class SparseGraphBuilder(GraphBuilder):
    """:class:`GraphBuilder` with dense-ternary + sparse-int8 layers.

    Example:
        >>> b = SparseGraphBuilder((6, 6, 8), seed=0)
        >>> y = b.conv_sparse(b.input, 4, structure="block1x4", density=0.1)
        >>> g = b.build(y)
        >>> g.nodes[0].sparse.structure, g.nodes[0].ternary
        ('block1x4', True)
    """

    def conv_sparse(self, x: str, c_out: int, kernel: IntPair = 3, stride: IntPair = 1,
                    padding="same", out: str = "u8", groups: int = 1,
                    structure: str = "unstructured", density: float = 0.05, dense_scale=(1, 48),
                    requant: Optional[Requant] = None, name: Optional[str] = None) -> str:
        """Dense+sparse Conv2d (regular, or depthwise with ``groups != 1``); see
        :meth:`GraphBuilder.conv` for the geometry arguments (``requant``: fixed ICN
        parameters instead of calibrated ones)."""
        wshape, (sh, sw), padding, groups = self._conv_geometry(x, c_out, kernel, stride,
                                                                padding, groups)
        t, sp = random_outliers(self._weights("t2", wshape), structure, density, self.rng,
                                dense_scale)
        k = sp.dense_scale.astype(np.int64)
        acc = (conv2d_acc(self.sample(x), t, (sh, sw), padding, groups) * k
               + conv2d_acc(self.sample(x), sp.values, (sh, sw), padding, groups))
        node = Conv2d(name=name or self._name("dws" if groups > 1 else "convs"), input=x,
                      output=self._next_tensor(), weight=t,
                      requant=requant or self._calibrate(acc, self._effective(t, sp), x, out),
                      stride=(sh, sw), padding=padding, groups=groups, weight_bits=2,
                      ternary=True, sparse=sp)
        return self._add_node(node, acc.shape[1:], out)

    def dw_sparse(self, x: str, kernel: IntPair = 3, stride: IntPair = 1, padding="same",
                  out: str = "u8", **kw) -> str:
        """Dense+sparse depthwise conv."""
        return self.conv_sparse(x, 0, kernel, stride, padding, out, groups=-1, **kw)

    def pw_sparse(self, x: str, c_out: int, out: str = "u8", **kw) -> str:
        """Dense+sparse pointwise 1x1 conv."""
        return self.conv_sparse(x, c_out, 1, 1, "valid", out, **kw)

    def fc_sparse(self, x: str, c_out: int, out: str = "s8", structure: str = "unstructured",
                  density: float = 0.05, dense_scale=(1, 48), requant: Optional[Requant] = None,
                  name: Optional[str] = None) -> str:
        """Dense+sparse fully connected layer over the flattened input."""
        flat = self.sample(x).reshape(self.sample(x).shape[0], -1)  # (N, H, W, C) -> (N, HWC)
        t, sp = random_outliers(self._weights("t2", (c_out, flat.shape[1])), structure, density,
                                self.rng, dense_scale)
        acc = (flat @ t.astype(np.int64).T) * sp.dense_scale.astype(np.int64) + \
            flat @ sp.values.astype(np.int64).T
        node = FullyConnected(name=name or self._name("fcs"), input=x,
                              output=self._next_tensor(), weight=t,
                              requant=requant or self._calibrate(acc, self._effective(t, sp), x,
                                                                 out),
                              weight_bits=2, ternary=True, sparse=sp)
        return self._add_node(node, (c_out,), out)

    @staticmethod
    def _effective(t: np.ndarray, sp: SparseOutliers) -> np.ndarray:
        """k * T + S (int64): the accumulator bound of the calibration sees the whole layer."""
        k = sp.dense_scale.astype(np.int64).reshape(-1, *([1] * (t.ndim - 1)))
        return t.astype(np.int64) * k + sp.values.astype(np.int64)


__all__ = ["random_mask", "random_outliers", "SparseGraphBuilder", "parse_dtype"]
