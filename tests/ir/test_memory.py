"""Static arena plan: no live overlap, lower bound <= arena <= greedy, in-place dw and add."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import random_graph

from mixq.codegen.emit import select_kernels
from mixq.codegen.synth import GraphBuilder
from mixq.ir.memory import ALIGN, plan_memory, tensor_lifetimes


def check_plan(graph, plan):
    """Every invariant a plan must satisfy."""
    for a, b in itertools.combinations(plan.buffers, 2):
        assert not (a.overlaps_in_time(b) and a.overlaps_in_space(b)), (a, b)
    for buf in plan.buffers:
        assert buf.offset % ALIGN == 0
        assert buf.offset + buf.size_bytes <= plan.arena_bytes
    assert plan.arena_bytes % ALIGN == 0
    assert plan.lower_bound_bytes <= plan.arena_bytes <= plan.greedy_bytes
    life = tensor_lifetimes(graph)
    placed = {m for b in plan.buffers for m in b.members}
    for t in life:
        if graph.tensor(t).packed_bytes and t not in plan.external:
            assert t in placed, t
    for buf in plan.buffers:
        for t in buf.members:
            if "#" not in t:
                assert buf.size_bytes >= graph.tensor(t).packed_bytes


@given(random_graph(max_layers=6, input_dtypes=("u8", "u4"), pools=True),
       st.dictionaries(st.integers(0, 8), st.integers(1, 300), max_size=4))
@settings(max_examples=150, deadline=None)
def test_plan_properties(graph, scratch_by_index):
    scratch = {graph.nodes[i % len(graph.nodes)].name: v for i, v in scratch_by_index.items()}
    check_plan(graph, plan_memory(graph, scratch))


@given(random_graph(max_layers=6, pools=True))
@settings(max_examples=100, deadline=None)
def test_plan_with_inplace_kernels(graph):
    _, plan = select_kernels(graph)
    check_plan(graph, plan)
    for name in plan.inplace:
        node = next(n for n in graph.nodes if n.name == name)
        assert plan.offsets[node.output] in {plan.offsets.get(t) for t in node.inputs}


def test_chain_reaches_lower_bound():
    b = GraphBuilder((8, 8, 4), seed=0)
    x = b.conv(b.input, 8, out="u8")
    x = b.conv(x, 16, out="u4")
    x = b.conv(x, 8, out="u8")
    g = b.build(b.fc(b.avgpool(x), 10))
    plan = plan_memory(g)
    # the largest step is conv 8 -> 16 channels: 8*8*8 + 8*8*16/2 bytes
    assert plan.lower_bound_bytes == 512 + 512
    assert plan.arena_bytes == plan.lower_bound_bytes
    assert plan.external == ("x", g.outputs[0])


def test_sub_byte_input_and_output_live_in_the_arena():
    b = GraphBuilder((4, 4, 3), "u4", seed=0)
    g = b.build(b.conv(b.input, 5, out="u2"))
    plan = plan_memory(g)
    assert plan.external == ()
    assert plan.arena_bytes == 4 * 4 * 2 + 4 * 4 * 2


def test_depthwise_runs_in_place_when_it_pays_off():
    b = GraphBuilder((8, 8, 16), seed=0)
    x = b.pw(b.input, 16)
    x = b.dw(x, out="u8")
    g = b.build(b.fc(b.avgpool(b.pw(x, 4)), 10))
    kernels, plan = select_kernels(g)
    assert plan.inplace == ("dw1",)
    assert kernels[1].function == "mixq_dwconv_inplace_any"
    # pw 1024 B -> dw in place (+ 3 rows of 128 B ring) -> pw 256 B
    assert plan.arena_bytes == 1024 + 3 * 128
    assert plan_memory(g, {n.name: 0 for n in g.nodes}).arena_bytes == 2048
    _, no_inplace = select_kernels(g, inplace="never")
    assert no_inplace.inplace == () and no_inplace.arena_bytes == 2048


def test_residual_add_reuses_its_input():
    b = GraphBuilder((6, 6, 8), seed=1)
    x = b.pw(b.input, 8)
    y = b.conv(x, 8, out="s8")
    g = b.build(b.fc(b.avgpool(b.add(x, y, out="u4")), 3))
    kernels, plan = select_kernels(g)
    check_plan(g, plan)
    assert "add2" in plan.inplace
    assert plan.offsets[g.nodes[2].output] in (plan.offsets[x], plan.offsets[y])


def test_inplace_ignored_when_input_still_needed():
    b = GraphBuilder((6, 6, 8), seed=1)
    x = b.pw(b.input, 8)
    y = b.dw(x, out="u8")
    g = b.build(b.add(x, y, out="u8"))  # x is read again after the dw
    plan = plan_memory(g, inplace={"dw1": (x, 10)})
    assert plan.inplace == ()
