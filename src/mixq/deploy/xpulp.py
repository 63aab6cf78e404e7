"""Decoder and reference semantics of the Xpulp instructions mixq's PULP kernels emit.

A functional model, independent of any emulator: :func:`decode` turns a 32-bit word into an
:class:`XInsn` (``None`` for anything that is not Xpulp), :func:`execute` runs it against a
:class:`Hart` (registers, memory, hardware-loop registers) and returns the next ``pc``.
:mod:`mixq.deploy.emulator_xpulp` plugs it under Unicorn's RV32 core.

Covered (encodings of GVSoC's ``isa_pulpv2.py`` / ``isa_pulpnn.py`` tables; semantics of the
RI5CY user manual and the XpulpNN paper, Garofalo et al. 2020):

* XpulpV2 SIMD (opcode 0x57), 16-bit ``.h`` and 8-bit ``.b`` lanes, vector / ``.sc`` (lane 0 of
  rs2 replicated) / ``.sci`` (6-bit immediate) forms: ``add sub avg avgu min minu max maxu srl
  sra sll or xor and abs``, ``extract extractu insert``, the dot products ``dotup dotusp dotsp``
  (``rd = sum a_i*b_i``) and their accumulating ``sdot*`` forms (``rd += ...``);
* XpulpNN: the same lane operations and dot products on 4-bit nibbles (``.n``) and 2-bit
  crumbs (``.c``), funct3 2 (vector) / 3 (``.sc``), funct7 bit 0 selects crumbs;
* post-increment loads/stores ``p.lb/lbu/lh/lhu/lw rd, imm(rs1!)``, ``p.sb/sh/sw rs2,
  imm(rs1!)``, their register-offset forms, register-register ``p.l* rd, rs2(rs1)`` and
  ``p.s* rs2, rs3(rs1)``;
* hardware loops ``lp.starti lp.endi lp.count lp.counti lp.setup lp.setupi``;
* scalar ``p.abs p.slet p.sletu p.min p.minu p.max p.maxu p.ror p.ff1 p.fl1 p.clb p.cnt
  p.exths p.exthz p.extbs p.extbz p.clip p.clipu p.clipi p.clipui p.mac p.msu p.extract
  p.extractu p.extracti p.extractui p.beqimm p.bneimm``.

Lane ``i`` of a register holds bits ``[w*i, w*i + w)``; ``dotusp`` multiplies unsigned lanes of
rs1 by signed lanes of rs2; results wrap to 32 bits.

Example:
    >>> insn = decode(0xB8C59557)  # .insn r 0x57, 1, 0x5c, a0, a1, a2
    >>> insn.name, insn.rd, insn.rs1, insn.rs2
    ('pv.sdotsp.b', 10, 11, 12)
"""

from __future__ import annotations

from dataclasses import dataclass, field

M32 = 0xFFFF_FFFF
LANE_BITS = {"h": 16, "b": 8, "n": 4, "c": 2}
# funct6 (bits 31..26) of opcode 0x57 -> operation
SIMD_OPS = {
    0b000000: "add", 0b000010: "sub", 0b000100: "avg", 0b000110: "avgu", 0b001000: "min",
    0b001010: "minu", 0b001100: "max", 0b001110: "maxu", 0b010000: "srl", 0b010010: "sra",
    0b010100: "sll", 0b010110: "or", 0b011000: "xor", 0b011010: "and", 0b011100: "abs",
    0b011110: "extract", 0b100100: "extractu", 0b101100: "insert",
    0b100000: "dotup", 0b100010: "dotusp", 0b100110: "dotsp",
    0b101000: "sdotup", 0b101010: "sdotusp", 0b101110: "sdotsp",
}
UNSIGNED_IMM = {"avgu", "minu", "maxu", "srl", "sll", "extract", "extractu", "insert", "dotup",
                "sdotup"}
LOAD_SIZES = {0: (1, True), 1: (2, True), 2: (4, True), 4: (1, False), 5: (2, False)}
RR_LOAD = {0b0000000: 0, 0b0001000: 1, 0b0010000: 2, 0b0100000: 4, 0b0101000: 5}
LOAD_NAMES = {0: "lb", 1: "lh", 2: "lw", 4: "lbu", 5: "lhu"}
ALU_0x02 = {0: "p.abs", 2: "p.slet", 3: "p.sletu", 4: "p.min", 5: "p.minu", 6: "p.max",
            7: "p.maxu"}
