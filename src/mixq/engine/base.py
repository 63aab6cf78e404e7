"""The engine interface, the closed set of engine kinds and the factory."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mixq.errors import MixqError


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


def make_engine(kind: EngineKind | str = EngineKind.LOCAL, *, workers: int | None = None,
                address: str | None = None, max_retries: int = 3) -> Engine:
    """The engine for ``kind``.

    Args:
        kind: 'local' or 'ray' (or the enum).
        workers: local worker processes (None: the CPU count; 0: in-process); for Ray, the CPUs
            of a local Ray instance started here (ignored when joining a cluster).
        address: Ray cluster address ('HOST:PORT', 'ray://HOST:PORT' or 'auto'); None starts a
            local Ray instance (or joins ``RAY_ADDRESS`` if set). Local engine: must be None.
        max_retries: Ray only: times a trial is re-run after its worker process died.

    Raises:
        MixqError: unknown kind, an address given to the local engine, or 0 Ray workers.

    Example:
        >>> make_engine("local", workers=0).kind
        <EngineKind.LOCAL: 'local'>
        >>> make_engine("local", address="10.0.0.1:6379")
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: --ray-address needs --engine ray (the local engine runs on this machine only)
        >>> make_engine("ray", workers=0)
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: --workers 0 runs trials in this process, which only the local engine does; drop it or use --engine local
    """
    try:
        kind = EngineKind(kind)
    except ValueError:
        raise MixqError(f"engine '{kind}' is not one of "
                        f"{', '.join(k.value for k in EngineKind)}") from None
    if kind is EngineKind.LOCAL:
        if address is not None:
            raise MixqError("--ray-address needs --engine ray (the local engine runs on this "
                            "machine only)")
        from mixq.engine.local import LocalEngine

        return LocalEngine(workers)
    if workers == 0:
        raise MixqError("--workers 0 runs trials in this process, which only the local engine "
                        "does; drop it or use --engine local")
    from mixq.engine.ray_engine import RayEngine

    return RayEngine(address=address, num_cpus=workers, max_retries=max_retries)
