"""Capture a standard PyTorch model as a graph of mixq's float blocks (torch.fx, capture only).

``capture(model, example_input)`` traces ``model`` with torch.fx, runs the example input through
it for shapes, and rewrites the standard layers into the blocks :func:`mixq.nn.prepare` quantizes:

* ``nn.Conv2d`` [+ ``nn.BatchNorm2d``] [+ ReLU / ReLU6 / Hardtanh(0, M) / clamp(0, M)] ->
  :class:`~mixq.nn.layers.ConvBNReLU` (the conv bias is folded; a clip is the PACT ceiling; an
  activation right after a max pool moves before it, as in ``F.relu(F.max_pool2d(conv(x), 2))``);
* ``x + y`` / ``torch.add`` / ``operator.add`` [+ ReLU] -> :class:`~mixq.nn.layers.ResidualAdd`;
* ``nn.AdaptiveAvgPool2d(1)``, a whole-map ``nn.AvgPool2d``, ``x.mean((2, 3))`` ->
  :class:`~mixq.nn.layers.GlobalAvgPool` (+ ``nn.Flatten`` when the axes are dropped);
* ``nn.MaxPool2d`` / ``nn.AvgPool2d`` / ``F.max_pool2d`` / ``F.avg_pool2d`` (any kernel, stride,
  padding; ``ceil_mode`` for max pooling) -> :class:`~mixq.nn.layers.Pool2d`;
* ``torch.cat`` along channels -> :class:`~mixq.nn.layers.Concat`;
* ``flatten`` / ``view`` / ``reshape`` to (N, features) -> ``nn.Flatten`` (the NCHW -> NHWC
  permutation of the next ``nn.Linear``'s weight is done by integerization);
* ``nn.ZeroPad2d`` / ``F.pad`` with zeros before a conv -> that conv's (asymmetric) padding;
* ``nn.Linear`` [+ ``nn.BatchNorm1d``, folded with its running statistics] [+ ReLU] ->
  ``nn.Linear`` / :class:`~mixq.nn.layers.LinearReLU`;
* ``nn.Dropout``, ``nn.Identity``, ``contiguous`` are removed; mixq's own blocks pass through.

Anything else is collected, and one :class:`CaptureError` lists every unsupported node with its
module path and source line before any work is done. The captured graph is the one that layer
shapes, the memory model, every allocator and ``prepare`` read, so no layer is skipped silently.
"""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from mixq.errors import MixqError
from mixq.nn import capture_rules as R
from mixq.nn.capture_norm import fold_input_normalization
from mixq.nn.layers import (LEAF_FLOAT_BLOCKS, Concat, ConvBNReLU, GlobalAvgPool, Pool2d,
                            ResidualAdd)
from mixq.nn.modes import eval_mode
from mixq.quant.kinds import LayerKind

WEIGHT_BLOCKS = (ConvBNReLU, nn.Linear)
_TORCH_DIR = os.path.dirname(torch.__file__)


class CaptureError(MixqError):
    """A model with operations mixq cannot quantize (the message lists all of them)."""


@dataclass(frozen=True)
class Unsupported:
    """One node that cannot be captured: where it is, what it is, and why."""

    path: str  # module path, e.g. 'features.3.conv' or 'layer1.0' for a functional op
    op: str  # e.g. 'nn.GELU', 'torch.sigmoid', 'Tensor.transpose'
    source: str  # 'file.py:42' of the user's code, '' if unknown
    why: str = ""

    def __str__(self):
        where = f" at {self.source}" if self.source else ""
        why = f" ({self.why})" if self.why else ""
        return f"{self.path or '<model>'}: {self.op}{why}{where}"


class _Tracer(fx.Tracer):
    """Standard leaves (torch.nn modules) plus mixq's float blocks; records source lines."""

    def __init__(self):
        super().__init__()
        self.record_stack_traces = True

    def is_leaf_module(self, m, qualname):
        return isinstance(m, LEAF_FLOAT_BLOCKS) or super().is_leaf_module(m, qualname)


def _source(node: fx.Node) -> str:
    """'file.py:line' of the last user frame (outside torch) that created ``node``."""
    lines = (node.stack_trace or "").splitlines()
    for line in reversed(lines):
        text = line.strip()
        if text.startswith('File "'):
            path, _, rest = text[6:].partition('", line ')
            if not path.startswith(_TORCH_DIR):
                return f"{os.path.basename(path)}:{rest.split(',')[0]}"
    return ""


def _owner(node: fx.Node) -> str:
    """Module path of the module whose forward created ``node``."""
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    return next(reversed(stack.values()))[0] if stack else ""


