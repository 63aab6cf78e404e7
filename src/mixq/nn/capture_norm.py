"""Input normalization folded into the first layer, and the check of the input range.

mixq's network input is u8 codes of values in [0, 1] (scale 1/255). A model trained on
``(x - mean) / std`` gets the normalization folded into the layers that read the input:
``conv((x - m) / s) = conv'(x) + delta`` with ``W'[o, c] = W[o, c] / s[c]`` and
``delta[o] = -sum_{c, ky, kx} W[o, c, ky, kx] * m[c] / s[c]``, which the BatchNorm (or the conv's
fixed affine) absorbs in its running mean. Exact away from the zero padding; on padded borders the
folded layer sees 0 where the original one saw ``-m/s`` (QAT fine-tunes that away).
"""

from __future__ import annotations

import torch
from torch import fx, nn

from mixq.errors import MixqError
from mixq.nn.layers import ConvBNReLU


def _per_channel(v, channels: int, what: str) -> torch.Tensor:
    t = torch.as_tensor(v if v is not None else (0.0 if what == "input_mean" else 1.0),
                        dtype=torch.float32).flatten()
    if t.numel() == 1:
        t = t.expand(channels)
    if t.numel() != channels:
        raise MixqError(f"{what} has {t.numel()} values but the input has {channels} channels; "
                        "give one value per channel or a scalar")
    return t.clone()


@torch.no_grad()
def fold_input_normalization(gm: fx.GraphModule, mean, std) -> None:
    """Fold ``(x - mean) / std`` into every layer of ``gm`` that reads the graph input, in place.

    Args:
        gm: a captured graph (:func:`mixq.nn.capture.capture`); its input-reading layers must be
            convolutions or linear layers.
        mean, std: per input channel (or scalars); None means 0 / 1.

    Raises:
        MixqError: a std that is not positive, a length that does not match the channels, or a
            non-weight layer reading the input.
    """
    channels = int(gm.input_shape[0])
    m = _per_channel(mean, channels, "input_mean")
    s = _per_channel(std, channels, "input_std")
    if bool((s <= 0).any()):
        raise MixqError("input_std must be positive")
    placeholder = next(n for n in gm.graph.nodes if n.op == "placeholder")
    for user in placeholder.users:
        layer = gm.get_submodule(user.target) if user.op == "call_module" else None
        if isinstance(layer, ConvBNReLU):
            _fold_conv(layer, m, s)
        elif isinstance(layer, nn.Linear) and len(gm.input_shape) == 1:
            delta = -(layer.weight * (m / s)).sum(dim=1)
            layer.weight.div_(s)
            if layer.bias is None:
                raise MixqError("input normalization needs the first nn.Linear to have a bias")
            layer.bias.add_(delta)
        else:
            raise MixqError(f"input normalization can only be folded into a conv or linear layer "
                            f"reading the input, not '{user.target}'; normalize the data instead "
                            "and keep it in [0, 1]")


def _fold_conv(block: ConvBNReLU, m: torch.Tensor, s: torch.Tensor) -> None:
    w = block.conv.weight  # (C_out, C_in / groups, KH, KW)
    if block.conv.groups > 1:
        scale_in = s.reshape(-1, 1, 1, 1)  # depthwise: output channel o reads input channel o
        shift_in = (m / s).reshape(-1, 1, 1, 1)
    else:
        scale_in = s.reshape(1, -1, 1, 1)
        shift_in = (m / s).reshape(1, -1, 1, 1)
    delta = -(w * shift_in).sum(dim=(1, 2, 3))
    w.div_(scale_in)
    block.bn.running_mean.sub_(delta)  # BN(conv' + delta) = BN with mean - delta


def check_input_range(x: torch.Tensor, what: str) -> None:
    """Raise when float network input ``x`` is outside [0, 1] (it would be clipped to u8 codes).

    Example:
        >>> check_input_range(torch.rand(2, 3), "calibration")
        >>> check_input_range(torch.tensor([-0.5, 2.0]), "calibration")
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: calibration values span [-0.5, 2] but mixq's input is u8 codes of [0, 1] (scale 1/255): scale the data to [0, 1] and pass the model's normalization as prepare(..., input_mean=, input_std=)
    """
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise MixqError(f"{what} values span [{lo:.3g}, {hi:.3g}] but mixq's input is u8 codes "
                        "of [0, 1] (scale 1/255): scale the data to [0, 1] and pass the model's "
                        "normalization as prepare(..., input_mean=, input_std=)")
