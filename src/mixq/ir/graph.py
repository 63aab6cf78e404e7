"""The integer-only graph: frozen dataclasses, no torch.

A :class:`Graph` is a topologically ordered tuple of op nodes over named tensors. Every tensor is
per-sample NHWC without the batch axis: shape ``(H, W, C)`` for feature maps, ``(C,)`` for vectors.
Tensor codes are integers with zero point 0: ``real = code * scale``. Sub-byte tensors are stored
unpacked here (one code per numpy element); packing is a code-generation concern.

Weights are numpy int8 arrays of signed codes, layout OHWI ``(C_out, KH, KW, C_in / groups)``
(CMSIS-NN's), ternary weights use codes {-1, 0, 1} with ``weight_bits = 2`` and ``ternary=True``.
The meaning of every op is :mod:`mixq.ir.interpret`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np

from mixq.quant.integer import AddRequant, CodeRange, Requant, Rescale, frozen_array
from mixq.quant.kinds import LayerKind
from mixq.quant.sparsity import SPARSE_STRUCTURES, SparseStructure, parse_nm  # noqa: F401


@dataclass(frozen=True)
class TensorType(CodeRange):
    """An activation tensor.

    Attributes:
        shape: per-sample shape, (H, W, C) or (C,).
        bits: code width: 2, 4, 8 (activations) or 32.
        signed: two's complement codes if True, else unsigned.
        scale: real value of one code step (zero point is always 0).
    """

    shape: tuple[int, ...]
    bits: int
    signed: bool
    scale: float

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape))

    @property
    def packed_bytes(self) -> int:
        """Bytes when packed (sub-byte codes packed along channels, each pixel row padded to bytes).

        Example:
            >>> TensorType((4, 4, 3), 4, False, 1.0).packed_bytes
            32
        """
        channels = self.shape[-1]
        per_pixel = -(-channels * self.bits // 8)
        return int(np.prod(self.shape[:-1], dtype=np.int64)) * per_pixel


# SPARSE_STRUCTURES and parse_nm are re-exported from mixq.quant.sparsity.


@dataclass(frozen=True, eq=False)
class SparseOutliers:
    """The sparse high-precision part of an intra-layer mixed-precision (dense ternary + sparse
    int8) layer. With T the node's ternary ``weight`` codes, the layer's accumulator is

        acc[c] = dense_scale[c] * sum(x * T[c]) + sum(x * values[c])

    i.e. the ternary magnitude is an integer multiple ``dense_scale[c]`` of the sparse step
    (alpha_c = k_c * s_c), so the whole layer is plain integer arithmetic + the usual ICN.

    Attributes:
        values: int8 codes S in [-128, 127], the same shape as the node's weight, 0 outside
            ``mask``.
        mask: bool, the same shape: the selected outlier positions (a selected code may be 0);
            T is 0 wherever ``mask`` is set. Defaults to ``values != 0``.
        dense_scale: int32 (C_out,) k_c >= 0.
        structure: a :class:`~mixq.quant.sparsity.SparseStructure` (a known name is parsed;
            an unknown one is kept for :func:`mixq.ir.verify.verify` to reject):
            'unstructured' (any positions),
            'row' (the same count in every output channel), 'N:M' (at most N non-zeros in every
            M consecutive input channels of one (c_out, ky, kx) row, groups aligned at 0),
            'block1x4' (the mask is a union of aligned blocks of 4 consecutive input channels;
            a trailing partial block is allowed where C_in is not a multiple of 4).
    """

    values: np.ndarray
    dense_scale: np.ndarray
    structure: SparseStructure = SparseStructure("unstructured")
    mask: np.ndarray | None = None

    def __post_init__(self):
        if self.structure in SPARSE_STRUCTURES:
            object.__setattr__(self, "structure", SparseStructure(self.structure))
        object.__setattr__(self, "values", frozen_array(self.values, np.int8))
        object.__setattr__(self, "dense_scale", frozen_array(self.dense_scale, np.int32))
        mask = self.values != 0 if self.mask is None else self.mask
        object.__setattr__(self, "mask", frozen_array(mask, np.bool_))

    @property
    def nnz(self) -> int:
        """Number of selected outlier positions."""
        return int(np.count_nonzero(self.mask))


@dataclass(frozen=True, eq=False)
class _WeightOp:
    """The fields every weight op starts with (see :class:`Conv2d`, :class:`FullyConnected`)."""

    name: str
    input: str
    output: str
    weight: np.ndarray
    requant: Requant

    def __post_init__(self):
        object.__setattr__(self, "weight", frozen_array(self.weight, np.int8))

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)


@dataclass(frozen=True, eq=False)
class Conv2d(_WeightOp):
    """2-D convolution (regular, depthwise or pointwise) + ICN requantization.

    Attributes:
        name: layer name (unique).
        input, output: tensor names; input (H, W, C_in), output (H_out, W_out, C_out).
        weight: int8 codes (C_out, KH, KW, C_in // groups).
        requant: ICN parameters for C_out channels.
        stride: (sh, sw).
        padding: (top, bottom, left, right) zero padding (TF SAME may be asymmetric).
        groups: 1 (regular) or C_in == C_out (depthwise).
        weight_bits: 8, 4 or 2.
        ternary: weights are {-1, 0, 1} (weight_bits == 2).
        sparse: high-precision outliers added to a ternary weight (intra-layer mixed
            precision), or None.
    """

    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: int = 1
    weight_bits: int = 8
    ternary: bool = False
    sparse: SparseOutliers | None = None

    @property
    def kind(self) -> LayerKind:
        """DW (depthwise), PW (1x1, groups 1) or CONV."""
        c_out, kh, kw, _ = self.weight.shape
        if self.groups > 1:
            return LayerKind.DW
        return LayerKind.PW if (kh, kw) == (1, 1) else LayerKind.CONV


@dataclass(frozen=True, eq=False)
class FullyConnected(_WeightOp):
    """Fully connected layer over the flattened (HWC order) input + ICN requantization.

    Attributes:
        weight: int8 codes (C_out, C_in) with C_in = numel(input).
        sparse: high-precision outliers (see :class:`SparseOutliers`), or None.
    """

    weight_bits: int = 8
    ternary: bool = False
    sparse: SparseOutliers | None = None
    kind = LayerKind.FC


@dataclass(frozen=True)
class AvgPool:
    """Global average pooling (H, W, C) -> (1, 1, C), codes and scale unchanged:
    ``y = floor((sum + n // 2) / n)`` with n = H * W (round half up)."""

    name: str
    input: str
    output: str
    kind = LayerKind.POOL

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)


@dataclass(frozen=True)
class Add:
    """Residual add of two same-shape tensors:
    ``y = clamp((a * multiplier_a + b * multiplier_b + (1 << (shift - 1))) >> shift, min, max)``.
    Multipliers are int32, ``shift`` in [1, 62], intermediates int64."""

    name: str
    input_a: str
    input_b: str
    output: str
    multiplier_a: int
    multiplier_b: int
    shift: int
    activation_min: int
    activation_max: int
    kind = LayerKind.ADD

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input_a, self.input_b)

    @property
    def rule(self) -> AddRequant:
        """The integer add rule (:class:`mixq.quant.integer.AddRequant`) of this node."""
        return AddRequant(self.multiplier_a, self.multiplier_b, self.shift, self.activation_min,
                          self.activation_max)

    @classmethod
    def from_rule(cls, name: str, input_a: str, input_b: str, output: str,
                  rule: AddRequant) -> "Add":
        return cls(name, input_a, input_b, output, rule.multiplier_a, rule.multiplier_b,
                   rule.shift, rule.activation_min, rule.activation_max)


@dataclass(frozen=True)
class Pool2d:
    """Windowed max or average pooling, codes and scale unchanged (H, W, C) -> (H_out, W_out, C).

    Max (``maximum``): the largest code among the window's taps inside the input (padding never
    wins, as PyTorch's -inf padding). Average: ``floor((sum + n // 2) / n)``
    (:func:`mixq.quant.integer.avgpool_divide`) over the taps inside the input (padding adds 0),
    with n = KH * KW when ``count_include_pad`` (PyTorch's default) else the count of those taps.
    Every window holds at least one input tap (padding < kernel on each side).

    Attributes:
        kernel: (KH, KW); stride: (sh, sw); padding: (top, bottom, left, right).
    """

    name: str
    input: str
    output: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    maximum: bool = True
    count_include_pad: bool = True

    @property
    def kind(self) -> LayerKind:
        return LayerKind.MAXPOOL if self.maximum else LayerKind.AVGPOOL

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.input,)


