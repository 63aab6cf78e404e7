"""ARMv7E-M DSP kernels on the emulated Cortex-M7 (and their C twin on the host), bit for bit
against ir.interpret: random graphs, channel/lane remainders, pixel tails, requant slow path."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from deploy_graphs import deploy_json
from strategies import random_graph

from mixq.codegen.emit import emit_c
from mixq.codegen.synth import GraphBuilder
from mixq.deploy.run import random_inputs
from mixq.ir.graph import Requant
from mixq.ir.interpret import interpret
from mixq.quant.integer import icn_bias, quantize_multipliers


pytestmark = pytest.mark.cross


def _dsp_layers(result):
    return [layer["kernel"] for layer in result["layers"] if "dsp" in layer["kernel"]]


def _check(graph, path, n=16):
    r = deploy_json(graph, path, emulate=n, host_check=False)
    assert r["bitexact"], (r["mismatches"], [layer["kernel"] for layer in r["layers"]])
    return r


@pytest.mark.slow
@given(graph=random_graph(max_layers=3, max_hw=7, max_channels=12,
                          input_dtypes=("u8", "u4", "u2")))
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_random_graphs_bitexact_on_emulator(graph, tmp_path):
    _check(graph, tmp_path / "g", n=8)


@pytest.mark.parametrize("weight", ["s8", "s4", "s2", "t2"])
def test_lane_and_pixel_remainders(tmp_path, weight):
    """Odd channel counts (1..33), every k_lanes remainder, pixel counts with tails of 1..3."""
    b = GraphBuilder((7, 5, 3), "u8", seed=11)
    x = b.conv(b.input, 5, kernel=3, stride=2, weight=weight, out="u4")        # 4x3 px, K=9*3
    x = b.pw(x, 13, weight=weight, out="u2")                                     # c_in 5
    x = b.conv(x, 7, kernel=2, padding=(1, 0, 0, 1), weight=weight, out="u8")    # c_in 13
    x = b.pw(x, 33, weight=weight, out="u8")                                     # c_in 7
    x = b.conv(x, 1, kernel=(1, 3), padding=(0, 0, 1, 1), weight=weight, out="u4")
    x = b.pw(x, 17, weight=weight, out="s8")                                     # signed out
    g = b.build(b.fc(b.avgpool(b.pw(x, 6, weight=weight, out="u8")), 9, weight=weight))
    r = _check(g, tmp_path)
    assert len(_dsp_layers(r)) >= 6


FC_CASES = [  # (input shape, act, c_out, weight, out): channel groups 4 / 2 / 1, partial units
    ((3, 2, 5), "u8", 19, "s4", "s4"),    # 30 codes: a tail unit; signed sub-byte output
    ((1, 1, 70), "u8", 7, "s8", "u8"),    # 4 + 2 + 1 channels, 70 = 17 words + 2 codes
    ((3, 2, 5), "u4", 6, "s2", "u2"),     # sub-byte input: the widened column in scratch
    ((1, 1, 33), "u2", 5, "t2", "s8"),
    ((2, 2, 7), "u4", 3, "s8", "u4"),     # pixels of 7 u4 codes: padding codes meet zeros
]


@pytest.mark.parametrize("case", FC_CASES, ids=lambda c: f"{c[1]}{c[3]}{c[4]}x{c[2]}")
def test_fully_connected(tmp_path, case):
    """mixq_fc_dsp_*: every channel-group remainder, partial units, every input width, the
    8-bit kernel on widened sub-byte weights where it is cheaper, signed and sub-byte outputs."""
    shape, act, c_out, weight, out = case
    b = GraphBuilder(shape, act, seed=sum(shape) + c_out)
    g = b.build(b.fc(b.input, c_out, weight=weight, out=out))
    r = _check(g, tmp_path, n=12)
    assert _dsp_layers(r)[0].startswith("mixq_fc_dsp_s")


def test_pointwise_stride_2(tmp_path):
    """1x1 stride-2 layers (ResNet shortcuts; the direct 1x1 im2col): every weight width, input
    widths with the offset-binary column sums, odd channel counts, pixel blocks and tails, a
    signed output (the SSAT mode)."""
    b = GraphBuilder((9, 5, 7), "u8", seed=5)
    y1 = b.conv(b.input, 10, kernel=1, stride=2, padding="valid", weight="s8", out="u4")  # 5x3
    y2 = b.conv(y1, 6, kernel=1, stride=2, padding="valid", weight="s4", out="u2")  # 3x2: 4 + 2
    y3 = b.conv(y2, 5, kernel=1, stride=2, padding="valid", weight="t2", out="s8")  # 2x1
    # every pixel of each strided output reaches the logits (the next stride-2 layer drops 3/4)
    f = [b.fc(y, 8, out="u8") for y in (y1, y2, y3)]
    r = _check(b.build(b.add(b.add(f[0], f[1]), f[2])), tmp_path, n=4)
    assert r["layers"][0]["kernel"] == "mixq_conv2d_dsp_s8"  # per tap: the direct 1x1 path
    # the sub-byte layers: their own width or the widened fallback, whichever is estimated cheaper
    assert all(layer["kernel"].startswith("mixq_conv2d_dsp") for layer in r["layers"][1:3])


def test_requant_slow_path_small_shifts(tmp_path):
    """Shifts <= 32 (real scales >= 0.5) take the 64-bit path; clamps at both ends."""
    b = GraphBuilder((4, 4, 6), "u8", seed=5)
    c = 8
    real = np.array([0.75, 1.5, 3.0, 0.5, 0.26, 0.51, 2.0, 1.0])
    mult, shift = quantize_multipliers(real)
    rq = Requant(bias=icn_bias(np.arange(c) * 37.0 - 100, mult, shift), multiplier=mult,
                 shift=shift, activation_min=0, activation_max=15)
    y = b.conv(b.input, c, kernel=3, weight="s2", out="u4", requant=rq)
    rq2 = Requant(bias=icn_bias(np.zeros(c), -mult, shift), multiplier=-mult, shift=shift,
                  activation_min=-8, activation_max=7)
    g = b.build(b.pw(y, c, weight="s8", out="s4", requant=rq2))
    assert min(shift) <= 32
    _check(g, tmp_path)


def test_dsp_project_runs_on_host_with_sanitizers(tmp_path):
    """The same project, built by host gcc (plain C twins of the DSP instructions, ASan/UBSan)."""
    from mixq.deploy.host import run_host

    b = GraphBuilder((6, 6, 3), "u8", seed=7)
    x = b.conv(b.input, 9, kernel=3, stride=2, weight="s4", out="u2")
    x = b.pw(x, 6, weight="t2", out="u4")
    x = b.pw(x, 8, weight="s8", out="u8")
    x = b.conv(x, 4, kernel=3, weight="s8", out="u8")  # rows of whole words: widened in place
    x = b.fc(x, 7, weight="s4", out="u8")  # sub-byte input: mixq_fc_dsp's widened column
    g = b.build(b.fc(x, 5, weight="s8"))
    project = emit_c(g, tmp_path / "c", kernels="armv7em")
    assert sum("dsp" in k for k in project.kernels) == 6
    assert project.metadata["layers"][3]["function"] == "mixq_conv2d_dsp_win_s8"
    inputs = random_inputs(g, 6)
    assert np.array_equal(run_host(tmp_path / "c", inputs, work_dir=tmp_path / "h"),
                          interpret(g, inputs))
    # the scratch the code generator reserves == the C companions' (per-tap and window im2col)
    from chost import printed_scratch_bytes

    layers = project.metadata["layers"]
    calls = [(lay["function"].rsplit("_", 1)[0], i) for i, lay in enumerate(layers)]
    assert "mixq_conv2d_dsp_win" in {f for f, _ in calls}
    assert printed_scratch_bytes(project, tmp_path, ["mixq_dsp.h"], calls) == \
        [lay["scratch_bytes"] for lay in layers]


def test_window_rows_widened_from_the_input(tmp_path):
    """8-bit 3x3 / 2x2 convs whose kernel rows are whole words (3 x 8, 3 x 4, 2 x 6 codes: even
    and odd word counts, mixq_dsp_widen_row8) take the window layout, widening interior pixels
    straight from the input; borders, stride 2, asymmetric padding and pixel tails alike,
    bit-exact on the emulator (the host build under ASan/UBSan: the sanitizer test above)."""
    b = GraphBuilder((9, 7, 8), "u8", seed=13)
    x = b.conv(b.input, 4, kernel=3, weight="s8", out="u8")                       # 63 px: tail 3
    x = b.conv(x, 6, kernel=3, stride=2, weight="s8", out="u8")                   # 5x4 px
    x = b.conv(x, 5, kernel=2, padding=(1, 0, 0, 1), weight="s8", out="u8")       # 5x4 px
    g = b.build(b.fc(x, 7, weight="s8"))
    r = _check(g, tmp_path / "m", n=6)
    assert [layer["kernel"] for layer in r["layers"][:3]] == ["mixq_conv2d_dsp_win_s8"] * 3


@pytest.mark.parametrize("tag, function, kernels_run", [
    ("unpacked", "mixq_conv2d_dsp_win8",
     ["mixq_conv2d_dsp_win8_s2", "mixq_conv2d_dsp_win8_s8", "mixq_conv2d_dsp_win8_s2"]),
    ("plane", "mixq_conv2d_dsp_plane8", ["mixq_conv2d_dsp_plane8_s8"] * 3)])
def test_unpacked_window_sub_byte_inputs(tmp_path, monkeypatch, tag, function, kernels_run):
    """mixq_conv2d_dsp_win8_*: sub-byte inputs unpacked to bytes while staged; and
    mixq_conv2d_dsp_plane8_s8: the whole input unpacked once, then 8-bit codes (one byte a
    pixel: 3 u2 channels; several: 3 u4 and 6 u2 channels), s2, s8 and ternary weights (the
    plane's widened to 8 bits), on the emulator and on the host with sanitizers; the scratch
    reserved == the C companion's."""
    import dataclasses

    from chost import printed_scratch_bytes
    from mixq.codegen import kernels

    kernels.registered_kernels("armv7em")
    forced = [dataclasses.replace(k, cost=lambda n, g: -1.0) if tag in k.variant else k
              for k in kernels._REGISTRY["armv7em"]]
    monkeypatch.setitem(kernels._REGISTRY, "armv7em", forced)  # the tagged variants win
    b = GraphBuilder((9, 7, 3), "u2", seed=4)
    x = b.conv(b.input, 3, kernel=3, stride=2, weight="s2", out="u4")
    x = b.conv(x, 6, kernel=3, padding=(1, 1, 1, 1), weight="s8", out="u2")       # u4 x 3
    g = b.build(b.conv(x, 5, kernel=(3, 2), padding=(1, 1, 1, 0), weight="t2", out="u8"))
    r = deploy_json(g, tmp_path / "d", emulate=8)
    assert r["bitexact"] and r["host"]["bitexact"], (r["mismatches"], r["host"])
    assert [layer["kernel"] for layer in r["layers"]] == kernels_run
    project = emit_c(g, tmp_path / "c", kernels="armv7em")
    layers = project.metadata["layers"]
    calls = [(function, i) for i in range(len(layers))]
    assert printed_scratch_bytes(project, tmp_path, ["mixq_dsp.h"], calls) == \
        [lay["scratch_bytes"] for lay in layers]


DW_CASES = [  # (h, w, c, stride, padding, act, out, weight)
    (9, 7, 5, 1, (1, 1, 1, 1), "u8", "u8", "s8"),
    (8, 8, 18, 2, (0, 1, 0, 1), "u4", "u2", "s4"),
    (5, 6, 3, 1, (2, 0, 0, 2), "u2", "s8", "t2"),
    (7, 9, 33, 2, (1, 1, 1, 1), "u8", "u4", "s2"),
    (1, 1, 7, 1, (1, 1, 1, 1), "u8", "u8", "s8"),
    (2, 3, 20, 2, (1, 1, 1, 1), "u4", "u4", "s8"),
    (6, 5, 17, 1, (1, 1, 2, 0), "u2", "u2", "s4"),
    (4, 11, 40, 1, (0, 2, 1, 1), "u4", "s4", "s8"),
    (13, 4, 21, 2, (1, 1, 0, 1), "u2", "u4", "s8"),  # taller than wide: run transposed
]


@pytest.mark.parametrize("case", DW_CASES, ids=lambda c: "x".join(map(str, c[:3])) + f"s{c[3]}")
def test_depthwise_3x3(tmp_path, case):
    h, w, c, stride, pad, act, out, weight = case
    b = GraphBuilder((h, w, c), act, seed=sum(case[:4]))
    g = b.build(b.dw(b.input, kernel=3, stride=stride, padding=pad, weight=weight, out=out))
    r = _check(g, tmp_path, n=12)
    assert _dsp_layers(r) == ["mixq_dwconv3x3_dsp"]


DWK_CHAINS = {  # (h, w, c, act): layers (kernel, stride, padding, weight, out), mixq_dwconv_dsp
    "odd-channels": ((9, 7, 5, "u8"), [(5, 1, (2, 2, 2, 2), "s8", "u8"),
                                       (7, 1, (3, 3, 3, 3), "s4", "u4"),
                                       ((3, 5), 1, (1, 1, 2, 2), "t2", "u2"),
                                       (5, 2, (1, 2, 1, 2), "s2", "s8")]),
    "two-chunks": ((12, 13, 18, "u4"), [(7, 2, (3, 3, 3, 3), "s4", "u2"),
                                        ((10, 4), (1, 2), (4, 5, 1, 2), "s8", "u8"),
                                        (5, 1, (0, 4, 2, 2), "s2", "u4")]),
}


@pytest.mark.parametrize("chain", DWK_CHAINS)
def test_depthwise_any_kernel(tmp_path, chain):
    """Any kernel size and stride (MCUNet 5x5/7x7, non-square, DS-CNN's 10x4 shape): unrolled
    and generic loops, four-output blocks and their tails, partial channel chunks, every
    activation and weight width, in one deploy per chain."""
    (h, w, c, act), layers = DWK_CHAINS[chain]
    b = GraphBuilder((h, w, c), act, seed=c + h)
    x = b.input
    for kernel, stride, pad, weight, out in layers:
        x = b.dw(x, kernel=kernel, stride=stride, padding=pad, weight=weight, out=out)
    r = _check(b.build(x), tmp_path, n=8)
    assert _dsp_layers(r) == ["mixq_dwconv_dsp"] * len(layers)


def test_depthwise_any_kernel_host_sanitizers_in_place_and_scratch(tmp_path):
    """mixq_dwconv_dsp built by host gcc with ASan/UBSan (plain C twins), bit-exact, in a
    5x5 -> 7x7 -> 3x5 chain (the 7x7 in place) with real scales >= 0.5 (shift < 32, the C
    requantization); the scratch the code generator reserves == the C companion's."""
    from chost import printed_scratch_bytes
    from mixq.deploy.host import run_host

    b = GraphBuilder((9, 8, 12), "u8", seed=4)
    real = np.array([0.6, 1.3, 4.0, 0.02] * 3)
    mult, shift = quantize_multipliers(real)
    rq = Requant(bias=icn_bias(np.linspace(-50, 50, 12), mult, shift), multiplier=mult,
                 shift=shift, activation_min=0, activation_max=255)
    x = b.dw(b.input, kernel=5, weight="s4", out="u8", requant=rq)
    x = b.dw(x, kernel=7, weight="s8", out="u8")
    g = b.build(b.dw(x, kernel=(3, 5), stride=2, weight="t2", out="u2"))
    project = emit_c(g, tmp_path / "c", kernels="armv7em")
    layers = project.metadata["layers"]
    assert [lay["function"] for lay in layers] == ["mixq_dwconv_dsp"] * 3
    assert [lay["inplace"] for lay in layers] == [False, True, False]  # the 7x7 in place
    inputs = random_inputs(g, 4)
    assert np.array_equal(run_host(tmp_path / "c", inputs, work_dir=tmp_path / "h"),
                          interpret(g, inputs))
    assert printed_scratch_bytes(project, tmp_path, ["mixq_dsp.h"],
                                 [("mixq_dwconv_dsp", i) for i in range(3)]) == \
        [lay["scratch_bytes"] for lay in layers]


@pytest.mark.parametrize("h, w", [(6, 6), (7, 5)])
def test_depthwise_small_shifts_and_in_place_chain(tmp_path, h, w):
    """Real scales >= 0.5 (shift < 32: weights rescaled or the C path) inside a dw -> dw -> dw
    chain that runs in place; the weights widened a word of channels at a time (20 channels:
    words of 8 s4, 16 s2 and 4 s8 codes, then code by code for the rest) and rescaled per
    channel, on a square map and on one taller than wide (walked transposed); on the emulator
    and on the host with ASan/UBSan; the scratch the code generator reserves == the C
    companion's."""
    from chost import printed_scratch_bytes

    b = GraphBuilder((h, w, 20), "u8", seed=9)
    real = np.array([0.6, 1.3, 4.0, 0.26] * 5)
    mult, shift = quantize_multipliers(real)
    bias = icn_bias(np.linspace(-50, 50, 20), mult, shift)
    rq = Requant(bias=bias, multiplier=mult, shift=shift, activation_min=0, activation_max=255)
    x = b.dw(b.input, kernel=3, weight="s4", out="u8", requant=rq)
    x = b.dw(x, kernel=3, weight="s2", out="u8", requant=rq)
    g = b.build(b.dw(x, kernel=3, stride=2, weight="s8", out="u8", requant=rq))
    r = deploy_json(g, tmp_path, emulate=16)  # and on the host, sanitizers on
    assert r["bitexact"] and r["host"]["bitexact"], r["host"]
    assert _dsp_layers(r) == ["mixq_dwconv3x3_dsp"] * 3
    # chosen by estimate among the in-place variants too (the 3x3 kernel over the any-size one)
    assert [layer["variant"] for layer in r["layers"]] == ["dsp3x3", "dsp3x3-inplace", "dsp3x3"]
    for layer in r["layers"]:
        costs = layer["kernel_costs"]
        assert len(costs) == 2 and min(costs, key=costs.get) == \
            f"{layer['kernel']}/{layer['variant']}"
    project = emit_c(g, tmp_path / "c", kernels="armv7em")
    layers = project.metadata["layers"]
    assert [lay["inplace"] for lay in layers] == [False, True, False]  # the second in place
    assert printed_scratch_bytes(project, tmp_path, ["mixq_dsp.h"],
                                 [("mixq_dwconv3x3_dsp", i) for i in range(3)]) == \
        [lay["scratch_bytes"] for lay in layers]


@pytest.mark.slow
def test_mobilenet_like_mixed_net_both_kernel_sets(tmp_path):
    """A small MobileNetV1-shaped net with mixed 8/4/2-bit and ternary layers: bit-exact with the
    DSP kernels and with the reference kernels, and several times fewer instructions."""
    b = GraphBuilder((32, 32, 3), "u8", seed=21)
    x = b.conv(b.input, 8, kernel=3, stride=2, weight="s8", out="u8")
    for c_out, stride, w_dw, w_pw, act in [(16, 1, "s8", "s4", "u4"), (32, 2, "s4", "t2", "u4"),
                                           (32, 1, "s2", "s4", "u2"), (64, 2, "s8", "s2", "u8")]:
        x = b.dw(x, kernel=3, stride=stride, weight=w_dw, out=act)
        x = b.pw(x, c_out, weight=w_pw, out=act)
    g = b.build(b.fc(b.avgpool(x), 10, weight="s8"))
    dsp = deploy_json(g, tmp_path / "dsp", emulate=12, host_check=False)
    ref = deploy_json(g, tmp_path / "ref", target="stm32h7-ref", emulate=12, host_check=False)
    assert dsp["bitexact"] and ref["bitexact"]
    assert len(_dsp_layers(dsp)) == 11  # every layer, the global pool too (mixq_avgpool_dsp_u8)
    assert dsp["instructions"] * 5 < ref["instructions"]
    assert dsp["arena_bytes"] <= ref["arena_bytes"] + 4096  # dw kernels run in place too
