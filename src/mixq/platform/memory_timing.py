"""Memory assumptions of a cycle estimate: where a deployed model's bytes live, what a miss costs.

The instruction-class table (:mod:`mixq.platform.cycles`) charges every load as a cache or TCM
hit. A platform with a ``[memory_timing]`` section also charges its memories: code and weights
(``.text``, ``.rodata``) stay in flash behind the core's L1 instruction and data caches, the
stack and static data sit in the data TCM, and the activation buffers (arena, input, output) sit
in the TCM when they fit there together with the static RAM, else in system SRAM behind the data
cache. The deploy flow simulates both L1 caches on the profiled inference (LRU, write-back,
write-allocate; :mod:`mixq.deploy.cache_model`) and adds, per line filled from flash or SRAM (and
per dirty line written back), the fill cost below. The figure stays an ESTIMATE; these are the
assumptions a board measurement would be compared against, written in ``deploy.json``
(``memory_model``).

Schema (all keys required)::

    [memory_timing]
    flash_wait_states = 7          # at the platform clock (informational; the fill cost uses it)
    flash_line_fill_cycles = 14    # one cache line from flash: wait states + bus beats
    sram_line_fill_cycles = 6      # one cache line from / to system SRAM
    icache_bytes = 4096            # L1 instruction cache
    icache_ways = 2
    dcache_bytes = 4096            # L1 data cache
    dcache_ways = 4
    cache_line_bytes = 32
    tcm_bytes = 65536              # data TCM: stack, static data and (when they fit) activations
    source = "..."                 # where the figures come from
"""

from __future__ import annotations

from dataclasses import dataclass

_NUM = (int, float)
SCHEMA = {"flash_wait_states": (int, True), "flash_line_fill_cycles": (_NUM, True),
          "sram_line_fill_cycles": (_NUM, True), "icache_bytes": (int, True),
          "icache_ways": (int, True), "dcache_bytes": (int, True), "dcache_ways": (int, True),
          "cache_line_bytes": (int, True), "tcm_bytes": (int, True), "source": (str, True)}
"""``[memory_timing]`` keys -> (types, required), in the form of :mod:`mixq.platform.spec`."""


@dataclass(frozen=True)
class CacheGeometry:
    """One set-associative cache.

    Example:
        >>> CacheGeometry(4096, 4, 32).sets
        32
    """

    size_bytes: int
    ways: int
    line_bytes: int

    @property
    def sets(self) -> int:
        return self.size_bytes // (self.ways * self.line_bytes)


@dataclass(frozen=True)
class MemoryTiming:
    """The memory assumptions of a platform's cycle estimate (see the module docstring).

    Attributes:
        flash_wait_states: flash wait states at the platform clock.
        flash_line_fill_cycles: stall cycles of one cache line filled from flash.
        sram_line_fill_cycles: stall cycles of one line filled from (or written back to) SRAM.
        icache, dcache: the L1 caches.
        tcm_bytes: data TCM size.
        source: where the figures come from.
    """

    flash_wait_states: int
    flash_line_fill_cycles: float
    sram_line_fill_cycles: float
    icache: CacheGeometry
    dcache: CacheGeometry
    tcm_bytes: int
    source: str

    @classmethod
    def from_table(cls, table: dict, fail) -> "MemoryTiming":
        """Build from a checked ``[memory_timing]`` table; ``fail(what)`` makes the error.

        Example:
            >>> t = MemoryTiming.from_table({"flash_wait_states": 7, "flash_line_fill_cycles": 14,
            ...     "sram_line_fill_cycles": 6, "icache_bytes": 4096, "icache_ways": 2,
            ...     "dcache_bytes": 4096, "dcache_ways": 4, "cache_line_bytes": 32,
            ...     "tcm_bytes": 65536, "source": "RM0385"}, ValueError)
            >>> t.dcache.sets, t.icache.sets
            (32, 64)
        """
        line = table["cache_line_bytes"]
        caches = []
        for name in ("icache", "dcache"):
            geometry = CacheGeometry(table[f"{name}_bytes"], table[f"{name}_ways"], line)
            sets = geometry.sets if geometry.ways and line else 0
            if sets < 1 or sets & (sets - 1) or geometry.sets * geometry.ways * line != \
                    geometry.size_bytes:
                raise fail(f"[memory_timing] {name}: {geometry.size_bytes} bytes in "
                           f"{geometry.ways} ways of {line}-byte lines is not a power-of-two "
                           "number of sets")
            caches.append(geometry)
        return cls(table["flash_wait_states"], float(table["flash_line_fill_cycles"]),
                   float(table["sram_line_fill_cycles"]), caches[0], caches[1],
                   table["tcm_bytes"], table["source"])

    def activations_in_tcm(self, activation_bytes: int, static_ram_bytes: int) -> bool:
        """True when the activation buffers fit the TCM beside the static RAM (and stack).

        Example:
            >>> _F746.activations_in_tcm(50_000, 2_000), _F746.activations_in_tcm(70_000, 0)
            (True, False)
        """
        return activation_bytes + static_ram_bytes <= self.tcm_bytes

    def charge(self, fills: dict) -> int:
        """Stall cycles of line fills: ``fills`` has 'flash' (I and D), 'sram' and 'writeback'
        (dirty SRAM lines written back) counts; missing keys count 0.

        Example:
            >>> _F746.charge({"flash": 10, "sram": 2, "writeback": 1})
            158
        """
        return int(round(self.flash_line_fill_cycles * fills.get("flash", 0)
                         + self.sram_line_fill_cycles * (fills.get("sram", 0)
                                                         + fills.get("writeback", 0))))

    def describe(self, in_tcm: bool) -> dict:
        """The ``memory_model`` object of ``deploy.json`` (without the measured fills).

        Example:
            >>> _F746.describe(True)["activations"]
            'data TCM (64 KiB, 0 wait states)'
        """
        kib = self.tcm_bytes // 1024
        return {
            "code": f"flash, {self.icache.size_bytes // 1024} KiB {self.icache.ways}-way L1 "
                    f"I-cache (simulated), {self.flash_line_fill_cycles:g} cycles per line fill",
            "weights": f"flash ({self.flash_wait_states} wait states), "
                       f"{self.dcache.size_bytes // 1024} KiB {self.dcache.ways}-way L1 D-cache "
                       f"(simulated), {self.flash_line_fill_cycles:g} cycles per line fill",
            "activations": (f"data TCM ({kib} KiB, 0 wait states)" if in_tcm else
                            f"SRAM behind the D-cache (they exceed the {kib} KiB TCM), "
                            f"{self.sram_line_fill_cycles:g} cycles per line fill or write-back"),
            "stack": "data TCM (0 wait states)",
            "line_bytes": self.dcache.line_bytes,
            "source": self.source,
        }


_F746 = MemoryTiming(7, 14.0, 6.0, CacheGeometry(4096, 2, 32), CacheGeometry(4096, 4, 32),
                     65536, "doctest")

__all__ = ["CacheGeometry", "MemoryTiming", "SCHEMA"]
