"""Sparse outlier structures as a value type: parse, check, select a mask, index cost.

The sparse high-precision part of an intra-layer mixed-precision layer follows one structure
(the regularity knob, on each row of input channels of one (c_out, ky, kx) position):

- 'unstructured': any positions;
- 'row': the same count in every output channel;
- 'N:M' (1:16, 1:8, 2:8): at most N non-zeros in every M consecutive input channels, groups
  aligned at 0;
- 'block1x4': a union of aligned blocks of 4 consecutive input channels (a trailing partial
  block where C_in is not a multiple of 4).

A :class:`SparseStructure` is a ``str`` (its name, as written in graph files and JSON: serialized
values are unchanged); code branches on :attr:`SparseStructure.family`, never on the name.

Example:
    >>> s = SparseStructure.parse("2:8")
    >>> s, s.family, s.nm, s.max_density
    ('2:8', <Family.NM: 'nm'>, (2, 8), 0.25)
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np

from mixq.errors import MixqError

SPARSE_STRUCTURES = ("unstructured", "row", "1:16", "1:8", "2:8", "block1x4")
BLOCK = 4  # block1x4: 4 consecutive input channels


def parse_nm(structure: str) -> tuple[int, int] | None:
    """(N, M) of an 'N:M' structure name, else None.

    Example:
        >>> parse_nm("2:8"), parse_nm("row")
        ((2, 8), None)
    """
    if ":" not in structure:
        return None
    n, m = structure.split(":")
    return int(n), int(m)


class Family(StrEnum):
    """What a structure constrains; the C header code of each family is :attr:`code`."""

    UNSTRUCTURED = "unstructured"
    ROW = "row"
    NM = "nm"
    BLOCK = "block"

    @property
    def code(self) -> int:
        """The structure code of the sparse blob header (``mixq_sparse.h``)."""
        return list(Family).index(self)


class SparseStructure(str):
    """One of :data:`SPARSE_STRUCTURES` (a validated ``str``)."""

    def __new__(cls, text):
        if isinstance(text, SparseStructure):
            return text
        if text not in SPARSE_STRUCTURES:
            raise ValueError(f"sparse structure '{text}' is not one of "
                             f"{', '.join(SPARSE_STRUCTURES)}")
        return super().__new__(cls, text)

    @classmethod
    def parse(cls, text) -> "SparseStructure":
        """The structure named ``text``; a one-line :class:`MixqError` for an unknown name."""
        try:
            return cls(text)
        except ValueError as e:
            raise MixqError(str(e)) from None

    @property
    def family(self) -> Family:
        if ":" in self:
            return Family.NM
        return Family.BLOCK if self == "block1x4" else Family(str(self))

    @property
    def nm(self) -> tuple[int, int] | None:
        """(N, M) of an 'N:M' structure, else None."""
        return parse_nm(self)

    @property
    def group(self) -> int | None:
        """Input channels per constrained group: M for N:M, 4 for block1x4, else None."""
        return self.nm[1] if self.nm else (BLOCK if self.family is Family.BLOCK else None)

    @property
    def max_density(self) -> float:
        """Largest density the structure allows (N/M for N:M, else 1)."""
        return self.nm[0] / self.nm[1] if self.nm else 1.0

    def violation(self, mask: np.ndarray) -> str | None:
        """Why a bool mask (weight layout, input channels last) breaks the structure, or None.

        Example:
            >>> m = np.zeros((2, 8), bool); m[0, :3] = True
            >>> SparseStructure("2:8").violation(m)
            'more than 2 outliers in a group of 8'
            >>> SparseStructure("block1x4").violation(m)
            "'block1x4' mask is not a union of 1x4 blocks"
        """
        mask = np.asarray(mask, bool)
        if self.family is Family.ROW:
            per_row = mask.reshape(mask.shape[0], -1).sum(axis=1)
            if per_row.size and per_row.min() != per_row.max():
                return "'row' structure needs the same count per channel"
        lanes = mask.reshape(-1, mask.shape[-1])  # one row of input channels per tap
        if self.family is Family.NM:
            n, m = self.nm
            if lane_groups(lanes, m).sum(axis=-1).max(initial=0) > n:
                return f"more than {n} outliers in a group of {m}"
        if self.family is Family.BLOCK:
            blocks = lane_groups(lanes, BLOCK)
            present = lane_groups(np.ones_like(lanes), BLOCK)  # the last block may be short
            if np.any(blocks.any(axis=-1, keepdims=True) & present & ~blocks):
                return "'block1x4' mask is not a union of 1x4 blocks"
        return None

    def index_bits(self, mask_shape, nnz: int, mask: np.ndarray | None = None) -> int:
        """Bits of a layer's sparse part beyond 8 per selected value in the deployed format
        (the table of :mod:`mixq.codegen.sparse_formats`).

        Args:
            mask_shape: the weight shape, ``(C_out, KH, KW, C_in / groups)`` or
                ``(C_out, fan_in)``.
            nnz: number of selected positions (mask count).
            mask: the bool mask; only needed for the exact block count of 'block1x4' when
                lanes are not a multiple of 4 (else ceil(nnz / 4) blocks are assumed).

        Example:
            >>> [SparseStructure(s).index_bits((64, 1, 1, 64), 40) for s in
            ...  ("unstructured", "row", "1:16", "block1x4")]
            [832, 320, 416, 592]
            >>> SparseStructure("2:8").index_bits((8, 1, 1, 8), 16)  # fixed slots: 8 * 2 * 3
            48
        """
        shape = tuple(int(s) for s in mask_shape)
        c_out, lanes = shape[0], shape[-1]
        k = int(np.prod(shape[1:], dtype=np.int64))
        taps = k // max(lanes, 1)
        if self.family in (Family.UNSTRUCTURED, Family.ROW):
            counts = count_width(k) * c_out if self.family is Family.UNSTRUCTURED else 0
            return counts + index_width(k) * nnz
        if self.family is Family.NM:
            n, m = self.nm
            return min(nm_costs(n, m, c_out * taps * -(-lanes // m), nnz))
        per_tap = -(-lanes // BLOCK)
        if mask is not None:
            rows = np.asarray(mask, bool).reshape(c_out, taps, lanes)
            blocks = int(lane_groups(rows, BLOCK).any(axis=-1).sum())
        else:
            blocks = -(-nnz // BLOCK)
        nb = taps * per_tap
        return count_width(nb) * c_out + index_width(nb) * blocks + 8 * (BLOCK * blocks - nnz)


def lane_groups(rows: np.ndarray, m: int, fill=0) -> np.ndarray:
    """(..., lanes) -> (..., ceil(lanes / m), m), the tail padded with ``fill``.

    Example:
        >>> lane_groups(np.arange(5), 4).tolist()
        [[0, 1, 2, 3], [4, 0, 0, 0]]
    """
    pad = (-rows.shape[-1]) % m
    rows = np.pad(rows, [(0, 0)] * (rows.ndim - 1) + [(0, pad)], constant_values=fill)
    return rows.reshape(*rows.shape[:-1], -1, m)


def nm_costs(n: int, m: int, groups: int, nnz: int) -> tuple[int, int]:
    """Index bits of the two N:M forms: (counted, fixed slots)."""
    lb = int(math.log2(m))
    return groups * n.bit_length() + nnz * lb, groups * n * lb + 8 * (groups * n - nnz)


def index_width(count: int) -> int:
    """Bits of an index field addressing ``count`` items: 8, 16 or 32.

    Example:
        >>> index_width(144), index_width(257), index_width(70000)
        (8, 16, 32)
    """
    return 8 if count <= 256 else (16 if count <= 65536 else 32)


def count_width(count: int) -> int:
    """Bits of a per-row count of at most ``count`` items: 8 or 16.

    Example:
        >>> count_width(255), count_width(256)
        (8, 16)
    """
    return 8 if count <= 255 else 16
