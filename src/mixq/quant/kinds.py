"""The closed vocabulary of layer kinds, shared by every package from ``quant`` down.

A :class:`LayerKind` is a ``str`` enum: its value is the string written in JSON files, metadata and
reports (``"conv"``, ``"dw"``, ...), so serialized files are unchanged; code compares members, and
strings are parsed once, at the file/JSON boundary (:meth:`LayerKind.parse`).
"""

from __future__ import annotations

from enum import StrEnum

from mixq.errors import MixqError


class LayerKind(StrEnum):
    """Kind of one layer / IR node.

    Example:
        >>> LayerKind.parse("pw"), LayerKind.PW.weighted, LayerKind.ADD.weighted
        (<LayerKind.PW: 'pw'>, True, False)
        >>> f"{LayerKind.DW}"
        'dw'
    """

    CONV = "conv"  # regular 2-D convolution (not 1x1)
    DW = "dw"  # depthwise convolution
    PW = "pw"  # pointwise (1x1, groups 1) convolution
    FC = "fc"  # fully connected
    POOL = "pool"  # global average pooling
    ADD = "add"  # residual add
    MAXPOOL = "maxpool"  # windowed max pooling (k x k, stride, padding)
    AVGPOOL = "avgpool"  # windowed average pooling (k x k, stride, padding)
    CONCAT = "concat"  # concatenation along channels

    @classmethod
    def parse(cls, text) -> "LayerKind":
        """The kind named ``text`` (a member passes through); one-line error otherwise."""
        try:
            return cls(text)
        except ValueError:
            raise MixqError(f"layer kind '{text}' is not one of "
                            f"{', '.join(k.value for k in cls)}") from None

    @property
    def weighted(self) -> bool:
        """True for the kinds with weights (conv, dw, pw, fc)."""
        return self in WEIGHT_KINDS


WEIGHT_KINDS = (LayerKind.CONV, LayerKind.DW, LayerKind.PW, LayerKind.FC)
