"""The engine for a kind (local or Ray); Ray itself is imported only when a Ray engine starts."""

from __future__ import annotations

from mixq.engine.base import Engine, EngineKind
from mixq.engine.local import LocalEngine
from mixq.engine.ray_engine import RayEngine
from mixq.errors import MixqError


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
        return LocalEngine(workers)
    if workers == 0:
        raise MixqError("--workers 0 runs trials in this process, which only the local engine "
                        "does; drop it or use --engine local")
    return RayEngine(address=address, num_cpus=workers, max_retries=max_retries)
