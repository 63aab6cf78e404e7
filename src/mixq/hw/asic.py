"""Standard-cell flow: map an engine to a Liberty library with Yosys, time it with OpenSTA.

Yosys (Debian 0.23)::

    read_verilog top.v; synth -top top; dfflegalize -cell $_DFF_P_ 01
    dfflibmap -liberty cells.lib; abc -fast -liberty cells.lib; opt_clean; setundef -zero
    stat -liberty cells.lib; flatten; write_json; write_verilog

``cells.lib`` is the library without its don't-use cells (:func:`write_mappable`),
written to the work folder (never into the repository). A library without a plain D flip-flop
(IHP SG13G2) gets ``$_DFF_PN0_`` instead: its flip-flops have an asynchronous reset, tied off.
``stat -liberty`` gives the cell area (um^2) of every block. OpenSTA (Debian ``sta``) reads the
mapped Verilog with a clock on ``clk`` and zero input/output delays (the SRAM macros and the
stream interface are outside) and reports the worst setup path; fmax = 1 / (period - slack).
Results are cached under a hash of the Verilog, the script, the library and the tool versions.

Clock gating (architecture step 1, ``EngineConfig.clock_gating``): flip-flops with an enable
stay ``$_DFFE_PP_`` and become a plain flip-flop clocked through the library's integrated
clock-gating cell (:func:`mixq.hw.cellmodels.icg_pins`; sky130 ``dlclkp``: a latch that holds
the enable while the clock is low, then an AND), one cell per distinct enable signal
(``opt_merge -share_all`` merges the cells of equal enable)::

    read_verilog -lib icg_cell.v; read_verilog top.v; synth -top top
    dfflegalize -cell $_DFF_P_ 01 -cell $_DFFE_PP_ 01; techmap -map icg.v; opt_merge -share_all
    (then as above)

The enable's multiplexer goes; the gating cell's area and leakage, its clock pin every cycle
and its gated clock net only in enabled cycles are charged (:mod:`mixq.hw.power`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mixq.errors import ToolchainError
from mixq.fileio import write_text_atomic
from mixq.hw.liberty import Library
from mixq.hw.synth import BLOCK_ORDER, BLOCKS, find_yosys, yosys_version

ASIC_SCRIPT = """read_verilog top.v
synth -top top
{legalize}
{ffmap}
abc -fast -liberty cells.lib
opt_clean
setundef -zero
tee -o stat.part stat -liberty cells.lib
flatten
opt_clean -purge
write_json netlist.part
write_verilog -noattr -noexpr mapped.part
"""

STA_SCRIPT = """read_liberty cells.lib
read_verilog mapped.v
link_design top
create_clock -name clk -period {period} [get_ports clk]
set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]
set_output_delay 0 -clock clk [all_outputs]
report_checks -path_delay max -digits 4 -group_count 1
exit
"""
STA_PERIOD_NS = 10.0
STA_HINT = "install Debian's opensta (apt-get install -y opensta; provides `sta`)"


def asic_folder(repo_root: Path | None = None) -> Path | None:
    """``shared/data/asic`` in the nearest ancestor of the repository root that has one (the
    checkout's ``../shared/data/asic``), or None."""
    root = repo_root or Path(__file__).resolve().parents[3]
    for a in [root, *root.parents]:
        cand = a / "shared" / "data" / "asic"
        if cand.is_dir():
            return cand
    return None


# cells ABC and dfflibmap must not pick: power gating, clock gating, probes, delay lines,
# tie/filler/tap/antenna/decap cells, tristates (see ../shared/data/asic/README.md)
DONT_USE = re.compile(r"lpflow|probe|clkdly|dlygate|dlymetal|bleeder|sparecell|conb|tap|fill|"
                      r"decap|diode|antenna|ebuf|einv|lgcp|slgcp|sighold|tie|dlxt|dlxb|dlrt|"
                      r"dlrb|dlhq|dlhr|dllr|sdf|sedf|dfbb|dfsb|dfrb|dfstp|dfrtn|dfxbp|"
                      r"edfxbp|clkinvlp|lp_")


def mappable_cells(lib: Library) -> list[str]:
    """Cells offered to ``abc -liberty``/``dfflibmap``: not in :data:`DONT_USE`, except that a
    library without a plain D flip-flop keeps one with an asynchronous reset (IHP)."""
    keep = [c for c in lib.raw if not DONT_USE.search(c.split("__")[-1].split("sg13g2_")[-1])]
    has_plain = any(re.search(r"ff\s*\(", lib.raw[c]) and "clear" not in lib.raw[c]
                    and "preset" not in lib.raw[c] for c in keep)
    if not has_plain:
        keep += [c for c in lib.raw if re.search(r"(?<!s)dfrbpq_1$", c)]
    return keep


def write_mappable(lib: Library, path) -> Path:
    """Write a Liberty file with only :func:`mappable_cells` (for Yosys), atomically."""
    last = list(lib.raw)[-1]

    def text(c):  # the last cell's text also holds the library's closing brace: drop it
        t = lib.raw[c]
        return t[:t.rstrip().rfind("}")] + "\n" if c == last else t
    body = "".join(text(c) for c in mappable_cells(lib))
    write_text_atomic(Path(path), lib.header + body + "}\n")
    return Path(path)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def prepare_library(liberty, folder) -> tuple[Library, Path]:
    """Read a Liberty file and write its mappable subset to ``folder`` (cached)."""
    liberty = Path(liberty)
    out = Path(folder) / f"lib-{_file_hash(liberty)}" / "cells.lib"
    if not out.exists():
        write_mappable(Library(liberty), out)
    return Library(out), out


@dataclass(frozen=True)
class AsicResult:
    """One engine mapped to one library.

    Attributes:
        label, library: engine label and library name.
        block_um2: block -> cell area (um^2).
        netlist: flattened JSON netlist; verilog: mapped Verilog (for STA); folder: work folder.
        fmax_mhz, critical_ns: from OpenSTA (worst register-to-register or port path + setup).
        path: (startpoint, endpoint) of the critical path.
    """

    label: str
    library: str
    block_um2: dict
    netlist: Path
    verilog: Path
    folder: Path
    fmax_mhz: float
    critical_ns: float
    path: tuple

    @property
    def area_um2(self) -> float:
        return sum(self.block_um2.values())


def parse_stat_area(text: str) -> dict[str, float]:
    """Block -> um^2 from ``stat -liberty`` output (the modules' own cells).

    Example:
        >>> parse_stat_area("   Chip area for module '\\\\top.dense': 12.5\\n"
        ...                 "   Chip area for module '\\\\top': 2.0\\n"
        ...                 "   Chip area for top module '\\\\top': 14.5")["datapath"]
        12.5
    """
    area = {b: 0.0 for b in BLOCK_ORDER}
    for name, value in re.findall(r"Chip area for module '\\?([^']+)': ([\d.]+)", text):
        block = BLOCKS.get(name.split(".")[-1] if "." in name else name, "control")
        area[block] += float(value)
    return area


def _sta(folder: Path, lib_path: Path) -> tuple[float, float, tuple]:
    sta = shutil.which("sta")
    if sta is None:
        raise ToolchainError(f"sta not found on PATH: {STA_HINT}")
    report = folder / "sta.txt"
    if not report.exists():
        write_text_atomic(folder / "sta.tcl", STA_SCRIPT.format(period=STA_PERIOD_NS))
        shutil.copyfile(lib_path, folder / "cells.lib")
        run = subprocess.run([sta, "-no_init", "-exit", "sta.tcl"], cwd=folder,
                             capture_output=True, text=True)
        (folder / "cells.lib").unlink()
        if run.returncode != 0 or "slack" not in run.stdout:
            tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ToolchainError(f"sta failed in {folder}: {tail[0]}")
        write_text_atomic(report, run.stdout)
    text = report.read_text()
    slack = float(re.search(r"(-?[\d.]+)\s+slack", text).group(1))
    start = re.search(r"Startpoint: (\S+)", text)
    end = re.search(r"Endpoint: (\S+)", text)
    critical = STA_PERIOD_NS - slack
    return 1e3 / critical, critical, (start.group(1) if start else "?", end.group(1) if end else "?")


PLAIN_LEGALIZE = "dfflegalize -cell $_DFF_P_ 01"
GATED_LEGALIZE = ("dfflegalize -cell $_DFF_P_ 01 -cell $_DFFE_PP_ 01\ntechmap -map icg.v\n"
                  "opt_merge -share_all")


def icg_cell(lib: Library, cells=None) -> str:
    """The smallest usable integrated clock-gating cell of ``lib`` (among ``cells``, default
    all; :func:`mixq.hw.cellmodels.icg_pins`).

    Raises:
        ToolchainError: there is none (IHP SG13G2 marks its ``lgcp`` don't-use).
    """
    from mixq.hw.cellmodels import icg_pins

    found = sorted((c for c in (lib.raw if cells is None else cells)
                    if "clock_gating_integrated_cell" in lib.raw[c] and icg_pins(lib, c)),
                   key=lib.area)
    if not found:
        raise ToolchainError(f"{lib.name} has no usable integrated clock-gating cell "
                             "(latch_posedge; clock, enable and gated clock pins only): "
                             "--clock-gating needs one")
    return found[0]


def icg_files(lib: Library) -> dict[str, str]:
    """``icg_cell.v`` (the gating cell's ports, a black box for Yosys) and ``icg.v`` (the
    techmap of an enabled flip-flop to gating cell + plain flip-flop) for :func:`icg_cell`."""
    from mixq.hw.cellmodels import icg_pins

    cell = icg_cell(lib)
    clk, en, out = icg_pins(lib, cell)
    box = (f"(* blackbox *)\nmodule {cell} (input {clk}, input {en}, output {out});\n"
           "endmodule\n")
    tmap = (f"module \\$_DFFE_PP_ (input D, input C, input E, output Q);\n  wire G;\n"
            f"  {cell} icg (.{clk}(C), .{en}(E), .{out}(G));\n"
            f"  \\$_DFF_P_ _TECHMAP_REPLACE_ (.D(D), .C(G), .Q(Q));\nendmodule\n")
    return {"icg_cell.v": box, "icg.v": tmap}


def map_verilog(verilog: str, liberty, folder, label: str,
                clock_gating: bool = False) -> AsicResult:
    """Map ``verilog`` to the cells of ``liberty`` and time it (see the module docstring);
    ``clock_gating``: enabled flip-flops through the library's clock-gating cell."""
    folder = Path(folder)
    lib, lib_path = prepare_library(liberty, folder)
    ffmap = flip_flop_map(lib)
    extra = icg_files(lib) if clock_gating else {}
    script = ASIC_SCRIPT.format(ffmap="techmap -map ffmap.v" if ffmap else
                                "dfflibmap -liberty cells.lib",
                                legalize=GATED_LEGALIZE if clock_gating else PLAIN_LEGALIZE)
    if clock_gating:
        script = "read_verilog -lib icg_cell.v\n" + script
    version = yosys_version()
    key = hashlib.sha256((verilog + script + version + lib_path.parent.name).encode()
                         ).hexdigest()[:16]
    work = folder / f"{label}-{lib.name}-{key}"
    stat, netlist, mapped = work / "stat.txt", work / "netlist.json", work / "mapped.v"
    if not (stat.exists() and netlist.exists() and mapped.exists()):
        work.mkdir(parents=True, exist_ok=True)
        write_text_atomic(work / "top.v", verilog)
        write_text_atomic(work / "synth.ys", script)
        if ffmap:
            write_text_atomic(work / "ffmap.v", ffmap)
        for name, text in extra.items():
            write_text_atomic(work / name, text)
        shutil.copyfile(lib_path, work / "cells.lib")
        run = subprocess.run([find_yosys(), "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=work,
                             capture_output=True, text=True)
        (work / "cells.lib").unlink()
        parts = [work / f"{n}.part" for n in ("stat", "netlist", "mapped")]
        if run.returncode != 0 or not all(p.exists() for p in parts):
            tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ToolchainError(f"yosys failed on {label} ({lib.name}): {tail[0]} "
                                 f"(log: {work}/yosys.log)")
        os.replace(parts[1], netlist)
        os.replace(parts[2], mapped)
        os.replace(parts[0], stat)
    fmax, critical, path = _sta(work, lib_path)
    return AsicResult(label, lib.name, parse_stat_area(stat.read_text()), netlist, mapped, work,
                      fmax, critical, path)


def flip_flop_map(lib: Library) -> str | None:
    """None when the library has a plain D flip-flop (``dfflibmap`` maps to it); else a Yosys
    techmap module mapping ``$_DFF_P_`` to its smallest flip-flop with an asynchronous
    clear/preset, tied inactive (IHP SG13G2 has only those)."""
    from mixq.hw.liberty import pin_names, truth_table

    ffs = [c for c in lib.raw if re.search(r"\bff\s*\(", lib.raw[c])]
    if any("clear" not in lib.raw[c] and "preset" not in lib.raw[c] for c in ffs):
        return None
    best = None
    for c in sorted(ffs, key=lib.area):
        ff = lib.cell(c).sub("ff")[0]
        ctl = " | ".join(f"({ff.attr(k)})" for k in ("clear", "preset") if ff.attr(k))
        pins = pin_names(ctl)
        tt = truth_table(ctl, pins)
        idle = [i for i in range(1 << len(pins)) if not (tt >> i) & 1]
        q = [p.args[0] for p in lib.cell(c).sub("pin") if p.attr("function") == ff.args[0]]
        if idle and q and re.fullmatch(r"\w+", ff.attr("next_state", "")):
            ties = ", ".join(f".{p}(1'b{(idle[0] >> k) & 1})" for k, p in enumerate(pins))
            best = (f"module \\$_DFF_P_ (input D, input C, output Q);\n  {c} _TECHMAP_REPLACE_ "
                    f"(.{ff.attr('next_state')}(D), .{ff.attr('clocked_on')}(C), {ties}, "
                    f".{q[0]}(Q));\nendmodule\n")
            break
    if best is None:
        raise ToolchainError(f"{lib.name} has no usable D flip-flop")
    return best


def nand2_um2(lib: Library) -> float:
    """Area of the library's smallest 2-input NAND (the NAND2-equivalent unit)."""
    areas = [lib.area(c) for c in lib.raw if re.search(r"nand2_1$", c)]
    if not areas:
        raise ToolchainError(f"{lib.name} has no nand2_1 cell for NAND2-equivalent areas")
    return min(areas)
