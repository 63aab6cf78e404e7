"""Dense+sparse layers integerize with 0 mismatches: QAT integer-exact mode == ir.interpret."""

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from mixq.intralayer.qat import IntraLayerConfig, prepare_intralayer
from mixq.intralayer.select import select_outliers
from mixq.intralayer.structures import STRUCTURES, max_density
from mixq.ir.capture import input_codes, integer_codes, integerize
from mixq.ir.interpret import interpret
from mixq.ir.serialize import graph_hash
from mixq.nn import prepare
from mixq.nn.intralayer import dense_sparse_layers
from mixq.nn.layers import ConvBNReLU, GlobalAvgPool
from mixq.quant.spec import BitAllocation, LayerBits


def _randomize(net, gen):
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.weight.copy_(torch.randn(c, generator=gen).abs() + 0.3)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.2)


@st.composite
def nets(draw):
    c_in = draw(st.sampled_from([1, 3]))
    width = draw(st.integers(2, 12))
    layers = [ConvBNReLU(c_in, width, 3, stride=draw(st.sampled_from([1, 2])))]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["dw", "pw", "conv"]))
        if kind == "dw":
            layers.append(ConvBNReLU(width, width, 3, groups=width))
        else:
            new = draw(st.integers(2, 20))
            layers.append(ConvBNReLU(width, new, 1 if kind == "pw" else 3))
            width = new
    size = draw(st.sampled_from([5, 8]))
    if draw(st.booleans()):
        net = nn.Sequential(*layers, GlobalAvgPool(), nn.Flatten(), nn.Linear(width, 5))
    else:  # the fully connected layer reads a (C, H, W) map: IR column order (H, W, C)
        with torch.no_grad():
            feat = nn.Sequential(*layers).eval()(torch.zeros(1, c_in, size, size))
        net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(feat.numel(), 5))
    net.input_shape = (c_in, size, size)
    return net


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nets(), st.sampled_from(STRUCTURES), st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.25]),
       st.sampled_from([8, 4, 2]), st.booleans(), st.integers(0, 2**16))
def test_integer_mode_equals_interpret(net, structure, density, act_bits, edges_8bit, seed):
    gen = torch.Generator().manual_seed(seed)
    _randomize(net, gen)
    density = min(density, max_density(structure))
    cfg = IntraLayerConfig(density=density, structure=structure, criterion="magnitude",
                           act_bits=act_bits, edge_bits=8 if edges_8bit else None)
    x = torch.rand((12,) + net.input_shape, generator=gen)
    qat = prepare_intralayer(net, cfg, calibration=x)
    select_outliers(qat, density, "magnitude")
    qat.eval()
    graph = integerize(qat)
    np.testing.assert_array_equal(interpret(graph, input_codes(qat, x)), integer_codes(qat, x))
    nodes = {n.name: n for n in graph.weight_nodes}
    for name, m in dense_sparse_layers(qat).items():
        sp = nodes[name].sparse
        assert (sp is None) == (not m.wq.mask.any())
        if sp is not None:
            assert sp.structure == structure and sp.nnz == int(m.wq.mask.sum())


def test_density_zero_graph_is_the_pure_ternary_graph():
    torch.manual_seed(0)
    net = nn.Sequential(ConvBNReLU(1, 6, 3), ConvBNReLU(6, 6, 3, groups=6), ConvBNReLU(6, 8, 1),
                        GlobalAvgPool(), nn.Flatten(), nn.Linear(8, 4))
    net.input_shape = (1, 8, 8)
    x = torch.rand(16, 1, 8, 8)
    qat = prepare_intralayer(net, IntraLayerConfig(density=0.0), calibration=x).eval()
    kinds = [("0", "conv"), ("1", "dw"), ("2", "pw"), ("5", "fc")]
    layers = [LayerBits(n, k, 8 if n in ("0", "5") else 2, 8, 8, "PC+ICN", n not in ("0", "5"))
              for n, k in kinds]
    ternary = prepare(net, BitAllocation(tuple(layers)), calibration=x).eval()
    assert graph_hash(integerize(qat, name="m")) == graph_hash(integerize(ternary, name="m"))
    torch.testing.assert_close(qat(x), ternary(x), rtol=0, atol=0)
