"""Small helpers that print deterministic C99 source text."""

from __future__ import annotations

import re

import numpy as np

INT32_MIN = -(2**31)


def c_int(value: int) -> str:
    """An int32 literal (INT32_MIN written so that no operand overflows).

    Example:
        >>> c_int(5), c_int(-2**31)
        ('5', '(-2147483647 - 1)')
    """
    value = int(value)
    if not INT32_MIN <= value < 2**31:
        raise ValueError(f"{value} does not fit in int32")
    return "(-2147483647 - 1)" if value == INT32_MIN else str(value)


def c_comment_text(text: str) -> str:
    """``text`` made safe inside a C comment (no '*/', no control characters).

    Example:
        >>> c_comment_text("conv*/evil\\n")
        'conv__evil_'
    """
    return re.sub(r"[^A-Za-z0-9_.:,()\-+>= ]", "_", str(text))


def c_int64(value: int) -> str:
    """An int64 literal with an LL suffix (INT64_MIN never occurs: biases are within 2^62).

    Example:
        >>> c_int64(5), c_int64(-2**40)
        ('5LL', '-1099511627776LL')
    """
    value = int(value)
    if not -(2**63) < value < 2**63:
        raise ValueError(f"{value} does not fit in int64")
    return f"{value}LL"


def c_array(ctype: str, name: str, values, *, per_line: int = 12, static: bool = True,
            attributes: str = "") -> str:
    """A const array definition; uint8 values in hex, others in decimal.

    Example:
        >>> print(c_array("uint8_t", "w", np.array([1, 255], np.uint8)))
        static const uint8_t w[2] = {
            0x01, 0xff,
        };
    """
    values = np.asarray(values).ravel()
    if ctype == "uint8_t":
        items = [f"0x{int(v):02x}" for v in values]
        per_line = max(per_line, 16)
    elif ctype == "int64_t":
        items = [c_int64(v) for v in values]
    else:
        items = [c_int(v) for v in values]
    lines = [
        "    " + ", ".join(items[i:i + per_line]) + ","
        for i in range(0, len(items), per_line)
    ]
    attr = f" {attributes}" if attributes else ""
    head = f"{'static ' if static else ''}const {ctype} {name}[{len(items)}]{attr} = {{"
    return "\n".join([head, *lines, "};"])


def c_struct(ctype: str, name: str, fields: dict) -> str:
    """A const struct definition with C99 designated initializers (field order kept).

    Example:
        >>> print(c_struct("mixq_pool_params_t", "p", {"c": 3, "in_h": 2}))
        const mixq_pool_params_t p = {
            .c = 3,
            .in_h = 2,
        };
    """
    body = []
    for key, value in fields.items():
        text = value if isinstance(value, str) else c_int(value)
        body.append(f"    .{key} = {text},")
    return "\n".join([f"const {ctype} {name} = {{", *body, "};"])
