"""The pulp sets' depthwise, pooling and add kernels split over the 8 cluster cores: generated
C built for RV32 with the Xpulp loops, run on the functional Xpulp core bit-exact against
ir.interpret; the portable C path of the same sources on the host under ASan/UBSan."""

import numpy as np
import pytest

from mixq.codegen.emit import emit_c
from mixq.codegen.synth import GraphBuilder
from mixq.deploy.build import build_model_elf
from mixq.deploy.deploy import _host_check
from mixq.deploy.riscv import RV32IMC
from mixq.deploy.run import ModelRunner, decode_logits, input_bytes, random_inputs
from mixq.deploy.xpulp_runner import XPULPV2
from mixq.ir.interpret import interpret

pytestmark = pytest.mark.cross


def run_xpulpv2(graph, out_dir, n=2, inplace="auto"):
    """(got, expected, metadata, core) of ``graph`` on the 'pulp' set (XpulpV2)."""
    project = out_dir / "c"
    meta = emit_c(graph, project, kernels="pulp", inplace=inplace).metadata
    elf = build_model_elf(RV32IMC, project, out_dir / "m.elf")
    runner = ModelRunner(XPULPV2, elf, graph.tensor(graph.inputs[0]).numel,
                         graph.tensor(graph.outputs[0]).numel, meta["arena_bytes"])
    inputs = random_inputs(graph, n, 0)
    got = decode_logits(graph, runner.run(input_bytes(graph, inputs)))
    return got.reshape(n, -1), interpret(graph, inputs).reshape(n, -1), meta, runner.machine


# kernel, stride, input / weight / output dtypes, channels: the 3x3 register path (s1, s2),
# a 5x5 and a 2x2 (generic word loop), sub-byte weights and activations, signed input, and a
# channel count that splits by rows (fewer 4-channel blocks than cores) or by channels
DW_CASES = [(3, 1, "u8", "s8", "u8", 36), (3, 2, "u8", "s8", "u8", 6),
            (5, 1, "s8", "s4", "u4", 9), (2, 2, "s4", "s2", "u8", 34), (3, 2, "u2", "t2", "u2", 5)]


@pytest.mark.parametrize("kernel,stride,act,weight,out,channels", DW_CASES)
def test_dw_bit_exact_on_xpulp(tmp_path, kernel, stride, act, weight, out, channels):
    b = GraphBuilder((7, 6, channels), act, seed=kernel + stride)
    g = b.build(b.dw(b.input, kernel=kernel, stride=stride, weight=weight, out=out))
    got, expected, meta, core = run_xpulpv2(g, tmp_path)
    assert meta["layers"][0]["function"] == "mixq_pulp_dwconv_l8"
    np.testing.assert_array_equal(got, expected)
    assert sum(v for k, v in core.xpulp_counts.items() if ".sdot" in k) > 0
    if (kernel, stride, act) in ((3, 1, "u8"), (2, 2, "s4")):  # portable path, ASan/UBSan
        inputs = random_inputs(g, 2, 0)
        host = _host_check(tmp_path / "c", tmp_path, input_bytes(g, inputs),
                           interpret(g, inputs), g)
        assert host is None or host.bitexact


@pytest.mark.parametrize("act", ["u8", "s8"])
def test_dw_3x3_rows_with_shifts_on_both_sides_of_32(tmp_path, act):
    # shift >= 32: the hardware-loop row (requantization from the high word); below: the C row
    # with the 32-bit-halves rule; here the even channels' shifts are lowered by 10
    import dataclasses

    b = GraphBuilder((5, 7, 12), act, seed=7)
    g = b.build(b.dw(b.input, kernel=3, stride=1, out="u8"))
    node = g.nodes[0]
    r = node.requant
    low = (np.arange(len(r.shift)) % 2 == 0) * 10
    assert (r.shift >= 32).all() and (r.shift - 10 < 32).all()
    requant = dataclasses.replace(r, bias=r.bias >> low, multiplier=r.multiplier >> low,
                                  shift=r.shift - low)
    g = dataclasses.replace(g, nodes=(dataclasses.replace(node, requant=requant),))
    got, expected, meta, core = run_xpulpv2(g, tmp_path)
    np.testing.assert_array_equal(got, expected)
    dot = "pv.dotsp.b" if act == "s8" else "pv.dotusp.b"
    assert core.xpulp_counts[dot] == 2 * 5 * 7 * 6  # 2 inputs, 6 channels in the loop


@pytest.mark.parametrize("inplace", ["auto", "always"])
def test_pools_and_add_split_over_the_cores(tmp_path, inplace):
    from mixq.deploy.pulp_bench import run_traced
    from mixq.deploy.xpulp_timing import time_layers
    from mixq.platform.spec import KernelSet

    b = GraphBuilder((11, 10, 6), "u8", seed=4)
    m = b.maxpool(b.input, kernel=3, stride=2, padding=(1, 1, 1, 1))  # (6, 5, 6)
    a = b.avgpool(m, kernel=3, stride=1, padding=(1, 1, 1, 1), count_include_pad=False)
    d = b.dw(a, kernel=3, out="u8" if inplace == "always" else "u4")
    s = b.add(a, d, out="u8" if inplace == "always" else "u4")
    g = b.build(b.avgpool(b.add(s, d, out="u8")))
    functions = ["mixq_pulp_maxpool", "mixq_pulp_avgpool2d", "mixq_pulp_dwconv_l8",
                 "mixq_pulp_add", "mixq_pulp_add", "mixq_pulp_avgpool"]
    if inplace == "always":  # the adds overwrite an input, each core its own pixels
        got, expected, meta, _ = run_xpulpv2(g, tmp_path, inplace="always")
        np.testing.assert_array_equal(got, expected)
        assert [layer["function"] for layer in meta["layers"]] == functions
        assert [layer["inplace"] for layer in meta["layers"]][3:5] == [True, True]
        return
    inputs = random_inputs(g, 2, 0)
    layers, segments, table, _ = run_traced(g, KernelSet.PULP, tmp_path, inputs)  # bit-exact
    assert [layer["function"] for layer in layers] == functions
    timing = time_layers(segments, table)
    for i, layer in enumerate(layers):
        t = timing[i]
        assert t.cores == 8 and t.cluster_cycles < t.cycles, layer["function"]
    # the portable path of the same sources, ASan/UBSan
    host = _host_check(tmp_path / "c", tmp_path, input_bytes(g, inputs), interpret(g, inputs), g)
    assert host is None or host.bitexact