@dataclass(frozen=True)
class Concat:
    """Concatenation along channels of same-(H, W) tensors, in ``inputs`` order. Input i's codes
    are moved to the output's scale by ``Rescale(multipliers[i], shifts[i])``
    (:class:`mixq.quant.integer.Rescale`) and clamped to [activation_min, activation_max] (the
    output's code range); (1, 0) is the identity. The common scale rule is
    :func:`mixq.quant.integer.concat_format`.
    """

    name: str
    inputs: tuple[str, ...]
    output: str
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    activation_min: int
    activation_max: int
    kind = LayerKind.CONCAT

    @property
    def rescales(self) -> tuple[Rescale, ...]:
        return tuple(Rescale(m, s) for m, s in zip(self.multipliers, self.shifts))


Node = Union[Conv2d, FullyConnected, AvgPool, Add, Pool2d, Concat]
# Every IR node type. Each IR consumer (interpret, codegen, memory plan, hw) has one dispatch
# table keyed by these types; tests/ir/test_dispatch_tables.py checks that each covers them all.
NODE_TYPES = (Conv2d, FullyConnected, AvgPool, Add, Pool2d, Concat)
WEIGHT_OPS = (Conv2d, FullyConnected)


@dataclass(frozen=True, eq=False)
class Graph:
    """An integer-only network.

    Attributes:
        name: model name.
        tensors: tensor name -> :class:`TensorType` (a tuple of pairs, frozen).
        nodes: ops in execution (topological) order.
        inputs: input tensor names (the network input: u8 codes).
        outputs: output tensor names.
    """

    name: str
    tensors: tuple[tuple[str, TensorType], ...]
    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    _by_name: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_by_name", dict(self.tensors))

    def tensor(self, name: str) -> TensorType:
        return self._by_name[name]

    @property
    def weight_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if isinstance(n, WEIGHT_OPS))
