"""Liberty (.lib) files: a small reader for the parts the hardware flow uses.

Read: library units and voltage, and per cell its area, leakage, pins (direction, capacitance,
logic ``function``), ``ff`` groups, internal-power tables and output-transition tables. Groups are
parsed lazily, one cell at a time, so a 13 MB library costs only the cells a netlist uses.
Gzipped files are read directly.

Syntax handled: groups ``name (args) { ... }``, simple attributes ``name : value ;`` (the ``;``
may be missing, as in the IHP SRAM files) and complex attributes ``name (args) ;`` with ``\\``
line continuations and ``/* */`` comments.

Example:
    >>> g = parse_group('cell (x) { area : 2.5; pin (A) { direction : input; } }')
    >>> g.name, g.args, g.attr("area"), g.groups[0].attr("direction")
    ('cell', ['x'], '2.5', 'input')
"""

from __future__ import annotations

import bisect
import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mixq.errors import MixqError

_TOKEN = re.compile(r'/\*.*?\*/|\\\s*\n|"(?:[^"\\]|\\.)*"|[{}();:,]|[^\s{}();:,"]+', re.S)


class LibertyError(MixqError):
    """A Liberty file that cannot be read or lacks what the flow needs."""


@dataclass
class Group:
    """One Liberty group: ``name (args) { attrs; groups }``."""

    name: str
    args: list
    attrs: dict = field(default_factory=dict)
    groups: list = field(default_factory=list)

    def attr(self, key: str, default=None):
        """A simple attribute's value (quotes removed), or ``default``."""
        return self.attrs.get(key, default)

    def sub(self, name: str) -> list:
        """Sub-groups called ``name``."""
        return [g for g in self.groups if g.name == name]


def _unquote(tok: str) -> str:
    return tok[1:-1] if tok.startswith('"') else tok


def _tokens(text: str):
    for m in _TOKEN.finditer(text):
        t = m.group(0)
        if not (t.startswith("/*") or t.startswith("\\")):
            yield t


def parse_group(text: str) -> Group:
    """Parse the first group of ``text`` (ignores what follows it)."""
    toks = _tokens(text)
    stack: list[Group] = []
    pending: list[str] = []
    for t in toks:
        if t == "(":
            name = pending[-1] if pending else ""
            args, cur = [], ""
            for a in toks:
                if a == ")":
                    break
                if a == ",":
                    args.append(cur)
                    cur = ""
                else:
                    cur += _unquote(a)
            args.append(cur)
            args = [a for a in args if a != ""]
            nxt = next(toks, ";")
            if nxt == "{":
                g = Group(name, args)
                if stack:
                    stack[-1].groups.append(g)
                stack.append(g)
            elif stack:  # complex attribute
                stack[-1].attrs.setdefault(name, args)
            pending = []
        elif t == "}":
            g = stack.pop()
            if not stack:
                return g
            pending = []
        elif t == ":":
            key = pending[-1]
            value = _unquote(next(toks))
            if stack:
                stack[-1].attrs[key] = value
            pending = []
        elif t == ";":
            pending = []
        else:
            pending.append(t)
    raise LibertyError("unbalanced Liberty group")


