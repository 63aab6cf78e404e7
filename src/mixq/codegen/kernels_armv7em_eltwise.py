"""ARMv7E-M element-wise kernels (target 'armv7em'): residual add and global average pooling of
8-bit codes.

The C kernels (``runtime/armv7em/mixq_add_dsp.c``, ``mixq_avgpool_dsp.c``, declared in
``mixq_eltwise_dsp.h``) keep the reference integer rules exactly: the add runs two SMLALs per
element on codes scaled so that the result is the high word (no 64-bit shift), the pool sums four channels per
word load in 16-bit lanes (UXTAB16). Other dtypes fall back to the portable kernels. Apart from
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


def _kernels() -> tuple[Kernel, ...]:
    add = dict(op=LayerKind.ADD, function="mixq_add_dsp_u8",
               sources=("mixq_add_dsp.c", "mixq_eltwise_dsp.h"), source_dir=SOURCE_DIR,
               target=TARGET, dtypes=frozenset((a, b, "u8") for a in EIGHT_BIT
                                               for b in EIGHT_BIT), priority=10)
    return (
        Kernel(variant="dsp", accepts=add_supported, **add),
        # element by element like the reference add: safe over an input of as many bits
        Kernel(variant="dsp-inplace",
               accepts=lambda n, g: add_supported(n, g) and bool(add_inplace_inputs(n, g)),
               inplace_inputs=add_inplace_inputs, **add),
        Kernel(op=LayerKind.POOL, function="mixq_avgpool_dsp_u8",
               sources=("mixq_avgpool_dsp.c", "mixq_eltwise_dsp.h"), source_dir=SOURCE_DIR,
               target=TARGET, variant="dsp", dtypes=frozenset({("u8", "u8")}), priority=10),
    )


# Residual add and global average pool of the ARMv7E-M DSP kernel set.
KERNELS = _kernels()

__all__ = ["KERNELS", "add_supported"]
