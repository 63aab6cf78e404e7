"""Graphs and a deploy shortcut shared by the deploy tests."""

from mixq.codegen.synth import GraphBuilder
from mixq.deploy.deploy import deploy
from mixq.platform import get_platform


def small_graph(seed=0):
    """conv (u4, s4) -> dw (u2, ternary) -> pw (u8, s2) -> avgpool -> fc (s8)."""
    b = GraphBuilder((8, 8, 3), seed=seed)
    y = b.conv(b.input, 8, kernel=3, stride=2, out="u4", weight="s4")
    y = b.dw(y, weight="t2", out="u2")
    y = b.pw(y, 16, weight="s2", out="u8")
    return b.build(b.fc(b.avgpool(y), 10, out="s8"))


def deploy_json(graph, out_dir, target="stm32h7", **kwargs) -> dict:
    """:func:`mixq.deploy.deploy.deploy` on the named platform; the deploy.json content."""
    return deploy(graph, out_dir, get_platform(target), **kwargs).to_json()
