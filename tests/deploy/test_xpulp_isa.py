"""Xpulp instruction handlers, each run on the functional core (Unicorn + Python handlers) from
words assembled by the real riscv64-unknown-elf-as (``.insn``) and checked against the RI5CY
manual / XpulpNN definitions written out independently below, on edge values."""

import random

import pytest

from mixq.deploy.emulator_xpulp import XpulpCore
from mixq.deploy.build import build_elf
from mixq.deploy.riscv import RV32IMC
from mixq.errors import MixqError

pytestmark = pytest.mark.cross

M = 0xFFFF_FFFF
EDGES = [0, 1, M, 0x8000_0000, 0x7FFF_FFFF, 0x8080_8080, 0x7F7F_7F7F, 0x8888_8888,
         0x7777_7777, 0xAAAA_AAAA, 0x5555_5555, 0x0123_4567, 0xFEDC_BA98]
W = {"h": 16, "b": 8, "n": 4, "c": 2}
FUNCT6 = {"add": 0b000000, "sub": 0b000010, "avg": 0b000100, "avgu": 0b000110,
          "min": 0b001000, "minu": 0b001010, "max": 0b001100, "maxu": 0b001110,
          "srl": 0b010000, "sra": 0b010010, "sll": 0b010100, "or": 0b010110, "xor": 0b011000,
          "and": 0b011010, "abs": 0b011100, "dotup": 0b100000, "dotusp": 0b100010,
          "dotsp": 0b100110, "sdotup": 0b101000, "sdotusp": 0b101010, "sdotsp": 0b101110}


def field(v, w, i, signed):
    x = (v >> (w * i)) & ((1 << w) - 1)
    return x - (1 << w) if signed and x >> (w - 1) else x


def spec_simd(op, w, rd, a, b):
    """The manual's definition, lane by lane (lane i = bits w*i .. w*i+w-1)."""
    n = 32 // w
    if op.endswith("dotup") or op.endswith("dotusp") or op.endswith("dotsp"):
        sa = op.endswith("dotsp")
        sb = not op.endswith("dotup")
        total = sum(field(a, w, i, sa) * field(b, w, i, sb) for i in range(n))
        return (total + (rd if op.startswith("s") else 0)) & M
    signed = op not in ("avgu", "minu", "maxu", "srl", "sll")
    out = 0
    for i in range(n):
        x, y = field(a, w, i, signed), field(b, w, i, signed)
        r = {"add": x + y, "sub": x - y, "avg": (x + y) >> 1, "avgu": (x + y) >> 1,
             "min": min(x, y), "minu": min(x, y), "max": max(x, y), "maxu": max(x, y),
             "srl": x >> (y % w), "sra": x >> (y % w), "sll": x << (y % w), "or": x | y,
             "xor": x ^ y, "and": x & y, "abs": abs(x)}[op]
        out |= (r & ((1 << w) - 1)) << (w * i)
    return out


def simd_cases():
    cases = []
    for op in FUNCT6:
        for size in "hbnc":
            if op == "abs" and size in "hb":
                cases.append((op, size, ""))
                continue
            modes = ["", "sc"] if op != "abs" else [""]
            cases += [(op, size, m) for m in modes]
    return cases


def simd_insn(op, size, mode):
    if size in "hb":
        f3 = {"": 0, "sc": 4}[mode] + (size == "b")
        f7 = FUNCT6[op] << 1
    else:
        f3 = 2 + (mode == "sc")
        f7 = FUNCT6[op] << 1 | (size == "c")
    return f".insn r 0x57, {f3}, {f7}, t0, t1, t2"


def rr_function(name, insn):
    return (f".globl {name}\n{name}:\n lw t0, 0(a0)\n lw t1, 4(a0)\n lw t2, 8(a0)\n"
            f" {insn}\n sw t0, 12(a0)\n sw t1, 16(a0)\n ret\n")


