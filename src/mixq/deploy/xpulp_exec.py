"""Execute one decoded Xpulp instruction (:mod:`mixq.deploy.xpulp`) on a :class:`Hart`.

:func:`compile_insn` turns an :class:`XInsn` into a closure ``f(hart, pc) -> next pc`` once
(its mnemonic parsed, its lane tables chosen), so an emulator that caches the closure per
address pays the parsing once per static instruction, not per execution; :func:`execute` is
``compile_insn(insn)(hart, pc)``. Hardware-loop *jumps* are not taken here but by
:func:`loop_end_target`, which the emulator calls once the instruction at a loop end has run
(GVSoC's rule: loop 0 is checked first; a loop whose count is non-zero and whose end is that
``pc`` decrements its count and, if still non-zero, jumps to its start).

Example:
    >>> from mixq.deploy.xpulp import Hart, decode, pack
    >>> h = Hart()
    >>> h.set(10, 5); h.set(11, pack([1, 2, 3, 4], 8)); h.set(12, pack([-1, -1, 2, 2], 8))
    >>> execute(decode(0xB8C59557), h, 0x100)  # pv.sdotsp.b a0, a1, a2
    260
    >>> h.get(10)  # 5 + (-1 - 2 + 6 + 8)
    16
"""

from __future__ import annotations

from functools import lru_cache
from operator import mul

from mixq.deploy.xpulp import LANE_BITS, LOAD_NAMES, LOAD_SIZES, M32, Hart, XInsn, lanes, pack, \
    sext

_LOAD_BY_NAME = {name: LOAD_SIZES[f3] for f3, name in LOAD_NAMES.items()}
_STORE_SIZE = {"sb": 1, "sh": 2, "sw": 4}
_LANE_OPS = {
    "add": lambda a, b, w: a + b, "sub": lambda a, b, w: a - b,
    "avg": lambda a, b, w: (a + b) >> 1, "avgu": lambda a, b, w: (a + b) >> 1,
    "min": lambda a, b, w: min(a, b), "minu": lambda a, b, w: min(a, b),
    "max": lambda a, b, w: max(a, b), "maxu": lambda a, b, w: max(a, b),
    "srl": lambda a, b, w: a >> (b & (w - 1)), "sra": lambda a, b, w: a >> (b & (w - 1)),
    "sll": lambda a, b, w: a << (b & (w - 1)),
    "or": lambda a, b, w: a | b, "xor": lambda a, b, w: a ^ b, "and": lambda a, b, w: a & b,
    "abs": lambda a, b, w: abs(a),
}
_UNSIGNED_LANES = {"avgu", "minu", "maxu", "srl", "sll"}
_DOT_SIGNS = {"dotup": (False, False), "dotusp": (False, True), "dotsp": (True, True)}


