"""Shared Hypothesis strategies: random small, valid integer graphs.

``random_graph`` is a ``@st.composite`` strategy (call it with keyword options, draw from it);
its building blocks (``layer_on``, dtype strategies) compose the same way. Weights, biases and
ICN multipliers come from :class:`mixq.codegen.synth.GraphBuilder`, which calibrates every layer
on a random batch (so output codes spread over their range) and keeps accumulators in int32.

Example (in a test)::

    from strategies import random_graph

    @given(random_graph(max_layers=4))
    @settings(max_examples=25, deadline=None)
    def test_something(graph): ...
"""

from __future__ import annotations

from hypothesis import strategies as st

from mixq.codegen.synth import GraphBuilder

ACT_DTYPES = ("u8", "u4", "u2")
SIGNED_DTYPES = ("s8", "s4", "s2")
WEIGHT_DTYPES = ("s8", "s4", "s2", "t2")


def act_dtypes(signed: bool = False):
    """Activation dtypes: unsigned (after ReLU) or signed (no ReLU)."""
    return st.sampled_from(SIGNED_DTYPES if signed else ACT_DTYPES)


def weight_dtypes():
    return st.sampled_from(WEIGHT_DTYPES)


def paddings(kernel: int, stride: int, size: int):
    """'same', 'valid' (when it fits) or a small asymmetric (top, bottom, left, right)."""
    options = [st.just("same")]
    if size >= kernel:
        options.append(st.just("valid"))
    need = max(kernel - size, 0)  # padding the axis must get so that one window fits
    side = st.integers(0, kernel - 1)
    options.append(
        st.tuples(side, side, side, side).filter(
            lambda p: p[0] + p[1] >= need and p[2] + p[3] >= need
        )
    )
    return st.one_of(options)


def _dtype(t) -> str:
    return ("s" if t.signed else "u") + str(t.bits)


@st.composite
def pool_or_concat_on(draw, b: GraphBuilder, x: str, *, max_channels: int = 8) -> str:
    """A windowed max/average pool (odd or non-square window, stride, padding) or a concat of
    ``x`` or a branch on it with another branch (a pointwise conv or a 3x3 max pool): same
    formats concatenate as they are (zero-copy where the producers allow), others rescaled."""
    h, w, c = b.tensor(x).shape
    if draw(st.booleans()):
        first = x if draw(st.booleans()) else b.pw(x, draw(st.integers(1, max_channels)),
                                                   out=_dtype(b.tensor(x)))
        second = (b.maxpool(x, 3, 1, (1, 1, 1, 1)) if draw(st.booleans()) else
                  b.pw(x, draw(st.integers(1, max_channels)),
                       out=draw(st.sampled_from((_dtype(b.tensor(x)), "u4", "s8")))))
        return b.concat([first, second] if draw(st.booleans()) else [second, first])
    kh, kw = draw(st.integers(1, min(h, 3))), draw(st.integers(1, min(w, 3)))
    pads = tuple(draw(st.integers(0, k - 1)) for k in (kh, kh, kw, kw))
    stride = draw(st.sampled_from((1, 2)))
    if draw(st.booleans()):
        return b.maxpool(x, (kh, kw), stride, pads)
    return b.avgpool(x, (kh, kw), stride, pads, count_include_pad=draw(st.booleans()))


