"""Design points on real standard cells: every engine of ``mixq hw report`` mapped to each
Liberty library (:mod:`mixq.hw.asic`), its benchmark run replayed on the mapped netlist
(bit-exact against the RTL every cycle) and priced with the library's tables
(:mod:`mixq.hw.power`), plus the on-chip buffers as IHP SRAM macros (:mod:`mixq.hw.sram`).

Comparison basis: both engines read ``lanes`` activations and do ``lanes x channels`` MACs per
cycle, so at one clock they have equal throughput (the measured MAC/cycle of each point is
reported). Where their fmax differ, each library's points run at one common clock, the slowest
engine's fmax: equal clock and equal throughput; leakage is counted at that clock.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mixq.hw.asic import asic_folder, map_verilog, nand2_um2, prepare_library
from mixq.hw.cellmodels import LibraryModels
from mixq.hw.gatesim import load_netlist
from mixq.hw.liberty import Library
from mixq.hw.power import asic_run_energy, net_energy
from mixq.hw.memories import memory_rows
from mixq.hw.regfile import ReadStyle, in_registers, measure_regfile, regfile_for
from mixq.hw.sram import buffer_shapes, engine_buffers, find_macros, pick_macro
from mixq.hw.streams import sparse_words
from mixq.hw.synth import BLOCKS, engine_verilog

STD_CELL_PATTERNS = ("sky130_fd_sc_hd__tt_025C_1v80.lib*", "sg13g2_stdcell_typ_1p20V_25C.lib*")
ACCESS_PORTS = ("w_re", "rb_we", "rb_re_a", "rb_re_b", "s_re", "q_re")


def default_liberty() -> list[Path]:
    """The standard-cell libraries of ``../shared/data/asic`` (sky130 HD, IHP SG13G2), or []."""
    folder = asic_folder()
    if folder is None:
        return []
    return [p for pat in STD_CELL_PATTERNS for p in sorted(folder.glob(pat))][:2]


def _macros(liberty: Path) -> list:
    """IHP SRAM macros next to the library, else from ``../shared/data/asic``."""
    for folder in (Path(liberty).parent, asic_folder()):
        if folder is not None:
            found = find_macros(folder)
            if found:
                return found
    return []


def asic_points(measured: list, liberty: list, out, log=print, regfile_words: int = 0,
                read: ReadStyle = ReadStyle.DECODED,
                requant_registers: bool = False) -> tuple[list[dict], dict]:
    """Design points per library.

    Args:
        measured: (engine, structure, density, :class:`~mixq.hw.evaluate.PointResult` with its
            RTL run) of every generic design point.
        liberty: Liberty files (standard cells).
        out: report folder (work files under ``out/asic``).
        regfile_words: buffers of at most this many words are register files in standard cells
            (:mod:`mixq.hw.regfile`), the others SRAM macros; 0: every buffer a macro.
        read: :class:`mixq.hw.regfile.ReadStyle` of the register files.
        requant_registers: the requantization words in a register file whatever their count.

    Returns:
        (design points, per-library facts: name, nand2 area, clock, macros used).
    """
    work = Path(out) / "asic"
    points, libs = [], {}
    for path in liberty:
        lib, _ = prepare_library(path, work)
        models = LibraryModels(lib)
        macros = _macros(path)
        mapped = {}
        for _, _, _, r in measured:
            label = r.cfg.label
            if label in mapped:
                continue
            log(f"mixq hw: {label} on {lib.name}: yosys mapping, OpenSTA, energy tables")
            res = map_verilog(engine_verilog(r.cfg), path, work, label.replace(":", "of"),
                              clock_gating=r.cfg.clock_gating)
            net = load_netlist(res.netlist, models)
            mapped[label] = (res, net, net_energy(net, lib))
        clock_mhz = min(m[0].fmax_mhz for m in mapped.values())
        period = 1e3 / clock_mhz
        n2 = nand2_um2(lib)
        for engine, s, d, r in measured:
            res, net, ne = mapped[r.cfg.label]
            rfs = _regfiles(r, (regfile_words, read, requant_registers),
                            (path, models, lib, work, period), log)
            points.append(_point(engine, s, d, r, res, net, ne, period, clock_mhz, n2, macros,
                                 lib.name, rfs))
        libs[lib.name] = {"file": str(path), "nand2_um2": n2, "voltage": lib.voltage,
                          "clock_mhz": round(clock_mhz, 2),
                          "sram_macros": sorted({m.name for m in macros}),
                          **storage_cells(Library(path))}
    return points, libs


def storage_cells(lib: Library) -> dict:
    """Area (um^2) and leakage (nW) of the library's smallest latch and 2:1 mux: the parts of
    a register file for stationary weights (:mod:`mixq.hw.arch_steps`); {} when it has none."""
    import re

    latches = [c for c in lib.raw if re.search(r"\blatch\s*\(", lib.raw[c])
               and "clear" not in lib.raw[c] and "preset" not in lib.raw[c]]
    muxes = [c for c in lib.raw if re.search(r"mux2_1$", c)]
    if not latches or not muxes:
        return {}
    latch, mux = min(latches, key=lib.area), min(muxes, key=lib.area)
    return {"latch_cell": latch, "latch_um2": lib.area(latch),
            "latch_leakage_nw": lib.leakage_nw(latch), "mux2_um2": lib.area(mux),
            "mux2_leakage_nw": lib.leakage_nw(mux)}


def _shapes(r) -> tuple[int, int, int]:
    """(chunks, groups, sparse words) of a point's simulated program."""
    n_groups, n_chunks = r.prog.dense.shape[:2]
    return n_chunks, n_groups, sum(len(g) for g in sparse_words(r.prog)) if r.cfg.slots else 0


