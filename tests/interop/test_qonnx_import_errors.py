"""``mixq import`` on bad input: one ``mixq: error:`` line listing every problem, exit 2, nothing
written."""

import numpy as np
import pytest

from mixq.cli import main

onnx = pytest.importorskip("onnx")
pytest.importorskip("qonnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

QDOMAIN = "qonnx.custom_op.general"


def _quant(x, out, scale, bits, signed, nodes, inits):
    for suffix, v in (("s", np.float32(scale)), ("z", np.float32(0)), ("b", np.float32(bits))):
        inits.append(numpy_helper.from_array(np.array(v), f"{out}_{suffix}"))
    nodes.append(helper.make_node("Quant", [x, f"{out}_s", f"{out}_z", f"{out}_b"], [out],
                                  name=f"q_{out}", domain=QDOMAIN, signed=signed, narrow=0,
                                  rounding_mode="ROUND"))


def _write(path, nodes, inits, out_shape):
    g = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                       [1, 2, 4, 4])],
                          [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT,
                                                         out_shape)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid(QDOMAIN, 1)])
    onnx.save(m, str(path))


def _run(capsys, path, out):
    rc = main(["import", str(path), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    return rc, err


def test_unsupported_ops_listed_in_one_error(tmp_path, capsys):
    nodes, inits = [], []
    _quant("x", "xq", 1 / 255, 8, 0, nodes, inits)
    nodes.append(helper.make_node("MaxPool", ["xq"], ["mp"], name="pool1", kernel_shape=[2, 2]))
    nodes.append(helper.make_node("Sigmoid", ["mp"], ["sg"], name="act1"))
    nodes.append(helper.make_node("Tanh", ["sg"], ["th"], name="act2"))
    _write(tmp_path / "bad.onnx", nodes, inits, [1, 2, 2, 2])
    rc, err = _run(capsys, tmp_path / "bad.onnx", tmp_path / "run")
    assert rc == 2 and err.startswith("mixq: error:") and "\n" not in err
    assert "3 unsupported node(s)" in err
    for name, op in (("pool1", "MaxPool"), ("act1", "Sigmoid"), ("act2", "Tanh")):
        assert f"'{name}' ({op})" in err
    assert not (tmp_path / "run").exists()


def test_non_quantized_tensors_listed_in_one_error(tmp_path, capsys):
    nodes, inits = [], []
    _quant("x", "xq", 1 / 255, 8, 0, nodes, inits)
    # a float weight (no Quant on it) and a float output (no Quant after the second conv)
    inits.append(numpy_helper.from_array(np.ones((3, 2, 1, 1), np.float32), "w_float"))
    nodes.append(helper.make_node("Conv", ["xq", "w_float"], ["c1"], name="conv_float_w"))
    nodes.append(helper.make_node("Relu", ["c1"], ["r1"], name="relu1"))
    _quant("r1", "r1q", 0.1, 4, 0, nodes, inits)
    inits.append(numpy_helper.from_array(np.ones((3, 3, 1, 1), np.float32), "w2"))
    _quant("w2", "w2q", 0.5, 4, 1, nodes, inits)
    nodes.append(helper.make_node("Conv", ["r1q", "w2q"], ["c2"], name="conv_float_out"))
    _write(tmp_path / "float.onnx", nodes, inits, [1, 3, 4, 4])
    rc, err = _run(capsys, tmp_path / "float.onnx", tmp_path / "run")
    assert rc == 2 and err.startswith("mixq: error:") and "\n" not in err
    assert "weight 'w_float' of node 'conv_float_w'" in err
    assert "output of node 'conv_float_out' (Conv) is not quantized" in err
    assert "graph output 'c2' is not quantized" in err
    assert not (tmp_path / "run").exists()


def test_missing_and_corrupt_files(tmp_path, capsys):
    rc, err = _run(capsys, tmp_path / "nope.onnx", tmp_path / "run")
    assert rc == 2 and "not found" in err
    (tmp_path / "junk.onnx").write_bytes(b"\x00garbage")
    rc, err = _run(capsys, tmp_path / "junk.onnx", tmp_path / "run")
    assert rc == 2 and "not an ONNX model" in err and "\n" not in err
    assert not (tmp_path / "run").exists()


def test_reshape_that_is_not_a_flatten_is_reported(tmp_path, capsys):
    nodes, inits = [], []
    _quant("x", "xq", 1 / 255, 8, 0, nodes, inits)
    inits.append(numpy_helper.from_array(np.array([1, 2, 16], np.int64), "shape3"))
    nodes.append(helper.make_node("Reshape", ["xq", "shape3"], ["r"], name="reshape3d"))
    _write(tmp_path / "reshape.onnx", nodes, inits, [1, 2, 16])
    rc, err = _run(capsys, tmp_path / "reshape.onnx", tmp_path / "run")
    assert rc == 2 and "'reshape3d' (Reshape) must flatten to (N, 32)" in err
    assert not (tmp_path / "run").exists()
