"""The allocation loop, closed on the linked build.

The memory model of the allocator (Rusci et al. 2020: packed weights + per-layer overhead;
peak of one layer's input + output) leaves out what the device also needs: the kernels' code,
static RAM, the stack, and an arena laid out for every live tensor and kernel scratch. So the
loop is: allocate under a *model budget* (at first the real one), build the integer graph of that
allocation for the target (no emulation, :func:`mixq.deploy.fit.link_fit`), and if the linked
image or the RAM (:class:`mixq.deploy.fit.LinkedFit`) is over the real budget, lower the model
budget to the allocation's own memory-model figure minus the measured excess and allocate again.
Each step is recorded (:class:`FitStep`); the loop is bounded (:data:`MAX_STEPS`) and fails with
one line when the allocator cannot go lower or the steps run out.

Before the weights' budget is tightened for a linked image over the flash budget, the kernel
choice is made code-aware (:func:`mixq.deploy.code_trade.trade_code`): kernel variants are given
up, fewest estimated cycles lost per byte first, each measured by a rebuild, until the image fits
or nothing is left to trade within a bound on the cycles lost (10% of the model's estimate by
default, :data:`mixq.deploy.code_trade.MAX_CYCLES_LOST`; :attr:`FitStep.trade_bound`); only the
excess left after the trades tightens the weights. A round whose RAM is over trades scratch the
same way (variants priced by the scratch their layers give up, ``Kernel.scratch_for``). The
trades are in the step (:attr:`FitStep.trades`) and the kept exclusions in
:attr:`ClosedAllocation.excluded_kernels` (deploy with :meth:`ClosedAllocation.platform_for`).

The caller brings two functions, so the loop needs no torch: ``allocate(budget) -> (allocation,
model_flash_bytes, model_ram_bytes)`` and ``build_graph(allocation) -> ir.Graph``
(:func:`mixq.api.allocate` passes the memory-driven allocator and prepare + integerize).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from mixq.deploy.code_trade import MAX_CYCLES_LOST, CodeTrade, TradeBound, trade_code
from mixq.deploy.fit import LinkedFit, link_fit
from mixq.errors import MixqError
from mixq.platform.spec import Platform
from mixq.quant.spec import BitAllocation
from mixq.search.memory import MemoryBudget

MAX_STEPS = 6


class FitError(MixqError):
    """No allocation's linked build fits the budget."""


@dataclass(frozen=True)
class FitStep:
    """One round of the loop.

    Attributes:
        step: 1, 2, ...
        model_budget: the budget the memory model allocated under.
        model_flash_bytes, model_ram_bytes: the allocation's memory-model figures.
        fit: what the linked build takes (after the trades).
        flash_excess, ram_excess: bytes over the real budget (0 when within).
        trades: the kernel variants given up for flash this round (code-aware choice).
        excluded_kernels: every exclusion the round's build honours.
        trade_bound: the round's bound on the cycles its trades lose (None: no trade tried).
    """

    step: int
    model_budget: MemoryBudget
    model_flash_bytes: int
    model_ram_bytes: int
    fit: LinkedFit
    flash_excess: int
    ram_excess: int
    trades: tuple[CodeTrade, ...] = ()
    excluded_kernels: frozenset = frozenset()
    trade_bound: TradeBound | None = None

    @property
    def fits(self) -> bool:
        return self.flash_excess == 0 and self.ram_excess == 0

    def __str__(self) -> str:
        def over(excess: int) -> str:
            return "fits" if excess == 0 else f"{excess:,} B over"

        return (f"step {self.step}: memory model under flash {self.model_budget.flash_bytes:,} B"
                f" / RAM {self.model_budget.ram_bytes:,} B -> model {self.model_flash_bytes:,} B"
                f" / {self.model_ram_bytes:,} B; linked image {self.fit.flash_bytes:,} B "
                f"({over(self.flash_excess)}), RAM {self.fit.ram_bytes:,} B = arena "
                f"{self.fit.arena_bytes:,} + static {self.fit.static_ram_bytes:,} + stack "
                f"{self.fit.stack_bytes:,} + io {self.fit.io_bytes:,} ({over(self.ram_excess)})"
                + "".join(f"; {t}" for t in self.trades)
                + (f"; {self.trade_bound}" if self.trade_bound and self.trade_bound.skipped
                   else ""))

    def to_json(self) -> dict:
        return {"step": self.step, "model_budget": {"flash_bytes": self.model_budget.flash_bytes,
                                                    "ram_bytes": self.model_budget.ram_bytes},
                "model_flash_bytes": self.model_flash_bytes,
                "model_ram_bytes": self.model_ram_bytes, "fit": self.fit.to_json(),
                "flash_excess": self.flash_excess, "ram_excess": self.ram_excess,
                "trades": [t.to_json() for t in self.trades],
                "excluded_kernels": sorted(self.excluded_kernels),
                "trade_bound": self.trade_bound and self.trade_bound.to_json()}


