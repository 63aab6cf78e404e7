"""What every ISA back-end shares, checked once per ISA record: toolchain errors, one-line build
errors, the table from Isa to record."""

import pytest

from mixq.deploy.build import build_elf
from mixq.deploy.isa import isa_record
from mixq.deploy.toolchain import find_toolchain
from mixq.errors import ToolchainError
from mixq.platform import Isa

pytestmark = pytest.mark.cross

HINTS = {Isa.ARMV7EM: "apt-get install gcc-arm-none-eabi",
         Isa.RV32IMC: "gcc-riscv64-unknown-elf"}


def test_every_isa_has_a_record():
    for isa in Isa:
        record = isa_record(isa)
        assert record.isa is isa and record.emulator.ISA is isa
        assert record.emulator.LINKER_SCRIPT == record.linker_script
        assert record.linker_script_path().is_file()
        assert set(record.cycle_model.classes) >= {"alu", "load", "store", "branch"}


@pytest.mark.parametrize("isa", list(Isa))
def test_missing_toolchain_message(isa):
    with pytest.raises(ToolchainError, match=HINTS[isa]) as e:
        find_toolchain(isa_record(isa), path="/nonexistent")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("isa", list(Isa))
def test_build_error_is_one_line(tmp_path, isa):
    (tmp_path / "bad.c").write_text("int f(void) { int unused; return 0; }\n")
    with pytest.raises(ToolchainError) as e:
        build_elf(isa_record(isa), [tmp_path / "bad.c"], tmp_path / "bad.elf", entries=("f",))
    assert "\n" not in str(e.value) and "unused" in str(e.value)
    assert (tmp_path / "bad.log").exists()
