"""Execute one decoded Xpulp instruction (:mod:`mixq.deploy.xpulp`) on a :class:`Hart`.

:func:`execute` returns the next ``pc``; hardware-loop *jumps* are not taken here but by
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


def _simd(insn: XInsn, h: Hart) -> None:
    base, _, rest = insn.name[3:].partition(".")  # "sdotusp", "b.sc" / "sc.b"
    parts = rest.split(".")
    size = next(p for p in parts if p in LANE_BITS)
    mode = next((p for p in parts if p in ("sc", "sci")), "")
    w = LANE_BITS[size]
    a_raw, n = h.get(insn.rs1), 32 // w
    if base in ("extract", "extractu"):
        lane = lanes(a_raw, w, base == "extract")[insn.imm % n]
        h.set(insn.rd, lane)
        return
    if base == "insert":
        out = lanes(h.get(insn.rd), w, False)
        out[insn.imm % n] = a_raw & ((1 << w) - 1)
        h.set(insn.rd, pack(out, w))
        return
    dot = base.lstrip("s") if base.startswith("sdot") else base
    if dot in _DOT_SIGNS:
        sa, sb = _DOT_SIGNS[dot]
        a = lanes(a_raw, w, sa)
    else:
        sb = base not in _UNSIGNED_LANES
        a = lanes(a_raw, w, sb)
    if mode == "sci":
        b = [sext(insn.imm, w) if sb else insn.imm & ((1 << w) - 1)] * n
    elif mode == "sc":
        b = [lanes(h.get(insn.rs2), w, sb)[0]] * n
    else:
        b = lanes(h.get(insn.rs2), w, sb)
    if dot in _DOT_SIGNS:
        acc = h.get(insn.rd) if base.startswith("sdot") else 0
        h.set(insn.rd, acc + sum(x * y for x, y in zip(a, b)))
    else:
        h.set(insn.rd, pack([_LANE_OPS[base](x, y, w) for x, y in zip(a, b)], w))


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


def _memory(insn: XInsn, h: Hart) -> None:
    name = insn.name[2:]
    base = h.get(insn.rs1)
    if name.startswith("l"):
        op = name.rstrip("!r")
        size, signed = _LOAD_BY_NAME[op]
        if name.endswith("!"):
            addr, new = base, base + insn.imm
        elif name.endswith("!rr"):
            addr, new = base, base + h.get(insn.rs2)
        else:
            addr, new = base + h.get(insn.rs2), None
        value = h.load(addr & M32, size)
        h.set(insn.rd, sext(value, 8 * size) if signed else value)
        if new is not None:
            h.set(insn.rs1, new)
        return
    op = name.rstrip("!r")
    size = _STORE_SIZE[op]
    value = h.get(insn.rs2)
    if name.endswith("!"):
        h.store(base, size, value)
        h.set(insn.rs1, base + insn.imm)
    elif name.endswith("!rr"):
        h.store(base, size, value)
        h.set(insn.rs1, base + h.get(insn.rd))
    else:
        h.store((base + h.get(insn.rd)) & M32, size, value)


def _loop(insn: XInsn, h: Hart, pc: int) -> None:
    i, name = insn.loop, insn.name
    if name == "lp.starti":
        h.lp_start[i] = (pc + (insn.imm << 1)) & M32
    elif name == "lp.endi":
        h.lp_end[i] = (pc + (insn.imm << 1)) & M32
    elif name == "lp.count":
        h.lp_count[i] = h.get(insn.rs1)
    elif name == "lp.counti":
        h.lp_count[i] = insn.imm
    elif name == "lp.setup":
        h.lp_start[i], h.lp_end[i] = pc + 4, (pc + (insn.imm << 1)) & M32
        h.lp_count[i] = h.get(insn.rs1)
    else:  # lp.setupi: count = imm[31:20], end offset = rs1 field
        h.lp_start[i], h.lp_end[i] = pc + 4, (pc + (insn.imm2 << 1)) & M32
        h.lp_count[i] = insn.imm


def execute(insn: XInsn, h: Hart, pc: int) -> int:
    """Run ``insn`` (at address ``pc``) on ``h``; returns the next pc (``pc + 4`` unless a
    taken ``p.beqimm`` / ``p.bneimm``). Hardware-loop jumps are :func:`loop_end_target`'s."""
    name = insn.name
    if name.startswith("pv."):
        _simd(insn, h)
    elif name.startswith("lp."):
        _loop(insn, h, pc)
    elif name in ("p.beqimm", "p.bneimm"):
        equal = sext(h.get(insn.rs1), 32) == insn.imm2
        if equal == (name == "p.beqimm"):
            return (pc + insn.imm) & M32
    elif name[2] in "ls" and not name.startswith("p.slet"):
        _memory(insn, h)
    else:
        _scalar(insn, h)
    return (pc + 4) & M32


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
