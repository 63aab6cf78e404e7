"""ARMv7E-M element-wise kernels (target 'armv7em'): residual add and global average pooling of
8-bit codes.

The C kernels (``runtime/armv7em/mixq_add_dsp.c``, ``mixq_avgpool_dsp.c``, declared in
``mixq_eltwise_dsp.h``) keep the reference integer rules exactly. Two adds: ``mixq_add_smlad_u8``
takes four elements per word and computes the 64-bit rule with two SMLADs per element on
16-bit pieces of the multipliers (shift in [16, 47]); ``mixq_add_dsp_u8`` runs two SMLALs per
element on codes scaled so that the result is the high word (any shift >= 16). The code
generator picks the cheaper by their fitted costs (:data:`ADD_COST_PER_ELEMENT`). The pool sums
four channels per word load in 16-bit lanes (UXTAB16). Other dtypes fall back to the portable kernels. Apart from
:mod:`mixq.codegen.kernels_armv7em` (the conv-family kernels) so each file holds one family.
"""

from __future__ import annotations

from mixq.codegen.kernel import Kernel
from mixq.codegen.kernels_armv7em import SOURCE_DIR, TARGET
from mixq.codegen.kernels_ref import add_inplace_inputs
from mixq.ir.graph import Graph
from mixq.quant.kinds import LayerKind

EIGHT_BIT = ("u8", "s8")


MIN_ADD_SHIFT = 16  # mirror of the C kernel's bound: scaled codes fit 16 bits, sums int64


def add_supported(node, graph: Graph) -> bool:
    """The add's clamp lies inside the u8 output range (the kernel stores one byte) and its
    shift is at least :data:`MIN_ADD_SHIFT` (the kernel scales the codes by 2^(32 - shift))."""
    return 0 <= node.activation_min <= node.activation_max <= 255 and \
        node.shift >= MIN_ADD_SHIFT


MAX_SMLAD_SHIFT = 47  # mirror of mixq_add_smlad.c: the rounding constant's high part fits int32


def split_multiplier(multiplier: int) -> tuple[int, int]:
    """``(high, low)`` 16-bit pieces of an int32 multiplier as ``mixq_add_smlad_u8`` splits it:
    ``multiplier = high * 2^16 + low``, ``low`` the sign-extended low halfword.

    Example:
        >>> split_multiplier(0x12348765), split_multiplier(-1)
        ((4661, -30875), (0, -1))
    """
    low = ((multiplier & 0xFFFF) ^ 0x8000) - 0x8000
    return (multiplier - low) >> 16, low


def smlad_add_supported(node, graph: Graph) -> bool:
    """:func:`add_supported`, a shift of at most :data:`MAX_SMLAD_SHIFT` and both multipliers'
    high pieces (:func:`split_multiplier`) inside int16, as the SMLAD add needs."""
    return add_supported(node, graph) and node.shift <= MAX_SMLAD_SHIFT and all(
        -(1 << 15) <= split_multiplier(m)[0] < (1 << 15)
        for m in (node.multiplier_a, node.multiplier_b))


# Instructions per output element of each add, fitted to bench/kernels.py counts
# (add:16x16x32:32:1x1:s1 and the ResNet-8 adds); the code generator takes the cheaper.
ADD_COST_PER_ELEMENT = {"mixq_add_dsp_u8": 13.0, "mixq_add_smlad_u8": 7.5}


def _add_cost(function: str):
    return lambda node, graph: ADD_COST_PER_ELEMENT[function] * graph.tensor(node.output).numel


def _add_kernels(function: str, sources: tuple[str, ...], variant: str,
                 accepts) -> tuple[Kernel, Kernel]:
    add = dict(op=LayerKind.ADD, function=function, sources=sources, source_dir=SOURCE_DIR,
               target=TARGET, dtypes=frozenset((a, b, "u8") for a in EIGHT_BIT
                                               for b in EIGHT_BIT), priority=10,
               cost=_add_cost(function))
    return (
        Kernel(variant=variant, accepts=accepts, **add),
        # each output written after the inputs at its offset were read: safe over an input of
        # as many bits
        Kernel(variant=f"{variant}-inplace",
               accepts=lambda n, g: accepts(n, g) and bool(add_inplace_inputs(n, g)),
               inplace_inputs=add_inplace_inputs, **add),
    )


def _kernels() -> tuple[Kernel, ...]:
    return (
        *_add_kernels("mixq_add_smlad_u8", ("mixq_add_smlad.c", "mixq_eltwise_dsp.h", "mixq_dsp.h"),
                      "smlad", smlad_add_supported),
        *_add_kernels("mixq_add_dsp_u8", ("mixq_add_dsp.c", "mixq_eltwise_dsp.h"), "dsp",
                      add_supported),
        Kernel(op=LayerKind.POOL, function="mixq_avgpool_dsp_u8",
               sources=("mixq_avgpool_dsp.c", "mixq_eltwise_dsp.h"), source_dir=SOURCE_DIR,
               target=TARGET, variant="dsp", dtypes=frozenset({("u8", "u8")}), priority=10),
    )


# Residual add and global average pool of the ARMv7E-M DSP kernel set.
KERNELS = _kernels()

__all__ = ["ADD_COST_PER_ELEMENT", "KERNELS", "MAX_SMLAD_SHIFT", "add_supported",
           "smlad_add_supported", "split_multiplier"]
