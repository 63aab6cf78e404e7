"""Outlier structures: mask builders at a given density (numpy only, no torch).

Masks are built in the IR weight layout, input channels last: (C_out, KH, KW, C_in/groups) for a
conv, (C_out, fan_in) for a fully connected layer (fan_in in the IR's (H, W, C) order). A *lane
row* is one (c_out, ky, kx) row of input channels; N:M groups and 1x4 blocks run along it,
aligned at 0, the last one possibly short (as :mod:`mixq.ir.verify` checks).

Structures (the regularity knob; :data:`mixq.ir.graph.SPARSE_STRUCTURES`):

- ``unstructured``: the ``round(density * numel)`` highest scores of the layer.
- ``row``: the same count ``round(density * fan_in)`` in every output channel (row-balanced).
- ``N:M`` (1:16, 1:8, 2:8): at most N in every M consecutive input channels; the highest scores
  that satisfy it (the N best of each group compete globally). Density is capped at N/M.
- ``block1x4``: whole aligned blocks of 4 input channels, ranked by their summed score, as many
  as bring the count closest to ``density * numel``.

Example:
    >>> s = np.arange(16, dtype=float).reshape(2, 8)
    >>> build_mask(s, "1:8", 0.125).astype(int)
    array([[0, 0, 0, 0, 0, 0, 0, 1],
           [0, 0, 0, 0, 0, 0, 0, 1]])
"""

from __future__ import annotations

import numpy as np

from mixq.errors import MixqError
from mixq.quant.sparsity import BLOCK, SPARSE_STRUCTURES, Family, SparseStructure, lane_groups

STRUCTURES = SPARSE_STRUCTURES


def check_structure(structure: str) -> SparseStructure:
    """The parsed ``structure``, or a one-line MixqError naming the known ones.

    Example:
        >>> check_structure("2:8")
        '2:8'
    """
    return SparseStructure.parse(structure)


def max_density(structure: str) -> float:
    """Largest density a structure allows (N/M for N:M, else 1).

    Example:
        >>> max_density("1:16"), max_density("2:8"), max_density("row")
        (0.0625, 0.25, 1.0)
    """
    return check_structure(structure).max_density