SCALAR = {  # name: (funct3, funct7, spec(rd, a, b) on signed/unsigned 32-bit values)
    "p.abs": (0, 2, None), "p.slet": (2, 2, None), "p.sletu": (3, 2, None),
    "p.min": (4, 2, None), "p.minu": (5, 2, None), "p.max": (6, 2, None),
    "p.maxu": (7, 2, None), "p.clip": (5, 10, None), "p.clipu": (6, 10, None),
    "p.mac": (0, 0x21, None), "p.msu": (1, 0x21, None), "p.exths": (4, 8, None),
    "p.extbz": (7, 8, None), "p.cnt": (3, 8, None), "p.ror": (5, 4, None),
}


def s32(v):
    return v - (1 << 32) if v >> 31 else v


def spec_scalar(name, rd, a, b):
    sa, sb = s32(a), s32(b)
    return {
        "p.abs": abs(sa), "p.slet": int(sa <= sb), "p.sletu": int(a <= b),
        "p.min": min(sa, sb), "p.minu": min(a, b), "p.max": max(sa, sb), "p.maxu": max(a, b),
        "p.clip": sa if -sb - 1 <= sa <= sb else (sb if sa > sb else -sb - 1),
        "p.clipu": 0 if sa <= 0 else min(sa, sb), "p.mac": rd + sa * sb, "p.msu": rd - sa * sb,
        "p.exths": s32(a & 0xFFFF | (0xFFFF0000 if a & 0x8000 else 0)), "p.extbz": a & 0xFF,
        "p.cnt": bin(a).count("1"), "p.ror": ((a >> (b & 31)) | (a << (32 - (b & 31)))) & M,
    }[name] & M