def _regfiles(r, choice: tuple, ctx, log) -> dict:
    """Buffer name -> measured register file (:func:`mixq.hw.regfile.measure_regfile`) of the
    point's buffers of at most ``regfile_words`` words (and the requant words with
    ``requant_registers``); ``choice``: (regfile_words, read style, requant_registers)."""
    from mixq.hw.streams import pack_dense, pack_requant, pack_sparse

    images = {"weights": pack_dense, "requant": pack_requant, "sparse": pack_sparse}
    out = {}
    shapes = buffer_shapes(r.cfg, *_shapes(r))
    regfile_words, read, requant = choice
    chosen = in_registers(shapes, regfile_words, ("requant",) if requant else ())
    for name, w, d, copies in shapes:
        if name not in chosen:
            continue
        rf = regfile_for(name, r.cfg, w, d, two_reads=copies == 2)
        log(f"mixq hw: {r.cfg.label} {name} ({d} x {w} bits) as a register file ({read} read)")
        image = images[name](r.prog) if name in images else None
        out[name] = (rf, measure_regfile(rf, r.run.trace, image, *ctx[:4], ctx[4],
                                         r.cfg.clock_gating, read))
    return out


def _point(engine, s, d, r, res, net, ne, period, clock_mhz, n2, macros, lib_name,
           rfs) -> dict:
    trace = r.run.trace
    e = asic_run_energy(net, ne, trace, period, BLOCKS)
    macs = r.bench.macs
    access = {k: sum(1 for v in trace[k] if v) for k in ACCESS_PORTS if k in trace}
    n_chunks, n_groups, n_words = _shapes(r)
    bufs = engine_buffers(r.cfg, macros, n_chunks, n_groups, n_words, access,
                          skip=rfs) if macros else []
    sram_pj = sum(b.access_pj + b.leakage_pj(e.cycles, period) for b in bufs)
    rf_area = sum(m["area_um2"] for _, m in rfs.values())
    rows_layer = r.prog.n_rows * r.full.macs // max(macs, 1)
    # the weight-stationary step of mixq.hw.arch_steps reads rows from the whole layer input
    alt = ([replace(b, name="activations_whole_layer", depth=rows_layer * n_chunks,
                    macro=pick_macro(macros, b.width, rows_layer * n_chunks))
            for b in bufs if b.name == "activations"])
    sram_area = sum(b.area_um2 for b in bufs)
    split = {"logic": e.logic_pj + sum(m["logic_pj"] for _, m in rfs.values()),
             "flip_flops_clock": e.ff_clock_pj + sum(m["ff_clock_pj"] for _, m in rfs.values()),
             "sram": sram_pj, "leakage": e.leakage_pj + sum(m["leakage_pj"] for _, m in rfs.values())}
    total = sum(split.values())
    blocks = dict(res.block_um2, **({"register_files": rf_area} if rfs else {}))
    return {
        "engine": engine, "structure": s, "density": d, "lanes": r.cfg.lanes,
        "channels": r.cfg.channels, "library": lib_name, "label": r.cfg.label,
        "area_um2": round(res.area_um2 + rf_area + sram_area, 1),
        "logic_area_um2": round(res.area_um2 + rf_area, 1), "sram_area_um2": round(sram_area, 1),
        "area_nand2": round((res.area_um2 + rf_area) / n2, 1),
        "area_blocks_um2": {b: round(v, 1) for b, v in blocks.items()},
        "fmax_mhz": round(res.fmax_mhz, 2), "clock_mhz": round(clock_mhz, 2),
        "critical_path_ns": round(res.critical_ns, 4), "critical_path": list(res.path),
        "mac_per_cycle": round(r.full.mac_per_cycle, 4),
        "energy_pj_per_mac": round(total / macs, 6),
        "logic_energy_pj_per_mac": round((total - sram_pj) / macs, 6),
        "energy_split_pj_per_mac": {k: round(v / macs, 6) for k, v in split.items()},
        "energy_blocks_pj_per_mac": {b: round(v / macs, 6) for b, v in
                                     sorted(e.per_block_pj.items())},
        "sram_buffers": {b.name: b.as_dict() for b in bufs},
        "sram_alternatives": {b.name: b.as_dict() for b in alt},
        "memories": memory_rows(bufs, rfs, access, macs, e.cycles, period),
        "cells": len(net.cells), "flip_flops": int(len(net.ffs)),
        # what mixq.hw.arch_steps re-prices: loop bounds (rows of the whole benchmark layer),
        # flip-flop clock energy and activity, word widths
        "access": access,
        "loop": {"rows_simulated": int(r.prog.n_rows),
                 "rows_layer": int(rows_layer),
                 "groups": int(n_groups), "chunks": int(n_chunks)},
        "clock_pj_per_mac": round(e.clock_pj / macs, 6),
        "ff_toggle_rate": round(e.ff_toggles / max(len(net.ffs) * e.cycles, 1), 6),
        "weight_bits": r.cfg.weight_bits, "q_word_bits": r.cfg.q_word_bits,
        "period_ns": round(period, 4), "cycles_simulated": e.cycles, "macs_simulated": macs,
        "rtl_cycles_simulated": e.cycles, "bitexact_gate_level": True,
    }
