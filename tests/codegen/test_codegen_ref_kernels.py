"""Reference C kernels vs ir.interpret, bit for bit, for every precision combination.

Each weighted op is tested on a chain of layers whose tensor dtypes follow a de Bruijn sequence
over the six activation dtypes, so one compiled chain covers all 36 (input, output) pairs for
one weight dtype. Runs on the host with gcc -Wall -Wextra -Werror and ASan/UBSan.
"""

import zlib

import numpy as np
import pytest

from mixq.codegen.synth import GraphBuilder
from mixq.deploy.host import run_host
from mixq.ir.graph import Requant
from mixq.ir.interpret import interpret

DTYPES = ("u8", "u4", "u2", "s8", "s4", "s2")
WEIGHTS = ("s8", "s4", "s2", "t2")


def de_bruijn_pairs(symbols):
    """A closed walk over ``symbols`` starting at symbols[0] using every ordered pair once."""
    k, seq, a = len(symbols), [], [0] * (2 * len(symbols))

    def db(t, p):
        if t > 2:
            if 2 % p == 0:
                seq.extend(a[1:p + 1])
        else:
            a[t] = a[t - p]
            db(t + 1, p)
            for j in range(a[t - p] + 1, k):
                a[t] = j
                db(t + 1, t)

    db(1, 1)
    walk = [symbols[i] for i in seq] + [symbols[seq[0]]]
    assert len(set(zip(walk, walk[1:]))) == k * k
    return walk


def inputs_for(graph, n=6, seed=0):
    t = graph.tensor(graph.inputs[0])
    rng = np.random.default_rng(seed)
    return rng.integers(t.qmin, t.qmax + 1, size=(n, *t.shape))


def assert_bitexact(graph, n=6, **kw):
    x = inputs_for(graph, n)
    expected = interpret(graph, x)
    got = run_host(graph, x, **kw)
    np.testing.assert_array_equal(got, expected)
    return interpret(graph, x, return_all=True)


def assert_informative(values, min_fraction=0.9):
    """Most tensors take more than one value (the test exercises real data, not constants)."""
    varied = [len(np.unique(v)) > 1 for v in values.values()]
    assert sum(varied) >= min_fraction * len(varied), sum(varied)


def test_de_bruijn_covers_all_pairs():
    walk = de_bruijn_pairs(DTYPES)
    assert walk[0] == walk[-1] == "u8" and len(walk) == 37


@pytest.mark.parametrize("weight", WEIGHTS)
@pytest.mark.parametrize("op", ["conv", "pw", "dw", "fc"])
def test_all_precision_pairs(op, weight):
    walk = de_bruijn_pairs(DTYPES)
    channels = [3, 5, 2, 7, 4, 6]
    shape = (3, 4, 3) if op != "fc" else (2, 3, 3)
    b = GraphBuilder(shape, seed=zlib.crc32(f"{op}{weight}".encode()))
    x = b.input
    for i, out in enumerate(walk[1:]):
        c = channels[i % len(channels)]
        if op == "conv":
            x = b.conv(x, c, kernel=3, weight=weight, out=out)
        elif op == "pw":
            x = b.pw(x, c, weight=weight, out=out)
        elif op == "dw":
            x = b.dw(x, kernel=3, weight=weight, out=out)
        else:
            x = b.fc(x, c + 2, weight=weight, out=out)
    g = b.build(x)
    seen = {(g.tensor(n.input).bits, g.tensor(n.input).signed, g.tensor(n.output).bits,
             g.tensor(n.output).signed) for n in g.nodes}
    assert len(seen) == 36
    assert_informative(assert_bitexact(g, n=8))


@pytest.mark.parametrize("b_dtype", DTYPES)
def test_add_all_precisions(b_dtype):
    walk = de_bruijn_pairs(DTYPES)
    b = GraphBuilder((2, 3, 5), seed=DTYPES.index(b_dtype))
    x = b.input
    for out in walk[1:]:
        other = b.pw(b.input, 5, out=b_dtype)
        x = b.add(x, other, out=out)
    assert_informative(assert_bitexact(b.build(x), n=8))


