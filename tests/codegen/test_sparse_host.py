"""Dense-ternary + sparse-int8 kernels compiled on the host (gcc -Wall -Wextra -Werror, ASan +
UBSan) against ir.interpret, bit for bit: structures x densities x shapes x activation widths,
portable kernels and the DSP kernel's C twin."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mixq.codegen.emit import emit_c
from mixq.codegen.sparse_synth import SparseGraphBuilder
from mixq.deploy.run import random_inputs
from mixq.deploy.host import run_host
from mixq.ir.graph import SPARSE_STRUCTURES, Graph, parse_nm
from mixq.ir.interpret import interpret
from mixq.ir.verify import verify

DENSITIES = (0.0, 0.02, 0.1, "max")


def _density(structure, density):
    """'max': as dense as the structure allows (N:M fixed-slot form, full blocks)."""
    if density != "max":
        return density
    nm = parse_nm(structure)
    return nm[0] / nm[1] if nm else 0.3


@st.composite
def sparse_graphs(draw):
    """1-3 dense+sparse layers (conv, pw, dw, fc) with random geometry, structure, density and
    activation widths; the first layer reads the u8 network input."""
    hw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    b = SparseGraphBuilder((*hw, draw(st.integers(1, 12))), seed=draw(st.integers(0, 999)))
    x = b.input
    for _ in range(draw(st.integers(1, 3))):
        structure = draw(st.sampled_from(SPARSE_STRUCTURES))
        kw = dict(structure=structure,
                  density=_density(structure, draw(st.sampled_from(DENSITIES))),
                  dense_scale=draw(st.sampled_from([(1, 48), (0, 3), 1, (250, 300)])))
        out = draw(st.sampled_from(["u8", "u4", "u2", "s8", "s4"]))
        kind = draw(st.sampled_from(["conv", "pw", "dw"]))
        if b.tensor(x).signed:
            x = b.add(x, x, out=draw(st.sampled_from(["u8", "u4", "u2"])))  # inputs are unsigned
        if kind == "pw":
            x = b.pw_sparse(x, draw(st.integers(1, 10)), out=out, **kw)
        else:
            k = draw(st.sampled_from([1, 2, 3]))
            stride = draw(st.sampled_from([1, 2]))
            pad = tuple(draw(st.integers(0, k - 1)) for _ in range(4))
            h, w, _ = b.tensor(x).shape
            if h + pad[0] + pad[1] < k or w + pad[2] + pad[3] < k:
                pad = (k - 1,) * 4
            if kind == "dw":
                x = b.dw_sparse(x, kernel=k, stride=stride, padding=pad, out=out, **kw)
            else:
                x = b.conv_sparse(x, draw(st.integers(1, 10)), kernel=k, stride=stride,
                                  padding=pad, out=out, **kw)
    if draw(st.booleans()):
        if b.tensor(x).signed:
            x = b.add(x, x, out=draw(st.sampled_from(["u8", "u4"])))
        structure = draw(st.sampled_from(SPARSE_STRUCTURES))
        x = b.fc_sparse(x, draw(st.integers(1, 9)), out="s8", structure=structure,
                        density=_density(structure, draw(st.sampled_from(DENSITIES))))
    return verify(b.build(x))


@pytest.mark.slow
@given(graph=sparse_graphs(), target=st.sampled_from(["ref", "armv7em"]))
@settings(max_examples=16, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_sparse_layers_bitexact_on_host(graph, target, tmp_path):
    x = random_inputs(graph, 6, seed=1)
    got = run_host(graph, x, kernels=target, work_dir=tmp_path)
    np.testing.assert_array_equal(got, interpret(graph, x))


def _without_outliers(graph: Graph) -> Graph:
    """The same graph with every layer's outliers dropped (plain ternary layers, same requant)."""
    nodes = tuple(replace(n, sparse=None) if getattr(n, "sparse", None) else n
                  for n in graph.nodes)
    return Graph(graph.name, graph.tensors, nodes, graph.inputs, graph.outputs)


