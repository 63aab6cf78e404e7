"""The ARMv7E-M residual add and global average pool kernels (issue 15), bit for bit against
ir.interpret on the emulated Cortex-M7 and on the host (sanitizers on): every input signedness,
shifts below, at and above 32 and past the SMLAD add's range, negative multipliers, a multiplier
too wide for its 16-bit split, narrow clamps, the 16-bit lane flush of the pool and channel
tails."""

import dataclasses

import pytest

from mixq.codegen.synth import GraphBuilder
from mixq.deploy.deploy import deploy
from mixq.ir.graph import Add, Graph
from mixq.platform import get_platform

pytestmark = pytest.mark.cross

# (ratio_a, ratio_b, shift, act_min, act_max) of each add of the chain, in order
RULES = [
    (0.53, 1.1, 30, 0, 255),        # the ResNet-8 shape: shift < 32
    (-0.7, 0.9, 31, 0, 255),        # a negative multiplier
    (0.25, 0.3, 32, 0, 255),        # shift == 32
    (2**-8, -2**-9, 38, 0, 255),    # shift > 32
    (0.6, 0.6, 24, 10, 200),        # a narrower clamp
    (1.5, -1.2, 16, 0, 255),        # the smallest shift the DSP kernels take
    (0.9, 0.8, 12, 0, 255),         # below it: the reference kernel
    (2**-20, 2**-21, 50, 0, 255),   # above the SMLAD add's 47: the SMLAL add
    (0.99999, 0.5, 31, 0, 255),     # a multiplier whose high halfword overflows int16: SMLAL
    (0.7, -0.6, 31, 0, 255),        # (u8, u8): the SMLAD add's loop without the sign flip
]


def _with_rules(graph: Graph) -> Graph:
    adds = iter(RULES)
    nodes = []
    for node in graph.nodes:
        if isinstance(node, Add):
            ra, rb, shift, lo, hi = next(adds)
            node = dataclasses.replace(node, multiplier_a=round(ra * 2**shift),
                                       multiplier_b=round(rb * 2**shift), shift=shift,
                                       activation_min=lo, activation_max=hi)
        nodes.append(node)
    return dataclasses.replace(graph, nodes=tuple(nodes))


def _add_chain() -> Graph:
    # adds only (no conv kernel to build): the s8 network input and u8 add outputs
    b = GraphBuilder((6, 5, 7), "s8", seed=3)   # 210 codes: no multiple of 4
    x = b.input
    u = b.add(x, x)                       # (s8, s8)
    t = b.add(u, x)                       # (u8, s8)
    t = b.add(x, t)                       # (s8, u8)
    t = b.add(t, u)                       # (u8, u8)
    for _ in range(len(RULES) - 5):
        t = b.add(t, x)
    t = b.add(t, u)                       # (u8, u8)
    return _with_rules(b.build(t))


def _pools() -> Graph:
    b = GraphBuilder((17, 17, 6), seed=5)  # 289 pixels: one 16-bit lane flush; 6 = 4 + tail 2
    return b.build(b.avgpool(b.input))


@pytest.mark.parametrize("make", [_add_chain, _pools], ids=["add", "pool"])
def test_eltwise_dsp_kernels_bitexact(tmp_path, make):
    graph = make()
    result = deploy(graph, tmp_path, get_platform("stm32f746"), emulate=12)
    assert result.bitexact and result.host_bitexact in (None, True), result.host
    kernels = [layer.kernel for layer, node in zip(result.layers, graph.nodes)
               if node.kind in ("add", "pool")]
    if make is _pools:
        assert kernels == ["mixq_avgpool_dsp_u8"]
    else:
        assert kernels == (["mixq_add_smlad_u8"] * 6 + ["mixq_add_any"] +
                           ["mixq_add_dsp_u8"] * 2 + ["mixq_add_smlad_u8"])
        per_element = [layer.instructions / graph.tensor(node.output).numel
                       for layer, node in zip(result.layers, graph.nodes)
                       if layer.kernel in ("mixq_add_dsp_u8", "mixq_add_smlad_u8")]
        assert max(per_element) < 20  # the reference add takes ~76 per element
