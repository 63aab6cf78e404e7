"""L1 cache simulation of one profiled inference: the line fills a platform's memory timing charges.

:class:`MemoryCounter` follows the accesses of one emulated call (Unicorn hooks added by
:func:`mixq.deploy.profile.profile_call`): instruction fetches (per executed block) through the
I-cache, data reads of flash (weights, constants, literal pools) and, when the activations do not
fit the TCM, reads and writes of the caller buffers through the D-cache. It counts, per layer
segment, lines filled from flash, lines filled from SRAM and dirty SRAM lines written back
(:meth:`mixq.platform.memory_timing.MemoryTiming.charge` turns them into cycles). LRU
replacement, write-back with write-allocate (the Cortex-M7's default for normal memory).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from unicorn import UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, UC_MEM_WRITE

from mixq.platform.memory_timing import CacheGeometry, MemoryTiming


class LruCache:
    """A set-associative LRU cache of line numbers (address // line bytes).

    Example:
        >>> c = LruCache(CacheGeometry(64, 2, 16))   # 2 sets of 2 ways
        >>> [c.access(line) for line in (0, 2, 0, 4, 2)]  # 0, 2, 4 share set 0
        [False, False, True, False, False]
        >>> c.access(4), c.evicted
        (True, 0)
    """

    def __init__(self, geometry: CacheGeometry):
        self.ways = geometry.ways
        self.mask = geometry.sets - 1
        self.sets: list[list[int]] = [[] for _ in range(geometry.sets)]
        self.evicted = -1  # the line the last miss evicted, or -1

    def access(self, line: int) -> bool:
        """Touch ``line``; True on a hit."""
        s = self.sets[line & self.mask]
        if line in s:
            if s[-1] != line:
                s.remove(line)
                s.append(line)
            return True
        s.append(line)
        self.evicted = s.pop(0) if len(s) > self.ways else -1
        return False


class MemoryCounter:
    """Line fills of one call, per layer segment (see the module docstring).

    Args:
        timing: the platform's memory assumptions.
        flash: (start, end) of the flash image (code and constants).
        sram: (start, end) ranges of buffers that live in SRAM behind the D-cache (empty when
            the activations fit the TCM).
    """

    def __init__(self, timing: MemoryTiming, flash: tuple[int, int],
                 sram: tuple[tuple[int, int], ...] = ()):
        self.timing = timing
        self.flash = flash
        self.sram = sram
        self.shift = timing.dcache.line_bytes.bit_length() - 1
        self.icache = LruCache(timing.icache)
        self.dcache = LruCache(timing.dcache)
        self.dirty: set[int] = set()
        self.fills: dict[int, Counter] = defaultdict(Counter)
        self.segment: Counter = self.fills[-1]
        self._last_fetch = -1

    def enter(self, segment: int) -> None:
        """Charge what follows to layer segment ``segment``."""
        self.segment = self.fills[segment]

    def fetch(self, address: int, size: int) -> None:
        """Instruction fetch of one executed block ``[address, address + size)``."""
        first, last = address >> self.shift, (address + size - 1) >> self.shift
        if first == last == self._last_fetch:
            return
        for line in range(first, last + 1):
            if not self.icache.access(line):
                self.segment["flash"] += 1
        self._last_fetch = last

    def _data(self, address: int, write: bool) -> None:
        line = address >> self.shift
        cache = self.dcache
        if cache.access(line):
            if write:
                self.dirty.add(line)
            return
        if cache.evicted in self.dirty:
            self.dirty.discard(cache.evicted)
            self.segment["writeback"] += 1
        in_sram = not self.flash[0] <= address < self.flash[1]
        self.segment["sram" if in_sram else "flash"] += 1
        if write:
            self.dirty.add(line)

    def install(self, uc) -> list:
        """Add the data hooks to ``uc``; returns their handles (for ``hook_del``)."""
        handles = [uc.hook_add(UC_HOOK_MEM_READ,
                               lambda _uc, _acc, addr, _size, _val, _user: self._data(addr, False),
                               begin=self.flash[0], end=self.flash[1] - 1)]
        for lo, hi in self.sram:
            handles.append(uc.hook_add(
                UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE,
                lambda _uc, acc, addr, _size, _val, _user: self._data(addr,
                                                                       acc == UC_MEM_WRITE),
                begin=lo, end=hi - 1))
        return handles


def flash_range(image) -> tuple[int, int]:
    """(start, end) of an image's loadable segments outside RAM (code and constants)."""
    spans = [(s.addr, s.addr + s.mem_bytes) for s in image.segments
             if not image.ram_start <= s.addr < image.stack_top]
    return min(lo for lo, _ in spans), max(hi for _, hi in spans)


__all__ = ["LruCache", "MemoryCounter", "flash_range"]
