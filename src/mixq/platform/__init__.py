"""mixq.platform: what a deployment target is, as pure data and arithmetic.

No emulator, toolchain or torch imports: the search, the report and the deploy flow all read
their device facts from here.

- :mod:`mixq.platform.spec`: the TOML platform specs (:class:`Platform`, :class:`ClusterSpec`,
  the :class:`Isa` and :class:`KernelSet` vocabularies), memory budgets and clocks;
- :mod:`mixq.platform.cycles`: instruction classes and cycles per class (:class:`CycleModel`);
- :mod:`mixq.platform.tiling`: the L2 -> L1 tiler of a PULP cluster layer and its DMA cycles;
- :mod:`mixq.platform.cluster`, :mod:`mixq.platform.cluster_kernels`: the PULP cluster latency
  model;
- :mod:`mixq.platform.latency`: per-layer latency functions of a platform (for the search).
"""

from mixq.platform.spec import (ClusterSpec, Isa, KernelSet, Platform, get_platform,
                                known_platforms, load_platform_file, parse_platform)

__all__ = ["ClusterSpec", "Isa", "KernelSet", "Platform", "get_platform", "known_platforms",
           "load_platform_file", "parse_platform"]
