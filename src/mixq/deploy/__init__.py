"""mixq.deploy: build generated C projects for the Cortex-M7 and run them on an emulated core.

- :func:`deploy_graph` (``mixq.deploy.deploy``): C project + ELF + bit-exact check against
  :func:`mixq.ir.interpret.interpret` + per-layer instruction counts + an *estimated* cycle count,
  written to ``deploy.json``;
- :mod:`mixq.deploy.arm` (arm-none-eabi-gcc build), :mod:`mixq.deploy.emulator` (Unicorn
  Cortex-M7), :mod:`mixq.deploy.profile` (instruction counts), :mod:`mixq.deploy.cycles` (the
  cycle estimate), :mod:`mixq.deploy.kernel_bench` (instructions per MAC of single layers),
  :mod:`mixq.deploy.host` (host gcc build with sanitizers).
"""

import sys
import types

from mixq.deploy.deploy import TARGETS, deploy_graph, deploy_summary, get_target
from mixq.deploy.result import DeployResult

__all__ = ["TARGETS", "DeployResult", "deploy_graph", "deploy_summary", "get_target"]


class _CallablePackage(types.ModuleType):
    """``mixq.deploy`` is both this package and the function ``mixq.deploy(graph, out_dir, ...)``
    (one name for users; the package attribute would otherwise shadow a function)."""

    def __call__(self, graph, out_dir, target: str = "stm32h7", emulate: int = 100,
                 **kwargs) -> DeployResult:
        """Build ``graph`` for ``target``, check ``emulate`` inputs bit for bit on the emulated
        core (and on the host), and measure it; see :func:`deploy_graph` for ``kwargs``."""
        return DeployResult.from_dict(deploy_graph(graph, out_dir, target, emulate, **kwargs))


sys.modules[__name__].__class__ = _CallablePackage
