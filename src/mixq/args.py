"""argparse value types shared by the sub-command modules (a utility: anyone may import it).

Each returns the parsed value or raises ``argparse.ArgumentTypeError``, which argparse prints as a
one-line usage error with exit status 2.
"""

from __future__ import annotations

import argparse


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None


def positive_int(text: str) -> int:
    """argparse type: a positive integer.

    Example:
        >>> positive_int("3")
        3
        >>> positive_int("0")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: must be positive, got 0
    """
    v = _integer(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0.

    Example:
        >>> non_negative_int("0")
        0
        >>> non_negative_int("x")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: 'x' is not an integer
    """
    v = _integer(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v
