"""Platform specs: declarative TOML descriptions of deployment targets.

Every command that takes ``--target`` resolves it here, once, into a :class:`Platform`; the
code below the CLI passes that object (or its :class:`KernelSet`), never the name. A target is
a name of a spec shipped in ``mixq/platform/platforms/*.toml`` (``stm32h7``, ``stm32h7-ref``,
``stm32f746``, ``gap8``, ``pulp-xpulpnn``, ``pulp-open``, ``pulp-open-nn``) or the path of a
user ``.toml`` file with the same schema. A spec is checked
strictly: an unknown key, a missing field or a value of the wrong type is a one-line
:class:`~mixq.errors.MixqError` that names the file and lists the known targets.

Schema (``[cluster]``, ``[latency]`` and ``[memory_timing]`` are optional)::

    name = "gap8"                 # str; also the CLI name
    description = "..."           # str
    [core]                        # what mixq builds and emulates
    isa = "rv32imc"               # 'armv7e-m' or 'rv32imc'
    cpu = "rv32imc"               # emulated core: 'cortex-m7', 'rv32imc' or a RI5CY with
                                  # Xpulp ('ri5cy-xpulpv2', 'ri5cy-xpulpnn')
    kernels = "ref"               # kernel set of mixq.codegen.emit_c (a KernelSet value)
    clock_hz = 250_000_000        # clock of the single-core latency estimate
    [memory]                      # default allocation budget
    flash_bytes = 8_388_608
    ram_bytes = 524_288
    [cluster]                     # a PULP cluster (mixq.platform.cluster latency model)
    cores, clock_hz, simd ('xpulpv2' | 'xpulpnn'), l1_bytes, l1_reserved_bytes, l2_bytes,
    l3_bytes, dma_bytes_per_cycle, dma_setup_cycles, l3_bytes_per_cycle, tcdm_banks (optional)
    [latency]                     # an MCU: estimated cycles per MAC, keys 'w<bits>a<bits>'
    cycles_per_mac = {...}, dw_cycles_per_mac = {...}
    [memory_timing]               # memory assumptions of the cycle estimate (flash wait
                                  # states, L1 caches, TCM; mixq.platform.memory_timing)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path

from mixq.errors import MixqError
from mixq.platform import memory_timing
from mixq.platform.memory_timing import MemoryTiming


class Isa(str, Enum):
    """The instruction set mixq compiles for and emulates (``[core] isa``); each has one
    deploy record in :mod:`mixq.deploy.isa`."""

    ARMV7EM = "armv7e-m"
    RV32IMC = "rv32imc"


class KernelSet(str, Enum):
    """The C kernels :func:`mixq.codegen.emit_c` selects from (``[core] kernels``): the portable
    C99 reference kernels, or the ARMv7E-M DSP, PULP XpulpV2 or PULP XpulpNN kernels with the
    reference ones as fallback."""

    REF = "ref"
    ARMV7EM = "armv7em"
    PULP = "pulp"
    PULPNN = "pulpnn"


ISAS = tuple(i.value for i in Isa)
KERNEL_SETS = tuple(k.value for k in KernelSet)
CPUS = ("cortex-m7", "rv32imc", "ri5cy-xpulpv2", "ri5cy-xpulpnn")
RV32_CPUS = ("rv32imc", "ri5cy-xpulpv2", "ri5cy-xpulpnn")
SIMD = ("xpulpv2", "xpulpnn")
PRECISION_KEYS = tuple(f"w{w}a{a}" for w in (8, 4, 2) for a in (8, 4, 2))

_NUM = (int, float)
# section -> field -> (types, required)
_SCHEMA = {
    "": {"name": (str, True), "description": (str, True)},
    "core": {"isa": (str, True), "cpu": (str, True), "kernels": (str, True),
             "clock_hz": (_NUM, True)},
    "memory": {"flash_bytes": (int, True), "ram_bytes": (int, True)},
    "cluster": {"cores": (int, True), "clock_hz": (_NUM, True), "simd": (str, True),
                "l1_bytes": (int, True), "l1_reserved_bytes": (int, True),
                "l2_bytes": (int, True), "l3_bytes": (int, True),
                "dma_bytes_per_cycle": (_NUM, True), "dma_setup_cycles": (_NUM, True),
                "l3_bytes_per_cycle": (_NUM, True), "tcdm_banks": (int, False)},
    "latency": {"cycles_per_mac": (dict, True), "dw_cycles_per_mac": (dict, False)},
    "memory_timing": memory_timing.SCHEMA,
}
_OPTIONAL_SECTIONS = ("cluster", "latency", "memory_timing")


@dataclass(frozen=True)
class ClusterSpec:
    """A PULP cluster (see :mod:`mixq.platform.cluster`).

    Attributes:
        cores: processing cores sharing L1.
        clock_hz: cluster clock.
        simd: 'xpulpv2' (8-bit SIMD; sub-byte data unpacked in software) or 'xpulpnn' (native
            8/4/2-bit SIMD dot products).
        l1_bytes, l1_reserved_bytes: shared L1 and the part kept for stacks and the runtime.
        l2_bytes, l3_bytes: on-chip L2 and external L3.
        dma_bytes_per_cycle: L2 -> L1 DMA bandwidth in bytes per cluster cycle.
        dma_setup_cycles: cycles to program and wait for one DMA transfer.
        l3_bytes_per_cycle: L3 -> L2 bandwidth in bytes per cluster cycle.
        tcdm_banks: word-interleaved banks of the L1 TCDM (optional, 16: PULP-open and GAP8).
    """

    cores: int
    clock_hz: float
    simd: str
    l1_bytes: int
    l1_reserved_bytes: int
    l2_bytes: int
    l3_bytes: int
    dma_bytes_per_cycle: float
    dma_setup_cycles: float
    l3_bytes_per_cycle: float
    tcdm_banks: int = 16

    @property
    def l1_usable_bytes(self) -> int:
        """L1 bytes available to the tiles of one layer."""
        return self.l1_bytes - self.l1_reserved_bytes


@dataclass(frozen=True)
class Platform:
    """A deployment target as described by its TOML spec.

    Attributes:
        name: CLI name.
        description: one line for humans.
        isa: what mixq compiles for and emulates.
        cpu: emulated core ('cortex-m7', 'rv32imc', 'ri5cy-xpulpv2' or 'ri5cy-xpulpnn'; the
            RV32 flow's machine, see mixq.deploy.xpulp_runner).
        kernels: the kernel set of :func:`mixq.codegen.emit_c`.
        clock_hz: clock of the single-core latency estimate.
        flash_bytes, ram_bytes: default allocation budget.
        cluster: the PULP cluster, or None for a single-core MCU.
        cycles_per_mac: MCU latency model, 'w<bits>a<bits>' -> estimated cycles per MAC.
        dw_cycles_per_mac: the same for depthwise layers (default: ``cycles_per_mac``).
        memory_timing: the memory assumptions the deploy flow's cycle estimate charges, or
            None (every access a hit).
        source: where the spec came from (package file name or user path).
        excluded_kernels: ``function/variant`` names of kernels of the set this deployment
            does not use (not in TOML: set by the closing loop's code-size trades,
            :mod:`mixq.deploy.code_trade`, with ``dataclasses.replace``).
    """

    name: str
    description: str
    isa: Isa
    cpu: str
    kernels: KernelSet
    clock_hz: float
    flash_bytes: int
    ram_bytes: int
    cluster: ClusterSpec | None = None
    cycles_per_mac: dict = field(default_factory=dict)
    dw_cycles_per_mac: dict = field(default_factory=dict)
    source: str = ""
    memory_timing: MemoryTiming | None = None
    excluded_kernels: frozenset = frozenset()


def _packaged() -> dict[str, object]:
    root = resources.files("mixq.platform").joinpath("platforms")
    return {p.name[:-5]: p for p in root.iterdir() if p.name.endswith(".toml")}


def known_platforms() -> tuple[str, ...]:
    """Names of the platform specs shipped with mixq, sorted.

    Example:
        >>> known_platforms()
        ('gap8', 'pulp-open', 'pulp-open-nn', 'pulp-xpulpnn', 'stm32f746', 'stm32h7', 'stm32h7-ref')
    """
    return tuple(sorted(_packaged()))


def _fail(where: str, what: str) -> MixqError:
    return MixqError(f"{where}: {what}; known targets: {', '.join(known_platforms())} "
                     "(or a .toml platform file)")


def _check_section(where: str, section: str, table) -> dict:
    label = f"[{section}]" if section else "top level"
    if not isinstance(table, dict):
        raise _fail(where, f"{label} must be a table")
    schema = _SCHEMA[section]
    sub = set(_SCHEMA) - {""} if section == "" else set()
    unknown = sorted(set(table) - set(schema) - sub)
    if unknown:
        raise _fail(where, f"unknown key(s) {unknown} in {label}")
    for key, (types, required) in schema.items():
        if key not in table:
            if required:
                raise _fail(where, f"missing field '{key}' in {label}")
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise _fail(where, f"'{key}' in {label} has the wrong type ({type(value).__name__})")
        if isinstance(value, (int, float)) and value < 0:
            raise _fail(where, f"'{key}' in {label} must not be negative")
    return table


def _mac_table(where: str, key: str, table: dict) -> dict:
    bad = sorted(set(table) - set(PRECISION_KEYS))
    if bad:
        raise _fail(where, f"[latency] {key} has unknown precision key(s) {bad} "
                    f"(use {', '.join(PRECISION_KEYS)})")
    for k, v in table.items():
        if isinstance(v, bool) or not isinstance(v, _NUM) or v <= 0:
            raise _fail(where, f"[latency] {key}.{k} must be a positive number")
    return {k: float(v) for k, v in table.items()}


def parse_platform(data: dict, where: str = "platform") -> Platform:
    """Check a parsed TOML document and build its :class:`Platform`.

    Raises:
        MixqError: unknown key, missing field, wrong type or value (one line).

    Example:
        >>> p = parse_platform({"name": "m", "description": "d",
        ...     "core": {"isa": "armv7e-m", "cpu": "cortex-m7", "kernels": "ref",
        ...              "clock_hz": 1e8}, "memory": {"flash_bytes": 10, "ram_bytes": 5}})
        >>> p.name, p.cluster, p.isa, p.kernels.value
        ('m', None, <Isa.ARMV7EM: 'armv7e-m'>, 'ref')
        >>> parse_platform({"name": "m"})
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: platform: missing field 'description' in top level; known targets: gap8, pulp-open, pulp-open-nn, pulp-xpulpnn, stm32f746, stm32h7, stm32h7-ref (or a .toml platform file)
    """
    top = _check_section(where, "", data)
    for section in ("core", "memory"):
        if section not in top:
            raise _fail(where, f"missing table [{section}]")
    core = _check_section(where, "core", top["core"])
    mem = _check_section(where, "memory", top["memory"])
    if core["isa"] not in ISAS:
        raise _fail(where, f"[core] isa '{core['isa']}' is not one of {', '.join(ISAS)}")
    if core["cpu"] not in CPUS:
        raise _fail(where, f"[core] cpu '{core['cpu']}' is not one of {', '.join(CPUS)}")
    if (core["isa"] == "rv32imc") != (core["cpu"] in RV32_CPUS):
        raise _fail(where, f"[core] cpu '{core['cpu']}' does not implement isa '{core['isa']}'")
    xpulp = {"pulp": ("ri5cy-xpulpv2", "ri5cy-xpulpnn"), "pulpnn": ("ri5cy-xpulpnn",)}
    if core["kernels"] in xpulp and core["cpu"] not in xpulp[core["kernels"]]:
        raise _fail(where, f"[core] kernels '{core['kernels']}' need cpu "
                    f"{' or '.join(xpulp[core['kernels']])}, not '{core['cpu']}'")
    if core["kernels"] not in KERNEL_SETS:
        raise _fail(where, f"[core] kernels '{core['kernels']}' is not one of "
                    f"{', '.join(KERNEL_SETS)}")
    if core["isa"] == "rv32imc" and core["kernels"] not in ("ref", "pulp", "pulpnn"):
        raise _fail(where, "[core] kernels must be 'ref', 'pulp' or 'pulpnn' on rv32imc")
    cluster = None
    if "cluster" in top:
        c = _check_section(where, "cluster", top["cluster"])
        if c["simd"] not in SIMD:
            raise _fail(where, f"[cluster] simd '{c['simd']}' is not one of {', '.join(SIMD)}")
        if c["cores"] < 1 or c["l1_reserved_bytes"] >= c["l1_bytes"]:
            raise _fail(where, "[cluster] needs cores >= 1 and l1_reserved_bytes < l1_bytes")
        if c["dma_bytes_per_cycle"] <= 0 or c["l3_bytes_per_cycle"] <= 0 or c["clock_hz"] <= 0:
            raise _fail(where, "[cluster] bandwidths and clock_hz must be positive")
        if c.get("tcdm_banks", 1) < 1:
            raise _fail(where, "[cluster] tcdm_banks must be >= 1")
        cluster = ClusterSpec(**{k: c[k] for k in _SCHEMA["cluster"] if k in c})
    per_mac, dw_per_mac = {}, {}
    if "latency" in top:
        lat = _check_section(where, "latency", top["latency"])
        per_mac = _mac_table(where, "cycles_per_mac", lat["cycles_per_mac"])
        dw_per_mac = _mac_table(where, "dw_cycles_per_mac", lat.get("dw_cycles_per_mac", {}))
    timing = None
    if "memory_timing" in top:
        timing = MemoryTiming.from_table(
            _check_section(where, "memory_timing", top["memory_timing"]),
            lambda what: _fail(where, what))
    if core["clock_hz"] <= 0 or mem["flash_bytes"] <= 0 or mem["ram_bytes"] <= 0:
        raise _fail(where, "clock_hz, flash_bytes and ram_bytes must be positive")
    return Platform(top["name"], top["description"], Isa(core["isa"]), core["cpu"],
                    KernelSet(core["kernels"]),
                    float(core["clock_hz"]), mem["flash_bytes"], mem["ram_bytes"], cluster,
                    per_mac, dw_per_mac, where, timing)


def load_platform_file(path) -> Platform:
    """Read and check one platform TOML file.

    Raises:
        MixqError: missing file, invalid TOML or an invalid spec (one line).
    """
    p = Path(path)
    if not p.is_file():
        raise _fail(str(p), "no such platform file")
    try:
        data = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise _fail(p.name, f"not valid TOML ({str(e).splitlines()[0]})") from None
    return parse_platform(data, p.name)


def get_platform(name_or_path: str) -> Platform:
    """The platform called ``name_or_path``, or the spec in that ``.toml`` file.

    Raises:
        MixqError: unknown name or invalid spec; the message lists the known targets.

    Example:
        >>> get_platform("gap8").cluster.cores, get_platform("stm32h7").flash_bytes
        (8, 2048000)
        >>> get_platform("esp32")
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: unknown target 'esp32'; known targets: gap8, pulp-open, pulp-open-nn, pulp-xpulpnn, stm32f746, stm32h7, stm32h7-ref (or a .toml platform file)
    """
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text:
        return load_platform_file(text)
    spec = _packaged().get(text)
    if spec is None:
        raise MixqError(f"unknown target '{text}'; known targets: {', '.join(known_platforms())} "
                        "(or a .toml platform file)")
    try:
        data = tomllib.loads(spec.read_text())
    except tomllib.TOMLDecodeError as e:  # a packaging bug, but say which file
        raise _fail(f"{text}.toml", f"not valid TOML ({e})") from None
    platform = parse_platform(data, f"{text}.toml")
    if platform.name != text:
        raise _fail(f"{text}.toml", f"name '{platform.name}' differs from the file name")
    return platform


__all__ = ["ClusterSpec", "Isa", "KernelSet", "Platform", "get_platform", "known_platforms",
           "load_platform_file", "parse_platform"]