def read_text(path) -> str:
    """Text of a Liberty file (gzipped or not)."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", errors="replace") as f:
                return f.read()
        return path.read_text(errors="replace")
    except OSError as e:
        raise LibertyError(f"cannot read Liberty file {path}: {e.strerror or e}") from None


_CELL = re.compile(r'(?<![\w.])cell\s*\(\s*"?([^")\s]+)"?\s*\)\s*\{')


def split_cells(text: str) -> tuple[str, dict[str, str]]:
    """(library header up to the first cell, cell name -> raw text of its group)."""
    heads = list(_CELL.finditer(text))
    if not heads:
        raise LibertyError("no cell groups in the Liberty file")
    cells = {}
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        cells[m.group(1)] = text[m.start():end]
    return text[:heads[0].start()], cells


def _unit(header: str, key: str, default: float, scales: dict) -> float:
    m = re.search(rf'{key}\s*:\s*"?\s*([\d.]*)\s*([a-zA-Z]+)"?', header)
    if not m:
        return default
    return float(m.group(1) or 1) * scales[m.group(2)]


@dataclass(frozen=True)
class Table:
    """A lookup table (``values`` over ``index_1`` x ``index_2``; scalar when both are empty)."""

    index_1: tuple
    index_2: tuple
    values: np.ndarray

    @property
    def rows(self) -> list:
        """``values`` as nested Python lists (fast scalar access)."""
        cached = self.__dict__.get("_rows")
        if cached is None:
            cached = self.values.tolist()
            object.__setattr__(self, "_rows", cached)
        return cached

    @staticmethod
    def from_group(g: Group) -> "Table":
        def nums(v):
            if v is None:
                return ()
            return tuple(float(x) for x in ",".join(v).replace(" ", ",").split(",") if x)
        i1, i2 = nums(g.attrs.get("index_1")), nums(g.attrs.get("index_2"))
        vals = np.array(nums(g.attrs.get("values")), float)
        shape = (max(len(i1), 1), max(len(i2), 1))
        if vals.size != shape[0] * shape[1]:
            raise LibertyError(f"table {g.name} has {vals.size} values for a {shape} grid")
        return Table(i1, i2, vals.reshape(shape))

    def at(self, x1: float, x2: float = 0.0) -> float:
        """Bilinear interpolation (linear extrapolation beyond the grid, as timers do).

        Example:
            >>> Table((0.0, 1.0), (0.0, 2.0), np.array([[1.0, 3.0], [2.0, 4.0]])).at(0.5, 1.0)
            2.5
        """
        def axis(idx, x):
            if len(idx) < 2:
                return 0, 0, 0.0
            k = min(max(bisect.bisect_left(idx, x) - 1, 0), len(idx) - 2)
            return k, k + 1, (x - idx[k]) / (idx[k + 1] - idx[k])
        a0, a1, fa = axis(self.index_1, x1)
        b0, b1, fb = axis(self.index_2, x2)
        v = self.rows
        lo = v[a0][b0] * (1 - fb) + v[a0][b1] * fb
        hi = v[a1][b0] * (1 - fb) + v[a1][b1] * fb
        return float(lo * (1 - fa) + hi * fa)


def table_pair(g: Group, rise: str, fall: str) -> tuple:
    """(rise table, fall table) of a group, None where absent."""
    r, f = g.sub(rise), g.sub(fall)
    return (Table.from_group(r[0]) if r else None, Table.from_group(f[0]) if f else None)


def _table_axes(g: Group, templates: dict) -> None:
    """Give a table group the index of its template when it has none of its own."""
    tpl = templates.get(g.args[0]) if g.args else None
    if tpl is not None:
        for k in ("index_1", "index_2"):
            if k not in g.attrs and k in tpl.attrs:
                g.attrs[k] = tpl.attrs[k]
    for s in g.groups:
        _table_axes(s, templates)


class Library:
    """A Liberty library read lazily (see the module docstring).

    Attributes:
        path: the file; name: the library's name; voltage: nominal supply (V);
        leakage_scale_nw: the file's leakage unit in nW; header: text before the first cell;
        raw: cell name -> raw group text.
    """

    def __init__(self, path):
        self.path = Path(path)
        text = read_text(self.path)
        self.header, self.raw = split_cells(text)
        m = re.search(r'library\s*\(\s*"?([^")\s]+)', self.header)
        self.name = m.group(1) if m else self.path.name
        v = re.search(r'nom_voltage\s*:\s*([\d.]+)', self.header) or re.search(
            r'\bvoltage\s*:\s*([\d.]+)', self.header)
        self.voltage = float(v.group(1)) if v else 1.0
        self.leakage_scale_nw = _unit(self.header, "leakage_power_unit", 1.0,
                                      {"pW": 1e-3, "nW": 1.0, "uW": 1e3, "mW": 1e6})
        cap = re.search(r'capacitive_load_unit\s*\(\s*([\d.]+)\s*,\s*"?(\w+)', self.header)
        scale = {"ff": 1e-3, "pf": 1.0}.get(cap.group(2).lower(), 1.0) if cap else 1.0
        self.cap_scale_pf = float(cap.group(1)) * scale if cap else 1.0
        self.templates = {}
        for m in re.finditer(r'(?:lu_table_template|power_lut_template)\s*\(\s*"?(\w+)', self.header):
            try:
                self.templates[m.group(1)] = parse_group(self.header[m.start():])
            except LibertyError:
                pass
        self._cells: dict[str, Group] = {}

    def cell(self, name: str) -> Group:
        """The parsed group of cell ``name``."""
        if name not in self._cells:
            if name not in self.raw:
                raise LibertyError(f"cell {name} is not in {self.path.name}")
            g = parse_group(self.raw[name])
            _table_axes(g, self.templates)
            self._cells[name] = g
        return self._cells[name]

    def area(self, name: str) -> float:
        return float(self.cell(name).attr("area", 0.0))

    def leakage_nw(self, name: str) -> float:
        """``cell_leakage_power`` in nW (mean of the ``leakage_power`` states when absent)."""
        c = self.cell(name)
        v = c.attr("cell_leakage_power")
        if v is None:
            states = [float(g.attr("value", 0)) for g in c.sub("leakage_power")]
            v = sum(states) / len(states) if states else 0.0
        return float(v) * self.leakage_scale_nw


_FTOK = re.compile(r"\s*([A-Za-z_][\w\[\]\.]*|[01]|[!'&*|+^()])")


def eval_function(expr: str, values: dict) -> np.ndarray:
    """Evaluate a Liberty boolean ``function`` on arrays of 0/1 per pin.

    Operators: ``!`` and postfix ``'`` (not), ``&``, ``*`` or juxtaposition (and), ``|``, ``+``
    (or), ``^`` (xor); constants 0 and 1.

    Example:
        >>> a, b = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
        >>> eval_function("!(A*B)", {"A": a, "B": b}).tolist()
        [1, 1, 1, 0]
        >>> eval_function("(A&!B) | (A' B)", {"A": a, "B": b}).tolist()
        [0, 1, 1, 0]
    """
    toks = _FTOK.findall(expr)
    if "".join(toks) != re.sub(r"\s+", "", expr):
        raise LibertyError(f"cannot parse Liberty function '{expr}'")
    pos = 0
    n = len(next(iter(values.values()))) if values else 1

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def atom():
        t = take()
        if t == "!":
            return 1 - atom()
        if t == "(":
            v = orx()
            if take() != ")":
                raise LibertyError(f"unbalanced parentheses in '{expr}'")
        elif t in ("0", "1"):
            v = np.full(n, int(t), np.uint8)
        elif t in values:
            v = np.asarray(values[t], np.uint8)
        else:
            raise LibertyError(f"function '{expr}' uses unknown pin '{t}'")
        while peek() == "'":
            take()
            v = 1 - v
        return v

    def andx():
        v = atom()
        while peek() is not None and peek() not in ("|", "+", "^", ")"):
            if peek() in ("&", "*"):
                take()
            v = v & atom()
        return v

    def xorx():
        v = andx()
        while peek() == "^":
            take()
            v = v ^ andx()
        return v

    def orx():
        v = xorx()
        while peek() in ("|", "+"):
            take()
            v = v | xorx()
        return v

    out = orx()
    if pos != len(toks):
        raise LibertyError(f"trailing tokens in Liberty function '{expr}'")
    return np.asarray(out, np.uint8)


def truth_table(expr: str, pins: list[str]) -> int:
    """The function as a bit mask over input combinations (bit i: pins[k] = bit k of i).

    Example:
        >>> bin(truth_table("(A*B)", ["A", "B"]))
        '0b1000'
    """
    i = np.arange(1 << len(pins))
    out = eval_function(expr, {p: (i >> k) & 1 for k, p in enumerate(pins)})
    return int(sum(int(b) << k for k, b in enumerate(out)))


def pin_names(expr: str) -> list[str]:
    """Pins named in a function, in order of first use.

    Example:
        >>> pin_names("!((A1*A2)+B1)")
        ['A1', 'A2', 'B1']
    """
    seen = []
    for t in _FTOK.findall(expr):
        if re.match(r"[A-Za-z_]", t) and t not in seen:
            seen.append(t)
    return seen
