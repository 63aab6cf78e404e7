"""The model zoo's catalogue: every zoo network with its family, size and benchmark budget.

One frozen :class:`ZooEntry` per zoo model name (``mixq allocate --model NAME`` and
``mixq demo --model NAME`` take these names and, unless told otherwise, their budgets), and
:func:`zoo_candidates` for searches over networks (``mixq study``): the same entries plus
MobileNetV2 at the width multipliers and resolutions its paper tabulates.

Budgets are the memory of the board each benchmark was published on, in the decimal bytes of
``mixq/platform/platforms/*.toml``: MCUNet's 320 kB SRAM / 1 MB flash models on the STM32F746
(``stm32f746``), its 256 kB variant on the same chip with 256,000 B of RAM, its 512 kB / 2 MB
variant on the STM32H7 (``stm32h7``); the MLPerf Tiny models on the benchmark's reference board
(NUCLEO-L4R5ZI, 2 MB flash / 640 kB RAM), deployed on the emulated Cortex-M7 of ``stm32h7``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mixq.models.zoo_mcunet import CONFIGS as MCUNET_CONFIGS


class ZooFamily(StrEnum):
    """Where a zoo network comes from."""

    MCUNET = "mcunet"
    MLPERF_TINY = "mlperf-tiny"
    MOBILENET_V2 = "mobilenet-v2"


@dataclass(frozen=True)
class ZooEntry:
    """One zoo network and the budget of its benchmark.

    Attributes:
        name: unique entry name; equal to ``model`` for the default configuration.
        model: registry name (:data:`mixq.models.MODELS`).
        family: the zoo family.
        task: what it classifies: 'imagenet', 'vww', 'kws', 'cifar10' or 'anomaly'.
        width: width multiplier (1.0 where the network has none).
        resolution: input height (square images; MFCC frames for KWS; None for the FC
            autoencoder).
        options: builder options (``get_model(model, **dict(options))``).
        target: the platform whose core it is deployed on (``mixq.platform`` name).
        flash_bytes, ram_bytes: the benchmark's budget.
    """

    name: str
    model: str
    family: ZooFamily
    task: str
    width: float
    resolution: int | None
    options: tuple[tuple[str, object], ...]
    target: str
    flash_bytes: int
    ram_bytes: int

    def build(self):
        """The float network, random weights (a fresh ``nn.Module``).

        Example:
            >>> zoo_entry("mcunet-in1").build().input_shape
            (3, 96, 96)
        """
        from mixq.models.registry import get_model

        return get_model(self.model, **dict(self.options))


STM32F746 = ("stm32f746", 1_024_000, 320_000)
STM32H7 = ("stm32h7", 2_048_000, 512_000)
MLPERF_REFERENCE = ("stm32h7", 2_097_152, 655_360)  # NUCLEO-L4R5ZI: 2 MB / 640 kB
_MCUNET_BUDGETS = {"mcunet-in2": ("stm32f746", 1_024_000, 256_000), "mcunet-in4": STM32H7}


def _mcunet(name: str) -> ZooEntry:
    cfg = MCUNET_CONFIGS[name]
    return ZooEntry(name, name, ZooFamily.MCUNET, "vww" if cfg.num_classes == 2 else "imagenet",
                    1.0, cfg.resolution, (), *_MCUNET_BUDGETS.get(name, STM32F746))


ZOO: tuple[ZooEntry, ...] = (
    *(_mcunet(name) for name in MCUNET_CONFIGS),
    ZooEntry("mlperf_kws_dscnn", "mlperf_kws_dscnn", ZooFamily.MLPERF_TINY, "kws", 1.0, 49, (),
             *MLPERF_REFERENCE),
    ZooEntry("mlperf_vww_mobilenet_v1", "mlperf_vww_mobilenet_v1", ZooFamily.MLPERF_TINY, "vww",
             0.25, 96, (), *MLPERF_REFERENCE),
    ZooEntry("mlperf_ic_resnet8", "mlperf_ic_resnet8", ZooFamily.MLPERF_TINY, "cifar10", 1.0, 32,
             (), *MLPERF_REFERENCE),
    ZooEntry("mlperf_ad_autoencoder", "mlperf_ad_autoencoder", ZooFamily.MLPERF_TINY, "anomaly",
             1.0, None, (), *MLPERF_REFERENCE),
    ZooEntry("mobilenet_v2", "mobilenet_v2", ZooFamily.MOBILENET_V2, "imagenet", 1.0, 224, (),
             *STM32H7),
)
"""Every zoo model by name, its default configuration and its benchmark's budget."""

# MobileNetV2 paper, Table 6 / its released checkpoints: width multipliers x resolutions
MBV2_WIDTHS = (0.35, 0.5, 0.75, 1.0)
MBV2_RESOLUTIONS = (96, 128, 160, 192, 224)


def zoo_entry(name: str) -> ZooEntry:
    """The zoo entry called ``name``.

    Raises:
        MixqError: no such zoo model (the message lists them).

    Example:
        >>> e = zoo_entry("mcunet-in3")
        >>> e.family.value, e.resolution, e.target, e.ram_bytes
        ('mcunet', 176, 'stm32f746', 320000)
    """
    from mixq.errors import MixqError

    for entry in ZOO:
        if entry.name == name:
            return entry
    raise MixqError(f"unknown zoo model '{name}'; zoo models: {', '.join(zoo_names())}")


def zoo_names() -> tuple[str, ...]:
    """Names of the zoo models, in catalogue order.

    Example:
        >>> zoo_names()[:2]
        ('mcunet-in0', 'mcunet-in1')
    """
    return tuple(e.name for e in ZOO)


def zoo_candidates(family: ZooFamily | str | None = None) -> tuple[ZooEntry, ...]:
    """Networks a study may choose from: every zoo entry plus MobileNetV2 at each tabulated
    width and resolution (STM32H7 budget, 1000 classes), optionally of one family only.

    Args:
        family: a :class:`ZooFamily` (or its value); None = all.

    Raises:
        ValueError: unknown family.

    Example:
        >>> [(c.name, c.width, c.resolution) for c in zoo_candidates("mcunet")][:2]
        [('mcunet-in0', 1.0, 48), ('mcunet-in1', 1.0, 96)]
        >>> len(zoo_candidates(ZooFamily.MOBILENET_V2))
        20
    """
    grid = tuple(
        ZooEntry(f"mobilenet_v2-{w}-{r}", "mobilenet_v2", ZooFamily.MOBILENET_V2, "imagenet", w,
                 r, (("width", w), ("resolution", r)), *STM32H7)
        for w in MBV2_WIDTHS for r in MBV2_RESOLUTIONS)
    entries = tuple(e for e in ZOO if e.family != ZooFamily.MOBILENET_V2) + grid
    if family is None:
        return entries
    wanted = ZooFamily(family)
    return tuple(e for e in entries if e.family == wanted)
