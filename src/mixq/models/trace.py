"""Which weight layers a model runs, in execution order, and the tensor shapes they see."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mixq.errors import MixqError
from mixq.nn.layers import ConvBNReLU

WEIGHT_MODULES = (ConvBNReLU, nn.Linear)


@dataclass(frozen=True)
class LayerCall:
    """One weight layer as executed on a dummy input.

    Attributes:
        name: qualified module name (``model.named_modules()``), e.g. 'pw3' or 'stack2.conv1'.
        kind: 'conv', 'dw', 'pw' or 'fc'.
        module: the ConvBNReLU or Linear module.
        in_shape: input tensor shape without the batch axis: (C, H, W) or (F,) for a Linear.
        out_shape: output tensor shape without the batch axis.
    """

    name: str
    kind: str
    module: nn.Module
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


def layer_kind(module: nn.Module) -> str:
    """'dw' (groups > 1), 'pw' (1x1, groups 1), 'conv' (other ConvBNReLU) or 'fc' (Linear).

    Example:
        >>> layer_kind(ConvBNReLU(8, 8, 3, groups=8)), layer_kind(ConvBNReLU(8, 16, 1))
        ('dw', 'pw')
        >>> layer_kind(ConvBNReLU(3, 8, 3)), layer_kind(nn.Linear(4, 2))
        ('conv', 'fc')
    """
    if isinstance(module, nn.Linear):
        return "fc"
    if isinstance(module, ConvBNReLU):
        if module.conv.groups > 1:
            return "dw"
        return "pw" if module.kernel_size == (1, 1) else "conv"
    raise MixqError(f"{type(module).__name__} is not a weight layer mixq knows "
                    "(use ConvBNReLU or nn.Linear)")


def model_input_shape(model: nn.Module, input_shape=None) -> tuple[int, ...]:
    """The (C, H, W) input shape: ``input_shape`` if given, else ``model.input_shape``."""
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise MixqError(f"{type(model).__name__} has no 'input_shape' attribute; pass input_shape "
                        "(C, H, W) or build the model with mixq.models.get_model")
    return tuple(int(v) for v in shape)


def trace_weight_layers(model: nn.Module, input_shape=None) -> list[LayerCall]:
    """Run a zero input through ``model`` and list its weight layers in execution order.

    Forward hooks record the order, so a model whose modules are registered in another order
    than they run (e.g. a residual shortcut) is still listed as it executes. The model runs in
    eval mode without gradients; its training flag is restored afterwards.

    Args:
        model: a network built from ConvBNReLU / Linear weight layers.
        input_shape: (C, H, W); defaults to ``model.input_shape``.

    Returns:
        one :class:`LayerCall` per weight layer.

    Raises:
        MixqError: no input shape known, or a weight layer runs twice (shared weights).

    Example:
        >>> from mixq.models import get_model
        >>> [(c.name, c.in_shape, c.out_shape) for c in trace_weight_layers(get_model("ds_cnn"))][-2:]
        [('pw4', (64, 25, 5), (64, 25, 5)), ('fc', (64,), (12,))]
    """
    shape = model_input_shape(model, input_shape)
    names = {id(m): n for n, m in model.named_modules()}
    calls: list[LayerCall] = []
    seen: set[int] = set()

    def hook(module, inputs, output):
        if id(module) in seen:
            raise MixqError(f"layer '{names[id(module)]}' runs twice in one forward pass; "
                            "mixq needs one weight layer per call (no shared weights)")
        seen.add(id(module))
        calls.append(LayerCall(names[id(module)], layer_kind(module), module,
                               tuple(inputs[0].shape[1:]), tuple(output.shape[1:])))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, WEIGHT_MODULES)]
    was_training = model.training
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *shape), device=device))
    finally:
        model.train(was_training)
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
        >>> weight_layers(get_model("resnet8"))[3:6]
        [('stack2.conv1', 'conv'), ('stack2.conv2', 'conv'), ('stack2.shortcut', 'pw')]
    """
    return [(c.name, c.kind) for c in trace_weight_layers(model, input_shape)]
