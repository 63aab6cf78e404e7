"""The :class:`Kernel` record: one C kernel and its Python-side contract (see
:mod:`mixq.codegen.kernels` for the kernel-set table and selection).

Apart from the table so that the kernel modules (``kernels_ref``, ``kernels_armv7em``,
``kernels_pulp``, ``kernels_sparse``) can define their kernels without importing the table that
lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from mixq.ir.graph import WEIGHT_OPS, Graph
from mixq.platform.spec import KernelSet
from mixq.quant.kinds import LayerKind

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
OPS = tuple(LayerKind)
REFERENCE_TARGET = KernelSet.REF.value


@dataclass(frozen=True)
class Kernel:
    """One C kernel and its Python-side contract.

    Attributes:
        op: the :class:`~mixq.quant.kinds.LayerKind` it runs (a string is parsed).
        function: C function name, ``mixq_<op>[_<variant>]_<dtype>``.
        sources: file names (the .c files and the headers that declare the function) copied
            into the generated project; ``mixq_types.h``, ``mixq_kernels.h`` (reference
            declarations, ``mixq_requantize_s32``) are always there. ``mixq_model.c`` includes
            every header among the selected kernels' sources, so one must declare ``function``.
        target: the kernel set's name (a :class:`~mixq.platform.KernelSet` value, or a
            plug-in set's name; see the module docstring).
        variant: free-form label ('any', '1x1', '3x3', 'inplace', ...), reported in metadata.
        dtypes: accepted dtype tuples, or None for any.
        accepts: extra predicate ``(node, graph) -> bool`` (shapes, strides, padding), or None.
        scratch_bytes: ``(node, graph) -> int`` bytes of scratch (mirror of the C companion), or
            None for no scratch.
        pack_weights: ``(node, graph) -> uint8 array`` the packed weight blob the kernel reads
            through ``p->weight``; None for the reference layout of the op.
        inplace_inputs: for in-place variants, indices of the inputs the output may overwrite
            (the output then starts at that input's address), or a callable
            ``(node, graph) -> tuple of indices``; () for ordinary kernels.
        source_dir: folder holding ``sources``; None for the package runtime folder.
        priority: higher wins among one target's matching kernels.
        cost: ``(node, graph) -> float`` estimated instructions of this kernel on ``node`` (a
            model calibrated with ``bench/kernels.py``), or None. Among one set's matching
            kernels of the highest priority, the lowest estimate wins (the per-layer choice
            between variants, e.g. per-tap or window im2col, or a wider weight kernel); kernels
            without an estimate are then considered only when none has one.
        sparse: runs dense-ternary + sparse-int8 layers (nodes with ``sparse`` set, see
            :mod:`mixq.codegen.kernels_sparse`); a kernel runs either those or the others.
    """

    op: LayerKind
    function: str
    sources: tuple[str, ...]
    target: str = REFERENCE_TARGET
    variant: str = ""
    dtypes: Optional[frozenset] = None
    accepts: Optional[Callable[..., bool]] = None
    scratch_bytes: Optional[Callable[..., int]] = None
    pack_weights: Optional[Callable[..., np.ndarray]] = None
    inplace_inputs: "tuple[int, ...] | Callable[..., tuple[int, ...]]" = ()
    source_dir: Optional[Path] = None
    priority: int = 0
    cost: Optional[Callable[..., float]] = None
    sparse: bool = False

    def __post_init__(self):
        try:
            object.__setattr__(self, "op", LayerKind(self.op))
        except ValueError:
            raise ValueError(f"unknown op '{self.op}': use one of "
                             f"{[str(o) for o in OPS]}") from None

    def matches(self, node, graph: Graph) -> bool:
        """True if this kernel can run ``node`` (op, dtypes and the ``accepts`` predicate)."""
        if node_op(node) != self.op:
            return False
        if (getattr(node, "sparse", None) is not None) != self.sparse:
            return False
        if self.dtypes is not None and node_dtypes(node, graph) not in self.dtypes:
            return False
        return self.accepts is None or bool(self.accepts(node, graph))

    def scratch_for(self, node, graph: Graph) -> int:
        """Scratch bytes this kernel needs for ``node`` (0 if none)."""
        return 0 if self.scratch_bytes is None else int(self.scratch_bytes(node, graph))

    @property
    def is_inplace(self) -> bool:
        """True for in-place variants."""
        return callable(self.inplace_inputs) or bool(self.inplace_inputs)

    def inplace_candidates(self, node, graph: Graph) -> tuple[int, ...]:
        """Indices of ``node``'s inputs this kernel may overwrite with its output."""
        if callable(self.inplace_inputs):
            return tuple(self.inplace_inputs(node, graph))
        return tuple(self.inplace_inputs)

    def source_paths(self) -> tuple[Path, ...]:
        """Absolute paths of :attr:`sources`."""
        base = self.source_dir if self.source_dir is not None else RUNTIME_DIR
        return tuple(Path(base) / s for s in self.sources)


def node_op(node) -> LayerKind:
    """The registry op of a node: its ``kind``."""
    return node.kind


def dtype_name(bits: int, signed: bool) -> str:
    """'u8', 's4', ... for a code width and signedness.

    Example:
        >>> dtype_name(4, False), dtype_name(8, True)
        ('u4', 's8')
    """
    return f"{'s' if signed else 'u'}{bits}"


def weight_dtype(node) -> str:
    """'s8', 's4', 's2' or 't2' (ternary) for a Conv2d or FullyConnected node."""
    return "t2" if node.ternary else f"s{node.weight_bits}"


def node_dtypes(node, graph: Graph) -> tuple[str, ...]:
    """The dtype tuple a kernel's ``dtypes`` is matched against (see the module docstring)."""

    def act(name: str) -> str:
        t = graph.tensor(name)
        return dtype_name(t.bits, t.signed)

    weight = (weight_dtype(node),) if isinstance(node, WEIGHT_OPS) else ()
    return (*map(act, node.inputs), *weight, act(node.output))
