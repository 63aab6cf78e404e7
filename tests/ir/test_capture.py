"""Equivalence ladder, rung 1: QAT integer-exact mode == ir.interpret(integerize(model))."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from mixq.errors import MixqError
from mixq.ir.capture import input_codes, integer_codes, integerize
from mixq.ir.interpret import interpret
from mixq.ir.serialize import graph_hash, load_graph, save_graph
from mixq.nn.layers import ConvBNReLU, GlobalAvgPool, ResidualAdd
from mixq.nn.capture import capture, weight_layer_names
from mixq.nn.prepare import prepare
from mixq.quant.spec import BitAllocation, LayerBits, scheme_for


class _ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = ConvBNReLU(c, c, 3)
        self.b = ConvBNReLU(c, c, 3, relu=False)
        self.add = ResidualAdd()

    def forward(self, x):
        return self.add(self.b(self.a(x)), x)


def _randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            m.weight.data.copy_(torch.randn(c, generator=gen).abs() + 0.3)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.2)


@st.composite
def nets(draw):
    c_in = draw(st.sampled_from([1, 3]))
    width = draw(st.integers(2, 9))
    layers = [ConvBNReLU(c_in, width, draw(st.sampled_from([1, 3])), stride=draw(st.sampled_from([1, 2])))]
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["dw", "pw", "conv", "res"]))
        if kind == "dw":
            layers.append(ConvBNReLU(width, width, 3, stride=draw(st.sampled_from([1, 2])), groups=width))
        elif kind == "pw":
            new = draw(st.integers(2, 9))
            layers.append(ConvBNReLU(width, new, 1))
            width = new
        elif kind == "conv":
            new = draw(st.integers(2, 9))
            layers.append(ConvBNReLU(width, new, 3, stride=draw(st.sampled_from([1, 2])), padding=1))
            width = new
        else:
            layers.append(_ResBlock(width))
    pooled = draw(st.booleans())
    size = draw(st.sampled_from([5, 8]))
    head = [GlobalAvgPool(), nn.Flatten(), nn.Linear(width, 4)] if pooled else [nn.Flatten()]
    net = nn.Sequential(*layers, *head)
    if not pooled:
        with torch.no_grad():
            feat = net.eval()(torch.zeros(1, c_in, size, size)).shape[1]
        net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(feat, 4))
    return net, (c_in, size, size), draw(st.integers(0, 2**16))


def _random_allocation(model, seed, granularity, shape):
    rng = np.random.default_rng(seed)
    gm = capture(model, torch.zeros((1,) + tuple(shape)))
    kinds = {}
    for n in gm.graph.nodes:
        if n.op == "call_module":
            m = gm.get_submodule(n.target)
            kinds[n.target] = "fc" if isinstance(m, nn.Linear) else (
                "dw" if isinstance(m, ConvBNReLU) and m.conv.groups > 1 else "conv")
    names = weight_layer_names(gm)
    # Activations feeding a residual add and its skip must share bits: use one activation width.
    act = int(rng.choice([8, 4, 2]))
    layers = []
    for i, name in enumerate(names):
        w = int(rng.choice([8, 4, 2]))
        ternary = bool(w == 2 and rng.random() < 0.5)
        out_bits = 8 if i == len(names) - 1 else act
        in_bits = 8 if i == 0 else act
        layers.append(LayerBits(name, kinds[name], w, in_bits, out_bits,
                                scheme_for(granularity, w, out_bits), ternary))
    return BitAllocation(tuple(layers), granularity)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nets(), st.sampled_from(["per-channel", "per-layer"]))
def test_integer_mode_equals_interpret(case, granularity):
    net, shape, seed = case
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    _randomize_bn(net, gen)
    alloc = _random_allocation(net, seed, granularity, shape)
    x = torch.rand((16,) + shape, generator=gen)
    qat = prepare(net, alloc, calibration=x).eval()
    graph = integerize(qat, shape)
    ref = integer_codes(qat, x)
    got = interpret(graph, input_codes(qat, x))
    np.testing.assert_array_equal(got, ref)


def test_fakequant_close_to_integer_and_roundtrip(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(ConvBNReLU(1, 6, 3, stride=2), ConvBNReLU(6, 6, 3, groups=6),
                        ConvBNReLU(6, 8, 1), GlobalAvgPool(), nn.Flatten(), nn.Linear(8, 5))
    alloc = BitAllocation.uniform([("0", "conv"), ("1", "dw"), ("2", "pw"), ("5", "fc")], 8)
    x = torch.rand(32, 1, 12, 12)
    qat = prepare(net, alloc, calibration=x).eval()
    graph = integerize(qat, (1, 12, 12))
    fq = qat(x)
    qat.integer_mode = True
    iq = qat(x)
    qat.integer_mode = False
    # Same argmax on almost every sample at 8 bits.
    assert (fq.argmax(1) == iq.argmax(1)).float().mean() >= 0.9
    save_graph(graph, tmp_path / "g")
    again = load_graph(tmp_path / "g")
    assert graph_hash(again) == graph_hash(graph)
    np.testing.assert_array_equal(interpret(again, input_codes(qat, x)), interpret(graph, input_codes(qat, x)))


@pytest.mark.parametrize("function", [integerize, integer_codes, input_codes])
def test_model_that_skipped_prepare_is_a_one_line_error(function):
    from mixq.errors import MixqError
    from mixq.models import get_model

    model = get_model("demo_net", width=0.25)
    args = (model,) if function is integerize else (model, torch.zeros(1, 1, 16, 16))
    with pytest.raises(MixqError, match=rf"{function.__name__} needs a QAT model, got a plain "
                       r"\w+; run mixq.nn.prepare\(model, allocation\) first") as e:
        function(*args)
    assert "\n" not in str(e.value)