def _op_name(gm: fx.GraphModule, node: fx.Node) -> str:
    """'nn.GELU', 'MyBlock', 'Tensor.transpose', 'torch.sigmoid', 'F.gelu'."""
    m = R.module_of(gm, node)
    if m is not None:
        return ("nn." if type(m).__module__.startswith("torch.nn") else "") + type(m).__name__
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    mod = getattr(node.target, "__module__", None) or "torch"
    mod = {"torch.nn.functional": "F", "_operator": "operator", "torch._C._nn": "F"}.get(
        mod, mod.split(".")[0])
    return f"{mod}.{getattr(node.target, '__name__', node.target)}"


def trace(model: nn.Module) -> fx.GraphModule:
    """torch.fx trace of ``model`` with source lines recorded (standard + mixq leaves)."""
    try:
        graph = _Tracer().trace(model)
    except Exception as e:  # fx raises many types on data-dependent control flow
        raise CaptureError(f"cannot trace model {type(model).__name__} with torch.fx ({e}); "
                           "remove data-dependent control flow from forward()") from None
    return fx.GraphModule(model, graph)


@torch.no_grad()
def _propagate_shapes(gm: fx.GraphModule, example_input: torch.Tensor) -> None:
    with eval_mode(gm):
        try:
            ShapeProp(gm).propagate(example_input)
        except Exception as e:
            raise CaptureError(f"the example input {tuple(example_input.shape)} does not run "
                               f"through the model ({type(e).__name__}: {e}); pass an input of "
                               "the shape the model takes, e.g. torch.zeros(1, C, H, W)") from None


