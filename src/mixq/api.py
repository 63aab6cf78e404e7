"""The public entry points: ``mixq.prepare``, ``mixq.allocate``, ``mixq.integerize``,
``mixq.deploy`` (lazily re-exported by :mod:`mixq`).

A user's model goes through them unchanged::

    qat = mixq.prepare(model, 8, example_input=x[:1], calibration=x)   # or a BitAllocation
    ...                                                                  # a few QAT steps
    graph = mixq.integerize(qat.eval())
    result = mixq.deploy(graph, "out/dep", target="stm32h7", emulate=100)
"""

from __future__ import annotations

import torch
from torch import nn

from mixq.errors import MixqError
from mixq.ir.capture import integerize
from mixq.nn.capture import capture
from mixq.nn.prepare import prepare
from mixq.quant.spec import BitAllocation
from mixq.search.graph_bits import match_graph_bits
from mixq.search.memory import MemoryBudget, layer_shapes
from mixq.search.memory_driven import allocate_bits

__all__ = ["allocate", "integerize", "prepare"]

METHODS = ("memory",)


def allocate(model: nn.Module, *, example_input: torch.Tensor, flash_bytes: int, ram_bytes: int,
             method: str = "memory", granularity: str = "per-channel",
             input_mean=None, input_std=None) -> BitAllocation:
    """Per-layer bits for ``model`` that fit ``flash_bytes`` / ``ram_bytes``.

    The model is captured (:func:`mixq.nn.capture.capture`), every weight layer of the captured
    graph is measured by the memory model, the memory-driven rule of Rusci et al. (MLSys 2020)
    picks the bits, and each layer's input bits are then matched to its real producer in the
    graph (:func:`mixq.search.graph_bits.match_graph_bits`).

    Args:
        model: a float model (standard PyTorch layers and/or mixq blocks).
        example_input: one input batch the model takes.
        flash_bytes, ram_bytes: the budget.
        method: 'memory' (the memory-driven rule).
        granularity: 'per-channel' (MixPC) or 'per-layer' (MixPL).
        input_mean, input_std: as in :func:`mixq.nn.prepare.prepare`.

    Returns:
        a :class:`BitAllocation` that :func:`prepare` takes for this model.

    Raises:
        BudgetError: the budget cannot be met; MixqError: unsupported layers, bad arguments.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(288, 4))
        >>> a = allocate(net, example_input=torch.rand(1, 1, 8, 8), flash_bytes=900,
        ...              ram_bytes=4000)
        >>> [(l.name, l.w_bits) for l in a.layers]
        [('0', 8), ('3', 4)]
    """
    if method not in METHODS:
        raise MixqError(f"method '{method}' is not one of {METHODS}; the sensitivity method "
                        "needs data: use `mixq allocate --method sensitivity`")
    gm = capture(model, example_input, input_mean=input_mean, input_std=input_std, check=False)
    shapes = layer_shapes(gm, tuple(example_input.shape[1:]))
    alloc = allocate_bits(shapes, MemoryBudget(flash_bytes, ram_bytes), granularity)
    return match_graph_bits(gm, alloc)
