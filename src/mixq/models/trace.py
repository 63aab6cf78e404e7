"""Which weight layers a model runs, in execution order, and the tensor shapes they see.

Read from the captured graph (:func:`mixq.nn.capture.capture`), the same one ``prepare``
quantizes: a standard ``nn.Conv2d`` counts like a ConvBNReLU, and an operation mixq cannot
quantize is an error here, never a silently missing layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mixq.errors import MixqError
from mixq.nn.capture import WEIGHT_BLOCKS, capture, layer_kind
from mixq.quant.kinds import LayerKind

__all__ = ["LayerCall", "layer_kind", "model_input_shape", "trace_weight_layers", "weight_layers"]


@dataclass(frozen=True)
class LayerCall:
    """One weight layer as executed on a dummy input.

    Attributes:
        name: qualified module name (``model.named_modules()``), e.g. 'pw3' or 'stack2.conv1'.
        kind: CONV, DW, PW or FC.
        module: the ConvBNReLU or Linear module of the captured graph.
        in_shape: input tensor shape without the batch axis: (C, H, W) or (F,) for a Linear.
        out_shape: output tensor shape without the batch axis.
    """

    name: str
    kind: LayerKind
    module: nn.Module
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


def model_input_shape(model: nn.Module, input_shape=None) -> tuple[int, ...]:
    """The (C, H, W) input shape: ``input_shape`` if given, else ``model.input_shape``."""
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise MixqError(f"{type(model).__name__} has no 'input_shape' attribute; pass input_shape "
                        "(C, H, W) or build the model with mixq.models.get_model")
    return tuple(int(v) for v in shape)


def trace_weight_layers(model: nn.Module, input_shape=None) -> list[LayerCall]:
    """Capture ``model`` and list its weight layers in execution order with their shapes.

    Args:
        model: a float network (standard layers and/or mixq blocks).
        input_shape: (C, H, W) or (F,); defaults to ``model.input_shape``.

    Returns:
        one :class:`LayerCall` per weight layer of the captured graph.

    Raises:
        MixqError: no input shape known, or unsupported operations (all listed).

    Example:
        >>> from mixq.models import get_model
        >>> [(c.name, c.in_shape, c.out_shape) for c in trace_weight_layers(get_model("ds_cnn"))][-2:]
        [('pw4', (64, 25, 5), (64, 25, 5)), ('fc', (64,), (12,))]
    """
    shape = model_input_shape(model, input_shape)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    gm = capture(model, torch.zeros((1, *shape), device=device))
    calls: list[LayerCall] = []

    def hook(name, module, inputs, output):
        calls.append(LayerCall(name, layer_kind(module), module, tuple(inputs[0].shape[1:]),
                               tuple(output.shape[1:])))

    handles = [gm.get_submodule(n.target).register_forward_hook(
        lambda mod, i, o, name=n.target: hook(name, mod, i, o))
        for n in gm.graph.nodes
        if n.op == "call_module" and isinstance(gm.get_submodule(n.target), WEIGHT_BLOCKS)]
    try:
        gm.eval()
        with torch.no_grad():
            gm(torch.zeros((1, *shape), device=device))
    finally:
        for h in handles:
            h.remove()
    return calls


def weight_layers(model: nn.Module, input_shape=None) -> list[tuple[str, str]]:
    """(qualified name, kind) of every ConvBNReLU / Linear in execution order.

    Args:
        model: a network built from mixq's float blocks.
        input_shape: (C, H, W); defaults to ``model.input_shape``.

    Example:
        >>> from mixq.models import get_model
        >>> [(n, str(k)) for n, k in weight_layers(get_model("resnet8"))[3:6]]
        [('stack2.conv1', 'conv'), ('stack2.conv2', 'conv'), ('stack2.shortcut', 'pw')]
    """
    return [(c.name, c.kind) for c in trace_weight_layers(model, input_shape)]
