"""Kernel registry: which C function runs each IR node, for each build target.

A :class:`Kernel` maps ``(op, variant, dtypes, target)`` to a C function name plus the runtime
files that define it, and carries the Python side of the kernel's contract: the offline weight
packer (the weight layout the C code reads), the scratch size (mirror of the C
``*_scratch_bytes()`` companion) and, for in-place variants, which inputs the output may overwrite.
The code generator (:func:`mixq.codegen.emit.emit_c`) asks :func:`select_kernel` for every node.

Ops and their C signature (every kernel of an op takes the same arguments; see
``runtime/mixq_types.h`` for the parameter structs, ``runtime/mixq_kernels.h`` for formats):

- ``conv``, ``pw``, ``dw``, ``fc``: ``void f(const mixq_conv_params_t *p, const uint8_t *input,
  uint8_t *output, uint8_t *scratch)``
- ``pool``: ``void f(const mixq_pool_params_t *p, const uint8_t *input, uint8_t *output,
  uint8_t *scratch)``
- ``add``: ``void f(const mixq_add_params_t *p, const uint8_t *input_a, const uint8_t *input_b,
  uint8_t *output, uint8_t *scratch)``
- ``maxpool``, ``avgpool`` (windowed): ``void f(const mixq_pool2d_params_t *p,
  const uint8_t *input, uint8_t *output, uint8_t *scratch)``
- ``concat``: ``void f(const mixq_concat_params_t *p, const uint8_t *const *inputs,
  uint8_t *output, uint8_t *scratch)`` (``inputs[i]``: input i, in channel order)

``scratch`` is ``NULL`` when the kernel's scratch size is 0. The op of a node is its ``kind``
(``Conv2d.kind`` is 'conv', 'pw' or 'dw'; 'fc', 'pool', 'add').

Dtypes are strings: activations ``u8 u4 u2 s8 s4 s2``, weights ``s8 s4 s2`` or ``t2`` (ternary).
A kernel's ``dtypes`` is a set of tuples ``(input, weight, output)`` for weight ops,
``(input, output)`` for pools, ``(input_a, input_b, output)`` for add and one entry per input
then the output for concat; ``None`` accepts all.

Kernel sets (:class:`mixq.platform.KernelSet`, a kernel's ``target``): ``ref`` (portable
C99, :data:`mixq.codegen.kernels_ref.KERNELS`), ``armv7em`` (ARMv7E-M DSP,
:data:`mixq.codegen.kernels_armv7em.KERNELS`, fully connected layers in
:data:`mixq.codegen.kernels_armv7em_fc.KERNELS`, the sub-byte fallbacks (widened weights,
unpacked inputs) in :data:`mixq.codegen.kernels_armv7em_fallback.KERNELS`, residual add and global average pool in
:data:`mixq.codegen.kernels_armv7em_eltwise.KERNELS`), ``pulp`` and ``pulpnn`` (XpulpV2 / XpulpNN,
:mod:`mixq.codegen.kernels_pulp`), plus the sparse kernels of ref and armv7em
(:mod:`mixq.codegen.kernels_sparse`). :func:`kernel_set_table` is the one explicit table from
kernel set to kernels; the kernel modules only define data (no registration on import). A new
kernel set is a :class:`~mixq.platform.KernelSet` member, a module defining its ``KERNELS`` and
a row of that table. :func:`register_kernel` adds a kernel at run time (tests, a plug-in set
under any other name). Selection for kernel set ``T`` considers ``T``'s kernels first, then the
reference ones, so a set only holds what it speeds up; among one set's matches the highest
``priority`` wins, then the lowest ``cost`` estimate (:func:`kernel_costs`: the per-layer choice
among variants, recorded in the project metadata and ``deploy.json``), then the earliest in the
table.

A kernel of a set (in ``mixq/codegen/kernels_armv7em.py``, listed in its ``KERNELS``)::

    from mixq.codegen.kernel import Kernel

    Kernel(
        op="pw", variant="1x1", target="armv7em", function="mixq_conv2d_1x1_u8_s8",
        sources=("mixq_conv2d_1x1_u8_s8.c", "mixq_armv7em.h"),  # in codegen/runtime/;
                                                                 # the .h declares the function
        dtypes=frozenset({("u8", "s8", "u8"), ("u8", "s8", "s8")}),
        accepts=lambda node, graph: node.stride == (1, 1) and node.padding == (0, 0, 0, 0),
        pack_weights=my_reordered_packer,      # (node, graph) -> uint8 array
        scratch_bytes=lambda node, graph: 4 * node.weight.shape[-1],
        priority=10)

Example:
    >>> from mixq.codegen.synth import GraphBuilder
    >>> b = GraphBuilder((4, 4, 3), seed=0)
    >>> g = b.build(b.conv(b.input, 4, kernel=3, out="u4", weight="s2"))
    >>> select_kernel(g.nodes[0], g).function
    'mixq_conv2d_any'
"""

