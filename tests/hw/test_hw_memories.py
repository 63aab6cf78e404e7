"""Architecture step "memories": each buffer in the memory that suits it. The macro choice
(smallest fitting macro), the register-file threshold, the per-buffer breakdown adding up; on
sky130 (skipped without ``../shared/data/asic``) a register file replayed bit-exact. A small
engine whose small buffers are register files (totals adding up) is checked in
``test_hw_asic.py``'s slow test, on its cached mapping."""

import random
import shutil

import pytest

from mixq.hw.asic import asic_folder
from mixq.hw.config import EngineConfig
from mixq.hw.memories import memory_rows
from mixq.hw.regfile import in_registers, regfile_for
from mixq.hw.sram import Buffer, Macro, buffer_shapes, pick_macro

ASIC = asic_folder()
needs_asic = pytest.mark.skipif(ASIC is None, reason="../shared/data/asic (Liberty files) is "
                                "absent: the standard-cell flow cannot be tested")
SKY = "sky130_fd_sc_hd__tt_025C_1v80.lib.gz"
# one worker builds the module's sky130 fixture (make test: xdist --dist loadgroup)
pytestmark = pytest.mark.xdist_group("test_hw_memories")
# the IHP macros' words, bits and areas (um^2)
IHP = [Macro("256x32", 256, 32, 49488.5, 26.0, 33.4, 99.0),
       Macro("1024x32", 1024, 32, 140182.7, 48.3, 58.9, 396.0),
       Macro("1024x64", 1024, 64, 263946.1, 91.8, 110.9, 792.1),
       Macro("2048x64", 2048, 64, 491633.6, 122.4, 155.4, 1584.1)]


def test_macro_choice_is_the_smallest_that_holds_the_buffer():
    assert pick_macro(IHP, 128, 64).name == "256x32"      # 4 side by side
    assert pick_macro(IHP, 32, 1000).name == "1024x32"    # one, not four banks of 256
    assert pick_macro(IHP, 64, 1024).name == "1024x64"    # one, not two 1024x32
    assert pick_macro(IHP, 64, 2048).name == "2048x64"


def test_buffer_widths_and_register_file_threshold():
    t = buffer_shapes(EngineConfig(lanes=16, channels=4), 4, 16, 20)
    i8 = buffer_shapes(EngineConfig(engine="int8", lanes=16, channels=4, structure="dense"),
                       4, 16, 0)
    # a ternary weight word carries 64 two-bit codes, an int8 one 64 bytes
    assert t[0] == ("weights", 128, 64, 1) and i8[0] == ("weights", 512, 64, 1)
    assert in_registers(t, 64) == ["weights", "activations", "requant", "sparse"]
    assert in_registers(t, 50) == ["activations", "sparse"]
    assert in_registers(i8, 50) == ["activations"]
    assert in_registers(t, 8) == ["activations"] and in_registers(t, 0) == []
    rf = regfile_for("activations", EngineConfig(lanes=16, channels=4), 128, 6, True)
    assert rf.depth == 8 and rf.index == (0, 1, 6) and len(rf.reads) == 2  # Cat(chunk, bank)


def test_breakdown_adds_up():
    m = IHP[0]
    bufs = [Buffer("weights", 128, 64, 1, m, 100, 0), Buffer("activations", 128, 8, 2, m, 150, 40)]
    rfs = {"requant": (regfile_for("requant", EngineConfig(), 110, 64, False),
                       {"area_um2": 5000.0, "logic_pj": 30.0, "ff_clock_pj": 50.0,
                        "leakage_pj": 2.0, "flip_flops": 7040})}
    access = {"w_re": 100, "rb_re_a": 100, "rb_re_b": 50, "rb_we": 40, "q_re": 25}
    macs, cycles, period = 6400, 110, 10.0
    rows = memory_rows(bufs, rfs, access, macs, cycles, period)
    assert [r["buffer"] for r in rows] == ["weights", "activations", "requant"]
    assert [r["memory"] for r in rows] == ["SRAM", "SRAM", "register file"]
    assert rows[1]["cells"] == "256x32 x 8" and rows[1]["accesses"] == 190
    want = sum(b.access_pj + b.leakage_pj(cycles, period) for b in bufs) + 82.0
    assert sum(r["pj_per_mac"] for r in rows) * macs == pytest.approx(want, rel=1e-3)
    assert rows[2]["pj_per_access"] == pytest.approx(80.0 / 25)
    assert sum(r["area_um2"] for r in rows) == pytest.approx(12 * m.area_um2 + 5000, abs=1)


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    """(library, its cell models, work folder): the sky130 library prepared once."""
    if ASIC is None:
        pytest.skip("../shared/data/asic is absent")
    if shutil.which("sta") is None or shutil.which("yosys") is None:
        pytest.skip("yosys and sta (Debian opensta) are needed: make setup")
    from mixq.hw.asic import prepare_library
    from mixq.hw.cellmodels import LibraryModels

    work = tmp_path_factory.mktemp("sky")
    lib, _ = prepare_library(ASIC / SKY, work)
    return lib, LibraryModels(lib), work