def test_density_zero_reproduces_pure_ternary(tmp_path):
    """No outliers and dense_scale 1 (every structure): the codes of the plain ternary layers,
    in C too (portable and DSP kernels)."""
    b = SparseGraphBuilder((6, 5, 9), seed=4)
    kw = dict(density=0.0, dense_scale=1)
    x = b.conv_sparse(b.input, 8, kernel=3, out="u8", structure="unstructured", **kw)
    x = b.dw_sparse(x, kernel=3, stride=2, out="u4", structure="row", **kw)
    x = b.pw_sparse(x, 6, out="u8", structure="1:16", **kw)
    x = b.conv_sparse(x, 5, kernel=2, out="u8", structure="1:8", **kw)
    x = b.pw_sparse(x, 7, out="u8", structure="2:8", **kw)
    g = verify(b.build(b.fc_sparse(x, 4, structure="block1x4", **kw)))
    plain = verify(_without_outliers(g))
    x = random_inputs(g, 8, seed=2)
    expected = interpret(plain, x)
    np.testing.assert_array_equal(interpret(g, x), expected)
    for target in ("ref", "armv7em"):
        sparse_c = run_host(g, x, kernels=target, work_dir=tmp_path / f"s{target}")
        np.testing.assert_array_equal(sparse_c, expected)
    np.testing.assert_array_equal(run_host(plain, x, work_dir=tmp_path / "plain"), expected)
    kernels = emit_c(g, tmp_path / "k", kernels="armv7em").kernels
    assert kernels == ("mixq_conv2d_sparse_dsp", "mixq_dwconv_sparse_u8",
                       "mixq_conv2d_sparse_any") + ("mixq_conv2d_sparse_dsp",) * 3  # u4 input


def test_outliers_change_the_output(tmp_path):
    """Guard against a vacuous comparison: dropping the outliers changes many codes."""
    b = SparseGraphBuilder((6, 6, 16), seed=5)
    g = verify(b.build(b.pw_sparse(b.input, 16, out="u8", structure="unstructured",
                                   density=0.1)))
    x = random_inputs(g, 4, seed=3)
    with_outliers = run_host(g, x, kernels="armv7em", work_dir=tmp_path)
    np.testing.assert_array_equal(with_outliers, interpret(g, x))
    assert np.mean(with_outliers != interpret(_without_outliers(g), x)) > 0.2


def test_python_scratch_sizes_mirror_the_c_companions(tmp_path):
    """Kernel.scratch_bytes == the C *_scratch_bytes() companion on the emitted parameters."""
    from chost import printed_scratch_bytes

    b = SparseGraphBuilder((7, 5, 6), seed=1)
    y = b.conv_sparse(b.input, 9, kernel=3, stride=2, density=0.1)     # 4 x 3 px: 4 columns
    y = b.dw_sparse(y, kernel=(3, 2), density=0.1)
    y = b.pw_sparse(b.add(y, y, out="u8"), 7, density=0.1, structure="block1x4")
    g = verify(b.build(b.fc_sparse(y, 3, density=0.1)))                # one column
    result = emit_c(g, tmp_path / "p", kernels="armv7em")
    assert result.kernels == ("mixq_conv2d_sparse_dsp", "mixq_dwconv_sparse_u8", "mixq_add_smlad_u8",
                              "mixq_conv2d_sparse_dsp", "mixq_conv2d_sparse_dsp")
    checks = [(i, f) for i, f in enumerate(result.kernels) if "sparse" in f]
    printed = printed_scratch_bytes(result, tmp_path, ["mixq_sparse.h", "mixq_sparse_dsp.h"],
                                    [(f, i) for i, f in checks])
    assert printed == [result.metadata["layers"][i]["scratch_bytes"] for i, _ in checks]
    assert all(v > 0 for v in printed)
