"""Which fx nodes of a standard PyTorch model mixq understands, and the float blocks they become.

Each ``is_*`` / ``*_of`` function reads one fx node of a traced model (with ``tensor_meta`` from
shape propagation) and answers what it is; :mod:`mixq.nn.capture` strings them together. Nothing
here changes the model.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

from mixq.nn.layers import ConvBNReLU, FixedAffine, LinearReLU, Pool2d

ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
DROP_MODULES = (nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout, nn.Identity)
DROP_FUNCTIONS = (F.dropout, F.dropout2d, torch.dropout)
DROP_METHODS = ("contiguous",)
RELU = "relu"  # an activation without a ceiling
CAT_FUNCTIONS = (torch.cat, torch.concat, torch.concatenate)


def module_of(gm: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    """The submodule a ``call_module`` node runs, else None."""
    return gm.get_submodule(node.target) if node.op == "call_module" else None


def shape_of(node: fx.Node) -> tuple[int, ...] | None:
    """Shape of the tensor a node produced on the example input (None: not a tensor)."""
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _arg(node: fx.Node, index: int, name: str, default=None):
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _is_zero(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def activation_of(gm: fx.GraphModule, node: fx.Node):
    """The ReLU ceiling of an activation node: :data:`RELU` (no ceiling), a float (ReLU6 = 6.0,
    Hardtanh(0, M), clamp(x, 0, M)), or None when the node is not a ReLU-like activation."""
    m = module_of(gm, node)
    if m is not None:
        if type(m) is nn.ReLU:
            return RELU
        if isinstance(m, nn.Hardtanh) and m.min_val == 0 and m.max_val > 0:  # ReLU6 included
            return float(m.max_val)
        return None
    target = node.target
    if node.op == "call_function" and target in (F.relu, torch.relu, torch.relu_):
        return RELU
    if node.op == "call_method" and target in ("relu", "relu_"):
        return RELU
    if node.op == "call_function" and target is F.relu6:
        return 6.0
    if node.op == "call_function" and target is F.hardtanh:
        lo, hi = _arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0)
        return float(hi) if _is_zero(lo) and _positive(hi) else None
    clamp = (node.op == "call_function" and target in (torch.clamp, torch.clip)) or (
        node.op == "call_method" and target in ("clamp", "clip", "clamp_", "clip_"))
    if clamp:
        lo, hi = _arg(node, 1, "min"), _arg(node, 2, "max")
        if not _is_zero(lo):
            return None
        if hi is None:
            return RELU
        return float(hi) if _positive(hi) else None
    return None


def is_add(node: fx.Node) -> bool:
    """Tensor + tensor: ``x + y``, ``x += y``, ``torch.add(x, y)``, ``x.add(y)`` (no ``alpha``)."""
    two_tensors = (len(node.args) == 2 and all(isinstance(a, fx.Node) for a in node.args)
                   and "alpha" not in node.kwargs)
    if node.op == "call_function" and node.target in ADD_FUNCTIONS:
        return two_tensors
    return node.op == "call_method" and node.target in ("add", "add_") and two_tensors


def is_dropped(gm: fx.GraphModule, node: fx.Node) -> bool:
    """Dropout / Identity / ``contiguous``: removed at capture (identity in eval)."""
    m = module_of(gm, node)
    if m is not None:
        return isinstance(m, DROP_MODULES)
    if node.op == "call_function":
        return node.target in DROP_FUNCTIONS
    return node.op == "call_method" and node.target in DROP_METHODS


def global_pool_of(gm: fx.GraphModule, node: fx.Node) -> bool | None:
    """For a global average pool: whether the spatial axes are kept (N, C, 1, 1) (True) or dropped
    (N, C) (False); None when the node is not one."""
    m = module_of(gm, node)
    in_shape = shape_of(node.args[0]) if node.args and isinstance(node.args[0], fx.Node) else None
    if in_shape is None or len(in_shape) != 4:
        return None
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return True if m.output_size in (1, (1, 1), [1, 1]) else None
    if isinstance(m, nn.AvgPool2d):
        k = nn.modules.utils._pair(m.kernel_size)
        whole = tuple(k) == in_shape[2:] and nn.modules.utils._pair(m.padding) == (0, 0)
        return True if whole else None
    if node.op == "call_function" and node.target is F.adaptive_avg_pool2d:
        return True if _arg(node, 1, "output_size") in (1, (1, 1), [1, 1]) else None
    if (node.op == "call_method" and node.target == "mean") or (
            node.op == "call_function" and node.target is torch.mean):
        dims = _arg(node, 1, "dim")
        dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
        if sorted(d % 4 for d in dims) == [2, 3]:
            return bool(_arg(node, 2, "keepdim", False))
    return None


def is_flatten(gm: fx.GraphModule, node: fx.Node) -> bool:
    """A reshape of (N, ...) to (N, features): ``nn.Flatten()``, ``torch.flatten(x, 1)``,
    ``x.flatten(1)``, ``x.view(n, -1)``, ``x.reshape(n, -1)``, ``x.squeeze()`` of (N, C, 1, 1)."""
    m = module_of(gm, node)
    if m is not None and not isinstance(m, nn.Flatten):
        return False
    known = m is not None or (node.op == "call_function" and node.target in (
        torch.flatten, torch.reshape, torch.squeeze)) or (node.op == "call_method" and node.target in (
            "flatten", "view", "reshape", "squeeze"))
    if not known or not node.args or not isinstance(node.args[0], fx.Node):
        return False
    src, out = shape_of(node.args[0]), shape_of(node)
    return (src is not None and out is not None and len(out) == 2 and src[0] == out[0]
            and out[1] == torch.Size(src[1:]).numel())


def conv_problem(conv: nn.Conv2d) -> str | None:
    """Why a ``nn.Conv2d`` cannot be captured, or None."""
    if nn.modules.utils._pair(conv.dilation) != (1, 1):
        return "dilation != 1"
    if conv.padding_mode != "zeros":
        return f"padding_mode '{conv.padding_mode}' (only zero padding)"
    if conv.groups not in (1, conv.in_channels) or (
            conv.groups > 1 and conv.out_channels != conv.in_channels):
        return "grouped conv other than depthwise (groups == in == out channels)"
    return None


def zero_pad_of(gm: fx.GraphModule, node: fx.Node) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of a zero padding (``nn.ZeroPad2d``, ``nn.ConstantPad2d(p, 0)``,
    ``F.pad(x, (l, r, t, b))``), else None."""
    m = module_of(gm, node)
    if isinstance(m, (nn.ZeroPad2d, nn.ConstantPad2d)) and m.value == 0:
        l, r, t, b = m.padding
    elif node.op == "call_function" and node.target is F.pad and _arg(node, 2, "mode",
                                                                     "constant") == "constant":
        pad = _arg(node, 1, "pad")
        if not _is_zero(_arg(node, 3, "value", 0) or 0) or len(pad) != 4:
            return None
        l, r, t, b = pad
    else:
        return None
    return (t, b, l, r) if min(t, b, l, r) >= 0 else None


