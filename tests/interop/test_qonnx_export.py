"""``mixq export --format qonnx``: qonnx's cleanup and shape inference accept the file, and
qonnx's executor reproduces the QAT model's fake-quantized outputs.

Tolerance: every layer's quantized output is equal (to 1e-6) except at the global average pool,
where the exact mean of the codes is often a tie (x.5 codes: a sum over H*W codes that is an odd
multiple of H*W/2); there PyTorch's float32 ``mean`` and onnxruntime's ``GlobalAveragePool`` err
by an ulp in different directions and round half up to different codes. So: samples whose pool
output agrees have equal logits; where the pool differs, it is exactly at such a tie.
"""

import numpy as np
import pytest
import torch

from mixq.cli import main
from mixq.data import load_dataset
from mixq.ir.capture import integerize
from mixq.ir.serialize import save_graph
from mixq.models import get_model
from mixq.nn import prepare
from mixq.quant.spec import BitAllocation
from mixq.search.memory import layer_shapes
from mixq.train.checkpoint import save_checkpoint

pytest.importorskip("qonnx")
WIDTH = 0.5


def _run_folder(root, granularity: str, bits: int):
    """A run folder as ``mixq demo`` writes it (graph, allocation, QAT checkpoint), untrained
    but calibrated on digits."""
    torch.manual_seed(0)
    data = load_dataset("digits")
    float_model = get_model("demo_net", width=WIDTH)
    shapes = layer_shapes(float_model, (1, 16, 16))
    alloc = BitAllocation.uniform([(s.name, s.kind) for s in shapes], bits, granularity)
    qat = prepare(float_model, alloc, calibration=data.train.x[:128]).eval()
    folder = root / "models" / "m"
    save_graph(integerize(qat, (1, 16, 16)), folder)
    (folder / "allocation.json").write_text(alloc.to_json())
    save_checkpoint(folder / "qat.ckpt", qat, model_id={"model": "demo_net", "width": WIDTH})
    return qat, data.test.x[:96]


@pytest.mark.parametrize("granularity,bits", [("per-channel", 4), ("per-layer", 2)])
def test_qonnx_export_reproduces_fake_quant(tmp_path, granularity, bits):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.cleanup import cleanup_model

    qat, x = _run_folder(tmp_path, granularity, bits)
    out = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path), "--model", "m", "--format", "qonnx",
                 "--out", str(out)]) == 0
    model = cleanup_model(ModelWrapper(str(out)), override_inpsize=len(x)).transform(InferShapes())
    n_layers = 8  # demo_net: conv0, three dw/pw pairs, fc
    # input, one weight and one activation Quant per layer, the pool's re-quantization
    assert len(model.get_nodes_by_op_type("Quant")) == 1 + 2 * n_layers + 1
    conv0 = model.get_nodes_by_op_type("Conv")[0]
    w_quant = model.find_producer(conv0.input[1])
    w_scale = model.get_initializer(w_quant.input[1])
    c_out = qat.gm.conv0.weight.shape[0]
    assert w_scale.shape == ((c_out, 1, 1, 1) if granularity == "per-channel" else ())
    assert model.get_initializer(w_quant.input[3]) == bits
    ctx = execute_onnx(model, {model.graph.input[0].name: x.numpy()},
                       return_full_exec_context=True)
    got = ctx[model.graph.output[0].name]
    seen = {}
    qat.gm.pool.register_forward_hook(lambda m, i, o: seen.update(pool_in=i[0], pool=o))
    with torch.no_grad():
        ref = qat(x).numpy()
    gap = model.get_nodes_by_op_type("GlobalAveragePool")[0]
    pool_onnx = ctx[model.find_consumer(gap.output[0]).output[0]]
    same_pool = (np.abs(pool_onnx - seen["pool"].numpy()) < 1e-6).reshape(len(x), -1).all(1)
    np.testing.assert_allclose(got[same_pool], ref[same_pool], atol=1e-6, rtol=0)
    # Where the pool differs, the codes' exact mean is a tie.
    s = qat.gm.pool.source.scale
    codes = np.round(seen["pool_in"].numpy() / s).astype(np.int64)
    n = codes.shape[2] * codes.shape[3]
    sums = codes.sum(axis=(2, 3))
    differs = np.abs(pool_onnx - seen["pool"].numpy()).reshape(sums.shape) > 1e-6
    assert np.all(sums[differs] % n == n // 2)
    assert same_pool.mean() >= 0.5


def test_export_unknown_format_and_model(tmp_path, capsys):
    rc = main(["export", str(tmp_path), "--model", "m", "--format", "qonnx",
               "--out", str(tmp_path / "x.onnx")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("mixq: error:") and "\n" not in err
    assert not (tmp_path / "x.onnx").exists()


def test_qonnx_export_imports_back_to_the_integer_graph(tmp_path):
    from mixq.interop.qonnx_import import import_qonnx
    from mixq.ir.capture import input_codes
    from mixq.ir.interpret import interpret
    from mixq.ir.serialize import load_graph

    qat, x = _run_folder(tmp_path, "per-channel", 4)
    out = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path), "--model", "m", "--format", "qonnx",
                 "--out", str(out)]) == 0
    codes = input_codes(qat, x)
    original = interpret(load_graph(tmp_path / "models" / "m"), codes)
    back = interpret(import_qonnx(out), codes)
    # The file holds float32 scales (mixq integerizes from float64 ones), which could move an
    # ICN bias across a tie; on this model no code changes.
    np.testing.assert_array_equal(back, original)
