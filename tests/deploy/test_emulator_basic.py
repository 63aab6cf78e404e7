"""Cross build + emulated Cortex-M7 calls + instruction counts on small hand-written C."""

import pytest
from unicorn import UC_HOOK_CODE

from mixq.deploy.arm import CORTEX_M7, CortexM7
from mixq.deploy.build import build_elf, elf_sizes
from mixq.deploy.profile import profile_call
from mixq.errors import MixqError

from deploy_c_snippets import DOT_C, MARKED_C, check_dot_and_reset, snippet_image

pytestmark = pytest.mark.cross


@pytest.fixture(scope="module")
def dot_image(tmp_path_factory):
    return snippet_image(CORTEX_M7, tmp_path_factory.mktemp("dot"), DOT_C,
                         ("dot_s8", "bump", "copy_bytes"))


def test_build_is_deterministic(tmp_path):
    (tmp_path / "a.c").write_text(DOT_C)
    e1 = build_elf(CORTEX_M7, [tmp_path / "a.c"], tmp_path / "1.elf", entries=("dot_s8",))
    e2 = build_elf(CORTEX_M7, [tmp_path / "a.c"], tmp_path / "2.elf", entries=("dot_s8",))
    assert e1.read_bytes() == e2.read_bytes()


def test_dot_product_and_data_reset(dot_image):
    check_dot_and_reset(CortexM7(dot_image, {"a": 257, "b": 257}))


def test_data_section_size(dot_image):
    assert elf_sizes(dot_image.path).data_bytes == 4


def test_overrun_faults_with_function_name(dot_image):
    m = CortexM7(dot_image, {"dst": 100, "src": 100})
    m.call("copy_bytes", ("dst", "src", 100))
    with pytest.raises(MixqError, match="copy_bytes"):
        m.call("copy_bytes", ("dst", "src", 101))


def test_block_counts_equal_instruction_hook(dot_image):
    m = CortexM7(dot_image, {"a": 300, "b": 300})
    prof = profile_call(m, "dot_s8", ("a", "b", 300))
    n = [0]
    m.uc.hook_add(UC_HOOK_CODE, lambda *_: n.__setitem__(0, n[0] + 1))
    m.uc.ctl_flush_tb()
    m.call("dot_s8", ("a", "b", 300))
    assert prof.instructions == n[0] > 300
    assert prof.total.classes["mac"] == 300  # one smlabb per MAC at -O3


def test_layer_marks_split_counts(tmp_path):
    m = CortexM7(snippet_image(CORTEX_M7, tmp_path, MARKED_C, ("marked",)), {"scratch": 16})
    small = profile_call(m, "marked", ("scratch", 10, 100))
    big = profile_call(m, "marked", ("scratch", 10, 1000))
    assert set(small.segments) == {-1, 0, 1, 2}
    assert small.layer_instructions(0) == big.layer_instructions(0)
    assert big.layer_instructions(1) > 5 * small.layer_instructions(1)
    assert sum(s.instructions for s in big.segments.values()) == big.instructions
    assert m.call("marked", ("scratch", 10, 1000)) == sum(range(10)) + sum(range(1000))


def test_cloned_marker_is_rejected(tmp_path):
    (tmp_path / "m.c").write_text(MARKED_C.replace("noipa", "noinline"))
    image = CortexM7.load(build_elf(CORTEX_M7, [tmp_path / "m.c"], tmp_path / "m.elf",
                                    entries=("marked",)))
    with pytest.raises(MixqError, match="noipa"):
        profile_call(CortexM7(image, {"scratch": 16}), "marked", ("scratch", 1, 1))