class _Rewriter:
    """Walks the traced graph once, fusing conv/BN/activation chains into mixq blocks."""

    def __init__(self, gm: fx.GraphModule):
        self.gm = gm
        self.graph = fx.Graph()
        self.modules: dict[str, nn.Module] = {}
        self.env: dict[fx.Node, fx.Node] = {}
        self.absorbed: set[fx.Node] = set()
        self.commuted: set[fx.Node] = set()  # activations moved before a max pool
        self.problems: list[Unsupported] = []
        self.taken = {name for name, _ in gm.named_modules()}
        self.pads: dict[fx.Node, tuple[int, int, int, int]] = {}  # a ZeroPad2d before a conv

    def _sole_user(self, node: fx.Node) -> fx.Node | None:
        return next(iter(node.users)) if len(node.users) == 1 else None

    def _absorb_activation(self, node: fx.Node):
        """(ceiling or None, last node) for an activation that is ``node``'s only user, or the
        only user of a max pool that is (``act(maxpool(x)) == maxpool(act(x))``: the activation
        is monotone, so it moves before the pool, onto the layer)."""
        user = self._sole_user(node)
        act = R.activation_of(self.gm, user) if user is not None else None
        if act is None and user is not None and isinstance(
                pool := R.pool2d_of(self.gm, user), Pool2d) and pool.maximum:
            after = self._sole_user(user)
            act = R.activation_of(self.gm, after) if after is not None else None
            if act is not None:
                self.absorbed.add(after)
                self.commuted.add(after)
            return act, node
        if act is None:
            return None, node
        self.absorbed.add(user)
        return act, user

    def _name(self, node: fx.Node, suffix: str = "") -> str:
        owner = _owner(node)
        base = f"{owner}.{node.name}{suffix}" if owner and node.op != "call_module" else (
            f"{node.target}{suffix}" if node.op == "call_module" else f"{node.name}{suffix}")
        name, i = base, 1
        while name in self.modules or (name in self.taken and name != node.target):
            name, i = f"{base}_{i}", i + 1
        return name

    def _emit(self, name: str, module: nn.Module, args, last: fx.Node) -> fx.Node:
        self.modules[name] = module
        new = self.graph.call_module(name, tuple(self.env[a] for a in args))
        self.env[last] = new
        return new

    def problem(self, node: fx.Node, why: str = "") -> None:
        self.problems.append(Unsupported(_owner(node), _op_name(self.gm, node), _source(node), why))
        # a stand-in value, so that the walk goes on and reports every other problem too
        self.env[node] = self.graph.placeholder(f"_unsupported_{node.name}")

    def visit(self, node: fx.Node) -> None:
        gm, m = self.gm, R.module_of(self.gm, node)
        if node.op == "placeholder":
            self.env[node] = self.graph.placeholder(node.name)
        elif node.op == "output":
            out = node.args[0]
            if not isinstance(out, fx.Node):
                self.problem(node, "the model must return one tensor")
            elif out in self.env:
                self.graph.output(self.env[out])
        elif node.op == "get_attr":
            if node.users:
                self.problem(node, "parameters used outside a layer")
        elif node in self.commuted:
            self.env[node] = self.env[node.args[0]]  # its max pool already sees activated values
        elif node in self.absorbed:
            return
        elif isinstance(m, (ConvBNReLU, GlobalAvgPool, ResidualAdd, Pool2d, Concat)):
            self._emit(self._name(node), m, node.args, node)  # mixq's own blocks pass through
        elif isinstance(m, nn.Linear):
            self._linear(node, m)
        elif isinstance(m, nn.Conv2d):
            self._conv(node, m)
        elif R.zero_pad_of(gm, node) is not None:
            user = self._sole_user(node)
            if user is None or not isinstance(R.module_of(gm, user), nn.Conv2d):
                self.problem(node, "zero padding must feed one nn.Conv2d (it becomes its padding)")
                return
            self.pads[user] = R.zero_pad_of(gm, node)
            self.env[node] = self.env[node.args[0]]
        elif R.is_dropped(gm, node):
            self.env[node] = self.env[node.args[0]]
        elif R.is_add(node):
            act, last = self._absorb_activation(node)
            block = ResidualAdd(relu=act is not None, clip_max=None if act in (None, R.RELU)
                                else act)
            self._emit(self._name(node), block, node.args, last)
        elif R.global_pool_of(gm, node) is not None:
            keep = R.global_pool_of(gm, node)
            self._emit(self._name(node), GlobalAvgPool(), node.args[:1], node)
            if not keep:  # (N, C, 1, 1) -> (N, C), as mean((2, 3)) returns
                self._emit(self._name(node, "_flatten"), nn.Flatten(), (node,), node)
        elif R.pool2d_of(gm, node) is not None:
            pool = R.pool2d_of(gm, node)
            if isinstance(pool, str):
                self.problem(node, pool)
            else:
                self._emit(self._name(node), pool, node.args[:1], node)
        elif R.cat_inputs(node) is not None:
            parts = R.cat_inputs(node)
            if isinstance(parts, str):
                self.problem(node, parts)
            else:
                self._emit(self._name(node), Concat(), parts, node)
        elif R.is_flatten(gm, node):
            src = R.shape_of(node.args[0])
            if len(src) == 2:
                self.env[node] = self.env[node.args[0]]  # already (N, features)
            else:
                self._emit(self._name(node), nn.Flatten(), node.args[:1], node)
        elif _is_shape_arithmetic(node):
            return  # shape arithmetic for a view: dead once the view is a flatten
        elif R.activation_of(gm, node) is not None:
            self.problem(node, "an activation must follow a conv, a linear layer or an add")
        else:
            self.problem(node, _why_not(m))

    def _conv(self, node: fx.Node, conv: nn.Conv2d) -> None:
        why = R.conv_problem(conv)
        if why:
            self.problem(node, why)
            return
        bn, last = None, node
        user = self._sole_user(node)
        if user is not None and R.bn_matches(R.module_of(self.gm, user), conv):
            bn, last = R.module_of(self.gm, user), user
            self.absorbed.add(user)
        act, last = self._absorb_activation(last)
        block = R.conv_block(conv, bn, act, self.pads.get(node, (0, 0, 0, 0)))
        self._emit(self._name(node), block, node.args[:1], last)

    def _linear(self, node: fx.Node, linear: nn.Linear) -> None:
        src = R.shape_of(node.args[0])
        if src is not None and len(src) != 2:
            self.problem(node, f"input of shape {src}: flatten to (N, features) first")
            return
        bn, last = None, node
        user = self._sole_user(node)
        if not hasattr(linear, "relu") and user is not None and R.bn1d_matches(
                R.module_of(self.gm, user), linear):
            bn, last = R.module_of(self.gm, user), user
            self.absorbed.add(user)
        act, last = (None, last) if hasattr(linear, "relu") else self._absorb_activation(last)
        self._emit(self._name(node), R.linear_block(linear, act, bn), node.args[:1], last)


def _is_shape_arithmetic(node: fx.Node) -> bool:
    """``x.size(0)``, ``x.shape[0]``: only read by a view/reshape that becomes a flatten."""
    if node.op == "call_method":
        return node.target == "size"
    return node.op == "call_function" and (
        node.target is getattr and node.args[1:2] == ("shape",)
        or node.target is operator.getitem and isinstance(node.args[0], fx.Node)
        and _is_shape_arithmetic(node.args[0]))


def _why_not(m: nn.Module | None) -> str:
    if m is not None and type(m).__module__ == "torch.nn.modules.activation":
        return "an activation mixq cannot quantize; use ReLU, ReLU6, Hardtanh(0, M) or clamp(x, 0, M)"
    if isinstance(m, nn.BatchNorm2d):
        return "a BatchNorm must directly follow a conv (its only user)"
    return "not an op mixq can quantize"


