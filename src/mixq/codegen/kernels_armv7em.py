"""ARMv7E-M DSP kernels (target 'armv7em'): registrations, offline weight reordering, scratch.

Layers these kernels do not cover fall back to the portable reference kernels (see
:func:`mixq.codegen.kernels.select_kernel`).
"""

from __future__ import annotations