ASM_EXTRA = r"""
.globl t_loads
t_loads:            # a0 = io: [0] base address; outputs at io[1..]
 lw t1, 0(a0)
 .insn i 0x0b, 0, t0, t1, 3      # p.lb t0, 3(t1!)
 sw t0, 4(a0)
 .insn i 0x0b, 4, t0, t1, -1     # p.lbu t0, -1(t1!)
 sw t0, 8(a0)
 .insn i 0x0b, 1, t0, t1, 2      # p.lh t0, 2(t1!)
 sw t0, 12(a0)
 .insn i 0x0b, 5, t0, t1, 2      # p.lhu t0, 2(t1!)
 sw t0, 16(a0)
 .insn i 0x0b, 2, t0, t1, 4      # p.lw t0, 4(t1!)
 sw t0, 20(a0)
 sw t1, 24(a0)
 li t2, -4
 .insn r 0x0b, 7, 0x10, t0, t1, t2   # p.lw t0, t2(t1!)
 sw t0, 28(a0)
 .insn r 0x03, 7, 0x20, t0, t1, t2   # p.lbu t0, t2(t1)
 sw t0, 32(a0)
 sw t1, 36(a0)
 li t2, 5
 .insn r 0x0b, 7, 0x20, t0, t1, t2   # p.lbu t0, t2(t1!)  (the depthwise plane gather)
 sw t0, 40(a0)
 sw t1, 44(a0)
 ret

.globl t_stores
t_stores:           # a0 = io: [0] base address, [1] value
 lw t1, 0(a0)
 lw t2, 4(a0)
 .insn s 0x2b, 2, t2, 4(t1)      # p.sw t2, 4(t1!)
 .insn s 0x2b, 0, t2, 1(t1)      # p.sb t2, 1(t1!)
 .insn s 0x2b, 1, t2, 2(t1)      # p.sh t2, 2(t1!)
 li t0, 3
 .insn r 0x2b, 4, 0, t0, t1, t2  # p.sb t2, t0(t1!)
 .insn r 0x23, 6, 0, t0, t1, t2  # p.sw t2, t0(t1)  (unaligned by 3: a word at t1 + 3)
 sw t1, 8(a0)
 ret

.globl t_loops
t_loops:            # a0 = outer count, a1 = inner count; returns a0 = 1000*outer + inner body
 li t0, 0
 li t1, 0
 .balign 4
 .option push
 .option norvc
 .insn i 0x7b, 4, x1, a0, 14     # lp.setup 1, a0, end1 = pc + 28
 addi t0, t0, 1000
 .insn i 0x7b, 4, x0, a1, 6      # lp.setup 0, a1, end0
 addi t1, t1, 1
 addi t1, t1, 0
 addi t1, t1, 0                  # end0
 addi t0, t0, 0
 addi t0, t0, 0                  # end1
 .option pop
 add a0, t0, t1
 ret

.globl t_loop_xpulp_end
t_loop_xpulp_end:   # a0 = count, a1 = packed bytes; sum of count * dotsp(a1, a1)
 li t0, 0
 .balign 4
 .option push
 .option norvc
 .insn i 0x7b, 5, x0, x6, 3      # lp.setupi 0, 3 iterations, end = pc + 12
 addi t1, a1, 0
 addi t2, a1, 0
 .insn r 0x57, 1, 0x5c, t0, t1, t2   # pv.sdotsp.b t0, t1, t2 (last body instruction)
 .option pop
 mv a0, t0
 ret

.globl t_branch
t_branch:           # returns 1 if a0 == -3 (p.beqimm), else 2
 .insn sb 0x63, 2, a0, x29, 1f   # p.beqimm a0, -3, 1f (imm5 in the rs2 field: x29 = -3)
 li a0, 2
 ret
1:
 li a0, 1
 ret

.globl t_illegal
t_illegal:
 .insn r 0x57, 1, 0x7e, t0, t1, t2   # funct6 0x3f: not an Xpulp operation
 ret
"""


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    d = tmp_path_factory.mktemp("xpulp")
    src = [ASM_EXTRA]
    names = []
    for i, (op, size, mode) in enumerate(simd_cases()):
        src.append(rr_function(f"t_simd{i}", simd_insn(op, size, mode)))
        names.append(f"t_simd{i}")
    for name, (f3, f7, _) in SCALAR.items():
        rs2 = "x0" if name in ("p.abs", "p.exths", "p.extbz", "p.cnt") else "t2"
        src.append(rr_function("t_" + name[2:], f".insn r 0x33, {f3}, {f7}, t0, t1, {rs2}"))
        names.append("t_" + name[2:])
    for k in range(6):  # pv.sll.sci.b / pv.sra.sci.b by 2k: bits 5..1 of the shift in rs2
        src.append(rr_function(f"t_sll_sci{k}", f".insn r 0x57, 7, 0x28, t0, t1, x{k}"))
        src.append(rr_function(f"t_sra_sci{k}", f".insn r 0x57, 7, 0x24, t0, t1, x{k}"))
        names += [f"t_sll_sci{k}", f"t_sra_sci{k}"]
    for imm in (0, 1, 5, 8, 32):
        src.append(rr_function(f"t_clipi{imm}", f".insn r 0x33, 1, 10, t0, t1, x{imm % 32}"))
        names.append(f"t_clipi{imm}")
    (d / "x.S").write_text("".join(src))
    entries = tuple(names) + ("t_loads", "t_stores", "t_loops", "t_loop_xpulp_end",
                              "t_branch", "t_illegal")
    image = RV32IMC.load(build_elf(RV32IMC, [d / "x.S"], d / "x.elf", entries=entries))
    return XpulpCore(image, {"io": 64, "mem": 64})


def run_rr(core, name, rd, a, b):
    core.write("io", b"".join(v.to_bytes(4, "little") for v in (rd, a, b)))
    core.call(name, ("io",))
    out = core.read("io")
    return int.from_bytes(out[12:16], "little"), int.from_bytes(out[16:20], "little")


def values(seed, n=6):
    rng = random.Random(seed)
    return EDGES + [rng.getrandbits(32) for _ in range(n)]