@needs_asic
def test_register_file_on_sky130_is_bit_exact_and_priced(sky):
    from mixq.hw.regfile import ReadStyle, measure_regfile

    lib, models, work = sky
    cfg = EngineConfig(lanes=8, channels=2, structure="1:8", max_chunks=8, max_groups=4)
    rng = random.Random(0)
    rf = regfile_for("requant", cfg, 20, 6, False)
    image = [rng.getrandbits(20) for _ in range(6)]
    re = [rng.randint(0, 1) for _ in range(30)]
    addr = [rng.randrange(6) for _ in range(30)]
    data, cur = [], 0
    for e, a in zip(re, addr):  # synchronous read, held while the enable is low
        data.append(cur)
        cur = image[a] if e else cur
    trace = {"q_re": re, "q_addr": addr, "q_data": data, "w_re": re}
    args = (ASIC / SKY, models, lib, work, 10.0, False, ReadStyle.MUX)
    m = measure_regfile(rf, trace, image, *args)
    assert m["flip_flops"] == 6 * 20 + 20 and m["area_um2"] > 120 * lib.area(
        "sky130_fd_sc_hd__dfxtp_1")
    assert m["logic_pj"] > 0 and m["ff_clock_pj"] > 0 and m["leakage_pj"] > 0
    with pytest.raises(Exception, match="differs from the RTL"):
        measure_regfile(rf, dict(trace, q_data=[d ^ (i == 20) for i, d in enumerate(data)]),
                        image, *args)


@needs_asic
def test_decoded_register_file_with_two_read_ports_is_bit_exact(sky):
    """The decoded read (one select line per word, AND-OR) on the row buffer's shape: a write
    port and two read ports, the bank bit above the chunk field; replayed against a reference
    memory (a wrong read word raises)."""
    from mixq.hw.regfile import ReadStyle, measure_regfile, regfile_verilog

    lib, models, work = sky
    cfg = EngineConfig(lanes=8, channels=2, structure="1:8", max_chunks=8, max_groups=4)
    rf = regfile_for("activations", cfg, 8, 6, True)
    assert rf.index == (0, 1, 3) and "rf_dec" in regfile_verilog(rf, ReadStyle.DECODED)
    rng, addrs, mem, held = random.Random(1), (0, 1, 2, 8, 9, 10), {}, [0, 0]
    trace = {k: [] for k in ("rb_we", "rb_waddr", "rb_wdata", "rb_re_a", "rb_raddr_a",
                             "rb_rdata_a", "rb_re_b", "rb_raddr_b", "rb_rdata_b")}
    for _ in range(40):  # synchronous reads (old data on a same-cycle write), held when idle
        step = {"rb_we": rng.randint(0, 1), "rb_waddr": rng.choice(addrs),
                "rb_wdata": rng.getrandbits(8), "rb_re_a": rng.randint(0, 1),
                "rb_raddr_a": rng.choice(addrs), "rb_re_b": rng.randint(0, 1),
                "rb_raddr_b": rng.choice(addrs), "rb_rdata_a": held[0], "rb_rdata_b": held[1]}
        for k, v in step.items():
            trace[k].append(v)
        for i, p in enumerate("ab"):
            held[i] = mem.get(step[f"rb_raddr_{p}"], 0) if step[f"rb_re_{p}"] else held[i]
        if step["rb_we"]:
            mem[step["rb_waddr"]] = step["rb_wdata"]
    trace["w_re"] = [1] * 40
    args = (ASIC / SKY, models, lib, work, 10.0, True, ReadStyle.DECODED)
    m = measure_regfile(rf, trace, None, *args)
    assert m["flip_flops"] == 8 * 8 + 2 * 8 and m["logic_pj"] > 0
    bad = [d ^ (i == 30) for i, d in enumerate(trace["rb_rdata_b"])]
    with pytest.raises(Exception, match="differs from the RTL"):
        measure_regfile(rf, dict(trace, rb_rdata_b=bad), None, *args)