from __future__ import annotations

from mixq.codegen import (kernels_armv7em, kernels_armv7em_dw, kernels_armv7em_eltwise,
                          kernels_armv7em_fallback,
                          kernels_armv7em_fc, kernels_pulp, kernels_ref, kernels_sparse)
from mixq.codegen.kernel import (OPS, REFERENCE_TARGET, RUNTIME_DIR, Kernel, dtype_name,
                                 node_dtypes, node_op, weight_dtype)
from mixq.errors import MixqError
from mixq.ir.graph import Graph
from mixq.platform.spec import KernelSet


_REGISTRY: dict[str, list["Kernel"]] = {}
_LOADED: set[str] = set()


def register_kernel(kernel: Kernel) -> Kernel:
    """Add a kernel to the registry; an entry with the same (target, op, function, variant)
    is replaced (so re-importing a target module is harmless).

    Raises:
        ValueError: unknown op.
    """
    entries = _REGISTRY.setdefault(kernel.target, [])
    for i, old in enumerate(entries):
        if (old.op, old.function, old.variant) == (kernel.op, kernel.function, kernel.variant):
            entries[i] = kernel
            return kernel
    entries.append(kernel)
    return kernel


def kernel_set_name(kernels: "KernelSet | str") -> str:
    """The registry name of a kernel set (``KernelSet.ARMV7EM`` -> 'armv7em').

    Example:
        >>> kernel_set_name(KernelSet.ARMV7EM), kernel_set_name("ref")
        ('armv7em', 'ref')
    """
    return kernels.value if isinstance(kernels, KernelSet) else str(kernels)


def kernel_set_table() -> dict[KernelSet, tuple[Kernel, ...]]:
    """Kernel set -> its kernels, in selection order: the one table of the kernels mixq ships.

    Example:
        >>> {k.value: len(v) > 0 for k, v in kernel_set_table().items()}
        {'ref': True, 'armv7em': True, 'pulp': True, 'pulpnn': True}
    """
    return {KernelSet.REF: kernels_ref.KERNELS + kernels_sparse.REF_KERNELS,
            KernelSet.ARMV7EM: (kernels_armv7em.KERNELS + kernels_armv7em_fc.KERNELS
                                + kernels_armv7em_dw.KERNELS
                                + kernels_armv7em_fallback.KERNELS
                                + kernels_armv7em_eltwise.KERNELS
                                + kernels_sparse.ARMV7EM_KERNELS),
            KernelSet.PULP: kernels_pulp.KERNELS,
            KernelSet.PULPNN: kernels_pulp.NN_KERNELS}


def registered_kernels(target: "KernelSet | str" = REFERENCE_TARGET) -> tuple[Kernel, ...]:
    """All kernels of kernel set ``target`` (its table row, then any registered at run time)."""
    name = kernel_set_name(target)
    _load_target(name)
    return tuple(_REGISTRY.get(name, ()))


def _load_target(name: str) -> None:
    if name in _LOADED:
        return
    known = {k.value: k for k in KernelSet}
    if name in known:
        for kernel in kernel_set_table()[known[name]]:
            register_kernel(kernel)
        _LOADED.add(name)
    elif not _REGISTRY.get(name):  # a plug-in set registers its kernels directly
        raise ValueError(f"unknown code generation target '{name}': use one of "
                         f"{', '.join(known)} or register kernels for it")


def _cheapest(found: list[Kernel], node, graph: Graph) -> Kernel:
    """The highest-priority kernel of ``found``; among those, the lowest cost estimate, then
    the earliest in the table."""
    top = max(k.priority for k in found)
    best = [k for k in found if k.priority == top]
    costed = [k for k in best if k.cost is not None]
    if costed:
        return min(costed, key=lambda k: k.cost(node, graph))  # min keeps the first of ties
    return best[0]