def _top(flat_scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores; ties go to the lower index (deterministic)."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.argsort(-flat_scores, kind="stable")[:k]


def _lane_groups(a: np.ndarray, m: int, fill) -> np.ndarray:
    """(..., L) -> (rows, ceil(L/m), m) with the tail padded by ``fill``."""
    return lane_groups(a.reshape(-1, a.shape[-1]), m, fill)


def _ungroup(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`_lane_groups` (drops the padding)."""
    lanes = shape[-1]
    return g.reshape(g.shape[0], -1)[:, :lanes].reshape(shape)


def build_mask(scores: np.ndarray, structure: str, density: float) -> np.ndarray:
    """Outlier mask of one layer: the highest-scoring positions that follow ``structure``.

    Args:
        scores: float >= 0 importance per weight, IR layout (input channels on the last axis).
        structure: one of :data:`STRUCTURES`.
        density: target fraction of the layer's weights, in [0, 1]; 0 gives an empty mask.

    Returns:
        bool array like ``scores``.

    Raises:
        MixqError: unknown structure or a density outside [0, 1].

    Example:
        >>> s = np.array([[5.0, 1, 1, 1, 0, 0, 0, 9], [1, 2, 3, 4, 0, 0, 0, 0]])
        >>> build_mask(s, "unstructured", 0.125).astype(int).tolist()
        [[1, 0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0]]
        >>> build_mask(s, "row", 0.125).astype(int).tolist()
        [[0, 0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0, 0, 0]]
        >>> build_mask(s, "block1x4", 0.5).astype(int).tolist()
        [[0, 0, 0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0, 0]]
    """
    structure = check_structure(structure)
    if not 0.0 <= density <= 1.0:
        raise MixqError(f"outlier density {density} must be in [0, 1]")
    scores = np.asarray(scores, dtype=np.float64)
    mask = np.zeros(scores.shape, dtype=bool)
    numel = scores.size
    if numel == 0 or density == 0.0:
        return mask
    k = int(round(density * numel))
    if structure.family is Family.UNSTRUCTURED:
        mask.reshape(-1)[_top(scores.reshape(-1), k)] = True
        return mask
    if structure.family is Family.ROW:
        rows = scores.reshape(scores.shape[0], -1)
        per_row = int(round(density * rows.shape[1]))
        if per_row > 0:
            idx = np.argsort(-rows, axis=1, kind="stable")[:, :per_row]
            np.put_along_axis(mask.reshape(rows.shape), idx, True, axis=1)
        return mask
    if structure.family is Family.NM:
        n, m = structure.nm
        groups = _lane_groups(scores, m, -np.inf)
        # rank inside each group; only the N best of a group may be chosen
        rank = np.argsort(np.argsort(-groups, axis=2, kind="stable"), axis=2, kind="stable")
        eligible = (rank < n) & np.isfinite(groups)
        cand = np.where(eligible, groups, -np.inf).reshape(-1)
        chosen = np.zeros(cand.shape, dtype=bool)
        chosen[_top(cand, min(k, int(eligible.sum())))] = True
        return _ungroup(chosen.reshape(groups.shape), scores.shape)
    # Family.BLOCK
    groups = _lane_groups(scores, BLOCK, 0.0)
    sizes = _lane_groups(np.ones(scores.shape), BLOCK, 0.0).sum(axis=2).reshape(-1)
    order = np.argsort(-groups.sum(axis=2).reshape(-1), kind="stable")
    counts = np.concatenate([[0], np.cumsum(sizes[order])])
    n_blocks = int(np.argmin(np.abs(counts - k)))  # first prefix closest to k
    chosen = np.zeros(sizes.shape, dtype=bool)
    chosen[order[:n_blocks]] = True
    block_mask = np.repeat(chosen.reshape(groups.shape[:2])[..., None], BLOCK, axis=2)
    return _ungroup(block_mask, scores.shape)


def to_ir_layout(a: np.ndarray, in_chw: tuple[int, int, int] | None = None) -> np.ndarray:
    """Torch weight layout -> IR layout (input channels last).

    OIHW -> OHWI for a conv; for a fully connected layer fed by a flattened (C, H, W) map the
    columns go from torch's (C, H, W) order to the IR's (H, W, C) order.

    Example:
        >>> to_ir_layout(np.arange(6).reshape(1, 3, 1, 2)).shape
        (1, 1, 2, 3)
        >>> to_ir_layout(np.arange(6).reshape(1, 6), in_chw=(3, 1, 2)).tolist()
        [[0, 2, 4, 1, 3, 5]]
    """
    return _relayout(a, in_chw, to_ir=True)


def from_ir_layout(a: np.ndarray, in_chw: tuple[int, int, int] | None = None) -> np.ndarray:
    """Inverse of :func:`to_ir_layout`.

    Example:
        >>> x = np.arange(24).reshape(2, 3, 2, 2)
        >>> bool((from_ir_layout(to_ir_layout(x)) == x).all())
        True
    """
    return _relayout(a, in_chw, to_ir=False)


def _relayout(a: np.ndarray, in_chw, to_ir: bool) -> np.ndarray:
    """Move the input-channel axis last (``to_ir``) or back to second, for a conv weight
    (O, I, H, W) <-> (O, H, W, I) or an FC weight whose columns are a flattened (C, H, W) map."""
    a = np.asarray(a)
    order = (0, 2, 3, 1) if to_ir else (0, 3, 1, 2)
    if a.ndim == 4:
        return a.transpose(order)
    if in_chw is not None:
        c, h, w = in_chw
        src = (c, h, w) if to_ir else (h, w, c)
        return a.reshape(a.shape[0], *src).transpose(order).reshape(a.shape[0], -1)
    return a
