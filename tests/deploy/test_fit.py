"""Honest fit: linked image, arena, static RAM, stack bound (checked against the painted stack)."""

import pytest
from elftools.elf.elffile import ELFFile

from mixq.deploy.deploy import deploy
from mixq.deploy.fit import link_fit
from mixq.deploy.stack import LIBRARY_STACK_BYTES, stack_bound_bytes
from mixq.errors import MixqError
from mixq.platform import get_platform

from deploy_graphs import small_graph

pytestmark = pytest.mark.cross


@pytest.fixture(scope="module", params=["stm32h7", "gap8"])
def deployed(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    platform = get_platform(request.param)
    return out, platform, deploy(small_graph(), out, platform, emulate=2, host_check=False)


def _loaded_flash_bytes(elf) -> int:
    """Bytes the ELF stores in its load segments (flash: code, constants, .data image)."""
    with open(elf, "rb") as f:
        return sum(s["p_filesz"] for s in ELFFile(f).iter_segments() if s["p_type"] == "PT_LOAD")


def test_linked_figures_are_the_elf_and_the_arena(deployed):
    out, _, r = deployed
    fit = r.fit
    assert fit.flash_bytes == r.flash_bytes == _loaded_flash_bytes(out / "mixq_model.elf")
    g = small_graph()
    io = g.tensor(g.inputs[0]).numel + g.tensor(g.outputs[0]).numel
    assert r.io_bytes == io and r.arena_bytes > 0
    assert r.ram_bytes == fit.ram_bytes == r.arena_bytes + r.static_ram_bytes + r.stack_bytes + io
    assert r.to_json()["ram_bytes"] == r.ram_bytes


def test_stack_bound_covers_the_painted_stack(deployed):
    _, _, r = deployed
    assert 0 < r.stack_measured_bytes <= r.stack_bytes
    # a bound, not a guess: at most the library allowance above the measured figure plus frames
    assert r.stack_bytes <= r.stack_measured_bytes + LIBRARY_STACK_BYTES + 1024


def test_build_only_fit_equals_the_deployed_one(deployed, tmp_path):
    _, platform, r = deployed
    assert link_fit(small_graph(), tmp_path, platform) == r.fit


def test_fits_is_decided_by_the_linked_figures(deployed):
    _, _, r = deployed
    fit = r.fit
    assert fit.fits(fit.flash_bytes, fit.ram_bytes)
    assert fit.excess(fit.flash_bytes - 1, fit.ram_bytes - 7) == (1, 7)
    assert not fit.fits(fit.flash_bytes, fit.arena_bytes)  # the arena alone is not the RAM


@pytest.mark.parametrize("text, error", [
    ('node: { title: "run" label: "run\\na.c:1:1\\n8 bytes (static)" }\n'
     'edge: { sourcename: "run" targetname: "run" label: "a.c:2:1" }\n', "recursion through run"),
    ('node: { title: "run" label: "run\\na.c:1:1\\n8 bytes (static)" }\n'
     'edge: { sourcename: "run" targetname: "__indirect_call" label: "a.c:2:1" }\n',
     "indirect call"),
    ('node: { title: "run" label: "run\\na.c:1:1\\n8 bytes (dynamic)" }\n', "unbounded"),
    ("", "no call-graph information for run"),
])
def test_no_static_bound_is_an_error(tmp_path, text, error):
    (tmp_path / "a.ci").write_text(text)
    with pytest.raises(MixqError, match=error):
        stack_bound_bytes(tmp_path, "run")
