"""The Ray engine: each job is a Ray task (one CPU) retried when its worker process dies.

``ray`` is imported when the engine starts, never at import time, so the rest of mixq does not
pay Ray's start-up. The driver (the process running the sweep) collects outcomes as tasks
finish; jobs whose function raised propagate the exception, jobs whose worker died more than
``max_retries`` times come back as failed outcomes.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mixq.engine.base import Engine, EngineKind, Outcome
from mixq.errors import MixqError

CONNECT_TIMEOUT_S = 5.0
_FIX = "start one with `ray start --head` on the head node, or fix --ray-address"


def split_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a 'HOST:PORT' or 'ray://HOST:PORT' address; None for 'auto'.

    Raises:
        MixqError: not of that form.

    Example:
        >>> split_address("ray://10.0.0.5:10001"), split_address("auto")
        (('10.0.0.5', 10001), None)
        >>> split_address("10.0.0.5")
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: --ray-address '10.0.0.5' is not HOST:PORT, ray://HOST:PORT or auto
    """
    if address == "auto":
        return None
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise MixqError(f"--ray-address '{address}' is not HOST:PORT, ray://HOST:PORT or auto")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise MixqError unless a TCP connection to the address's host and port opens in time.

    ``ray.init`` on an unreachable address retries for a long time; this fails in seconds.
    """
    hostport = split_address(address)
    if hostport is None:
        return
    try:
        socket.create_connection(hostport, timeout=timeout_s).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise MixqError(f"no Ray cluster reachable at {address} ({reason}); {_FIX}") from None


def _ray_call(fn, shared, key, job, init, pid_dir):
    """The task body: note the worker's pid (when asked), prepare the worker, run the job."""
    mark = None
    if pid_dir is not None:
        mark = Path(pid_dir) / f"{key}.{os.getpid()}.pid"
        mark.write_text(str(os.getpid()))
    if init is not None:
        init()
    value = fn(shared, job)
    if mark is not None:
        mark.unlink()
    return value


class RayEngine(Engine):
    """Jobs as Ray tasks on a local Ray instance or an existing cluster.

    Args:
        address: None (start a local instance, or join ``RAY_ADDRESS`` when set), 'auto' (the
            cluster started on this machine by ``ray start``), 'HOST:PORT' (the head's GCS
            port, default 6379) or 'ray://HOST:PORT' (Ray Client, default port 10001).
        num_cpus: CPUs of a local instance started here (None: all cores).
        max_retries: re-runs of a task whose worker process died (Ray's task retry policy;
            exceptions raised by the function itself are not retried).
        pid_dir: diagnostics and tests: every task writes ``<key>.<pid>.pid`` there while it
            runs (a file left behind is a worker that died mid-task).
    """

    kind = EngineKind.RAY

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 max_retries: int = 3, pid_dir=None):
        if max_retries < 0:
            raise MixqError(f"max_retries must be >= 0, got {max_retries}")
        self.address, self.num_cpus, self.max_retries = address, num_cpus, max_retries
        self.pid_dir = None if pid_dir is None else str(pid_dir)
        self._ray = None
        self._owned = False
        self._pending: dict = {}

    def start(self) -> None:
        if self._ray is not None:
            return
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        if address is not None:
            check_reachable(address)
        try:
            import ray
        except ImportError:
            raise MixqError("--engine ray needs Ray: pip install 'ray==2.60.0'") from None
        if not ray.is_initialized():
            options = dict(include_dashboard=False, log_to_driver=False,
                           logging_level=logging.WARNING)
            if address is None:  # a private instance on this machine, loopback only
                options.update(num_cpus=self.num_cpus, _node_ip_address="127.0.0.1")
            try:
                ray.init(address=address, **options)
            except Exception as e:  # ConnectionError, RuntimeError, ... depending on the mode
                reason = " ".join(str(e).split())[:160]
                where = f"at {address}" if address else "locally"
                raise MixqError(f"could not start or join Ray {where} ({type(e).__name__}: "
                                f"{reason}); {_FIX}") from None
            self._owned = True
        self._ray = ray

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for ref in list(self._pending):
            ray.cancel(ref, force=True)
        self._pending.clear()
        if self._owned:
            ray.shutdown()
            self._owned = False
        self._ray = None

    def run(self, fn: Callable[[Any, Any], Any], shared: Any, jobs: Mapping[str, Any],
            init: Callable[[], None] | None = None) -> Iterator[Outcome]:
        self.start()
        ray = self._ray
        task = ray.remote(num_cpus=1, max_retries=self.max_retries,
                          retry_exceptions=False)(_ray_call)
        shared_ref = ray.put(shared)
        self._pending = {task.remote(fn, shared_ref, key, job, init, self.pid_dir): key
                         for key, job in jobs.items()}
        try:
            while self._pending:
                ready, _ = ray.wait(list(self._pending), num_returns=1)
                for ref in ready:
                    key = self._pending.pop(ref)
                    yield self._outcome(ray, ref, key)
        finally:
            for ref in list(self._pending):
                ray.cancel(ref, force=True)
            self._pending.clear()

    def _outcome(self, ray, ref, key: str) -> Outcome:
        try:
            return Outcome(key, ray.get(ref))
        except ray.exceptions.RayTaskError as e:  # the function raised: a bug, not a crash
            raise e.as_instanceof_cause() from None
        except ray.exceptions.RayError as e:
            reason = " ".join(str(e).split())[:160]
            return Outcome(key, error=f"gave up after {self.max_retries} retries "
                                      f"({type(e).__name__}: {reason})")
