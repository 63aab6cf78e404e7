"""Does a model fit its target? The honest answer, from the linked build.

The memory model of the bit allocation (:mod:`mixq.search.memory`) counts packed weights, a
per-layer overhead and the activations of one layer. The device needs more: the kernels' code,
their constants and tables, static RAM, the stack, and the caller's input and output buffers.
:class:`LinkedFit` holds what the real build takes:

* flash: the linked image, from the ELF's allocated sections (code ``.text``, weights and
  constants ``.rodata``, the initial image of ``.data``);
* RAM: the activation arena (the generated ``MIXQ_ARENA_BYTES``) + static RAM (``.data`` +
  ``.bss``) + the stack the generated code needs (a static bound over the compiler's call graph,
  :mod:`mixq.deploy.stack`) + the caller's input and logits buffers (the network input is live
  while the first layer runs; the arena does not hold it).

:func:`link_fit` builds a graph for a platform (C project and ELF, no emulation: a few seconds)
and measures it; :func:`mixq.deploy.deploy.deploy` records the same figures from its own build.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from mixq.codegen.emit import emit_c
from mixq.deploy.build import CALLGRAPH_DIR, build_model_elf, elf_sizes
from mixq.deploy.isa import isa_record
from mixq.deploy.run import ELF_NAME, PROJECT_DIR
from mixq.deploy.stack import stack_bound_bytes
from mixq.ir.graph import Graph
from mixq.platform.spec import Platform


@dataclass(frozen=True)
class LinkedFit:
    """Flash and RAM of a model once built for its target, in bytes.

    Attributes:
        text_bytes, rodata_bytes, data_bytes, bss_bytes: the ELF's allocated sections
            (:class:`mixq.deploy.build.ElfSizes`).
        arena_bytes: the activation arena the caller provides (``MIXQ_ARENA_BYTES``).
        io_bytes: the caller's input and logits buffers.
        stack_bytes: static bound of the stack of ``mixq_model_run`` (gcc call graph).
        image_bytes: the load segments' bytes (the sections with their alignment padding).

    Example:
        >>> f = LinkedFit(20_000, 9_000, 0, 8, 4_096, 266, 600, 29_000)
        >>> f.flash_bytes, f.ram_bytes, f.fits(30_000, 5_000), f.excess(28_000, 5_000)
        (29000, 4970, True, (1000, 0))
    """

    text_bytes: int
    rodata_bytes: int
    data_bytes: int
    bss_bytes: int
    arena_bytes: int
    io_bytes: int
    stack_bytes: int
    image_bytes: int

    @property
    def flash_bytes(self) -> int:
        """The linked image: code + constants (weights) + the initial image of ``.data``, as
        programmed (with alignment padding)."""
        return max(self.image_bytes, self.text_bytes + self.rodata_bytes + self.data_bytes)

    @property
    def static_ram_bytes(self) -> int:
        """RAM of the globals: ``.data`` + ``.bss``."""
        return self.data_bytes + self.bss_bytes

    @property
    def ram_bytes(self) -> int:
        """Arena + static RAM + stack + the caller's input and logits buffers."""
        return self.arena_bytes + self.static_ram_bytes + self.stack_bytes + self.io_bytes

    def excess(self, flash_bytes: int, ram_bytes: int) -> tuple[int, int]:
        """Bytes over each budget (0 where within): (flash excess, RAM excess)."""
        return max(self.flash_bytes - flash_bytes, 0), max(self.ram_bytes - ram_bytes, 0)

    def fits(self, flash_bytes: int, ram_bytes: int) -> bool:
        """Linked image within ``flash_bytes`` and all RAM within ``ram_bytes``."""
        return self.excess(flash_bytes, ram_bytes) == (0, 0)

    def to_json(self) -> dict:
        """The sections and the totals (``flash_bytes``, ``static_ram_bytes``, ``ram_bytes``)."""
        return {**asdict(self), "flash_bytes": self.flash_bytes,
                "static_ram_bytes": self.static_ram_bytes, "ram_bytes": self.ram_bytes}


def measure_fit(graph: Graph, elf, metadata: dict) -> LinkedFit:
    """The :class:`LinkedFit` of a built project: the ELF's sections, the emitted metadata's
    arena, the call graph next to the ELF (written by
    :func:`mixq.deploy.build.build_model_elf`) and the graph's input and output sizes."""
    sizes = elf_sizes(elf)
    io = graph.tensor(graph.inputs[0]).numel + graph.tensor(graph.outputs[0]).numel
    return LinkedFit(sizes.text_bytes, sizes.rodata_bytes, sizes.data_bytes, sizes.bss_bytes,
                     int(metadata["arena_bytes"]), int(io),
                     stack_bound_bytes(Path(elf).parent / CALLGRAPH_DIR), sizes.image_bytes)


def link_fit(graph: Graph, out_dir, platform: Platform) -> LinkedFit:
    """Emit, build and measure ``graph`` for ``platform`` (no emulation).

    An image larger than the linker script's flash region is still linked (for its sizes).

    Args:
        graph: the integer graph.
        out_dir: build folder (``c/``, the ELF, ``callgraph/``).
        platform: the target: its ISA's toolchain and its kernel set.

    Raises:
        ToolchainError: the cross compiler is missing or the build fails.
    """
    out = Path(out_dir)
    emitted = emit_c(graph, out / PROJECT_DIR, kernels=platform.kernels,
                     exclude=platform.excluded_kernels)
    elf = build_model_elf(isa_record(platform.isa, platform.cpu), out / PROJECT_DIR,
                          out / ELF_NAME, allow_overflow=True)
    return measure_fit(graph, elf, emitted.metadata)


__all__ = ["LinkedFit", "link_fit", "measure_fit"]
