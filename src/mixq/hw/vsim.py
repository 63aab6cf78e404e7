"""An independent check of the gate-level simulator: the mapped Verilog netlist run with
iverilog on the same recorded RTL stimulus, with one tiny behavioural model per used cell
written from its Liberty ``function``/``ff`` attributes (flip-flops start at 0, as the RTL
does; the vendor models start at X). Outputs are compared with the RTL's every cycle.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from mixq.errors import ToolchainError
from mixq.hw.liberty import Library, LibertyError, _FTOK

IVERILOG_HINT = "install Debian's iverilog (apt-get install -y iverilog)"


def verilog_expr(expr: str) -> str:
    """A Liberty function as a Verilog expression.

    Example:
        >>> verilog_expr("!(A1*A2) + B1 C")
        '~(A1&A2)|B1&C'
    """
    toks = _FTOK.findall(expr)
    if "'" in toks:
        raise LibertyError(f"postfix ' in '{expr}' is not translated")
    out, prev_operand = [], False
    for t in toks:
        operand_start = t == "(" or t == "!" or re.match(r"[\w]", t)
        if prev_operand and operand_start:
            out.append("&")
        out.append({"!": "~", "*": "&", "+": "|", "0": "1'b0", "1": "1'b1"}.get(t, t))
        prev_operand = t == ")" or bool(re.match(r"\w", t))
    return "".join(out)


def cell_module(lib: Library, name: str) -> str:
    """A zero-delay Verilog model of one cell."""
    cell = lib.cell(name)
    pins = [(p.args[0], p.attr("direction")) for p in cell.sub("pin")]
    decl = "".join(f"  {d} {p};\n" for p, d in pins if d in ("input", "output"))
    body = ""
    ffs = cell.sub("ff")
    rename = {}
    if ffs:
        g = ffs[0]
        rename = {g.args[0]: "IQ"} | ({g.args[1]: "(~IQ)"} if len(g.args) > 1 else {})
        body += (f"  reg IQ = 1'b0;\n  always @(posedge {g.attr('clocked_on')}) "
                 f"IQ <= {verilog_expr(g.attr('next_state'))};\n")
    for p in cell.sub("pin"):
        func = p.attr("function")
        if p.attr("direction") == "output" and func is not None:
            v = verilog_expr(func)
            for old, new in rename.items():
                v = re.sub(rf"(?<![\w]){re.escape(old)}(?![\w])", new, v)
            body += f"  assign {p.args[0]} = {v};\n"
    ports = ", ".join(p for p, d in pins if d in ("input", "output"))
    return f"module {name}({ports});\n{decl}{body}endmodule\n"


def check_with_iverilog(mapped_v, lib: Library, ports: dict, trace: dict) -> None:
    """Run the mapped netlist on ``trace`` and compare its outputs every cycle.

    Args:
        mapped_v: Yosys ``write_verilog`` output (module ``top``, clock input ``clk``).
        ports: name -> (direction, width) of ``top``.
        trace: port name -> per-cycle values (ports missing from it are held at 0).

    Raises:
        ToolchainError: iverilog is missing, fails, or an output differs.
    """
    iverilog, vvp = shutil.which("iverilog"), shutil.which("vvp")
    if iverilog is None or vvp is None:
        raise ToolchainError(f"iverilog not found on PATH: {IVERILOG_HINT}")
    text = Path(mapped_v).read_text()
    used = sorted(set(re.findall(r"^\s*(\S+)\s+\S+\s*\($", text, re.M)) & set(lib.raw))
    cycles = len(next(iter(trace.values())))
    ins = [(n, w) for n, (d, w) in ports.items() if d == "input" and n != "clk"]
    outs = [(n, w) for n, (d, w) in ports.items() if d == "output"]

    def lines(group):
        return "\n".join("".join(format(trace.get(n, [0] * cycles)[t] & ((1 << w) - 1),
                                        f"0{w}b") for n, w in group) for t in range(cycles))
    ni, no = sum(w for _, w in ins), sum(w for _, w in outs)
    decl = "".join(f"  reg [{w - 1}:0] {n};\n" for n, w in ins)
    decl += "".join(f"  wire [{w - 1}:0] {n};\n" for n, w in outs)
    conn = ", ".join(f".{n}({n})" for n, _ in ins + outs) + ", .clk(clk)"
    tb = (f"module tb;\n  reg clk = 0;\n{decl}  reg [{ni - 1}:0] stim [0:{cycles - 1}];\n"
          f"  reg [{no - 1}:0] expect [0:{cycles - 1}];\n  integer t, bad = 0, first = -1;\n"
          f"  top dut({conn});\n  initial begin\n"
          "    $readmemb(\"stim.mem\", stim); $readmemb(\"expect.mem\", expect);\n"
          f"    for (t = 0; t < {cycles}; t = t + 1) begin\n"
          f"      {{{', '.join(n for n, _ in ins)}}} = stim[t]; #1;\n"
          f"      if ({{{', '.join(n for n, _ in outs)}}} !== expect[t]) begin bad = bad + 1; "
          "if (first < 0) first = t; end\n"
          "      clk = 1; #1; clk = 0; #1;\n    end\n"
          "    $display(\"MISMATCHES %0d FIRST %0d\", bad, first); $finish;\n  end\nendmodule\n")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "cells.v").write_text("".join(cell_module(lib, c) for c in used))
        (d / "tb.v").write_text(tb)
        (d / "stim.mem").write_text(lines(ins) + "\n")
        (d / "expect.mem").write_text(lines(outs) + "\n")
        build = subprocess.run([iverilog, "-o", "sim", "tb.v", "cells.v", str(mapped_v)],
                               cwd=d, capture_output=True, text=True)
        if build.returncode != 0:
            raise ToolchainError(f"iverilog failed: {build.stderr.strip().splitlines()[:1]}")
        run = subprocess.run([vvp, "-n", "sim"], cwd=d, capture_output=True, text=True)
    m = re.search(r"MISMATCHES (\d+) FIRST (-?\d+)", run.stdout)
    if m is None:
        raise ToolchainError(f"iverilog simulation failed: {run.stdout[-200:]}")
    if int(m.group(1)):
        raise ToolchainError(f"iverilog: mapped netlist differs from the RTL in {m.group(1)} "
                             f"cycles, first {m.group(2)}")
