"""The 'pulp' (XpulpV2) and 'pulpnn' (XpulpNN) kernel sets: generated C built for RV32 with the
Xpulp hot loops, run on the functional Xpulp core bit-exact against ir.interpret."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mixq.codegen.emit import emit_c
from mixq.codegen.synth import GraphBuilder
from mixq.deploy.build import build_model_elf
from mixq.deploy.deploy import _host_check
from mixq.deploy.riscv import RV32IMC
from mixq.deploy.run import ModelRunner, decode_logits, input_bytes, random_inputs
from mixq.deploy.xpulp_runner import XPULPNN, XPULPV2
from mixq.ir.interpret import interpret

from strategies import random_graph

pytestmark = pytest.mark.cross


def run_on_xpulp(graph, out_dir, target, n=3, seed=0):
    project = out_dir / "c"
    meta = emit_c(graph, project, kernels=target).metadata
    elf = build_model_elf(RV32IMC, project, out_dir / "m.elf")
    runner = ModelRunner(XPULPNN, elf, graph.tensor(graph.inputs[0]).numel,
                         graph.tensor(graph.outputs[0]).numel, meta["arena_bytes"])
    inputs = random_inputs(graph, n, seed)
    got = decode_logits(graph, runner.run(input_bytes(graph, inputs)))
    expected = interpret(graph, inputs)
    return got.reshape(n, -1), expected.reshape(n, -1), meta, runner.machine


# every weight width and activation width, signed and unsigned inputs, on both targets
PRECISIONS = [("u8", "s8"), ("s8", "s8"), ("u8", "s4"), ("u4", "s4"), ("s4", "s4"), ("u2", "s4"),
              ("u8", "s2"), ("u4", "t2"), ("u2", "s2"), ("s2", "t2")]


@pytest.mark.parametrize("target", ["pulp", "pulpnn"])
@pytest.mark.parametrize("act,weight", PRECISIONS)
def test_conv_pw_fc_bit_exact(tmp_path, target, act, weight):
    b = GraphBuilder((5, 6, 3), act, seed=len(act + weight))
    y = b.conv(b.input, 6, kernel=3, stride=1, out=act.replace("s", "u"), weight=weight)
    y = b.pw(y, 5, weight=weight, out=act.replace("s", "u"))
    g = b.build(b.fc(y, 7, weight=weight, out="s8"))
    got, expected, meta, core = run_on_xpulp(g, tmp_path, target)
    assert all(layer["function"].startswith("mixq_pulp_conv") for layer in meta["layers"])
    np.testing.assert_array_equal(got, expected)
    dots = sum(v for k, v in core.xpulp_counts.items() if ".sdot" in k)
    assert dots > 0 and core.xpulp_counts["lp.setup"] > 0


def test_xpulpnn_uses_nibble_and_crumb_dot_products(tmp_path):
    b = GraphBuilder((4, 4, 16), "u4", seed=1)
    y = b.pw(b.input, 8, weight="s4", out="u2")
    g = b.build(b.pw(y, 8, weight="s2", out="u8"))
    got, expected, meta, core = run_on_xpulp(g, tmp_path, "pulpnn")
    np.testing.assert_array_equal(got, expected)
    inputs = random_inputs(g, 3, 0)  # the portable C path of the same kernels, ASan/UBSan
    host = _host_check(tmp_path / "c", tmp_path, input_bytes(g, inputs), interpret(g, inputs), g)
    assert host is None or host.bitexact
    assert [layer["function"] for layer in meta["layers"]] == ["mixq_pulp_conv_l4_w4",
                                                               "mixq_pulp_conv_l2_w2"]
    assert core.xpulp_counts["pv.sdotusp.n"] > 0 and core.xpulp_counts["pv.sdotusp.c"] > 0


def test_xpulpv2_core_refuses_xpulpnn_kernels(tmp_path):
    from mixq.errors import MixqError

    b = GraphBuilder((2, 2, 16), "u4", seed=1)
    g = b.build(b.pw(b.input, 4, weight="s4", out="u8"))
    project = tmp_path / "c"
    meta = emit_c(g, project, kernels="pulpnn").metadata
    elf = build_model_elf(RV32IMC, project, tmp_path / "m.elf")
    runner = ModelRunner(XPULPV2, elf, 64, 16, meta["arena_bytes"])
    with pytest.raises(MixqError, match="pv.sdotusp.n at pc 0x[0-9a-f]+ is XpulpNN"):
        runner.run(input_bytes(g, random_inputs(g, 1, 0)))


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(graph=random_graph(max_layers=3, max_hw=6, max_channels=9,
                          input_dtypes=("u8", "u4", "u2", "s8")),
       target=st.sampled_from(["pulp", "pulpnn"]))
def test_random_graphs_bit_exact(tmp_path_factory, graph, target):
    got, expected, _, _ = run_on_xpulp(graph, tmp_path_factory.mktemp("g"), target, n=2)
    np.testing.assert_array_equal(got, expected)


def test_traced_layer_timing(tmp_path):
    from mixq.deploy.pulp_bench import run_traced
    from mixq.deploy.xpulp_timing import FORK_JOIN_CYCLES, time_blocks, time_layers
    from mixq.platform.spec import KernelSet

    b = GraphBuilder((2, 2, 16), "u8", seed=3)
    g = b.build(b.pw(b.input, 8, weight="s8", out="u8"))
    layers, segments, table, core = run_traced(g, KernelSet.PULP, tmp_path,
                                               random_inputs(g, 2, 0))
    t = time_layers(segments, table)[0]
    # 2 pixel pairs x 2 channel blocks x 4 hardware-loop iterations x 8 dot products
    assert core.xpulp_counts["pv.sdotusp.b"] == 2 * 2 * 2 * 4 * 8
    assert t.instructions > 2 * 2 * 4 * 14 and t.cycles >= t.instructions
    # fewer pixel pairs than cores: the 2 channel blocks go to cores 0 and 1 (alike), the
    # other 6 cores find no work
    work = {c: time_blocks(b, table).cycles for (seg, c), b in segments.items() if seg == 0}
    assert t.cores == 8 and sorted(work) == list(range(-1, 8))
    assert abs(work[0] - work[1]) <= work[0] // 100
    assert max(work[c] for c in range(2, 8)) < work[0] / 10
    assert t.cluster_cycles == work[-1] + max(work.values()) + FORK_JOIN_CYCLES
    assert t.cycles == sum(work.values()) and t.cluster_cycles < t.cycles


REQUANT_C = r"""
#include <stdio.h>
#include "mixq_pulp.h"
int main(void)
{
    const int32_t accs[] = {0, 1, -1, 7, -7, 123456, -123456, INT32_MAX, INT32_MIN, 1 << 30};
    const int32_t mults[] = {0, 1 << 30, (1 << 30) + 12345, INT32_MAX, -(1 << 30), INT32_MIN};
    const int64_t biases[] = {0, 1, -1, (int64_t)1 << 40, -((int64_t)1 << 40), INT64_MAX / 4,
                              INT64_MIN / 4, 0x7FFFFFFF, (int64_t)0xFFFFFFFF};
    long bad = 0, n = 0;
    for (int32_t s = 1; s <= 62; s++)
        for (unsigned a = 0; a < sizeof accs / sizeof *accs; a++)
            for (unsigned m = 0; m < sizeof mults / sizeof *mults; m++)
                for (unsigned b = 0; b < sizeof biases / sizeof *biases; b++) {
                    const int64_t bias = biases[b] + ((int64_t)1 << (s - 1));
                    const int32_t lo[] = {0, -128, INT32_MIN}, hi[] = {255, 127, INT32_MAX};
                    for (int r = 0; r < 3; r++, n++)
                        bad += mixq_pulp_requantize(accs[a], bias, mults[m], s, lo[r], hi[r]) !=
                               mixq_requantize_inline(accs[a], bias, mults[m], s, lo[r], hi[r]);
                }
    printf("%ld %ld\n", n, bad);
    return bad != 0;
}
"""


def test_requantization_on_32_bit_halves_equals_the_int64_rule(tmp_path):
    import shutil
    import subprocess

    from mixq.codegen.kernel import RUNTIME_DIR

    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no host gcc")
    (tmp_path / "t.c").write_text(REQUANT_C)
    exe = tmp_path / "t"
    subprocess.run([gcc, "-O2", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", f"-I{RUNTIME_DIR}", f"-I{RUNTIME_DIR / 'pulp'}",
                    str(tmp_path / "t.c"), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True)
    n, bad = map(int, out.stdout.split())
    assert out.returncode == 0 and bad == 0 and n == 62 * 10 * 6 * 9 * 3, out.stderr


LO_SHIFTS, HI_SHIFTS = (2, 5, 17, 31, 31, 16, 3, 30), (32, 33, 33, 62, 47, 32, 35, 50)
MIX_SHIFTS = (2, 33, 17, 31, 62, 16, 32, 30)


@pytest.mark.parametrize("shifts,out", [(LO_SHIFTS, "u8"), (HI_SHIFTS, "u8"), (MIX_SHIFTS, "u8"),
                                        (MIX_SHIFTS, "s4"), (LO_SHIFTS, "u2"), (HI_SHIFTS, "u4")])
def test_requantize_and_store_loops_on_edge_values(tmp_path, shifts, out):
    """The assembly output stages (every shift >= 32, all in [2, 31], or both kinds: a branch
    per channel; 8-bit codes stored, 4 / 2-bit codes packed) against the interpreter with
    multipliers and biases that push results beyond int32 both ways, or barely in range."""
    import dataclasses

    from mixq.quant.integer import Requant

    b = GraphBuilder((2, 2, 16), "u8", seed=2)
    g = b.build(b.pw(b.input, 8, weight="s8", out=out))
    node = g.nodes[0]
    bits = int(out[1:])
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if out[0] == "s" else (0, (1 << bits) - 1)
    shift = np.array(shifts)
    mult = np.array([2**31 - 1, -(2**31), 2**30, 12345, -1, 1, 2**31 - 1, -(2**30)])
    # product-unit biases: large both ways, a rounding half, and values near the clamp ends
    bias = np.array([2**45, -(2**45), 0, 255 << 31, -(1 << 20), 2**55, -(2**40), 1 << 29])
    for c in (2, 5):  # in range: about acc / (300 * 2^(8 - bits)) + the range's middle
        mult[c] = 2 ** int(shift[c]) // (300 << (8 - bits))
        bias[c] = ((lo + hi + 1) // 2) << int(shift[c])
    bias = bias + (np.int64(1) << (shift - 1))
    rq = Requant(bias, mult, shift, lo, hi)
    g = dataclasses.replace(g, nodes=(dataclasses.replace(node, requant=rq),))
    got, expected, _, core = run_on_xpulp(g, tmp_path, "pulp", n=4)
    np.testing.assert_array_equal(got, expected)
    assert len(np.unique(expected)) > 2  # not all clamped
    assert core.xpulp_counts["p.max"] > 0  # the assembly clamps, not the C path
    assert (core.xpulp_counts["p.clip"] > 0) == (shifts != HI_SHIFTS)  # the LO form clips


@pytest.mark.parametrize("act,weight,stride", [("u8", "s8", 1), ("s8", "s2", 2), ("u4", "s4", 1),
                                               ("u2", "s2", 1)])
def test_windows_read_in_place(tmp_path, act, weight, stride):
    """Windows inside the input are read row by row in place (16 channels: whole words and
    weight groups per window row), border windows from the im2col, both in one pixel pair; 25
    outputs: pairs across rows and a lone last pixel."""
    b = GraphBuilder((5, 5, 16) if stride == 1 else (9, 9, 16), act, seed=4)
    g = b.build(b.conv(b.input, 8, kernel=3, stride=stride, weight=weight, out="u8"))
    got, expected, meta, _ = run_on_xpulp(g, tmp_path, "pulpnn", n=2)
    np.testing.assert_array_equal(got, expected)
