"""mixq.deploy: build generated C projects for a platform's core and run them on an emulator.

- :func:`deploy` (``mixq.deploy.deploy``): C project + ELF + bit-exact check against
  :func:`mixq.ir.interpret.interpret` + per-layer instruction counts + an *estimated* cycle count,
  a :class:`DeployResult` written to ``deploy.json``; one flow for every ISA;
- :mod:`mixq.deploy.isa` (one :class:`~mixq.deploy.isa.IsaRecord` per instruction set, and how
  to add one), :mod:`mixq.deploy.arm` (Cortex-M7), :mod:`mixq.deploy.riscv` (RV32IMC),
  :mod:`mixq.deploy.emulator` (the Unicorn machinery they share), :mod:`mixq.deploy.build`
  (cross build), :mod:`mixq.deploy.objcache` (the kernel library's compiled-object cache),
  :mod:`mixq.deploy.profile` (instruction counts), :mod:`mixq.deploy.run` (the
  emit -> build -> run -> compare -> profile sequence), :mod:`mixq.deploy.kernel_bench`
  (instructions per MAC of single layers), :mod:`mixq.deploy.host` (host gcc build with
  sanitizers), :mod:`mixq.deploy.cluster` (a graph's shape-only PULP cluster estimate),
  :mod:`mixq.deploy.cluster_timing` (the cluster model over the executed Xpulp programs: TCDM
  bank conflicts, L1 tiling, DMA).

Platforms, cycle tables and the cluster model are pure data in :mod:`mixq.platform`.
"""

import sys
import types

from mixq.deploy.deploy import DeployResult, deploy, deploy_summary

__all__ = ["DeployResult", "deploy", "deploy_summary"]


class _CallablePackage(types.ModuleType):
    """``mixq.deploy`` is both this package and the function ``mixq.deploy(graph, out_dir, ...)``
    (one name for users; the package attribute would otherwise shadow a function)."""

    def __call__(self, graph, out_dir, target: str = "stm32h7", emulate: int = 100,
                 excluded_kernels=(), **kwargs) -> DeployResult:
        """Build ``graph`` for the platform named ``target`` (or a ``.toml`` spec), check
        ``emulate`` inputs bit for bit on the emulated core (and on the host), and measure it;
        ``excluded_kernels``: kernel variants not to use (a target-closed allocation's
        ``excluded_kernels``); see :func:`mixq.deploy.deploy.deploy` for ``kwargs``."""
        from dataclasses import replace

        from mixq.platform import get_platform

        platform = replace(get_platform(target), excluded_kernels=frozenset(excluded_kernels))
        return deploy(graph, out_dir, platform, emulate, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