BIT_0x08 = {0: "p.ff1", 1: "p.fl1", 2: "p.clb", 3: "p.cnt", 4: "p.exths", 5: "p.exthz",
            6: "p.extbs", 7: "p.extbz"}
CLIP_0x0A = {1: "p.clipi", 2: "p.clipui", 5: "p.clip", 6: "p.clipu"}
LOOP_OPS = {0: "lp.starti", 1: "lp.endi", 2: "lp.count", 3: "lp.counti", 4: "lp.setup",
            5: "lp.setupi"}


def sext(value: int, bits: int) -> int:
    """Two's complement value of the low ``bits`` bits.

    Example:
        >>> sext(0xF, 4), sext(0x7, 4), sext(0xFFFF_FFFF, 32)
        (-1, 7, -1)
    """
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def lanes(value: int, width: int, signed: bool) -> list[int]:
    """The ``32 // width`` lanes of a register, lane 0 in the low bits.

    Example:
        >>> lanes(0x80FF017F, 8, True), lanes(0x80FF017F, 8, False)
        ([127, 1, -1, -128], [127, 1, 255, 128])
    """
    mask = (1 << width) - 1
    out = [(value >> (width * i)) & mask for i in range(32 // width)]
    return [sext(v, width) for v in out] if signed else out


def pack(values, width: int) -> int:
    """Inverse of :func:`lanes` (each value wraps to ``width`` bits).

    Example:
        >>> hex(pack([127, 1, -1, -128], 8))
        '0x80ff017f'
    """
    mask = (1 << width) - 1
    return sum((v & mask) << (width * i) for i, v in enumerate(values)) & M32


@dataclass(frozen=True)
class XInsn:
    """One decoded Xpulp instruction: mnemonic, register numbers and immediates."""

    name: str
    rd: int = 0
    rs1: int = 0
    rs2: int = 0
    imm: int = 0
    imm2: int = 0
    loop: int = 0


@dataclass
class Hart:
    """What :func:`execute` needs from a core: registers, memory, hardware-loop registers.

    Subclasses (the Unicorn adapter) override the four accessors; this base keeps registers in a
    list and memory in a dict (tests).
    """

    regs: list = field(default_factory=lambda: [0] * 32)
    memory: dict = field(default_factory=dict)
    lp_start: list = field(default_factory=lambda: [0, 0])
    lp_end: list = field(default_factory=lambda: [0, 0])
    lp_count: list = field(default_factory=lambda: [0, 0])

    def get(self, r: int) -> int:
        return 0 if r == 0 else self.regs[r] & M32

    def set(self, r: int, value: int) -> None:
        if r:
            self.regs[r] = value & M32

    def load(self, addr: int, size: int) -> int:
        return int.from_bytes(bytes(self.memory.get(addr + i, 0) for i in range(size)), "little")

    def store(self, addr: int, size: int, value: int) -> None:
        for i, b in enumerate((value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")):
            self.memory[addr + i] = b


def is_xpulpnn(insn: XInsn) -> bool:
    """True for the XpulpNN additions (nibble ``.n`` and crumb ``.c`` lanes), which an XpulpV2
    core (GAP8, ``pulp-open``) does not have.

    Example:
        >>> is_xpulpnn(XInsn("pv.sdotusp.n")), is_xpulpnn(XInsn("pv.sdotusp.b.sc"))
        (True, False)
    """
    return insn.name.startswith("pv.") and any(p in ("n", "c") for p in insn.name.split(".")[2:])


def _f(word: int, lo: int, n: int) -> int:
    return (word >> lo) & ((1 << n) - 1)


def _decode_simd(word: int, rd: int, rs1: int, rs2: int, f3: int) -> XInsn | None:
    op = SIMD_OPS.get(_f(word, 26, 6))
    if op is None:
        return None
    if f3 in (2, 3):  # XpulpNN nibble / crumb
        if op in ("extract", "extractu", "insert"):
            return None
        size = "c" if word >> 25 & 1 else "n"
        mode = ".sc" if f3 == 3 else ""
    else:
        if word >> 25 & 1 and f3 < 6:
            return None
        size = "h" if f3 in (0, 4, 6) else "b"
        mode = {0: "", 1: "", 4: ".sc", 5: ".sc", 6: ".sci", 7: ".sci"}.get(f3)
        if mode is None or (op in ("extract", "extractu", "insert") and mode != ".sci"):
            return None
    if op == "abs" and mode:
        return None
    imm6 = _f(word, 25, 1) | _f(word, 20, 5) << 1
    imm = imm6 if op in UNSIGNED_IMM else sext(imm6, 6)
    if op in ("extract", "extractu", "insert"):
        return XInsn(f"pv.{op}.{size}", rd, rs1, 0, imm6)
    if op.startswith("dot") or op.startswith("sdot"):
        return XInsn(f"pv.{op}.{size}{mode}", rd, rs1, rs2, imm)
    return XInsn(f"pv.{op}{mode}.{size}", rd, rs1, rs2, imm)


def _decode_alu(word: int, rd: int, rs1: int, rs2: int, f3: int) -> XInsn | None:
    f7 = _f(word, 25, 7)
    name = None
    if f7 == 0b0000010:
        name = ALU_0x02.get(f3) if f3 != 0 or rs2 == 0 else None
    elif f7 == 0b0000100 and f3 == 5:
        name = "p.ror"
    elif f7 == 0b0001000 and rs2 == 0:
        name = BIT_0x08[f3]
    elif f7 == 0b0001010:
        name = CLIP_0x0A.get(f3)
    elif f7 == 0b0100001 and f3 in (0, 1):
        name = ("p.mac", "p.msu")[f3]
    elif f7 == 0b1000000 and f3 in (0, 1):
        name = ("p.extract", "p.extractu")[f3]
    elif f7 >> 5 == 0b11 and f3 in (0, 1):
        return XInsn(("p.extracti", "p.extractui")[f3], rd, rs1, 0, _f(word, 25, 5), rs2)
    return None if name is None else XInsn(name, rd, rs1, rs2, rs2)


def decode(word: int) -> XInsn | None:
    """Decode one 32-bit instruction word; ``None`` when it is not an Xpulp instruction.

    Example:
        >>> decode(0x0047268B)  # .insn i 0x0b, 2, a3, a4, 4  ==  p.lw a3, 4(a4!)
        XInsn(name='p.lw!', rd=13, rs1=14, rs2=0, imm=4, imm2=0, loop=0)
        >>> decode(0x00A58533) is None  # add a0, a1, a0
        True
    """
    word &= M32
    opcode, rd, f3 = word & 0x7F, _f(word, 7, 5), _f(word, 12, 3)
    rs1, rs2 = _f(word, 15, 5), _f(word, 20, 5)
    if opcode == 0x57:
        return _decode_simd(word, rd, rs1, rs2, f3)
    if opcode == 0x33:
        return _decode_alu(word, rd, rs1, rs2, f3)
    if opcode == 0x0B:  # post-increment loads
        if f3 in LOAD_SIZES:
            return XInsn(f"p.{LOAD_NAMES[f3]}!", rd, rs1, 0, sext(word >> 20, 12))
        if f3 == 7 and _f(word, 25, 7) in RR_LOAD:
            return XInsn(f"p.{LOAD_NAMES[RR_LOAD[_f(word, 25, 7)]]}!rr", rd, rs1, rs2)
        return None
    if opcode == 0x03 and f3 == 7 and _f(word, 25, 7) in RR_LOAD:
        return XInsn(f"p.{LOAD_NAMES[RR_LOAD[_f(word, 25, 7)]]}rr", rd, rs1, rs2)
    if opcode == 0x2B:  # post-increment stores (rs3 in the rd field for register offsets)
        size = ("sb", "sh", "sw")
        if f3 <= 2:
            return XInsn(f"p.{size[f3]}!", 0, rs1, rs2, sext(_f(word, 25, 7) << 5 | rd, 12))
        if 4 <= f3 <= 6 and _f(word, 25, 7) == 0:
            return XInsn(f"p.{size[f3 - 4]}!rr", rd, rs1, rs2)
        return None
    if opcode == 0x23 and 4 <= f3 <= 6 and _f(word, 25, 7) == 0:
        return XInsn(f"p.{('sb', 'sh', 'sw')[f3 - 4]}rr", rd, rs1, rs2)
    if opcode == 0x7B and f3 in LOOP_OPS and _f(word, 8, 4) == 0:
        return XInsn(LOOP_OPS[f3], 0, rs1, 0, word >> 20, rs1, _f(word, 7, 1))
    if opcode == 0x63 and f3 in (2, 3):
        off = sext(_f(word, 31, 1) << 12 | _f(word, 7, 1) << 11 | _f(word, 25, 6) << 5
                   | _f(word, 8, 4) << 1, 13)
        return XInsn(("p.beqimm", "p.bneimm")[f3 - 2], 0, rs1, 0, off, sext(rs2, 5))
    return None