@dataclass(frozen=True)
class ClosedAllocation:
    """An allocation whose linked build fits, and how the loop got there.

    Attributes:
        allocation: the bits.
        budget: the real budget (flash, RAM) the linked figures were held to.
        target: the platform name.
        steps: every round, the last one fitting.
    """

    allocation: BitAllocation
    budget: MemoryBudget
    target: str
    steps: tuple[FitStep, ...]

    @property
    def fit(self) -> LinkedFit:
        """The linked figures of :attr:`allocation`."""
        return self.steps[-1].fit

    @property
    def excluded_kernels(self) -> frozenset:
        """The kernel variants the fitting build gave up (``function/variant``)."""
        return self.steps[-1].excluded_kernels

    def platform_for(self, platform: Platform) -> Platform:
        """``platform`` with :attr:`excluded_kernels`: deploy the trained model with it, so it
        links as the closing loop measured."""
        return replace(platform, excluded_kernels=self.excluded_kernels)


def close_allocation(allocate: Callable[[MemoryBudget], tuple[BitAllocation, int, int]],
                     build_graph: Callable, platform: Platform, budget: MemoryBudget, *,
                     out_dir=None, max_steps: int = MAX_STEPS, on_step=None,
                     start: MemoryBudget | None = None, trade: bool = True,
                     max_cycles_lost: float = MAX_CYCLES_LOST) -> ClosedAllocation:
    """Allocate under the memory model, build, and tighten until the linked build fits.

    Args:
        allocate: ``budget -> (allocation, model flash bytes, model RAM bytes)``; raises
            :class:`mixq.search.memory_driven.BudgetError` (a MixqError) when it cannot.
        build_graph: ``allocation -> ir.Graph`` (the integer graph to build; weights' values do
            not change the sizes).
        platform: the target (toolchain, kernel set).
        budget: the real flash and RAM budget the linked figures must meet.
        out_dir: build folder (``step<k>/`` per round); default a temporary folder.
        max_steps: bound on the rounds.
        on_step: called with each :class:`FitStep` as it is measured (progress).
        start: the model budget of the first round (default ``budget``; e.g. the budget less a
            reserve for the code, so that the first round usually fits).
        trade: trade kernel code for cycles before tightening the weights
            (:func:`mixq.deploy.code_trade.trade_code`); False: cycles-only kernel choice.
        max_cycles_lost: a round's trades lose at most this fraction of the model's estimated
            instructions (then the weights shrink).

    Returns:
        The :class:`ClosedAllocation` of the first allocation whose build fits.

    Raises:
        FitError: the allocator cannot meet a tightened budget, or ``max_steps`` rounds did not
            fit; the message gives the last step's figures.
    """
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="mixq-fit-") as tmp:
            return close_allocation(allocate, build_graph, platform, budget, out_dir=tmp,
                                    max_steps=max_steps, on_step=on_step, start=start,
                                    trade=trade, max_cycles_lost=max_cycles_lost)
    model_budget, steps = start or budget, []
    for k in range(1, max_steps + 1):
        try:
            alloc, model_flash, model_ram = allocate(model_budget)
        except MixqError as e:
            last = f"; last: {steps[-1]}" if steps else ""
            raise FitError(f"no allocation fits {platform.name} under flash "
                           f"{budget.flash_bytes:,} B / RAM {budget.ram_bytes:,} B once linked: "
                           f"{e}{last}") from None
        graph, step_dir = build_graph(alloc), Path(out_dir) / f"step{k}"
        fit, used, trades, bound = link_fit(graph, step_dir, platform), platform, (), None
        flash_over, ram_over = fit.excess(budget.flash_bytes, budget.ram_bytes)
        if trade and (flash_over or ram_over):  # code pays flash, scratch pays RAM
            used, fit, trades, bound = trade_code(graph, platform, fit, budget.flash_bytes,
                                                  budget.ram_bytes, step_dir, step_dir / "trades",
                                                  max_cycles_lost)
        flash_excess, ram_excess = fit.excess(budget.flash_bytes, budget.ram_bytes)
        step = FitStep(k, model_budget, model_flash, model_ram, fit, flash_excess, ram_excess,
                       trades, used.excluded_kernels, bound)
        steps.append(step)
        if on_step is not None:
            on_step(step)
        if step.fits:
            return ClosedAllocation(alloc, budget, platform.name, tuple(steps))
        # Lower the model budget below the allocation's own figure by what the build measured.
        flash = min(model_budget.flash_bytes, model_flash - flash_excess) if flash_excess \
            else model_budget.flash_bytes
        ram = min(model_budget.ram_bytes, model_ram - ram_excess) if ram_excess \
            else model_budget.ram_bytes
        if flash <= 0 or ram <= 0:
            raise FitError(f"no allocation fits {platform.name} under flash "
                           f"{budget.flash_bytes:,} B / RAM {budget.ram_bytes:,} B once linked: "
                           f"the code, stack and buffers alone exceed it; last: {step}")
        model_budget = MemoryBudget(flash, ram)
    raise FitError(f"the linked build did not fit {platform.name} after {max_steps} steps; "
                   f"last: {steps[-1]}")


__all__ = ["ClosedAllocation", "FitError", "FitStep", "MAX_STEPS", "close_allocation"]
