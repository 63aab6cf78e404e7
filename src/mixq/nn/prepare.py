"""``prepare(model, allocation)``: a float model built from :mod:`mixq.nn.layers` blocks becomes a
QAT model driven by one :class:`~mixq.quant.spec.BitAllocation`.

torch.fx is used only to capture the dataflow (which block feeds which); the QAT model runs the
captured graph with quantized blocks in place of the float ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn

from mixq.errors import MixqError
from mixq.nn.layers import LEAF_FLOAT_BLOCKS, ConvBNReLU, GlobalAvgPool, ResidualAdd
from mixq.nn.modules import (
    Codes,
    QuantAdd,
    QuantAvgPool,
    QuantConv,
    QuantFlatten,
    QuantLinear,
    _ScaleFollower,
)
from mixq.nn.quantizers import InputQuantizer
from mixq.quant.spec import BitAllocation

WEIGHT_BLOCKS = (ConvBNReLU, nn.Linear)


class _LeafTracer(fx.Tracer):
    def is_leaf_module(self, m, qualname):
        return isinstance(m, LEAF_FLOAT_BLOCKS) or super().is_leaf_module(m, qualname)


def trace(model: nn.Module) -> fx.GraphModule:
    """Capture the block-level dataflow of ``model``; reject what mixq cannot quantize."""
    try:
        graph = _LeafTracer().trace(model)
    except Exception as e:  # fx raises many types on dynamic control flow
        raise MixqError(f"cannot trace model {type(model).__name__} ({e}); build it from "
                        "mixq.nn.layers blocks without data-dependent control flow") from None
    gm = fx.GraphModule(model, graph)
    for node in gm.graph.nodes:
        if node.op == "call_module":
            m = gm.get_submodule(node.target)
            if not isinstance(m, LEAF_FLOAT_BLOCKS):
                raise MixqError(f"unsupported layer '{node.target}' ({type(m).__name__}): mixq "
                                "quantizes ConvBNReLU, GlobalAvgPool, ResidualAdd, Linear and "
                                "Flatten; rebuild the model from mixq.nn.layers")
        elif node.op in ("call_function", "call_method"):
            name = getattr(node.target, "__name__", str(node.target))
            raise MixqError(f"unsupported operation '{name}' in model {type(model).__name__}: "
                            "use mixq.nn.layers blocks (ResidualAdd for '+', nn.Flatten)")
    return gm


def weight_layer_names(gm: fx.GraphModule) -> list[str]:
    """Qualified names of the weight layers in execution order."""
    return [n.target for n in gm.graph.nodes
            if n.op == "call_module" and isinstance(gm.get_submodule(n.target), WEIGHT_BLOCKS)]


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
            if isinstance(m, (QuantConv, QuantLinear, QuantAdd)):
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
    if isinstance(m, ResidualAdd):
        return QuantAdd(_consumer_in_bits(node, gm, allocation), m.relu)
    raise MixqError(f"unsupported layer '{node.target}' ({type(m).__name__})")


def prepare(model: nn.Module, allocation: BitAllocation, calibration: torch.Tensor | None = None
            ) -> QuantModel:
    """Turn a float model into a QAT model with the precisions of ``allocation``.

    Args:
        model: float model built from :mod:`mixq.nn.layers` blocks (weights are copied).
        allocation: one LayerBits per weight layer, names = the model's module names.
        calibration: optional float input batch used to initialise activation ranges (PACT
            alpha, signed scales) from the float model's activations; strongly recommended.

    Returns:
        A :class:`QuantModel` in fake-quant mode (``integer_mode = False``).

    Raises:
        MixqError: unsupported layers, an allocation that does not match the model's layers, or
            inconsistent activation bits between a layer and its producer.

    Example:
        >>> from mixq.nn.layers import ConvBNReLU, GlobalAvgPool
        >>> net = nn.Sequential(ConvBNReLU(1, 4), GlobalAvgPool(), nn.Flatten(), nn.Linear(4, 3))
        >>> alloc = BitAllocation.uniform([("0", "conv"), ("3", "fc")], bits=4)
        >>> qat = prepare(net, alloc, calibration=torch.rand(8, 1, 8, 8))
        >>> qat(torch.rand(2, 1, 8, 8)).shape
        torch.Size([2, 3])
    """
    gm = trace(model)
    names = weight_layer_names(gm)
    if list(allocation.names) != names:
        missing = [n for n in names if n not in allocation.names]
        extra = [n for n in allocation.names if n not in names]
        raise MixqError(f"bit allocation does not match the model's weight layers "
                        f"(missing {missing}, unknown {extra}, model order {names})")
    float_acts = _calibration_activations(model, gm, calibration) if calibration is not None else {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            _set_submodule(gm, node.target, _quant_module(gm.get_submodule(node.target), node, gm,
                                                          allocation))
    gm.recompile()
    qat = QuantModel(gm, allocation, getattr(model, "input_shape", None))
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        m = gm.get_submodule(node.target)
        if isinstance(m, _ScaleFollower):
            m.link(qat.producer_quantizer(node.args[0]))
        if isinstance(m, (QuantConv, QuantLinear)):
            src = qat.producer_quantizer(node.args[0])
            if src.bits != m.bits.in_bits:
                raise MixqError(f"layer '{node.target}': in_bits={m.bits.in_bits} but its input "
                                f"is produced at {src.bits} bits; fix the bit allocation")
            if not m.bits.ternary:
                m.wq.init_from(m.effective_weight().detach())
        if node.target in float_acts and hasattr(m, "act"):
            m.act.calibrate(float_acts[node.target])
    return qat


@torch.no_grad()
def _calibration_activations(model, gm, x) -> dict[str, torch.Tensor]:
    """Float outputs of each weight layer / add on a calibration batch (eval mode)."""
    acts, hooks = {}, []
    for node in gm.graph.nodes:
        if node.op == "call_module":
            m = gm.get_submodule(node.target)
            if isinstance(m, (ConvBNReLU, nn.Linear, ResidualAdd)):
                hooks.append(m.register_forward_hook(
                    lambda mod, inp, out, key=node.target: acts.__setitem__(key, out.detach())))
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return acts
