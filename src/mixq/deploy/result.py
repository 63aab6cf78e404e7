"""What a deployment returns to Python callers (``mixq.deploy(...)``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DeployResult:
    """The measured result of one deployment (the content of ``deploy.json``).

    Attributes:
        bitexact: every emulated output equals ``ir.interpret`` (and ``samples`` > 0).
        host_bitexact: the host gcc build (sanitizers on) agreed too; None when not run.
        samples: inputs checked on the emulator.
        flash_bytes: text + rodata + data of the ELF.
        arena_bytes: the activation arena of the static memory plan.
        instructions: instructions of one inference on the emulated core.
        target: the target name.
        details: the whole ``deploy.json`` object (per-layer counts, estimates, sizes).

    Example:
        >>> r = DeployResult.from_dict({"bitexact": True, "samples": 2, "flash_bytes": 10,
        ...                             "arena_bytes": 4, "instructions": 99, "target": "t",
        ...                             "host": {"bitexact": True}})
        >>> r.bitexact, r.host_bitexact, r.instructions
        (True, True, 99)
    """

    bitexact: bool
    host_bitexact: bool | None
    samples: int
    flash_bytes: int
    arena_bytes: int
    instructions: int
    target: str
    details: dict = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: dict) -> "DeployResult":
        host = d.get("host")
        return cls(bool(d["bitexact"]), None if not host else bool(host.get("bitexact")),
                   int(d["samples"]), int(d["flash_bytes"]), int(d["arena_bytes"]),
                   int(d["instructions"]), str(d["target"]), d)
