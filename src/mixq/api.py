"""The public entry points: ``mixq.prepare``, ``mixq.allocate``, ``mixq.integerize``,
``mixq.deploy`` (lazily re-exported by :mod:`mixq`).

A user's model goes through them unchanged::

    qat = mixq.prepare(model, 8, example_input=x[:1], calibration=x)   # or a BitAllocation
    ...                                                                  # a few QAT steps
    graph = mixq.integerize(qat.eval())
    result = mixq.deploy(graph, "out/dep", target="stm32h7", emulate=100)
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from mixq.deploy.fit_loop import ClosedAllocation, close_allocation
from mixq.errors import MixqError
from mixq.ir.capture import integerize
from mixq.nn.capture import capture
from mixq.nn.prepare import prepare
from mixq.quant.spec import BitAllocation
from mixq.search.graph_bits import match_graph_bits
from mixq.platform.spec import Platform, get_platform
from mixq.search.memory import MemoryBudget, layer_shapes, with_model_figures
from mixq.search.memory_driven import allocate_bits

__all__ = ["allocate", "allocate_on_target", "close_on_target", "integerize", "prepare"]

METHODS = ("memory",)


def allocate(model: nn.Module, *, example_input: torch.Tensor, flash_bytes: int, ram_bytes: int,
             method: str = "memory", granularity: str = "per-channel",
             input_mean=None, input_std=None, target: str | None = None) -> BitAllocation:
    """Per-layer bits for ``model`` that fit ``flash_bytes`` / ``ram_bytes``.

    The model is captured (:func:`mixq.nn.capture.capture`), every weight layer of the captured
    graph is measured by the memory model, the memory-driven rule of Rusci et al. (MLSys 2020)
    picks the bits, and each layer's input bits are then matched to its real producer in the
    graph (:func:`mixq.search.graph_bits.match_graph_bits`).

    Without ``target`` the budget is met by the paper's memory model only (what reproduces the
    paper's tables). With ``target`` the allocation is closed on that platform's linked build
    (:func:`allocate_on_target`: the image and the arena + static RAM + stack + io buffers fit)
    and carries the kernel variants the closing loop gave up for flash
    (``BitAllocation.excluded_kernels``: deploy with them, ``mixq.deploy(...,
    excluded_kernels=a.excluded_kernels)``, to link the image it measured).

    Args:
        model: a float model (standard PyTorch layers and/or mixq blocks).
        example_input: one input batch the model takes.
        flash_bytes, ram_bytes: the budget.
        method: 'memory' (the memory-driven rule).
        granularity: 'per-channel' (MixPC) or 'per-layer' (MixPL).
        input_mean, input_std: as in :func:`mixq.nn.prepare.prepare`.
        target: a platform name or ``.toml`` file: close the allocation on its linked build.

    Returns:
        a :class:`BitAllocation` that :func:`prepare` takes for this model.

    Raises:
        BudgetError: the budget cannot be met (FitError: not once linked for ``target``);
        MixqError: unsupported layers, bad arguments.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(288, 4))
        >>> a = allocate(net, example_input=torch.rand(1, 1, 8, 8), flash_bytes=900,
        ...              ram_bytes=4000)
        >>> [(l.name, l.w_bits) for l in a.layers]
        [('0', 8), ('3', 4)]
    """
    if target is not None:
        closed = allocate_on_target(model, example_input=example_input, flash_bytes=flash_bytes,
                                    ram_bytes=ram_bytes, target=target, method=method,
                                    granularity=granularity, input_mean=input_mean,
                                    input_std=input_std)
        return replace(closed.allocation, excluded_kernels=closed.excluded_kernels)
    return _memory_allocator(model, example_input, method, granularity, input_mean,
                             input_std)(MemoryBudget(flash_bytes, ram_bytes))[0]


def _memory_allocator(model, example_input, method, granularity, input_mean, input_std):
    """``budget -> (allocation, model flash bytes, model RAM bytes)`` for ``model``, captured
    once."""
    if method not in METHODS:
        raise MixqError(f"method '{method}' is not one of {METHODS}; the sensitivity method "
                        "needs data: use `mixq allocate --method sensitivity`")
    gm = capture(model, example_input, input_mean=input_mean, input_std=input_std, check=False)
    shapes = layer_shapes(gm, tuple(example_input.shape[1:]))
    return with_model_figures(
        lambda budget: match_graph_bits(gm, allocate_bits(shapes, budget, granularity)), shapes)


def close_on_target(allocate_under, model: nn.Module, example_input: torch.Tensor,
                    platform: Platform, budget: MemoryBudget, *, name: str = "allocation",
                    input_mean=None, input_std=None, start: MemoryBudget | None = None,
                    out_dir=None, on_step=None) -> ClosedAllocation:
    """``allocate_under``'s allocation closed on ``platform``'s linked build.

    Each round allocates under the memory model, builds the integer graph of that allocation
    for the target (:func:`mixq.nn.prepare.prepare` with ``sizing_only`` + :func:`integerize`,
    then C and the ELF; no training, no emulation: the sizes do not depend on the weights'
    values), trades kernel code for cycles when the image is over, and tightens the model's
    budget by what is left of the excess (:func:`mixq.deploy.fit_loop.close_allocation`).
    The one closing step of :func:`allocate_on_target` and of ``mixq study``.

    Args:
        allocate_under: ``budget -> (allocation, model flash bytes, model RAM bytes)``
            (:func:`mixq.search.memory.with_model_figures`).
        model, example_input, input_mean, input_std: as in :func:`prepare` (not modified).
        platform: the target.
        budget: the real flash and RAM budget.
        name: the integer graphs' name.
        start, out_dir, on_step: as in :func:`mixq.deploy.fit_loop.close_allocation`.
    """
    def build_graph(alloc: BitAllocation):
        qat = prepare(model, alloc, example_input=example_input, input_mean=input_mean,
                      input_std=input_std, sizing_only=True)
        return integerize(qat.eval(), name=name)

    return close_allocation(allocate_under, build_graph, platform, budget, out_dir=out_dir,
                            on_step=on_step, start=start)


def allocate_on_target(model: nn.Module, *, example_input: torch.Tensor, flash_bytes: int,
                       ram_bytes: int, target, method: str = "memory",
                       granularity: str = "per-channel", input_mean=None, input_std=None,
                       out_dir=None, on_step=None) -> ClosedAllocation:
    """The allocation of :func:`allocate`, closed on ``target``'s linked build.

    The memory-driven allocator of :func:`allocate`, closed by :func:`close_on_target`.

    Args:
        model, example_input, flash_bytes, ram_bytes, method, granularity, input_mean,
            input_std: as in :func:`allocate`.
        target: platform name, ``.toml`` file or :class:`mixq.platform.Platform`.
        out_dir: where the builds go (``step<k>/``); default a temporary folder.
        on_step: called with each :class:`mixq.deploy.fit_loop.FitStep` (progress).

    Returns:
        a :class:`ClosedAllocation`: ``allocation``, the ``steps`` and the final linked ``fit``
        (deploy with ``closed.platform_for(platform)``: the kernel variants it gave up).

    Raises:
        FitError: no allocation fits once linked; MixqError: as :func:`allocate`.
    """
    platform = target if isinstance(target, Platform) else get_platform(target)
    allocate_under = _memory_allocator(model, example_input, method, granularity, input_mean,
                                       input_std)
    return close_on_target(allocate_under, model, example_input, platform,
                           MemoryBudget(flash_bytes, ram_bytes), input_mean=input_mean,
                           input_std=input_std, out_dir=out_dir, on_step=on_step)