@st.composite
def layer_on(draw, b: GraphBuilder, x: str, *, max_channels: int = 8, residual: bool = True,
             signed_outputs: bool = True, pools: bool = False) -> str:
    """Add one random spatial layer (conv, dw, pw or a residual block; with ``pools`` also a
    windowed pool or a concat) on ``x``; returns the new tensor name."""
    h, w, c = b.tensor(x).shape
    ops = ("conv", "dw", "pw", "res") if residual else ("conv", "dw", "pw")
    op = draw(st.sampled_from(ops + (("pool",) if pools else ())))
    if op == "pool":
        return draw(pool_or_concat_on(b, x, max_channels=max_channels))
    weight = draw(weight_dtypes())
    out = draw(act_dtypes(signed=signed_outputs and draw(st.integers(0, 5)) == 0))
    if op == "pw":
        return b.pw(x, draw(st.integers(1, max_channels)), weight=weight, out=out)
    k = draw(st.sampled_from((1, 2, 3, 3, 3)))
    stride = draw(st.sampled_from((1, 1, 2)))
    pad = draw(paddings(k, stride, min(h, w)))
    if op == "dw":
        return b.dw(x, kernel=k, stride=stride, padding=pad, weight=weight, out=out)
    if op == "conv":
        c_out = draw(st.integers(1, max_channels))
        return b.conv(x, c_out, kernel=k, stride=stride, padding=pad, weight=weight, out=out)
    # Residual block: a signed branch (conv without ReLU) added to the trunk.
    branch = b.conv(x, c, kernel=k, stride=1, padding="same", weight=weight,
                    out=draw(act_dtypes(signed=True)))
    add_out = draw(st.one_of(act_dtypes(), act_dtypes(signed=True)) if signed_outputs
                   else act_dtypes())
    return b.add(x, branch, out=add_out)


@st.composite
def random_graph(draw, *, max_layers: int = 4, max_hw: int = 8, max_channels: int = 8,
                 input_dtypes=("u8",), head: bool = True, residual: bool = True,
                 signed_outputs: bool = True, pools: bool = False):
    """A random valid graph: spatial layers, then optionally avgpool and/or an FC head.

    Args:
        max_layers: spatial layers (1..max_layers) before the head.
        max_hw: largest input height and width.
        max_channels: largest channel count (odd counts included; the input often has 3).
        input_dtypes: dtypes of the network input (e.g. ('u8', 'u4')).
        head: add a head (avgpool and/or FC with s8 logits, or none) at random.
        residual: allow residual Add blocks (with a signed branch).
        signed_outputs: allow signed intermediate tensors.
        pools: also windowed pools and concats (:func:`pool_or_concat_on`), and a head that
            concatenates two globally pooled branches (a zero-copy concat when their formats
            agree).
    """
    seed = draw(st.integers(0, 2**20))
    h = draw(st.integers(1, max_hw))
    w = draw(st.integers(1, max_hw))
    c = draw(st.one_of(st.just(3), st.integers(1, max_channels)))
    b = GraphBuilder((h, w, c), draw(st.sampled_from(input_dtypes)), seed=seed)
    x = b.input
    for _ in range(draw(st.integers(1, max_layers))):
        x = draw(layer_on(b, x, max_channels=max_channels, residual=residual,
                          signed_outputs=signed_outputs, pools=pools))
    if head:
        kind = draw(st.sampled_from(("pool+fc", "fc", "pool", "none")
                                    + (("pool+cat+fc",) if pools else ())))
        if "cat" in kind:
            other = b.pw(x, draw(st.integers(1, max_channels)),
                         out=draw(st.sampled_from((_dtype(b.tensor(x)), "u2"))))
            x = b.concat([b.avgpool(x), b.avgpool(other)])
        elif "pool" in kind:
            x = b.avgpool(x)
        if "fc" in kind:
            x = b.fc(x, draw(st.integers(1, 10)), weight=draw(weight_dtypes()), out="s8")
    return b.build(x)


@st.composite
def layer_chains(draw, max_layers: int = 6):
    """A chain of random weight-layer shapes (conv/dw/pw, then fc) for the memory model."""
    from mixq.search.memory import LayerShape

    n = draw(st.integers(1, max_layers))
    hwc = [(draw(st.integers(1, 8)), draw(st.integers(1, 8)), draw(st.integers(1, 32)))
           for _ in range(n + 1)]
    shapes = []
    for i in range(n):
        kind = "fc" if i == n - 1 else draw(st.sampled_from(["conv", "dw", "pw"]))
        weights = draw(st.integers(1, 5000))
        shapes.append(LayerShape(f"l{i}", kind, hwc[i], hwc[i + 1], weights, hwc[i + 1][2],
                                 weights))
    return tuple(shapes)
