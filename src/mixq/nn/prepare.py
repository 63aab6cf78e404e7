"""``prepare(model, bits)``: a float model (standard PyTorch layers and/or :mod:`mixq.nn.layers`
blocks) becomes a QAT model driven by one :class:`~mixq.quant.spec.BitAllocation`.

:func:`mixq.nn.capture.capture` (torch.fx, capture only) turns the model into a graph of mixq
blocks; the QAT model runs that graph with quantized blocks in place of the float ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn

from mixq.errors import MixqError
from mixq.nn.capture import WEIGHT_BLOCKS, capture, layer_kind, weight_layer_names
from mixq.nn.capture_norm import check_input_range
from mixq.nn.layers import Concat, ConvBNReLU, GlobalAvgPool, Pool2d, ResidualAdd
from mixq.nn.modes import eval_mode
from mixq.nn.modules import (
    Codes,
    QuantAdd,
    QuantAvgPool,
    QuantConv,
    QuantFlatten,
    QuantLinear,
    _ScaleFollower,
)
from mixq.nn.modules_dataflow import QuantConcat, QuantPool2d
from mixq.nn.quantizers import InputQuantizer
from mixq.quant.spec import BitAllocation

def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def _consumer_in_bits(node: fx.Node, gm: fx.GraphModule, allocation: BitAllocation) -> int:
    """Input bits the first downstream weight layer expects (8 if none)."""
    frontier = list(node.users)
    while frontier:
        user = frontier.pop(0)
        if user.op == "call_module" and isinstance(gm.get_submodule(user.target), WEIGHT_BLOCKS):
            return allocation[user.target].in_bits
        frontier.extend(user.users)
    return 8


@dataclass
class Step:
    """One executed block in the integer-exact path (used by ``ir.capture``)."""

    name: str  # module name (the layer name of the allocation)
    key: str  # fx node name (the tensor it produces)
    module: nn.Module
    inputs: tuple[str, ...]
    input_codes: tuple[Codes, ...]
    output: Codes


class QuantModel(nn.Module):
    """A QAT model: fake-quantized float forward, plus an integer-exact evaluation mode.

    Attributes:
        allocation: the BitAllocation that drives it.
        integer_mode: when True, ``forward`` runs the integer-exact path and returns dequantized
            logits (``codes * scale``), bit-identical in codes to the deployed graph.
    """

    def __init__(self, gm: fx.GraphModule, allocation: BitAllocation, input_shape=None):
        super().__init__()
        self.input_quant = InputQuantizer()
        self.gm = gm
        self.allocation = allocation
        self.input_shape = input_shape
        self.integer_mode = False

    def forward(self, x):
        if self.integer_mode:
            out = self.integer_forward(x)
            return (out.codes * out.scale).float()
        return self.gm(self.input_quant(x))

    def producer_quantizer(self, node: fx.Node):
        """The activation quantizer whose codes reach ``node`` (through pools and flattens)."""
        while node.op == "call_module":
            m = self.gm.get_submodule(node.target)
            if isinstance(m, (QuantConv, QuantLinear, QuantAdd, QuantConcat)):
                return m.act
            node = node.args[0]
        return self.input_quant

    @torch.no_grad()
    def integer_steps(self, x: torch.Tensor) -> tuple[list[Step], Codes]:
        """Run the integer-exact path on float input ``x`` (N, C, H, W) in [0, 1].

        Returns the executed steps and the output codes.
        """
        env: dict[str, Codes] = {}
        steps: list[Step] = []
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                env[node.name] = Codes(self.input_quant.codes(x).double(), self.input_quant.scale,
                                       8, False)
            elif node.op == "call_module":
                module = self.gm.get_submodule(node.target)
                names = tuple(a.name for a in node.args)
                ins = tuple(env[n] for n in names)
                env[node.name] = module.integer_forward(*ins)
                steps.append(Step(node.target, node.name, module, names, ins, env[node.name]))
            elif node.op == "output":
                return steps, env[node.args[0].name]
        raise MixqError("model graph has no output")

    def integer_forward(self, x: torch.Tensor) -> Codes:
        """Output codes of the integer-exact path."""
        return self.integer_steps(x)[1]

    @property
    def input_tensor_name(self) -> str:
        return next(n.name for n in self.gm.graph.nodes if n.op == "placeholder")


def _quant_module(m: nn.Module, node: fx.Node, gm, allocation: BitAllocation) -> nn.Module:
    if isinstance(m, ConvBNReLU):
        return QuantConv(m, allocation[node.target])
    if isinstance(m, nn.Linear):
        return QuantLinear(m, allocation[node.target])
    if isinstance(m, GlobalAvgPool):
        return QuantAvgPool()
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise MixqError(f"'{node.target}': only nn.Flatten(1, -1) is supported")
        return QuantFlatten()
    if isinstance(m, Pool2d):
        return QuantPool2d(m)
    if isinstance(m, Concat):
        return QuantConcat(_consumer_in_bits(node, gm, allocation))
    if isinstance(m, ResidualAdd):
        return QuantAdd(_consumer_in_bits(node, gm, allocation), m.relu,
                        getattr(m, "clip_max", None))
    raise MixqError(f"unsupported layer '{node.target}' ({type(m).__name__})")


def _example_input(model: nn.Module, example_input, calibration) -> torch.Tensor:
    if example_input is not None:
        return example_input
    if calibration is not None:
        return calibration[:1]
    shape = getattr(model, "input_shape", None)
    if shape is None:
        raise MixqError(f"prepare needs example_input= for {type(model).__name__} (one batch of "
                        "the input it takes, e.g. torch.zeros(1, 3, 32, 32))")
    return torch.zeros((1,) + tuple(shape))


def _allocation(bits, gm: fx.GraphModule) -> BitAllocation:
    layers = [(n, layer_kind(gm.get_submodule(n))) for n in weight_layer_names(gm)]
    if isinstance(bits, BitAllocation):
        names = [n for n, _ in layers]
        if list(bits.names) != names:
            missing = [n for n in names if n not in bits.names]
            extra = [n for n in bits.names if n not in names]
            raise MixqError(f"bit allocation does not match the model's weight layers "
                            f"(missing {missing}, unknown {extra}, model order {names})")
        return bits
    if isinstance(bits, int) and not isinstance(bits, bool):
        return BitAllocation.uniform(layers, bits)
    raise MixqError(f"bits must be a BitAllocation or an int (uniform bits), not {bits!r}")


def prepare(model: nn.Module, bits: BitAllocation | int, *, example_input=None,
            calibration: torch.Tensor | None = None, input_mean=None, input_std=None,
            sizing_only: bool = False) -> QuantModel:
    """Turn a float model into a QAT model with the precisions of ``bits``.

    Args:
        model: float model with standard layers (``nn.Conv2d``, ``nn.BatchNorm2d``, ReLU/ReLU6,
            adds, global pooling, flatten, ``nn.Linear``, see :mod:`mixq.nn.capture`) and/or
            mixq blocks; it is not modified (weights are copied).
        bits: a :class:`BitAllocation` (one LayerBits per weight layer, names = the model's
            module names) or an int: that many bits everywhere (input and logits 8-bit).
        example_input: one input batch the model takes (default: ``calibration[:1]`` or zeros of
            ``model.input_shape``); fixes the shapes of the captured graph.
        calibration: optional float input batch in [0, 1] used to initialise activation ranges
            (PACT alpha, signed scales) from the float model's activations; strongly recommended.
        input_mean, input_std: the normalization the model was trained with (per channel or
            scalars): it is folded into the first layer, and inputs stay in [0, 1].
        sizing_only: the model is built only to be measured (its integer graph's sizes, e.g.
            :func:`mixq.api.allocate_on_target`): no capture self-check and max-abs weight
            scales instead of the MSE search (seconds instead of a minute at MobileNetV1-224
            scale; the sizes are the same, the accuracy is not meant to be).

    Returns:
        A :class:`QuantModel` in fake-quant mode (``integer_mode = False``).

    Raises:
        MixqError: unsupported layers (all listed at once), an allocation that does not match the
            model's layers, inputs outside [0, 1], or inconsistent activation bits between a
            layer and its producer.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
        >>> qat = prepare(net, 4, calibration=torch.rand(8, 1, 8, 8))
        >>> qat(torch.rand(2, 1, 8, 8)).shape, [l.w_bits for l in qat.allocation.layers]
        (torch.Size([2, 3]), [4, 4])
    """
    x = _example_input(model, example_input, calibration)
    for what, t in (("example_input", example_input), ("calibration", calibration)):
        if t is not None:
            check_input_range(t, what)
    gm = capture(model, x, input_mean=input_mean, input_std=input_std, check=not sizing_only)
    allocation = _allocation(bits, gm)
    float_acts = _calibration_activations(gm, calibration) if calibration is not None else {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            _set_submodule(gm, node.target, _quant_module(gm.get_submodule(node.target), node, gm,
                                                          allocation))
    gm.recompile()
    qat = QuantModel(gm, allocation, gm.input_shape)
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        m = gm.get_submodule(node.target)
        if isinstance(m, _ScaleFollower):
            m.link(qat.producer_quantizer(node.args[0]))
        if isinstance(m, QuantConcat):
            m.link([qat.producer_quantizer(a) for a in node.args])
        if isinstance(m, (QuantConv, QuantLinear)):
            src = qat.producer_quantizer(node.args[0])
            if src.bits != m.bits.in_bits:
                raise MixqError(f"layer '{node.target}': in_bits={m.bits.in_bits} but its input "
                                f"is produced at {src.bits} bits; fix the bit allocation")
            if not m.bits.ternary:
                m.wq.init_from(m.effective_weight().detach(), search=not sizing_only)
        if node.target in float_acts and hasattr(m, "act"):
            m.act.calibrate(float_acts[node.target])
    return qat


@torch.no_grad()
def _calibration_activations(gm: fx.GraphModule, x) -> dict[str, torch.Tensor]:
    """Float outputs of each weight layer / add of the captured graph on a calibration batch
    (eval mode)."""
    acts, hooks = {}, []
    for node in gm.graph.nodes:
        if node.op == "call_module":
            m = gm.get_submodule(node.target)
            if isinstance(m, (ConvBNReLU, nn.Linear, ResidualAdd)):
                hooks.append(m.register_forward_hook(
                    lambda mod, inp, out, key=node.target: acts.__setitem__(key, out.detach())))
    try:
        with eval_mode(gm):
            gm(x)
    finally:
        for h in hooks:
            h.remove()
    return acts