@pytest.mark.parametrize("dtype", DTYPES)
def test_avgpool_all_precisions(dtype):
    b = GraphBuilder((3, 5, 7), seed=7)  # 15 pixels: odd count, rounding of negative sums
    assert_bitexact(b.build(b.avgpool(b.pw(b.input, 7, out=dtype))), n=16)


# Layers applied in sequence: (kind, C_out, kernel, stride, padding).
GEOMETRY_CHAIN = [
    ("pw", 5, 1, 1, "valid"),
    ("dw", 0, 3, 2, "same"),
    ("dw", 0, (3, 1), (2, 1), (1, 1, 0, 0)),
    ("dw", 0, 2, 1, (1, 0, 0, 1)),
    ("dw", 0, 5, 1, "same"),
    ("dw", 0, 3, 1, "valid"),
    ("conv", 5, 3, 2, "same"),
    ("conv", 4, 3, 1, (0, 1, 0, 1)),
    ("conv", 3, 3, 1, "valid"),
    ("conv", 3, (3, 1), (2, 1), (1, 1, 0, 0)),
    ("conv", 9, 2, 1, (1, 0, 0, 1)),
    ("conv", 4, 5, 2, "same"),
    ("conv", 2, 1, 2, "valid"),  # strided 1x1 -> the generic conv kernel
]


@pytest.mark.parametrize("dtypes", [("u8", "s8", "u8"), ("u4", "s4", "u2"), ("u2", "t2", "s4")])
def test_conv_geometries(dtypes):
    """Strides, asymmetric and VALID/SAME padding, non-square kernels, 3 input channels."""
    x_dtype, w, out = dtypes
    b = GraphBuilder((36, 24, 3), x_dtype, seed=len(out))
    y = b.input
    for kind, c_out, k, s, pad in GEOMETRY_CHAIN:
        if kind == "dw":
            y = b.dw(y, kernel=k, stride=s, padding=pad, weight=w, out=out)
        else:
            y = b.conv(y, c_out, kernel=k, stride=s, padding=pad, weight=w, out=out)
    g = b.build(y)
    assert g.tensor(y).shape == (1, 1, 2), g.tensor(y).shape
    assert_informative(assert_bitexact(g, n=4))


@pytest.mark.parametrize("first_stride", [1, 2])
def test_dwconv_in_place(first_stride):
    """The in-place depthwise kernel overwrites its own input and stays bit-exact."""
    from mixq.codegen.emit import select_kernels

    b = GraphBuilder((11, 6, 5), seed=first_stride)
    y = b.pw(b.input, 5, out="u8")
    chain = [("u8", first_stride, 3, "same"), ("u8", 1, (3, 2), (2, 0, 1, 0)),
             ("u4", 1, 3, "same"), ("u4", 2, 3, "same"), ("u2", 1, 3, "same"),
             ("u2", 1, 2, (1, 0, 1, 0))]
    for out, stride, k, pad in chain:
        y = b.dw(y, kernel=k, stride=stride, padding=pad, weight="s4", out=out)
    y = b.pw(y, 5, out="s8")
    y = b.dw(y, kernel=3, weight="t2", out="s4")
    g = b.build(b.pw(y, 4, out="s8"))
    _, plan = select_kernels(g, inplace="always")
    dw_names = [n.name for n in g.nodes if n.kind == "dw"]
    assert len(set(plan.inplace) & set(dw_names)) >= 6, plan.inplace
    assert_informative(assert_bitexact(g, n=4, inplace="always"))


def test_requant_extremes():
    """Shifts 1 and 62, multipliers +-(2^31 - 1) and 0, large biases."""
    b = GraphBuilder((2, 2, 4), "s8", seed=0)
    c = 6
    rq = Requant(
        bias=np.array([0, -(2**20), 2**20, 7, -7, 0]),
        multiplier=np.array([2**31 - 1, -(2**31), 1, 0, 2**30, -(2**30)]),
        shift=np.array([62, 62, 1, 1, 40, 31]),
        activation_min=-128, activation_max=127,
    )
    y = b.pw(b.input, c, out="s8", requant=rq)
    assert_bitexact(b.build(y), n=16)


