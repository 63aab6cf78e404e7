"""mixq.deploy: build generated C projects for the Cortex-M7 and run them on an emulated core.

- :func:`deploy_graph` (``mixq.deploy.deploy``): C project + ELF + bit-exact check against
  :func:`mixq.ir.interpret.interpret` + per-layer instruction counts + an *estimated* cycle count,
  written to ``deploy.json``;
- :mod:`mixq.deploy.arm` (arm-none-eabi-gcc build), :mod:`mixq.deploy.emulator` (Unicorn
  Cortex-M7), :mod:`mixq.deploy.profile` (instruction counts), :mod:`mixq.deploy.cycles` (the
  cycle estimate), :mod:`mixq.deploy.kernel_bench` (instructions per MAC of single layers),
  :mod:`mixq.deploy.host` (host gcc build with sanitizers).
"""

from mixq.deploy.deploy import TARGETS, deploy_graph, deploy_summary, get_target

__all__ = ["TARGETS", "deploy_graph", "deploy_summary", "get_target"]