@lru_cache(maxsize=None)
def lane_reader(width: int, signed: bool):
    """A fast ``value -> tuple of lanes`` equal to :func:`mixq.deploy.xpulp.lanes` (per-byte
    tables for 8/4/2-bit lanes).

    Example:
        >>> lane_reader(4, True)(0x0000_00F7)
        (7, -1, 0, 0, 0, 0, 0, 0)
    """
    if width == 16:
        return lambda v: tuple(lanes(v, 16, signed))
    t = [tuple(lanes(b, width, signed)[:8 // width]) for b in range(256)]
    return lambda v: t[v & 255] + t[v >> 8 & 255] + t[v >> 16 & 255] + t[v >> 24 & 255]


def _simd(insn: XInsn):
    base, _, rest = insn.name[3:].partition(".")  # "sdotusp", "b.sc" / "sc.b"
    parts = rest.split(".")
    w = LANE_BITS[next(p for p in parts if p in LANE_BITS)]
    mode = next((p for p in parts if p in ("sc", "sci")), "")
    n, rd, rs1, rs2, imm = 32 // w, insn.rd, insn.rs1, insn.rs2, insn.imm
    if base in ("extract", "extractu"):
        read = lane_reader(w, base == "extract")
        return lambda h: h.set(rd, read(h.get(rs1))[imm % n])

    if base == "insert":
        def insert(h):
            out = list(lanes(h.get(rd), w, False))
            out[imm % n] = h.get(rs1) & ((1 << w) - 1)
            h.set(rd, pack(out, w))
        return insert
    dot = base.lstrip("s") if base.startswith("sdot") else base
    sa, sb = _DOT_SIGNS[dot] if dot in _DOT_SIGNS else (None, base not in _UNSIGNED_LANES)
    read_a = lane_reader(w, sb if sa is None else sa)
    read_b = lane_reader(w, sb)
    if mode == "sci":
        const = (sext(imm, w) if sb else imm & ((1 << w) - 1),) * n
        operand_b = lambda h: const  # noqa: E731
    elif mode == "sc":
        operand_b = lambda h: (read_b(h.get(rs2))[0],) * n  # noqa: E731
    else:
        operand_b = lambda h: read_b(h.get(rs2))  # noqa: E731
    if dot in _DOT_SIGNS and not mode and rd:  # the MatMul inner loop's form: registers direct
        keep = base.startswith("sdot")

        def dot_product(h):
            r = h.regs
            r[rd] = ((r[rd] if keep else 0) + sum(map(mul, read_a(r[rs1]), read_b(r[rs2])))) & M32
        return dot_product
    if dot in _DOT_SIGNS:
        keep = base.startswith("sdot")
        return lambda h: h.set(rd, (h.get(rd) if keep else 0)
                               + sum(map(mul, read_a(h.get(rs1)), operand_b(h))))
    op = _LANE_OPS[base]
    return lambda h: h.set(rd, pack([op(x, y, w) for x, y in zip(read_a(h.get(rs1)),
                                                                   operand_b(h))], w))


def _bits(value: int, width: int, shift: int, signed: bool) -> int:
    width = min(width, 32 - shift)
    field = (value >> shift) & ((1 << width) - 1)
    return sext(field, width) if signed else field


def _scalar(insn: XInsn, h: Hart) -> None:
    a_u, b_u = h.get(insn.rs1), h.get(insn.rs2)
    a, b = sext(a_u, 32), sext(b_u, 32)
    name = insn.name
    if name == "p.abs":
        r = abs(a)
    elif name in ("p.slet", "p.sletu"):
        r = int(a <= b) if name == "p.slet" else int(a_u <= b_u)
    elif name in ("p.min", "p.max"):
        r = min(a, b) if name == "p.min" else max(a, b)
    elif name in ("p.minu", "p.maxu"):
        r = min(a_u, b_u) if name == "p.minu" else max(a_u, b_u)
    elif name == "p.ror":
        s = b_u & 31
        r = (a_u >> s | a_u << (32 - s)) if s else a_u
    elif name == "p.ff1":
        r = (a_u & -a_u).bit_length() - 1 if a_u else 32
    elif name == "p.fl1":
        r = a_u.bit_length() - 1 if a_u else 32
    elif name == "p.clb":
        r = 0 if a_u == 0 else (32 - (a_u if a >= 0 else ~a_u & M32).bit_length()) - 1
    elif name == "p.cnt":
        r = bin(a_u).count("1")
    elif name in ("p.exths", "p.exthz", "p.extbs", "p.extbz"):
        r = _bits(a_u, 16 if name[5] == "h" else 8, 0, name[6] == "s")
    elif name in ("p.clip", "p.clipi"):
        hi = b if name == "p.clip" else (1 << max(insn.imm - 1, 0)) - 1
        r = max(-hi - 1, min(a, hi))
    elif name in ("p.clipu", "p.clipui"):
        hi = b if name == "p.clipu" else (1 << max(insn.imm - 1, 0)) - 1
        r = 0 if a <= 0 else min(a, hi)
    elif name in ("p.mac", "p.msu"):
        r = h.get(insn.rd) + (a * b if name == "p.mac" else -a * b)
    elif name in ("p.extract", "p.extractu"):
        r = _bits(a_u, (b_u >> 5 & 31) + 1, b_u & 31, name == "p.extract")
    else:  # p.extracti / p.extractui
        r = _bits(a_u, insn.imm + 1, insn.imm2, name == "p.extracti")
    h.set(insn.rd, r)


def _memory(insn: XInsn):
    name, rd, rs1, rs2, imm = insn.name[2:], insn.rd, insn.rs1, insn.rs2, insn.imm
    op = name.rstrip("!r")
    if name.startswith("l"):
        size, signed = _LOAD_BY_NAME[op]
        bits = 8 * size
        if name.endswith("!") and rd and rd != rs1:  # p.l* rd, imm(rs1!): registers direct
            def post_increment_load(h):
                r = h.regs
                base = r[rs1]
                value = h.load(base, size)
                r[rd] = sext(value, bits) & M32 if signed else value
                r[rs1] = (base + imm) & M32
            return post_increment_load

        def load(h):
            base = h.get(rs1)
            if name.endswith("!"):
                addr, new = base, base + imm
            elif name.endswith("!rr"):
                addr, new = base, base + h.get(rs2)
            else:
                addr, new = base + h.get(rs2), None
            value = h.load(addr & M32, size)
            h.set(rd, sext(value, bits) if signed else value)
            if new is not None:
                h.set(rs1, new)
        return load
    size = _STORE_SIZE[op]

    def store(h):
        base, value = h.get(rs1), h.get(rs2)
        if name.endswith("!"):
            h.store(base, size, value)
            h.set(rs1, base + imm)
        elif name.endswith("!rr"):
            h.store(base, size, value)
            h.set(rs1, base + h.get(rd))
        else:
            h.store((base + h.get(rd)) & M32, size, value)
    return store


def _loop(insn: XInsn):
    i, name, imm = insn.loop, insn.name, insn.imm

    def setup(h, pc):
        if name == "lp.starti":
            h.lp_start[i] = (pc + (imm << 1)) & M32
        elif name == "lp.endi":
            h.lp_end[i] = (pc + (imm << 1)) & M32
        elif name == "lp.count":
            h.lp_count[i] = h.get(insn.rs1)
        elif name == "lp.counti":
            h.lp_count[i] = imm
        elif name == "lp.setup":
            h.lp_start[i], h.lp_end[i] = pc + 4, (pc + (imm << 1)) & M32
            h.lp_count[i] = h.get(insn.rs1)
        else:  # lp.setupi: count = imm[31:20], end offset = rs1 field
            h.lp_start[i], h.lp_end[i] = pc + 4, (pc + (insn.imm2 << 1)) & M32
            h.lp_count[i] = imm
        return (pc + 4) & M32
    return setup


def _branch(insn: XInsn):
    rs1, value, offset, on_equal = insn.rs1, insn.imm2, insn.imm, insn.name == "p.beqimm"

    def branch(h, pc):
        if (sext(h.get(rs1), 32) == value) == on_equal:
            return (pc + offset) & M32
        return (pc + 4) & M32
    return branch


def compile_insn(insn: XInsn):
    """The closure ``f(hart, pc) -> next pc`` running ``insn`` (``pc + 4`` unless a taken
    ``p.beqimm`` / ``p.bneimm``; hardware-loop jumps are :func:`loop_end_target`'s).

    Example:
        >>> from mixq.deploy.xpulp import decode
        >>> h = Hart(regs=[0] * 11 + [7] + [0] * 20)
        >>> compile_insn(decode(0x0025A563))(h, 0x40)  # p.beqimm a1, 2, +10: not taken
        68
    """
    name = insn.name
    if name.startswith("lp."):
        return _loop(insn)
    if name in ("p.beqimm", "p.bneimm"):
        return _branch(insn)
    if name.startswith("pv."):
        body = _simd(insn)
    elif name[2] in "ls" and not name.startswith("p.slet"):
        body = _memory(insn)
    else:
        body = lambda h: _scalar(insn, h)  # noqa: E731

    def run(h, pc):
        body(h)
        return (pc + 4) & M32
    return run


def execute(insn: XInsn, h: Hart, pc: int) -> int:
    """Run ``insn`` (at address ``pc``) on ``h``; returns the next pc (``pc + 4`` unless a
    taken ``p.beqimm`` / ``p.bneimm``). Hardware-loop jumps are :func:`loop_end_target`'s."""
    return compile_insn(insn)(h, pc)


def loop_end_target(h: Hart, pc: int) -> int | None:
    """After the instruction at ``pc`` ran: the loop start to jump to, or ``None``.

    Example:
        >>> h = Hart(lp_start=[0x10, 0], lp_end=[0x18, 0], lp_count=[2, 0])
        >>> loop_end_target(h, 0x18), h.lp_count[0], loop_end_target(h, 0x18), h.lp_count[0]
        (16, 1, None, 0)
    """
    for i in (0, 1):
        if h.lp_count[i] and h.lp_end[i] == pc:
            h.lp_count[i] = (h.lp_count[i] - 1) & M32
            if h.lp_count[i]:
                return h.lp_start[i]
    return None
