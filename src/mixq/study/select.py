"""Pick the study's network for a platform: a candidate space, its footprints, one rule.

The rule follows MCUNet's observation (Lin et al., NeurIPS 2020, Sec. 3.1): within a
well-designed space, the model with more MACs under the memory constraints is the more accurate
one. So:

* **chosen** (the network retrained with mixed precision): among the candidates whose
  memory-driven mixed allocation (Rusci et al. 2020) meets the budget with a weight-count-weighted
  mean of at least ``min_mean_w_bits`` weight bits, the one with the most MACs;
* **baseline** ("int8-fit"): among the candidates of the chosen one's family whose uniform 8-bit
  model meets the budget, the one with the most MACs.

With a latency bound (``latency_ms``), "meets" also means an estimated latency within it
(:func:`mixq.platform.latency.latency_function`: the platform's cycles per MAC at its clock).

Ties go to fewer weights. Footprints are the memory model's (:mod:`mixq.search.memory`) against
the budget less a :class:`RuntimeReserve` (the code, static data and stack of the generated
program); the deployed run then checks the linked image and the arena.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mixq.errors import MixqError
from mixq.models import get_model
from mixq.platform.latency import latency_function
from mixq.quant.spec import BitAllocation
from mixq.search.memory import MemoryBudget, flash_bytes, layer_shapes, ram_peak_bytes
from mixq.search.memory_driven import BudgetError, allocate_bits

RULE = ("chosen = the candidate with the most MACs whose memory-driven mixed allocation fits "
        "the budget with mean weight bits >= {min_bits:g}; baseline (int8-fit) = the candidate "
        "of the same family with the most MACs whose uniform 8-bit model fits (MCUNet's rule: "
        "within the space, more MACs under the constraints gives more accuracy); footprints of "
        "the memory model against the budget less the runtime reserve (flash {reserve_flash:,} B, "
        "RAM {reserve_ram:,} B)")


@dataclass(frozen=True)
class CandidateSpace:
    """The networks the study may choose from.

    Attributes:
        families: registered model names taking width, resolution, in_channels, num_classes.
        widths: width multipliers tried in each family.
        max_macs: candidates above this many MACs are left out: on 2 CPU cores their training
            would not finish within the study's time (a 0.5-wide MobileNetV1 at 28x28, 2.8 M
            MACs, takes ~0.25 s per QAT step of 64 images at one thread).

    The input resolution is the dataset's own (Fashion-MNIST: 28x28x1): a larger input would only
    pad the images.
    """

    families: tuple[str, ...] = ("mobilenet_v1",)
    widths: tuple[float, ...] = (0.125, 0.1875, 0.25, 0.3125, 0.375, 0.4375, 0.5)
    max_macs: int = 3_000_000

    def __post_init__(self):
        if not self.families or not self.widths:
            raise MixqError("the candidate space needs at least one family and one width")
        if any(not w > 0 for w in self.widths):
            raise MixqError(f"candidate widths must be positive, got {self.widths}")


@dataclass(frozen=True)
class RuntimeReserve:
    """Bytes of the platform's budget the generated program takes besides the model.

    Attributes:
        flash_bytes: kernels' code, runtime and constant data (a MobileNetV1-0.25 at 28x28,
            8-bit, linked to 272,672 B for 237,666 B of model flash: 35,006 B; mixed models link
            more kernels).
        ram_bytes: stack, static data and the arena's excess over the memory model's peak.
    """

    flash_bytes: int = 48_000
    ram_bytes: int = 8_192


@dataclass(frozen=True)
class Candidate:
    """One network of the space with its footprints under the budget.

    Attributes:
        family, width, resolution: what :func:`mixq.models.get_model` builds.
        macs, weight_count: of one inference.
        int8_flash_bytes, int8_ram_bytes: the uniform 8-bit model's memory-model footprints.
        fits_int8: both within the model budget (budget less reserve).
        mixed: the memory-driven allocation under the model budget (None: none exists).
        mean_w_bits: weight-count-weighted mean weight bits of ``mixed`` (0 if None).
        fits_mixed: ``mixed`` exists and ``mean_w_bits`` is at least the rule's minimum.
        int8_latency_ms, mixed_latency_ms: estimated latencies (None without a latency bound).
    """

    family: str
    width: float
    resolution: int
    macs: int
    weight_count: int
    int8_flash_bytes: int
    int8_ram_bytes: int
    fits_int8: bool
    mean_w_bits: float
    fits_mixed: bool
    int8_latency_ms: float | None = None
    mixed_latency_ms: float | None = None
    mixed: BitAllocation | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        """E.g. 'mobilenet_v1 w0.25 28x28'."""
        return f"{self.family} w{self.width:g} {self.resolution}x{self.resolution}"

    def to_dict(self) -> dict:
        return {"family": self.family, "width": self.width, "resolution": self.resolution,
                "macs": self.macs, "weight_count": self.weight_count,
                "int8_flash_bytes": self.int8_flash_bytes, "int8_ram_bytes": self.int8_ram_bytes,
                "fits_int8": self.fits_int8, "mean_w_bits": round(self.mean_w_bits, 3),
                "fits_mixed": self.fits_mixed, "int8_latency_ms": self.int8_latency_ms,
                "mixed_latency_ms": self.mixed_latency_ms}


@dataclass(frozen=True)
class Selection:
    """The candidates, the chosen network, the 8-bit baseline and the rule that picked them."""

    candidates: tuple[Candidate, ...]
    chosen: Candidate
    baseline: Candidate
    rule: str

    def to_dict(self) -> dict:
        return {"rule": self.rule, "chosen": self.chosen.label, "baseline": self.baseline.label,
                "candidates": [c.to_dict() for c in self.candidates]}


def model_budget(budget: MemoryBudget, reserve: RuntimeReserve) -> MemoryBudget:
    """The budget left to the model once the runtime's reserve is taken.

    Raises:
        MixqError: the reserve alone exceeds the budget.

    Example:
        >>> model_budget(MemoryBudget(256_000, 64_000), RuntimeReserve(48_000, 8_192))
        MemoryBudget(flash_bytes=208000, ram_bytes=55808)
    """
    flash, ram = budget.flash_bytes - reserve.flash_bytes, budget.ram_bytes - reserve.ram_bytes
    if flash <= 0 or ram <= 0:
        raise MixqError(f"budget flash {budget.flash_bytes:,} B / RAM {budget.ram_bytes:,} B "
                        f"leaves nothing for the model after the runtime's reserve (flash "
                        f"{reserve.flash_bytes:,} B, RAM {reserve.ram_bytes:,} B); raise --flash "
                        "/ --ram")
    return MemoryBudget(flash, ram)


def mean_weight_bits(shapes, allocation: BitAllocation) -> float:
    """Weight-count-weighted mean of the weight bits (ternary counted as 2)."""
    total = sum(s.weight_count for s in shapes)
    return sum(s.weight_count * allocation[s.name].w_bits for s in shapes) / total


def _latency_ms(platform, shapes, allocation: BitAllocation | None) -> float | None:
    if allocation is None:
        return None
    latency, clock = latency_function(platform, shapes)
    cycles = sum(latency(s, l.w_bits, l.in_bits, l.out_bits)
                 for s, l in zip(shapes, allocation.layers))
    return 1e3 * cycles / clock


def _candidate(family: str, width: float, input_shape, num_classes: int,
               budget: MemoryBudget, granularity: str, min_bits: float,
               latency=None) -> Candidate:
    """One candidate; ``latency`` = (platform, bound in ms) or None."""
    c, h, _ = input_shape
    model = get_model(family, width=width, resolution=h, in_channels=c, num_classes=num_classes)
    shapes = layer_shapes(model, tuple(input_shape))
    int8 = BitAllocation.uniform([(s.name, s.kind) for s in shapes], 8, granularity)
    f8, r8 = flash_bytes(shapes, int8), ram_peak_bytes(shapes, int8)
    try:
        mixed = allocate_bits(shapes, budget, granularity)
    except BudgetError:
        mixed = None
    mean = mean_weight_bits(shapes, mixed) if mixed is not None else 0.0
    fits8, fits_mixed = (f8 <= budget.flash_bytes and r8 <= budget.ram_bytes,
                         mixed is not None and mean >= min_bits)
    ms8 = ms_mixed = None
    if latency is not None:
        platform, bound = latency
        ms8, ms_mixed = _latency_ms(platform, shapes, int8), _latency_ms(platform, shapes, mixed)
        fits8 = fits8 and ms8 <= bound
        fits_mixed = fits_mixed and ms_mixed <= bound
    return Candidate(family, width, h, sum(s.macs for s in shapes),
                     sum(s.weight_count for s in shapes), f8, r8, fits8, mean, fits_mixed,
                     ms8, ms_mixed, mixed)


def select_networks(space: CandidateSpace, input_shape, num_classes: int, budget: MemoryBudget,
                    reserve: RuntimeReserve = RuntimeReserve(), granularity: str = "per-channel",
                    min_mean_w_bits: float = 4.0, platform=None,
                    latency_ms: float | None = None) -> Selection:
    """Footprints of every candidate of ``space`` and the rule's chosen network and baseline.

    Args:
        space: the candidate networks.
        input_shape: (C, H, W) of the dataset's images.
        num_classes: classifier outputs.
        budget: the platform's flash and RAM (or the user's).
        reserve: what the generated program needs besides the model.
        granularity: 'per-channel' or 'per-layer' (the memory model's overhead).
        min_mean_w_bits: the mixed allocation must keep at least this mean weight precision.
        platform: the :class:`mixq.platform.spec.Platform` (needed with ``latency_ms``).
        latency_ms: an upper bound on the estimated latency, or None.

    Returns:
        the :class:`Selection`.

    Raises:
        MixqError: no candidate fits at mixed precision, or none of its family at 8 bits (the
            message gives the smallest footprints and the budget); a latency bound without a
            platform.

    Example:
        >>> s = select_networks(CandidateSpace(widths=(0.125, 0.25)), (1, 28, 28), 10,
        ...                     MemoryBudget(200_000, 64_000))
        >>> s.chosen.label, s.baseline.label, s.chosen.fits_int8
        ('mobilenet_v1 w0.25 28x28', 'mobilenet_v1 w0.125 28x28', False)
    """
    left = model_budget(budget, reserve)
    if latency_ms is not None and platform is None:
        raise MixqError("a latency bound needs the platform whose latency model estimates it")
    latency = None if latency_ms is None else (platform, latency_ms)
    cands = [_candidate(f, w, input_shape, num_classes, left, granularity, min_mean_w_bits,
                        latency) for f in space.families for w in space.widths]
    cands = tuple(sorted((c for c in cands if c.macs <= space.max_macs),
                         key=lambda c: (c.family, c.macs, -c.weight_count)))
    if not cands:
        raise MixqError(f"no candidate has at most {space.max_macs:,} MACs; raise max_macs or "
                        "add smaller widths")

    def best(pool):
        return max(pool, key=lambda c: (c.macs, -c.weight_count), default=None)

    chosen = best([c for c in cands if c.fits_mixed])
    baseline = best([c for c in cands if c.fits_int8 and chosen and c.family == chosen.family])
    if chosen is None or baseline is None:
        small = min(cands, key=lambda c: c.int8_flash_bytes)
        what = "at mixed precision" if chosen is None else f"at 8 bits in {chosen.family}"
        bound = "" if latency_ms is None else f" / {latency_ms:g} ms"
        raise MixqError(f"no candidate fits {what} under flash {budget.flash_bytes:,} B / RAM "
                        f"{budget.ram_bytes:,} B{bound} (less the runtime reserve: flash "
                        f"{left.flash_bytes:,} B / RAM {left.ram_bytes:,} B for the model); the "
                        f"smallest, {small.label}, needs {small.int8_flash_bytes:,} B / "
                        f"{small.int8_ram_bytes:,} B at 8 bits; raise --flash / --ram"
                        + (" / --latency-ms" if bound else ""))
    rule = RULE.format(min_bits=min_mean_w_bits, reserve_flash=reserve.flash_bytes,
                       reserve_ram=reserve.ram_bytes)
    if latency_ms is not None:
        rule += f"; and an estimated latency within {latency_ms:g} ms on {platform.name}"
    return Selection(cands, chosen, baseline, rule)
