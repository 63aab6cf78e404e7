"""``--format onnx``: onnxruntime runs the exported integer graph bit-exact against ir.interpret
(random graphs with every IR op, sub-byte and signed tensors, dense+sparse layers)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import random_graph

from mixq.codegen.sparse_synth import SparseGraphBuilder
from mixq.deploy.deploy import random_inputs
from mixq.interop.onnx_int import EMITTERS, container_dtype, export_graph_onnx, graph_to_onnx
from mixq.ir.graph import NODE_TYPES, Graph
from mixq.ir.interpret import interpret

ort = pytest.importorskip("onnxruntime")


def run_onnxruntime(model, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {sess.get_inputs()[0].name: x})
    return out


def assert_bitexact(graph: Graph, n: int = 6, seed: int = 0) -> None:
    x = random_inputs(graph, n, seed=seed)
    x = x.astype(container_dtype(graph.tensor(graph.inputs[0])))
    got = run_onnxruntime(graph_to_onnx(graph), x)
    assert got.dtype == container_dtype(graph.tensor(graph.outputs[0]))
    np.testing.assert_array_equal(got.astype(np.int64), interpret(graph, x))


def test_emitters_cover_every_ir_node_type():
    assert set(EMITTERS) == set(NODE_TYPES)


@given(graph=random_graph(max_layers=4, input_dtypes=("u8", "u4", "s8"), pools=True),
       seed=st.integers(0, 9))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_random_graphs_bitexact_in_onnxruntime(graph, seed):
    assert_bitexact(graph, seed=seed)


@pytest.mark.parametrize("out", ["u8", "u2", "s4"])
def test_dense_sparse_layers_bitexact_in_onnxruntime(out):
    b = SparseGraphBuilder((5, 6, 7), seed=3)
    x = b.conv_sparse(b.input, 9, kernel=3, stride=2, padding=(1, 0, 2, 1), out="u4")
    x = b.dw_sparse(x, kernel=3, out="u8", structure="2:8", density=0.25)
    x = b.pw_sparse(x, 5, out=out, structure="row", density=0.1)
    if b.tensor(x).signed:
        x = b.add(x, x, out="u4")
    graph = b.build(b.fc_sparse(x, 4, structure="block1x4", density=0.1))
    assert_bitexact(graph, n=8)


def test_negative_accumulators_floor_like_the_shift():
    # Arithmetic >> floors negative values; onnxruntime's integer Div truncates. Signed outputs
    # with odd sums exercise the difference (caught before the Mod correction).
    b = SparseGraphBuilder((4, 4, 3), seed=5)
    graph = b.build(b.fc(b.conv(b.input, 6, out="s8"), 7, out="s4"))
    assert_bitexact(graph, n=64)


def test_export_writes_deterministic_file(tmp_path):
    b = SparseGraphBuilder((4, 4, 3), seed=1)
    graph = b.build(b.fc(b.avgpool(b.conv(b.input, 6, out="u4")), 3))
    a, c = tmp_path / "a.onnx", tmp_path / "c.onnx"
    export_graph_onnx(graph, a)
    export_graph_onnx(graph, c)
    assert a.read_bytes() == c.read_bytes() and a.stat().st_size > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left over


def test_export_cli_on_run_dir(tmp_path, capsys):
    from mixq.cli import main
    from mixq.ir.serialize import save_graph

    b = SparseGraphBuilder((6, 6, 3), seed=2)
    graph = b.build(b.fc(b.avgpool(b.dw(b.conv(b.input, 5, out="u2"), out="u4")), 4))
    save_graph(graph, tmp_path / "run" / "models" / "mixed")
    out = tmp_path / "mixed.onnx"
    rc = main(["export", str(tmp_path / "run"), "--model", "mixed", "--format", "onnx",
               "--out", str(out)])
    assert rc == 0 and str(out) in capsys.readouterr().out
    import onnx

    x = random_inputs(graph, 5, seed=4).astype(np.uint8)
    np.testing.assert_array_equal(run_onnxruntime(onnx.load(out), x).astype(np.int64),
                                  interpret(graph, x))
    rc = main(["export", str(tmp_path / "run"), "--model", "nope", "--format", "onnx",
               "--out", str(tmp_path / "nope.onnx")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("mixq: error:") and "nope" in err and "\n" not in err
    assert not (tmp_path / "nope.onnx").exists()