@pytest.mark.parametrize("out_bits", [8, 4])
def test_pools_and_concat_all_precisions(out_bits):
    """Max and average pools (odd, non-square windows, uneven padding, both divisors) on every
    activation dtype, concatenated at different scales into one tensor: one host build."""
    b = GraphBuilder((9, 7, 3), seed=out_bits)
    rng = np.random.default_rng(out_bits)
    parts = []
    for dtype in DTYPES:
        y = b.maxpool(b.pw(b.input, 3, out=dtype), kernel=3, stride=2, padding=(1, 1, 1, 0))
        for include_pad in (True, False):
            z = b.avgpool(y, kernel=(2, 3), stride=1, padding=(1, 0, 1, 1),
                          count_include_pad=include_pad)
            b.set_scale(z, 2.0 ** rng.uniform(-3, 3))
            parts.append(z)
    cat = b.concat(parts, out_bits=out_bits)
    assert b.tensor(cat).signed and b.tensor(cat).shape == (5, 3, 36)
    g = b.build(b.fc(cat, 7))
    assert_informative(assert_bitexact(g, n=6))


def test_concat_zero_copy(tmp_path):
    """One-pixel inputs of the output's format are written side by side in the concat's output:
    no copy runs, the arena shrinks, the codes stay bit-exact; a rescaled input falls back to the
    copy kernel."""
    from mixq.codegen.emit import emit_c, select_kernels
    from mixq.ir.memory import plan_memory

    def graph(rescaled: bool):
        b = GraphBuilder((5, 4, 3), seed=3)
        parts = [b.avgpool(b.conv(b.input, c, out="u4")) for c in (6, 4, 5)]
        if rescaled:
            b.set_scale(parts[1], 0.5)
        return b.build(b.fc(b.concat(parts), 6, out="s8"))

    g, copied = graph(False), graph(True)
    _, plan = select_kernels(g)
    cat = g.nodes[-2]
    assert plan.zero_copy == (cat.name,) and select_kernels(copied)[1].zero_copy == ()
    starts = [plan.offsets[t] for t in cat.inputs]
    assert starts[0] == plan.offsets[cat.output] and starts == [starts[0] + d for d in (0, 3, 5)]
    assert plan.arena_bytes < plan_memory(copied).arena_bytes
    assert "mixq_concat_any(" not in (emit_c(g, tmp_path).out_dir / "mixq_model.c").read_text()
    assert_bitexact(g)
    assert_bitexact(copied)


def test_concat_zero_copy_feature_maps():
    """Feature maps whose producers (reference conv, pw, dw, pools) write with the concat's pixel
    stride are not copied; a tensor with another reader is."""
    from mixq.codegen.emit import select_kernels

    b = GraphBuilder((6, 5, 4), seed=4)
    x = b.conv(b.input, 6, out="u4")
    parts = [b.pw(x, 4, out="u4"), b.dw(x, kernel=3, stride=1, out="u4"),
             b.maxpool(x, 3, 1, (1, 1, 1, 1)), b.avgpool(x, (2, 3), 1, (1, 0, 1, 1))]
    shared = b.conv(x, 2, out="u4")  # also read by the final add: copied
    cat = b.concat(parts)
    cat2 = b.concat([cat, shared])
    y = b.add(b.pw(cat2, 2, out="u4"), shared, out="u8")
    g = b.build(b.fc(y, 5))
    _, plan = select_kernels(g)
    assert plan.zero_copy == (g.nodes[6].name,)
    row = b.tensor(cat).shape[-1] // 2  # u4: two codes a byte
    assert [plan.pixel_strides[t] for t in parts] == [row] * 4
    assert [plan.offsets[t] - plan.offsets[cat] for t in parts] == [0, 2, 5, 8]
    assert_bitexact(g)
