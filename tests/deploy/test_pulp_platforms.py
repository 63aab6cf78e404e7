"""Platform specs: shipped TOML files, user files, and one-line errors that list the targets."""

import pytest

from mixq.cli import main
from mixq.platform.spec import KernelSet, get_platform, known_platforms, load_platform_file
from mixq.errors import MixqError

SHIPPED = ("gap8", "pulp-open", "pulp-open-nn", "pulp-xpulpnn", "stm32f746", "stm32h7",
           "stm32h7-ref")

GOOD = """
name = "my-board"
description = "a user board"
[core]
isa = "rv32imc"
cpu = "rv32imc"
kernels = "ref"
clock_hz = 100_000_000
[memory]
flash_bytes = 1_000_000
ram_bytes = 200_000
[cluster]
cores = 4
clock_hz = 100_000_000
simd = "xpulpnn"
l1_bytes = 32_768
l1_reserved_bytes = 4_096
l2_bytes = 262_144
l3_bytes = 0
dma_bytes_per_cycle = 4.0
dma_setup_cycles = 50
l3_bytes_per_cycle = 0.25
"""


def test_shipped_specs_and_issue_figures():
    assert known_platforms() == SHIPPED
    h7, f7, gap8, nn = (get_platform(n) for n in ("stm32h7", "stm32f746", "gap8",
                                                  "pulp-xpulpnn"))
    assert (h7.flash_bytes, h7.ram_bytes, h7.cpu) == (2_048_000, 512_000, "cortex-m7")
    assert (f7.flash_bytes, f7.ram_bytes) == (1_024_000, 320_000)
    c = gap8.cluster
    assert (c.cores, c.l1_bytes, c.l2_bytes, c.l3_bytes, c.simd) == \
        (8, 65_536, 524_288, 8_388_608, "xpulpv2")
    assert nn.cluster.simd == "xpulpnn" and gap8.isa == "rv32imc" and h7.isa == "armv7e-m"
    assert (gap8.cpu, gap8.kernels, gap8.clock_hz) == ("ri5cy-xpulpv2", KernelSet.PULP,
                                                       175_000_000)
    assert get_platform("stm32h7").kernels is KernelSet.ARMV7EM
    assert get_platform("stm32h7-ref").kernels is KernelSet.REF


def test_user_file_is_accepted(tmp_path):
    p = tmp_path / "board.toml"
    p.write_text(GOOD)
    t = get_platform(str(p))
    assert t.name == "my-board" and t.cpu == "rv32imc" and t.cluster.cores == 4


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.replace('cores = 4', 'cores = 4\nbogus = 1'), "unknown key"),
    (lambda s: s.replace('ram_bytes = 200_000\n', ''), "missing field 'ram_bytes'"),
    (lambda s: s.replace('cores = 4', 'cores = "four"'), "wrong type"),
    (lambda s: s.replace('simd = "xpulpnn"', 'simd = "neon"'), "simd"),
    (lambda s: s.replace('[memory]', '[memory\n'), "not valid TOML"),
    (lambda s: s.replace('isa = "rv32imc"', 'isa = "x86"'), "isa"),
    (lambda s: s.replace('kernels = "ref"', 'kernels = "neon"'),
     "kernels 'neon' is not one of ref, armv7em"),
    (lambda s: s.split('[core]')[0], "missing table"),
])
def test_malformed_files_give_one_line_listing_targets(tmp_path, edit, message):
    p = tmp_path / "bad.toml"
    p.write_text(edit(GOOD))
    with pytest.raises(MixqError) as e:
        load_platform_file(p)
    text = str(e.value)
    assert message in text and "\n" not in text
    assert all(name in text for name in SHIPPED)


def test_unknown_target_everywhere(tmp_path, capsys):
    with pytest.raises(MixqError, match="known targets: gap8, pulp-open, pulp-open-nn, pulp-xpulpnn"):
        get_platform("esp32")
    with pytest.raises(MixqError, match="no such platform file"):
        get_platform(str(tmp_path / "missing.toml"))
    rc = main(["demo", "--quick", "--target", "esp32", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "stm32h7" in err and "gap8" in err
