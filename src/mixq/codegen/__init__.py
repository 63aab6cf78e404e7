"""mixq.codegen: ``ir.Graph`` -> a self-contained C project.

Public API: :func:`emit_c` / :class:`EmitResult` (the project writer), :class:`Kernel`,
:func:`register_kernel` and :func:`select_kernel` (the kernel registry, see
:mod:`mixq.codegen.kernels`), :func:`pack_codes` (the packed sub-byte layout).
The C runtime kernels live in ``codegen/runtime/`` (package data).
"""

from mixq.codegen.emit import EmitResult, emit_c
from mixq.codegen.kernels import Kernel, register_kernel, select_kernel
from mixq.codegen.packing import pack_codes, unpack_codes

__all__ = ["EmitResult", "emit_c", "Kernel", "register_kernel", "select_kernel", "pack_codes",
           "unpack_codes"]
