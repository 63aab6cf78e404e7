"""The local engine: a spawn process pool (or this process), today's sweep behaviour."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mixq.engine.base import Engine, EngineKind, Outcome


def _call(args) -> tuple[str, Any]:
    fn, shared, key, job = args
    return key, fn(shared, job)


class LocalEngine(Engine):
    """Worker processes on this machine (``multiprocessing`` spawn context).

    Args:
        workers: processes (None: the CPU count, capped by the number of jobs); 0 runs every job
            in this process, in order (debugging; ``init`` is then the caller's business, since
            it would change this process).

    Example:
        >>> def double(shared, job): return shared * job
        >>> [o.value for o in LocalEngine(0).run(double, 2, {"a": 1, "b": 5})]
        [2, 10]
    """

    kind = EngineKind.LOCAL

    def __init__(self, workers: int | None = None):
        self.workers = workers

    def run(self, fn: Callable[[Any, Any], Any], shared: Any, jobs: Mapping[str, Any],
            init: Callable[[], None] | None = None) -> Iterator[Outcome]:
        args = [(fn, shared, key, job) for key, job in jobs.items()]
        if not args:
            return
        if self.workers == 0:
            for a in args:
                key, value = _call(a)
                yield Outcome(key, value)
            return
        n = min(self.workers or os.cpu_count() or 1, len(args))
        with mp.get_context("spawn").Pool(n, initializer=init) as pool:
            for key, value in pool.imap_unordered(_call, args):
                yield Outcome(key, value)
