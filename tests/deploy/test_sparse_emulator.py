"""Dense-ternary + sparse-int8 kernels on the emulated Cortex-M7, bit for bit against
ir.interpret: the DSP kernel over structures x densities x shapes (4-column blocks, pixel tails,
one-column layers, fully connected), the requantization slow path, the portable kernels, and the
instructions-per-MAC measurement."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mixq.codegen.sparse_synth import SparseGraphBuilder
from mixq.deploy.intralayer_bench import format_intralayer_table, measure_intralayer
from mixq.deploy.kernel_bench import LayerCase
from mixq.ir.graph import SPARSE_STRUCTURES, Requant, parse_nm
from mixq.ir.verify import verify
from mixq.quant.integer import icn_bias, quantize_multipliers

from deploy_graphs import deploy_json

pytestmark = pytest.mark.cross


def _check(graph, path, n=6, target="stm32h7"):
    r = deploy_json(graph, path, target=target, emulate=n, host_check=False)
    assert r["bitexact"], (r["mismatches"], [layer["kernel"] for layer in r["layers"]])
    return [layer["kernel"] for layer in r["layers"]]


def _density(structure, draw):
    nm = parse_nm(structure)
    top = nm[0] / nm[1] if nm else 0.3
    return draw(st.sampled_from([0.0, 0.01, 0.05, 0.1, top]))


@st.composite
def dsp_graphs(draw):
    """u8 -> dense+sparse conv / pw (u8 outputs between them) -> optional fc: pixel counts with
    every tail mod 4, layers below 4 pixels (one column), channels not multiple of 4."""
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    b = SparseGraphBuilder((h, w, draw(st.integers(1, 13))), seed=draw(st.integers(0, 999)))
    x = b.input
    for i in range(draw(st.integers(1, 2))):
        structure = draw(st.sampled_from(SPARSE_STRUCTURES))
        kw = dict(structure=structure, density=_density(structure, draw),
                  out=draw(st.sampled_from(["u8", "u8", "u4", "s8", "u2"])) if i else "u8")
        if draw(st.booleans()):
            x = b.pw_sparse(x, draw(st.integers(1, 20)), **kw)
        else:
            x = b.conv_sparse(x, draw(st.integers(1, 12)), kernel=draw(st.sampled_from([2, 3])),
                              stride=draw(st.sampled_from([1, 2])), **kw)
        if b.tensor(x).bits != 8 or b.tensor(x).signed:
            break
    if draw(st.booleans()) and b.tensor(x).bits == 8 and not b.tensor(x).signed:
        structure = draw(st.sampled_from(SPARSE_STRUCTURES))
        x = b.fc_sparse(x, draw(st.integers(1, 12)), structure=structure,
                        density=_density(structure, draw))
    return verify(b.build(x))


@pytest.mark.slow
@given(graph=dsp_graphs())
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_dsp_sparse_kernel_bitexact_on_emulator(graph, tmp_path):
    kernels = _check(graph, tmp_path / "g")
    assert kernels[0] == "mixq_conv2d_sparse_dsp"


def test_every_structure_tails_and_fully_connected(tmp_path):
    """All structures in one model: 4-column blocks with a pixel tail of 3, 1x4 blocks with
    short last blocks, N:M in both storage forms, u8 depthwise (3x3 inside and at the borders,
    2x2 strided), fc over channels % 4 != 0 (blocks fall back to the list form) and over
    channels % 4 == 0."""
    b = SparseGraphBuilder((5, 7, 10), seed=21)
    x = b.conv_sparse(b.input, 12, kernel=3, stride=1, structure="block1x4", density=0.1)
    x = b.pw_sparse(x, 13, structure="1:16", density=1 / 16)                 # fixed slots
    x = b.conv_sparse(x, 9, kernel=2, stride=2, structure="2:8", density=0.05)  # 3x4 px
    x = b.pw_sparse(x, 11, structure="row", density=0.1)
    x = b.dw_sparse(x, kernel=3, stride=1, padding=(1, 0, 0, 1), structure="1:8", density=0.1)
    x = b.dw_sparse(x, kernel=2, stride=2, padding=(1, 1, 1, 1), structure="block1x4",
                    density=0.2)
    z = b.pw_sparse(x, 8, out="u8", structure="unstructured", density=0.2)
    g = verify(b.build(b.fc_sparse(z, 5, structure="block1x4", density=0.2)))  # C = 8
    assert _check(g, tmp_path / "a", n=8) == ["mixq_conv2d_sparse_dsp"] * 4 + [
        "mixq_dwconv_sparse_u8"] * 2 + ["mixq_conv2d_sparse_dsp"] * 2
    b2 = SparseGraphBuilder((5, 7, 10), seed=21)
    x = b2.pw_sparse(b2.input, 11, structure="1:8", density=0.125)
    g2 = verify(b2.build(b2.fc_sparse(x, 7, structure="block1x4", density=0.1)))  # C = 11
    assert _check(g2, tmp_path / "b") == ["mixq_conv2d_sparse_dsp"] * 2


def test_requant_slow_path_and_clamps(tmp_path):
    """Shifts < 32 (the 64-bit path), narrowed clamps, negative multipliers, signed 4-bit."""
    b = SparseGraphBuilder((4, 4, 6), seed=5)
    c = 8
    mult, shift = quantize_multipliers(np.array([0.75, 1.5, 0.1, 0.5, 0.26, 0.51, 0.01, 1.0]))
    rq = Requant(bias=icn_bias(np.arange(c) * 37.0 - 100, mult, shift), multiplier=mult,
                 shift=shift, activation_min=3, activation_max=200)
    x = b.conv_sparse(b.input, c, kernel=3, structure="unstructured", density=0.1, dense_scale=1,
                      requant=rq)
    rq2 = Requant(bias=np.zeros(c), multiplier=-mult, shift=shift, activation_min=-8,
                  activation_max=7)
    g = verify(b.build(b.pw_sparse(x, c, out="s4", structure="2:8", density=0.2, dense_scale=1,
                                   requant=rq2)))
    assert min(shift) < 32
    assert _check(g, tmp_path) == ["mixq_conv2d_sparse_dsp"] * 2


def test_portable_kernels_on_emulator(tmp_path):
    b = SparseGraphBuilder((6, 5, 7), seed=8)
    x = b.conv_sparse(b.input, 9, kernel=3, stride=2, out="u4", structure="2:8", density=0.1)
    x = b.dw_sparse(x, kernel=3, out="u2", structure="unstructured", density=0.3)
    x = b.pw_sparse(x, 10, out="u4", structure="block1x4", density=0.2)
    g = verify(b.build(b.fc_sparse(x, 6, structure="row", density=0.1)))
    kernels = _check(g, tmp_path, target="stm32h7-ref")
    assert kernels == ["mixq_conv2d_sparse_any", "mixq_dwconv_sparse_any",
                       "mixq_conv2d_sparse_any", "mixq_fully_connected_sparse_any"]


def test_measure_intralayer_small_case():
    case = LayerCase("pw1x1", 4, 16, 8)
    rows = measure_intralayer([case], structures=["block1x4"], densities=[0.05])
    assert [r["weights"] for r in rows] == ["w8", "ternary", "ternary+block1x4"]
    assert all(r["instructions"] > r["macs"] / 2 for r in rows)
    assert rows[-1]["kernel"] == "mixq_conv2d_sparse_dsp" and rows[-1]["nnz"] > 0
    assert "ternary+block1x4" in format_intralayer_table(rows)


@pytest.mark.parametrize("structure", ["2:8", "block1x4"])
def test_captured_intralayer_model_deploys_bitexact(structure, tmp_path):
    """A QAT dense+sparse model (mixq.intralayer) integerized and deployed: emulator and host."""
    torch = pytest.importorskip("torch")
    from torch import nn

    from mixq.intralayer.qat import IntraLayerConfig, prepare_intralayer
    from mixq.intralayer.select import select_outliers
    from mixq.ir.capture import input_codes, integerize
    from mixq.nn.layers import ConvBNReLU, GlobalAvgPool

    torch.manual_seed(0)
    net = nn.Sequential(ConvBNReLU(1, 8, 3), ConvBNReLU(8, 8, 3, groups=8), ConvBNReLU(8, 16, 1),
                        ConvBNReLU(16, 16, 3, stride=2), GlobalAvgPool(), nn.Flatten(),
                        nn.Linear(16, 4))
    net.input_shape = (1, 8, 8)
    x = torch.rand(8, 1, 8, 8)
    qat = prepare_intralayer(net, IntraLayerConfig(density=0.05, structure=structure,
                                                   criterion="magnitude"), calibration=x)
    select_outliers(qat, 0.05, "magnitude")
    graph = integerize(qat.eval())
    assert sum(n.sparse is not None for n in graph.weight_nodes) >= 2
    r = deploy_json(graph, tmp_path, inputs=input_codes(qat, x), emulate=8)
    assert r["bitexact"] and r["host"]["bitexact"], r
    kernels = {layer["kernel"] for layer in r["layers"]}
    assert "mixq_conv2d_sparse_dsp" in kernels
