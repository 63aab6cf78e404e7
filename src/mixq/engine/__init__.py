"""Where independent trials run: in local worker processes or as tasks on a Ray cluster.

A sweep hands an :class:`Engine` a picklable module-level function, one shared value (e.g. the
float checkpoint's bytes) and keyed jobs; the engine yields one :class:`Outcome` per job as it
finishes. The caller (the driver) writes results; engines never touch output files, so a sweep
resumes across engines. Ray is imported only when a Ray engine starts.

Sits high in the package order (below ``errors``/``fileio``, above everything else): it imports
no other mixq package and not torch.
"""

from mixq.engine.base import Engine, EngineKind, Outcome
from mixq.engine.device import DeviceKind, add_device_argument
from mixq.engine.factory import make_engine
from mixq.engine.local import LocalEngine

__all__ = ["DeviceKind", "Engine", "EngineKind", "LocalEngine", "Outcome", "add_device_argument",
           "make_engine"]