def explicit_padding(conv: nn.Conv2d) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) zero padding of ``conv`` (PyTorch's 'same' puts the odd pixel
    after, like TensorFlow)."""
    if conv.padding == "valid":
        return 0, 0, 0, 0
    if conv.padding == "same":  # stride 1 only (PyTorch's rule)
        kh, kw = conv.kernel_size
        return (kh - 1) // 2, kh - 1 - (kh - 1) // 2, (kw - 1) // 2, kw - 1 - (kw - 1) // 2
    ph, pw = conv.padding
    return ph, ph, pw, pw


def conv_block(conv: nn.Conv2d, bn: nn.BatchNorm2d | None, act, extra_pad) -> ConvBNReLU:
    """A :class:`ConvBNReLU` computing ``act(bn(conv(pad(x))))`` (eval mode) with copied
    parameters; ``extra_pad`` (top, bottom, left, right) comes from a zero padding before it.

    The conv bias is folded into the BatchNorm's running mean (exact: BN(conv + b) subtracts the
    mean); without a BatchNorm it becomes a :class:`FixedAffine`.
    """
    block = ConvBNReLU(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                       conv.groups, relu=act is not None,
                       padding=tuple(a + b for a, b in zip(explicit_padding(conv), extra_pad)),
                       clip_max=None if act in (None, RELU) else act)
    with torch.no_grad():
        block.conv.weight.copy_(conv.weight)
        bias = conv.bias.detach().clone() if conv.bias is not None else torch.zeros(
            conv.out_channels)
        if bn is None:
            block.bn = FixedAffine(bias)
        else:
            block.bn = nn.BatchNorm2d(bn.num_features, bn.eps, bn.momentum)
            block.bn.load_state_dict(bn.state_dict())
            block.bn.running_mean.sub_(bias)
    return block


def linear_block(linear: nn.Linear, act, bn: nn.BatchNorm1d | None = None) -> nn.Linear:
    """``linear`` itself (no activation, no BatchNorm), or a copy (:class:`LinearReLU` after an
    activation) with ``bn`` folded in from its running statistics (the MLPerf Tiny autoencoder's
    Dense + BatchNorm: ``W' = W g / sigma``, ``b' = (b - mu) g / sigma + beta``)."""
    if act is None and bn is None:
        return linear
    if act is None:
        block = nn.Linear(linear.in_features, linear.out_features)
    else:
        block = LinearReLU(linear.in_features, linear.out_features,
                           clip_max=None if act == RELU else act)
    with torch.no_grad():
        w = linear.weight.detach().clone()
        b = linear.bias.detach().clone() if linear.bias is not None else torch.zeros(len(w))
        if bn is not None:
            gain = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            w, b = w * gain[:, None], (b - bn.running_mean) * gain + bn.bias
        block.weight.copy_(w)
        block.bias.copy_(b)
    return block


def bn1d_matches(bn: nn.Module, linear: nn.Linear) -> bool:
    """A BatchNorm1d that can fold into ``linear`` (affine, running statistics, same features)."""
    return (type(bn) is nn.BatchNorm1d and bn.num_features == linear.out_features and bn.affine
            and bn.track_running_stats)


def bn_matches(bn: nn.Module, conv: nn.Conv2d) -> bool:
    """A BatchNorm2d that can fold into ``conv``: affine, running statistics, same channels."""
    return (type(bn) is nn.BatchNorm2d and bn.num_features == conv.out_channels and bn.affine
            and bn.track_running_stats)


def cat_inputs(node: fx.Node):
    """The input nodes of a ``torch.cat`` along channels (dim 1 of (N, C, H, W) or (N, F)),
    a string saying why a ``torch.cat`` cannot be captured, or None for other nodes."""
    if node.op != "call_function" or node.target not in CAT_FUNCTIONS:
        return None
    parts, dim = _arg(node, 0, "tensors"), _arg(node, 1, "dim", 0)
    shape = shape_of(node)
    if not isinstance(parts, (list, tuple)) or not all(isinstance(p, fx.Node) for p in parts):
        return "torch.cat of a list of tensors"
    if shape is None or len(shape) not in (2, 4) or not isinstance(dim, int) or dim % len(
            shape) != 1:
        return "only a concat along channels (dim=1) is an integer op"
    return list(parts)


def _pool_args(node: fx.Node, m: nn.Module | None, maximum: bool):
    """(kernel, stride, padding, ceil_mode, count_include_pad, problem) of a pooling node."""
    if m is not None:
        k, s, p, ceil = m.kernel_size, m.stride, m.padding, m.ceil_mode
        cip = getattr(m, "count_include_pad", True)
        problem = (maximum and (nn.modules.utils._pair(m.dilation) != (1, 1) or m.return_indices)
                   or not maximum and m.divisor_override is not None)
    else:
        k, s, p = _arg(node, 1, "kernel_size"), _arg(node, 2, "stride"), _arg(node, 3, "padding", 0)
        if maximum:
            ceil, cip = _arg(node, 5, "ceil_mode", False), True
            problem = (nn.modules.utils._pair(_arg(node, 4, "dilation", 1)) != (1, 1)
                       or _arg(node, 6, "return_indices", False))
        else:
            ceil, cip = _arg(node, 4, "ceil_mode", False), _arg(node, 5, "count_include_pad", True)
            problem = _arg(node, 6, "divisor_override") is not None
    k = nn.modules.utils._pair(k)
    s = nn.modules.utils._pair(s) if s not in (None, (), []) else k
    why = "dilation, return_indices or divisor_override" if problem else None
    return k, s, nn.modules.utils._pair(p), bool(ceil), bool(cip), why


def pool2d_of(gm: fx.GraphModule, node: fx.Node):
    """A :class:`Pool2d` for a windowed ``nn.MaxPool2d`` / ``nn.AvgPool2d`` / ``F.max_pool2d`` /
    ``F.avg_pool2d`` node, a string saying why it cannot be captured, or None for other nodes.

    ``ceil_mode`` max pooling becomes extra bottom/right padding (padding never wins there)."""
    m = module_of(gm, node)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        maximum = isinstance(m, nn.MaxPool2d)
    elif node.op == "call_function" and node.target in (F.max_pool2d, F.avg_pool2d):
        maximum, m = node.target is F.max_pool2d, None
    else:
        return None
    in_shape = shape_of(node.args[0]) if node.args and isinstance(node.args[0], fx.Node) else None
    if in_shape is None or len(in_shape) != 4:
        return "pooling of a (N, C, H, W) tensor"
    k, s, p, ceil, cip, why = _pool_args(node, m, maximum)
    if why:
        return f"{why} not supported"
    pads = [p[0], p[0], p[1], p[1]]
    if ceil:
        if not maximum:
            return "ceil_mode average pooling is not an integer op; use ceil_mode=False"
        out_shape = shape_of(node)
        for axis in (0, 1):  # the bottom / right padding that gives PyTorch's ceil_mode size
            size, out = in_shape[2 + axis], out_shape[2 + axis]
            pads[2 * axis + 1] = max(p[axis], (out - 1) * s[axis] + k[axis] - size - p[axis])
    if max(pads[:2]) >= k[0] or max(pads[2:]) >= k[1]:
        return f"padding {tuple(pads)} must stay below the kernel size {k}"
    return Pool2d(k, s, tuple(pads), maximum, cip)
