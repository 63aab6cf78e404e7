"""Memory-driven mixed-precision bit allocation (Rusci et al., MLSys 2020).

Rusci, Capotondi, Benini, "Memory-Driven Mixed Low Precision Quantization for Enabling Deep
Network Inference on Microcontrollers", MLSys 2020, Sec. 4.1: a rule-based procedure that cuts
(halves, 8 -> 4 -> 2) the bits of the most memory-demanding tensors until the network fits.
Activations are cut first against the RAM budget, then weights against the flash budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from mixq.errors import MixqError
from mixq.quant.spec import BitAllocation, LayerBits, scheme_for
from mixq.search.memory import (LayerShape, MemoryBudget, activation_bytes, flash_bytes,
                                layer_flash_bytes, layer_ram_bytes, ram_peak_bytes, weight_bytes)

MIN_BITS = 2


class BudgetError(MixqError):
    """The memory-driven rule cannot fit the network into the budget."""


@dataclass(frozen=True)
class Step:
    """One decision of the allocator, for inspection and tests.

    Attributes:
        sweep: activation sweep number (1, 2, ...), 0 for weight steps.
        direction: 'forward' or 'backward' for activation steps, 'weights' for weight steps.
        action: 'cut' (halve a tensor) or 'defer' (leave the layer to the next sweep).
        layer: layer name.
        tensor: 'in', 'out' or 'w' for a cut, '' for a deferral.
        bits: the tensor's bits after the cut, 0 for a deferral.
    """

    sweep: int
    direction: str
    action: str
    layer: str
    tensor: str = ""
    bits: int = 0

    def __str__(self) -> str:
        where = {"forward": f"{self.sweep}F", "backward": f"{self.sweep}B"}.get(self.direction, "W")
        if self.action == "defer":
            return f"{where} defer {self.layer}"
        return f"{where} cut {self.layer}.{self.tensor} {self.bits}"


def _cut_activations(shapes: tuple[LayerShape, ...], ram_bytes: int, trace: list) -> list[int]:
    """Activation bits per tensor: t[0] is the network input, t[i + 1] the output of layer i."""
    n = len(shapes)
    t = [8] * (n + 1)

    def ram(i: int) -> int:
        return layer_ram_bytes(shapes[i], t[i], t[i + 1])

    def chosen(i: int):
        # Rusci et al. 2020, Sec. 4.1: cut the tensor with more bits; with equal bits the larger
        # one; on an exact tie the output. The network input (t[0]) and the last layer's output
        # (t[n]) are never cut, so they are not candidates.
        cands = [k for k in (i, i + 1) if 0 < k < n]
        if len(cands) < 2:
            return cands[0] if cands else None
        if t[i] != t[i + 1]:
            return i if t[i] > t[i + 1] else i + 1
        in_b = activation_bytes(shapes[i].in_shape, t[i])
        out_b = activation_bytes(shapes[i].out_shape, t[i + 1])
        return i if in_b > out_b else i + 1

    forward = True
    # Each sweep after the first cuts at least once (a layer deferred in one direction is cut in
    # the other), and there are at most 2 (n - 1) cuts, so 2n + 2 sweeps always suffice.
    for sweep in range(1, 2 * n + 3):
        direction = "forward" if forward else "backward"
        deferred = False
        for i in (range(n) if forward else range(n - 1, -1, -1)):
            while ram(i) > ram_bytes:
                k = chosen(i)
                if k is None or t[k] == MIN_BITS:   # cutting below 2 bits: no solution
                    raise BudgetError(
                        f"RAM budget {ram_bytes} bytes cannot be met: layer '{shapes[i].name}' "
                        f"still needs {ram(i)} bytes with {t[i]}-bit input and {t[i + 1]}-bit "
                        "output activations; raise the RAM budget or use a smaller model")
                # A forward sweep cuts only outputs, a backward sweep only inputs; the other
                # choice defers the layer to the next sweep.
                if (k == i + 1) != forward:
                    trace.append(Step(sweep, direction, "defer", shapes[i].name))
                    deferred = True
                    break
                t[k] //= 2
                trace.append(Step(sweep, direction, "cut", shapes[i].name,
                                  "out" if k == i + 1 else "in", t[k]))
        if not deferred:    # cuts only shrink tensors, so every layer now fits
            return t
        forward = not forward
    raise AssertionError("activation sweeps did not converge")  # unreachable, see above


def _allocation(shapes, w: list[int], t: list[int], granularity: str) -> BitAllocation:
    return BitAllocation(tuple(
        LayerBits(s.name, s.kind, w[i], t[i], t[i + 1], scheme_for(granularity, w[i], t[i + 1]))
        for i, s in enumerate(shapes)), granularity)


def _cut_weights(shapes, t: list[int], flash_budget: int, granularity: str, delta: float,
                 trace: list) -> list[int]:
    n = len(shapes)
    w = [8] * n
    while True:
        allocation = _allocation(shapes, w, t, granularity)
        total = flash_bytes(shapes, allocation)
        if total <= flash_budget:
            return w
        cands = [i for i in range(n) if w[i] > MIN_BITS]
        if not cands:
            per_layer = [layer_flash_bytes(s, b, last=(i == n - 1))
                         for i, (s, b) in enumerate(zip(shapes, allocation.layers))]
            big = max(range(n), key=per_layer.__getitem__)
            raise BudgetError(
                f"flash budget {flash_budget} bytes cannot be met: with all weights at 2 bits the "
                f"network still needs {total} bytes, layer '{shapes[big].name}' alone "
                f"{per_layer[big]}; raise the flash budget or use a smaller model")
        # Rusci et al. 2020, Sec. 4.1: r_i = layer i's share of the weight bytes; among layers
        # above 2 bits take the largest share r_max and cut the lowest-index layer whose share
        # is above r_max - delta (the r_max layer itself always qualifies, also for delta = 0).
        sizes = [weight_bytes(s, b) for s, b in zip(shapes, w)]
        total_w = sum(sizes) or 1
        share = [b / total_w for b in sizes]
        r_max = max(share[i] for i in cands)
        pick = next(i for i in cands if share[i] > r_max - delta or share[i] == r_max)
        w[pick] //= 2
        trace.append(Step(0, "weights", "cut", shapes[pick].name, "w", w[pick]))


def allocate_bits(shapes, budget: MemoryBudget, granularity: str = "per-channel",
                  delta: float = 0.05, trace: list | None = None) -> BitAllocation:
    """Per-layer weight and activation bits that fit ``budget``, by the rule of Rusci et al. 2020.

    Activations first: bits only halve 8 -> 4 -> 2. Sweeps alternate forward and backward
    (starting forward) until one defers nothing. At each layer, while input + output bytes exceed
    the RAM budget, the tensor to cut is the one with more bits, or with equal bits the larger
    one (the output on an exact tie); a forward sweep cuts only outputs (which are the next
    layer's inputs) and defers the layer when its input is chosen, a backward sweep cuts only
    inputs and defers when the output is chosen. The network input and the last layer's output
    are never cut. Then weights: while flash exceeds the budget, cut the lowest-index layer above
    2 bits whose share of weight bytes is above r_max - delta. MixPC (``'per-channel'``) and
    MixPL (``'per-layer'``) differ only in the overhead model (see :func:`scheme_for`).

    Args:
        shapes: :class:`LayerShape` of every weight layer in forward order (a chain).
        budget: flash and RAM bytes available.
        granularity: 'per-channel' (MixPC) or 'per-layer' (MixPL).
        delta: share margin of the weight rule, in [0, 1).
        trace: if a list, every :class:`Step` (cut or deferral) is appended to it.

    Returns:
        a :class:`BitAllocation` whose flash and peak RAM are within ``budget``.

    Raises:
        BudgetError: a tensor would need fewer than 2 bits, or no weights are left to cut;
            the message names the budget and the layer.
        MixqError: bad arguments (no layers, delta out of range, unknown granularity).

    Example:
        >>> s = (LayerShape("c", "conv", (8, 8, 1), (8, 8, 16), 144, 16, 9216),
        ...      LayerShape("f", "fc", (1, 1, 16), (1, 1, 10), 160, 10, 160))
        >>> a = allocate_bits(s, MemoryBudget(flash_bytes=470, ram_bytes=600))
        >>> [(l.name, l.w_bits, l.in_bits, l.out_bits) for l in a.layers]
        [('c', 8, 8, 4), ('f', 4, 4, 8)]
    """
    shapes = tuple(shapes)
    if not shapes:
        raise MixqError("cannot allocate bits for a network without weight layers")
    if not isinstance(budget, MemoryBudget):
        raise MixqError("budget must be a MemoryBudget(flash_bytes, ram_bytes)")
    if not 0 <= delta < 1:
        raise MixqError(f"delta={delta} must be in [0, 1) (a share of the weight bytes)")
    scheme_for(granularity, 8, 8)  # validates the granularity with a clear message
    trace = [] if trace is None else trace
    t = _cut_activations(shapes, budget.ram_bytes, trace)
    w = _cut_weights(shapes, t, budget.flash_bytes, granularity, delta, trace)
    return _allocation(shapes, w, t, granularity)


def allocation_summary(shapes, allocation: BitAllocation) -> dict:
    """The ``mixq allocate --json`` object: layers in forward order, flash and peak RAM bytes.

    Example:
        >>> s = (LayerShape("c", "conv", (8, 8, 1), (8, 8, 4), 36, 4, 2304),
        ...      LayerShape("f", "fc", (1, 1, 4), (1, 1, 2), 8, 2, 8))
        >>> allocation_summary(s, BitAllocation.uniform([("c", "conv"), ("f", "fc")], 8))
        ... # doctest: +NORMALIZE_WHITESPACE
        {'layers': [{'name': 'c', 'kind': 'conv', 'w_bits': 8, 'in_bits': 8, 'out_bits': 8},
                    {'name': 'f', 'kind': 'fc', 'w_bits': 8, 'in_bits': 8, 'out_bits': 8}],
         'flash_bytes': 110, 'ram_peak_bytes': 320}
    """
    return {
        "layers": [{"name": l.name, "kind": str(l.kind), "w_bits": l.w_bits, "in_bits": l.in_bits,
                    "out_bits": l.out_bits} for l in allocation.layers],
        "flash_bytes": int(flash_bytes(shapes, allocation)),
        "ram_peak_bytes": int(ram_peak_bytes(shapes, allocation)),
    }


def allocate_for_model(model_name: str, width=None, resolution=None, num_classes=None,
                       flash_bytes: int = 2_048_000, ram_bytes: int = 512_000,
                       granularity: str = "per-channel", delta: float = 0.05) -> dict:
    """Build a registered model and return its memory-driven allocation as the CLI JSON object.

    Args:
        model_name: a name from :data:`mixq.models.MODELS`.
        width, resolution, num_classes: model options; ``None`` keeps the model's default
            (a model that lacks an option given here raises MixqError).
        flash_bytes, ram_bytes: the budget.
        granularity: 'per-channel' (MixPC) or 'per-layer' (MixPL).
        delta: share margin of the weight rule.

    Returns:
        ``{"layers": [{"name", "kind", "w_bits", "in_bits", "out_bits"}, ...],
        "flash_bytes": int, "ram_peak_bytes": int}``.

    Raises:
        BudgetError: the budget cannot be met (exit code 2 in the CLI).
        MixqError: unknown model or option.

    Example:
        >>> r = allocate_for_model("ds_cnn", flash_bytes=20_000, ram_bytes=20_000)
        >>> r["flash_bytes"] <= 20_000 and r["ram_peak_bytes"] <= 20_000, len(r["layers"])
        (True, 10)
    """
    from mixq.models import get_model
    from mixq.search.memory import layer_shapes

    budget = MemoryBudget(flash_bytes, ram_bytes)
    model = get_model(model_name, width=width, resolution=resolution, num_classes=num_classes)
    import torch

    from mixq.nn.capture import capture
    from mixq.search.graph_bits import match_graph_bits

    shapes = layer_shapes(model)
    # in_bits from each layer's real producer (residual adds, branches), not the chain order
    gm = capture(model, torch.zeros((1, *model.input_shape)), check=False)
    return allocation_summary(shapes, match_graph_bits(
        gm, allocate_bits(shapes, budget, granularity, delta)))