def kernel_costs(node, graph: Graph, target: "KernelSet | str", *,
                 inplace: bool = False) -> dict[str, float]:
    """Estimated instructions of every costed candidate of ``target`` for ``node`` (the
    alternatives :func:`select_kernel` weighed; ``inplace``: among the in-place variants),
    keyed ``function/variant``; empty when the choice was not by cost.

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((8, 8, 3), seed=0)
        >>> g = b.build(b.conv(b.input, 8, kernel=3))
        >>> sorted(kernel_costs(g.nodes[0], g, "armv7em"))[:2]
        ['mixq_conv2d_dsp_s8/dsp', 'mixq_conv2d_dsp_win_s8/dsp-window']
    """
    name = kernel_set_name(target)
    found = [k for k in registered_kernels(name)
             if k.is_inplace == inplace and k.matches(node, graph)]
    if not found:
        return {}
    top = max(k.priority for k in found)
    return {kernel_key(k): round(float(k.cost(node, graph)), 1)
            for k in found if k.priority == top and k.cost is not None}


def kernel_key(kernel: Kernel) -> str:
    """``function/variant``: how :func:`kernel_costs` and ``exclude`` name a kernel.

    Example:
        >>> from mixq.codegen.synth import GraphBuilder
        >>> b = GraphBuilder((1, 1, 64), seed=0)
        >>> g = b.build(b.fc(b.input, 10, out="s8"))
        >>> kernel_key(select_kernel(g.nodes[0], g, "armv7em"))
        'mixq_fc_dsp_s8/dsp-fc'
        >>> kernel_key(select_kernel(g.nodes[0], g, "armv7em", exclude={"mixq_fc_dsp_s8/dsp-fc"}))
        'mixq_conv2d_dsp_s8/dsp'
    """
    return f"{kernel.function}/{kernel.variant}"


def check_excluded_kernels(target: "KernelSet | str", exclude) -> frozenset:
    """``exclude`` as a frozenset, each name checked against kernel set ``target``.

    Raises:
        MixqError: a name is not a ``function/variant`` of the set (one line with the names).

    Example:
        >>> sorted(check_excluded_kernels("armv7em", ["mixq_fc_dsp_s8/dsp-fc"]))
        ['mixq_fc_dsp_s8/dsp-fc']
        >>> check_excluded_kernels("armv7em", ["mixq_fc/none"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        mixq.errors.MixqError: unknown kernel(s) ['mixq_fc/none'] to exclude for kernel set ...
    """
    exclude = frozenset(exclude)
    known = {kernel_key(k) for k in registered_kernels(target)}
    unknown = sorted(exclude - known)
    if unknown:
        raise MixqError(f"unknown kernel(s) {unknown} to exclude for kernel set "
                        f"'{kernel_set_name(target)}'; its kernels: {', '.join(sorted(known))}")
    return exclude


def select_kernel(node, graph: Graph, target: "KernelSet | str" = REFERENCE_TARGET, *,
                  inplace: bool = False, exclude: frozenset = frozenset()):
    """The kernel that runs ``node`` for kernel set ``target``.

    Args:
        node: an IR node of ``graph``.
        graph: the graph (for tensor types).
        target: a :class:`~mixq.platform.KernelSet` or a plug-in set's name.
        inplace: select among in-place variants only (returns None if there is none).
        exclude: :func:`kernel_key` names of ``target``'s kernels not to use (the code-size
            trades of :mod:`mixq.deploy.code_trade`); the reference kernels are never excluded,
            so a node always has one.

    Returns:
        A :class:`Kernel`; with ``inplace=True`` possibly None.

    Raises:
        ValueError: no kernel runs ``node`` (never for complete reference kernels).
    """
    target = kernel_set_name(target)
    targets = [target] if target == REFERENCE_TARGET else [target, REFERENCE_TARGET]
    for t in targets:
        found = [
            k
            for k in registered_kernels(t)
            if k.is_inplace == inplace and k.matches(node, graph)
            and (t == REFERENCE_TARGET or kernel_key(k) not in exclude)
        ]
        if found:
            return _cheapest(found, node, graph)
    if inplace:
        return None
    raise ValueError(
        f"no '{target}' kernel for layer '{node.name}' ({node_op(node)}, "
        f"dtypes {node_dtypes(node, graph)})"
    )


__all__ = ["OPS", "REFERENCE_TARGET", "RUNTIME_DIR", "Kernel", "check_excluded_kernels",
           "dtype_name", "kernel_costs",
           "kernel_key",
           "kernel_set_name",
           "kernel_set_table", "node_dtypes", "node_op", "register_kernel", "registered_kernels",
           "select_kernel", "weight_dtype"]
