"""The memory assumptions of the cycle estimate: stated in deploy.json and charged (issue 15)."""

import json
import tomllib
from importlib import resources

import pytest

from mixq.codegen.synth import GraphBuilder
from mixq.deploy.deploy import deploy
from mixq.errors import MixqError
from mixq.platform import parse_platform

pytestmark = pytest.mark.cross


def _f746(**timing) -> dict:
    text = resources.files("mixq.platform").joinpath("platforms", "stm32f746.toml").read_text()
    data = tomllib.loads(text)
    data["memory_timing"].update(timing)
    return data


@pytest.fixture(scope="module")
def graph():
    b = GraphBuilder((8, 8, 8), seed=0)
    return b.build(b.avgpool(b.conv(b.input, 16, kernel=3)))


@pytest.mark.parametrize("tcm_bytes", [65536, 1024], ids=["tcm", "sram"])
def test_memory_stalls_are_charged_and_stated(tmp_path, graph, tcm_bytes):
    platform = parse_platform(_f746(tcm_bytes=tcm_bytes))
    result = deploy(graph, tmp_path, platform, emulate=1, host_check=False)
    assert result.bitexact
    mem = json.loads((tmp_path / "deploy.json").read_text())["memory_model"]
    weight_bytes = graph.nodes[0].weight.size
    # every weight line comes from flash at least once (compulsory misses)
    assert mem["line_fills"]["flash"] >= weight_bytes // 32
    assert mem["memory_cycles"] == 14 * mem["line_fills"]["flash"] + 6 * (
        mem["line_fills"]["sram"] + mem["line_fills"]["writeback"])
    layer_memory = sum(layer.memory_cycles or 0 for layer in result.layers)
    assert 0 < layer_memory <= mem["memory_cycles"]
    assert sum(layer.est_cycles for layer in result.layers) <= result.est_cycles
    if tcm_bytes == 1024:  # activations in SRAM behind the D-cache: their lines are charged
        assert mem["activations"].startswith("SRAM") and mem["line_fills"]["sram"] > 0
    else:
        assert mem["activations"].startswith("data TCM") and mem["line_fills"]["sram"] == 0
    assert "7 wait states" in mem["weights"] and mem["source"]


def test_bad_cache_geometry_is_one_line_error():
    with pytest.raises(MixqError, match=r"^platform: \[memory_timing\] dcache: 3000 bytes .* "
                                        r"power-of-two number of sets") as e:
        parse_platform(_f746(dcache_bytes=3000))
    assert "\n" not in str(e.value)
