"""``mixq import``: a network quantized and exported by Brevitas becomes an ir.Graph that agrees
with qonnx's own execution of the file, and deploys bit-exact on the emulated Cortex-M7.

The fixture ``data/brevitas_digits.onnx`` was trained and exported by Brevitas with
``python tests/interop/brevitas_net.py`` (conv + batch norm, depthwise conv in a residual add,
2-bit pointwise, strided conv, global average pool, linear with an output quantizer); a second
test exports the same network with the installed Brevitas now, so a Brevitas upgrade that changes
the export is caught.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from mixq.cli import main
from mixq.data import load_dataset
from mixq.interop.qonnx_import import import_qonnx, import_qonnx_proto
from mixq.ir.graph import Add, AvgPool, Conv2d, FullyConnected
from mixq.ir.interpret import interpret, run_node

pytest.importorskip("qonnx")
FIXTURE = Path(__file__).parent / "data" / "brevitas_digits.onnx"


def qonnx_execution(path, x: np.ndarray):
    """qonnx's executor on the file with batch len(x): (every tensor by name, the cleaned
    model's IR graph, IR tensor -> ONNX tensor, a function giving an IR tensor's codes)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(ModelWrapper(str(path)), override_inpsize=len(x))
    ctx = execute_onnx(model, {model.graph.input[0].name: x}, return_full_exec_context=True)
    graph, onnx_of = import_qonnx_proto(model.model)

    def codes(ir: str) -> np.ndarray:  # qonnx's values of an IR tensor as codes, NHWC
        t = graph.tensor(ir)
        v = ctx[onnx_of[ir]]
        v = v.transpose(0, 2, 3, 1) if v.ndim == 4 else v  # (N, C, H, W) -> (N, H, W, C)
        return np.round(v.reshape(len(x), *t.shape) / t.scale).astype(np.int64)

    return ctx[model.graph.output[0].name], graph, codes


@pytest.fixture(scope="module")
def digits_test():
    test = load_dataset("digits").test
    return test.x.numpy(), test.y.numpy()


def test_brevitas_file_agrees_with_qonnx_execution(digits_test):
    x, y = digits_test
    graph = import_qonnx(FIXTURE)
    kinds = {type(n) for n in graph.nodes}
    assert kinds == {Conv2d, Add, AvgPool, FullyConnected}
    assert {n.groups > 1 for n in graph.nodes if isinstance(n, Conv2d)} == {True, False}
    assert any(n.ternary for n in graph.weight_nodes)  # the 2-bit narrow pointwise layer
    ref, batch_graph, codes = qonnx_execution(FIXTURE, x)
    out = interpret(graph, codes(batch_graph.inputs[0]))  # the same input codes as qonnx's
    agree = float((out.argmax(1) == ref.argmax(1)).mean())
    assert agree >= 0.995, agree
    assert (out.argmax(1) == y).mean() > 0.5  # a trained network, not a constant function
    # Layer by layer, each IR node fed qonnx's own input codes: a code differs by at most one,
    # and only rarely (ties: QONNX rounds half to even, mixq half up; float32 vs exact ICN).
    for node in batch_graph.nodes:
        got = run_node(node, {i: codes(i) for i in node.inputs})
        diff = np.abs(got - codes(node.output))
        assert diff.max() <= 1 and diff.mean() <= 0.005, (node.name, diff.mean())


def test_installed_brevitas_export_imports(tmp_path):
    pytest.importorskip("brevitas")
    from brevitas_net import train_and_export

    train_and_export(tmp_path / "fresh.onnx", epochs=0)
    graph = import_qonnx(tmp_path / "fresh.onnx")
    assert {type(n) for n in graph.nodes} == {Conv2d, Add, AvgPool, FullyConnected}
    x = np.random.default_rng(0).random((16, 1, 16, 16), np.float32)
    ref, batch_graph, codes = qonnx_execution(tmp_path / "fresh.onnx", x)
    assert (interpret(graph, codes(batch_graph.inputs[0])).argmax(1) == ref.argmax(1)).mean() \
        >= 0.9


@pytest.mark.cross
def test_import_then_deploy_bitexact_on_cortex_m7(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["import", str(FIXTURE), "--out", str(run), "--name", "brevitas"]) == 0
    assert "mixq deploy" in capsys.readouterr().out
    rc = main(["deploy", str(run), "--model", "brevitas", "--out", str(tmp_path / "dep"),
               "--emulate", "20"])
    assert rc == 0
    d = json.loads((tmp_path / "dep" / "brevitas" / "deploy.json").read_text())
    assert d["bitexact"] and d["samples"] == 20 and d["mismatches"] == 0