@pytest.mark.parametrize("i,case", list(enumerate(simd_cases())))
def test_simd_matches_spec(core, i, case):
    op, size, mode = case
    rng = random.Random(i)
    for a in values(i):
        b = rng.choice(EDGES + [rng.getrandbits(32)])
        rd = rng.getrandbits(32)
        b_eff = b
        if mode == "sc":  # lane 0 of rs2 replicated
            lane0 = b & ((1 << W[size]) - 1)
            b_eff = sum(lane0 << (W[size] * k) for k in range(32 // W[size]))
        got, rs1_after = run_rr(core, f"t_simd{i}", rd, a, b)
        assert got == spec_simd(op, W[size], rd, a, b_eff), (op, size, mode, hex(a), hex(b))
        assert rs1_after == a


def test_dot_product_edge_values_by_hand(core):
    idx = {c: i for i, c in enumerate(simd_cases())}
    # 4 x (255 * -128) + 7: unsigned rs1 lanes, signed rs2 lanes, accumulate
    got, _ = run_rr(core, f"t_simd{idx[('sdotusp', 'b', '')]}", 7, M, 0x8080_8080)
    assert got == (7 - 4 * 255 * 128) & M
    # nibbles: 8 x (-8 * -8) = 512; crumbs: 16 x (-2 * -2) = 64; .sc takes lane 0 only
    assert run_rr(core, f"t_simd{idx[('dotsp', 'n', '')]}", 5, 0x8888_8888, 0x8888_8888)[0] == 512
    assert run_rr(core, f"t_simd{idx[('dotsp', 'c', '')]}", 5, 0xAAAA_AAAA, 0xAAAA_AAAA)[0] == 64
    assert run_rr(core, f"t_simd{idx[('sdotup', 'c', 'sc')]}", 1, M, 0xFFFF_FFF2)[0] == 1 + 16 * 6
    # 16-bit lanes: (-32768)^2 * 2 wraps to 0x8000_0000
    assert run_rr(core, f"t_simd{idx[('dotsp', 'h', '')]}", 0, 0x8000_8000,
                  0x8000_8000)[0] == 0x8000_0000
    # lane order: lane 0 is the low byte
    assert run_rr(core, f"t_simd{idx[('add', 'b', '')]}", 0, 0x0000_00FF, 0x0000_0001)[0] == 0


@pytest.mark.parametrize("k", range(6))
def test_shift_by_immediate_bytes(core, k):
    for a in values(k):
        shift = (2 * k) % 8  # lane shifts use the low 3 bits on 8-bit lanes
        assert run_rr(core, f"t_sll_sci{k}", 0, a, 0)[0] == spec_simd("sll", 8, 0, a,
                                                                       0x0101_0101 * shift)
        assert run_rr(core, f"t_sra_sci{k}", 0, a, 0)[0] == spec_simd("sra", 8, 0, a,
                                                                       0x0101_0101 * shift)


@pytest.mark.parametrize("name", list(SCALAR))
def test_scalar_matches_spec(core, name):
    rng = random.Random(name)
    for a in values(len(name)):
        b = rng.choice(EDGES + [rng.randrange(0, 300), rng.getrandbits(32)])
        if name in ("p.clip", "p.clipu"):
            b = rng.choice([0, 1, 7, 127, 255, 0x7FFF_FFFF])
        rd = rng.getrandbits(32)
        got, _ = run_rr(core, "t_" + name[2:], rd, a, b)
        assert got == spec_scalar(name, rd, a, b), (name, hex(a), hex(b))


@pytest.mark.parametrize("imm", [0, 1, 5, 8, 32])
def test_clipi(core, imm):
    bits = imm % 32
    hi = (1 << max(bits - 1, 0)) - 1
    for a in EDGES + [200, -200 & M, 15, 16, -17 & M]:
        got, _ = run_rr(core, f"t_clipi{imm}", 0, a, 0)
        assert got == max(-hi - 1, min(s32(a), hi)) & M


def test_post_increment_loads(core):
    base = core.buffer_address("mem")
    core.write("mem", bytes(range(0x80, 0xC0)))
    core.write("io", base.to_bytes(4, "little") + bytes(60))
    core.call("t_loads", ("io",))
    out = [int.from_bytes(core.read("io")[4 * k:4 * k + 4], "little") for k in range(12)]
    mem = bytes(range(0x80, 0xC0))
    assert out[1] == 0xFFFF_FF80                          # p.lb sign-extends mem[0]
    assert out[2] == mem[3]                               # p.lbu at base + 3
    assert out[3] == (int.from_bytes(mem[2:4], "little") | 0xFFFF_0000)  # p.lh
    assert out[4] == int.from_bytes(mem[4:6], "little")  # p.lhu, zero-extended
    assert out[5] == int.from_bytes(mem[6:10], "little")  # p.lw (unaligned)
    assert out[6] == base + 10                            # 3 - 1 + 2 + 2 + 4
    assert out[7] == int.from_bytes(mem[10:14], "little")  # p.lw t0, t2(t1!)
    assert out[8] == mem[2] and out[9] == base + 6         # p.lbu t0, t2(t1): no increment
    assert out[10] == mem[6] and out[11] == base + 11      # p.lbu t0, t2(t1!): rs1 += 5


def test_post_increment_stores(core):
    base = core.buffer_address("mem")
    core.write("mem", bytes(64))
    core.write("io", base.to_bytes(4, "little") + (0x1122_3344).to_bytes(4, "little"))
    core.call("t_stores", ("io",))
    mem = core.read("mem")
    assert mem[0:4] == bytes([0x44, 0x33, 0x22, 0x11])   # p.sw at base, then base += 4
    assert mem[4] == 0x44                                 # p.sb at base + 4, base += 1
    assert mem[5:7] == bytes([0x44, 0x33])                # p.sh at base + 5, base += 2
    assert mem[7] == 0x44                                 # p.sb t2, t0(t1!): base += 3
    assert mem[13:17] == bytes([0x44, 0x33, 0x22, 0x11])  # p.sw t2, t0(t1): base + 10 + 3
    assert int.from_bytes(core.read("io")[8:12], "little") == base + 10


@pytest.mark.parametrize("outer,inner", [(1, 1), (3, 5), (7, 2)])
def test_nested_hardware_loops(core, outer, inner):
    assert core.call("t_loops", (outer, inner)) == 1000 * outer + inner * outer


def test_hardware_loop_ending_on_an_xpulp_instruction(core):
    assert core.call("t_loop_xpulp_end", (0, 0x0102_03FF)) == 3 * (1 + 4 + 9 + 1)
    assert core.xpulp_counts["pv.sdotsp.b"] >= 3 and core.xpulp_counts["lp.setupi"] >= 1


@pytest.mark.parametrize("a0,expected", [(-3 & M, 1), (3, 2), (0, 2)])
def test_branch_immediate(core, a0, expected):
    assert core.call("t_branch", (a0,)) == expected


def test_unknown_instruction_is_a_one_line_error(core):
    with pytest.raises(MixqError) as e:
        core.call("t_illegal")
    assert "illegal instruction 0x" in str(e.value) and "\n" not in str(e.value)


TIMED = r"""
.option norvc
.globl t_timed
t_timed:
 lw t0, 0(a0)          # load, used at once: +1
 addi t0, t0, 1
 lw t1, 4(a0)          # load, not used next: no stall
 addi t2, t2, 0
 add t1, t1, t0
 mulhu t2, t1, t1      # 5 cycles
 li t3, 3
1:
 addi t3, t3, -1
 bnez t3, 1b           # taken twice (+2 each), falls through once
 li t4, 4
 .balign 4
 .insn i 0x7b, 4, x0, t4, 6   # lp.setup 0, t4: 3-instruction body, 4 iterations, no overhead
 addi t5, t5, 1
 addi t5, t5, 1
 .insn r 0x57, 1, 0x5c, t6, t5, t5
 ret                   # jump: 2 cycles
"""


def test_ri5cy_timing_model(tmp_path):
    from mixq.deploy.xpulp_timing import instruction_table, time_blocks

    (tmp_path / "t.S").write_text(TIMED)
    elf = build_elf(RV32IMC, [tmp_path / "t.S"], tmp_path / "t.elf", entries=("t_timed",))
    core = XpulpCore(XpulpCore.load(elf), {"io": 16})
    blocks = core.trace("t_timed", ("io",))[-1, -1]
    t = time_blocks(blocks, instruction_table(elf))
    # 6 straight + 1 li + 3 x 2 loop + 1 li + 1 lp.setup + 4 x 3 body + ret = 28 instructions
    assert t.instructions == 28
    # + load-use 1 + mulhu 4 + 2 taken branches x 2 + ret 1; the hardware loop costs nothing
    assert t.cycles == 28 + 1 + 4 + 4 + 1
    assert t.events["load_use"] == 1 and t.events["taken_branch"] == 2
