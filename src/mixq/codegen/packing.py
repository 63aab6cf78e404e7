"""Sub-byte packing of integer codes (numpy), the layout every mixq C kernel reads and writes.

Codes are packed along the last (channel) axis: ``bits`` bits per code (8, 4 or 2), the lowest
channel in the lowest bits of a byte, two's complement fields for signed codes, and each row (a
pixel's channels) padded to whole bytes with zero bits.
"""

from __future__ import annotations

import numpy as np


def row_bytes(count: int, bits: int) -> int:
    """Bytes of ``count`` packed codes of ``bits`` bits: ``ceil(count * bits / 8)``.

    Example:
        >>> row_bytes(3, 8), row_bytes(3, 4), row_bytes(5, 2)
        (3, 2, 2)
    """
    return -(-count * bits // 8)


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack integer codes along the last axis.

    Args:
        codes: int codes (..., C), inside the signed or unsigned range of ``bits``.
        bits: 8, 4 or 2.

    Returns:
        uint8 (..., row_bytes(C, bits)).

    Example:
        >>> pack_codes(np.array([1, 2, 3]), 4)
        array([33,  3], dtype=uint8)
        >>> pack_codes(np.array([[-1, 0, 1]]), 2)  # 0b11, 0b00, 0b01 -> 0b010011
        array([[19]], dtype=uint8)
    """
    if bits not in (2, 4, 8):
        raise ValueError(f"cannot pack {bits}-bit codes: use 8, 4 or 2")
    codes = np.asarray(codes, dtype=np.int64)
    per = 8 // bits
    channels = codes.shape[-1]
    padded = -(-channels // per) * per
    pad = [(0, 0)] * (codes.ndim - 1) + [(0, padded - channels)]
    fields = (np.pad(codes, pad) & ((1 << bits) - 1)).astype(np.uint8)
    # (..., C_padded) -> (..., bytes, codes per byte)
    fields = fields.reshape(*codes.shape[:-1], padded // per, per)
    shifts = (np.arange(per) * bits).astype(np.uint8)
    return np.bitwise_or.reduce(fields << shifts, axis=-1).astype(np.uint8)


def unpack_codes(packed: np.ndarray, bits: int, signed: bool, channels: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: uint8 (..., bytes) -> int64 codes (..., channels).

    Example:
        >>> unpack_codes(np.array([19], np.uint8), 2, True, 3)
        array([-1,  0,  1])
    """
    packed = np.asarray(packed, dtype=np.uint8)
    per = 8 // bits
    shifts = (np.arange(per) * bits).astype(np.uint8)
    # (..., bytes) -> (..., bytes, per) -> (..., bytes * per)
    fields = (packed[..., None] >> shifts) & ((1 << bits) - 1)
    codes = fields.reshape(*packed.shape[:-1], -1)[..., :channels].astype(np.int64)
    if signed:
        codes = np.where(codes >= 1 << (bits - 1), codes - (1 << bits), codes)
    return codes
