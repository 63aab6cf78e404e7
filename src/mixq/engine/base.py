"""The engine interface, the closed set of engine kinds and the factory."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any



class EngineKind(enum.Enum):
    """Where trials run.

    Example:
        >>> EngineKind("ray"), [k.value for k in EngineKind]
        (<EngineKind.RAY: 'ray'>, ['local', 'ray'])
    """

    LOCAL = "local"  # a process pool on this machine (spawn), or in-process with 0 workers
    RAY = "ray"      # Ray tasks on a local or remote Ray cluster


@dataclass(frozen=True)
class Outcome:
    """One finished job: its key and the function's return value, or why it failed.

    Attributes:
        key: the job's key.
        value: ``fn(shared, job)``'s return value (None when it failed).
        error: None, or a one-line reason (the engine gave up on the job, e.g. its worker died
            more often than the retry policy allows).
    """

    key: str
    value: Any = None
    error: str | None = None


class Engine(ABC):
    """Runs ``fn(shared, job)`` for every job and yields outcomes in completion order.

    Use as a context manager: ``start`` connects (and raises MixqError before anything is
    written when it cannot), ``close`` releases workers and connections.
    """

    kind: EngineKind

    def start(self) -> None:
        """Acquire workers or connect (idempotent)."""

    def close(self) -> None:
        """Release what :meth:`start` acquired; cancels jobs still running."""

    def __enter__(self) -> "Engine":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abstractmethod
    def run(self, fn: Callable[[Any, Any], Any], shared: Any, jobs: Mapping[str, Any],
            init: Callable[[], None] | None = None) -> Iterator[Outcome]:
        """Yield an :class:`Outcome` per job of ``jobs`` (key -> argument) as each finishes.

        Args:
            fn: module-level (picklable) function called as ``fn(shared, job)`` in a worker.
            shared: one value every call receives (sent to each worker once where the engine
                can: Ray's object store).
            jobs: key -> job argument; keys name the jobs in outcomes.
            init: module-level function run in a worker before its calls (e.g. one torch
                thread); it must be idempotent.
        """