def capture(model: nn.Module, example_input: torch.Tensor, *, input_mean=None, input_std=None,
            check: bool = True) -> fx.GraphModule:
    """Capture ``model`` as an fx graph of mixq float blocks (see the module docstring).

    Args:
        model: a float ``nn.Module`` written with standard layers and/or mixq blocks; it is not
            modified (the blocks of the result hold copies or the same parameters).
        example_input: one input batch (N, C, H, W) or (N, F) the model takes.
        input_mean, input_std: the normalization the model expects, per channel (or scalars):
            ``model((x - mean) / std)`` with ``x`` in [0, 1]. It is folded into the first layer,
            so the captured graph takes ``x`` itself (mixq's u8 input codes, scale 1/255).
        check: compare the captured graph with the model on ``example_input`` (eval mode).

    Returns:
        a ``torch.fx.GraphModule`` whose ``call_module`` nodes are mixq blocks
        (:data:`~mixq.nn.layers.LEAF_FLOAT_BLOCKS`), with ``input_shape`` set to the per-sample
        shape of ``example_input``.

    Raises:
        CaptureError: one message listing every unsupported node (module path, op, source line),
            an untraceable model, or an example input the model does not accept.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(), nn.Linear(8, 4))
        >>> gm = capture(net, torch.rand(1, 3, 16, 16))
        >>> [(n.target, type(gm.get_submodule(n.target)).__name__)
        ...  for n in gm.graph.nodes if n.op == "call_module"]
        [('0', 'ConvBNReLU'), ('3', 'GlobalAvgPool'), ('4', 'Flatten'), ('6', 'Linear')]
        >>> capture(nn.Sequential(nn.Conv2d(3, 8, 3), nn.GELU()), torch.rand(1, 3, 8, 8))
        Traceback (most recent call last):
        ...
        mixq.nn.capture.CaptureError: model Sequential has 1 unsupported operation: 1: nn.GELU (an activation mixq cannot quantize; use ReLU, ReLU6, Hardtanh(0, M) or clamp(x, 0, M))
    """
    if not isinstance(example_input, torch.Tensor):
        raise CaptureError("example_input must be a tensor batch, e.g. torch.zeros(1, C, H, W)")
    gm = trace(model)
    _propagate_shapes(gm, example_input.float())
    rw = _Rewriter(gm)
    for node in gm.graph.nodes:
        rw.visit(node)
    if rw.problems:
        n = len(rw.problems)
        raise CaptureError(f"model {type(model).__name__} has {n} unsupported operation"
                           f"{'s' if n > 1 else ''}: " + "; ".join(map(str, rw.problems)))
    out = fx.GraphModule(rw.modules, rw.graph, class_name=f"Captured{type(model).__name__}")
    out.graph.eliminate_dead_code()
    out.delete_all_unused_submodules()
    out.recompile()
    out.input_shape = tuple(int(v) for v in example_input.shape[1:])
    normalized = input_mean is not None or input_std is not None
    if normalized:
        fold_input_normalization(out, input_mean, input_std)
    if check:
        _check_equal(model, out, example_input.float(), input_mean, input_std)
    return out


@torch.no_grad()
def _check_equal(model, captured, x, mean, std) -> None:
    """The captured graph must compute what the model computes (eval mode)."""
    if mean is not None or std is not None:
        return  # a padded first layer sees 0 where the model saw -mean/std: not comparable
    captured.eval()
    with eval_mode(model):
        want, got = model(x), captured(x)
    if not torch.allclose(want, got, rtol=1e-4, atol=1e-4 * float(want.abs().max()) + 1e-6):
        raise CaptureError(f"captured graph of {type(model).__name__} differs from the model "
                           f"(max |diff| {float((want - got).abs().max()):.3g}); please report "
                           "the model")


def layer_kind(module: nn.Module) -> LayerKind:
    """DW (groups > 1), PW (1x1, groups 1), CONV (other ConvBNReLU) or FC (Linear).

    Example:
        >>> [str(layer_kind(ConvBNReLU(8, 8, 3, groups=8))), str(layer_kind(ConvBNReLU(8, 16, 1)))]
        ['dw', 'pw']
        >>> [str(layer_kind(ConvBNReLU(3, 8, 3))), str(layer_kind(nn.Linear(4, 2)))]
        ['conv', 'fc']
    """
    if isinstance(module, nn.Linear):
        return LayerKind.FC
    if isinstance(module, ConvBNReLU):
        if module.conv.groups > 1:
            return LayerKind.DW
        return LayerKind.PW if module.kernel_size == (1, 1) else LayerKind.CONV
    raise MixqError(f"{type(module).__name__} is not a weight layer mixq knows "
                    "(use nn.Conv2d, ConvBNReLU or nn.Linear)")


def weight_layer_names(gm: fx.GraphModule) -> list[str]:
    """Qualified names of the weight layers of a captured graph, in execution order."""
    return [n.target for n in gm.graph.nodes
            if n.op == "call_module" and isinstance(gm.get_submodule(n.target), WEIGHT_BLOCKS)]
