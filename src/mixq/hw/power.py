"""Energy of a mapped netlist from its Liberty file and the simulated net toggles.

Per net n (load ``C_n`` = the input-pin capacitances it drives + the library's wire-load
estimate for its fanout), every toggle costs:

- switching: ``C_n * V^2 / 2`` (a rise charges ``C_n`` from the supply, a fall dumps it);
- the driving pin's internal energy: the mean of its ``rise_power`` and ``fall_power`` tables
  (averaged over its arcs, i.e. related pins and ``when`` states), interpolated at the input
  slew and at ``C_n``;
- each driven input pin's own internal energy (1-D tables of input pins, e.g. a flip-flop's D).

Every cycle the clock rises and falls once at every flip-flop: the ``clocked_on`` pin's internal
energy (rise + fall tables) plus the clock net's switching ``C_clk * V^2`` (C_clk: clock-pin
capacitances + wire load). A flip-flop clocked through an integrated clock-gating cell
(:func:`mixq.hw.cellmodels.icg_pins`) sees its clock only in cycles whose enable is 1: the
gating cell's clock pin (internal energy, capacitance on the clock net) costs every cycle; its
gated output (internal energy at the gated net's load, rise + fall), the gated net's switching
and the flip-flops' clock pins behind it cost once per enabled cycle (counted by the
gate-level replay). Clock-tree buffers are left out (an ideal clock), as are glitches
(zero-delay simulation: one transition per net and cycle at most).

Slews: a net's slew is the mean of its driver's ``rise_transition``/``fall_transition`` at its
load with the library's nominal input slew (:data:`NOMINAL_SLEW_NS`), and a pin's internal
energy is read at the slew of the net that drives it. Leakage: ``cell_leakage_power`` of every
cell times the clock period. Energies are in pJ (Liberty power tables are in
``capacitive_load_unit * voltage_unit^2``; pF and V here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixq.hw.cellmodels import clock_pin
from mixq.hw.energy import RunEnergy
from mixq.hw.gatesim import Netlist
from mixq.hw.liberty import Group, Library, table_pair

NOMINAL_SLEW_NS = 0.05


def _pin(cell: Group, name: str) -> Group | None:
    for p in cell.sub("pin"):
        if p.args and p.args[0] == name:
            return p
    return None


def _pin_cap(lib: Library, cell_type: str, pin: str) -> float:
    p = _pin(lib.cell(cell_type), pin)
    return float(p.attr("capacitance", 0.0)) * lib.cap_scale_pf if p is not None else 0.0


def _mean_tables(pairs: list, slew: float, load: float) -> float:
    vals = [(r.at(slew, load) + f.at(slew, load)) / 2 for r, f in pairs if r and f]
    return sum(vals) / len(vals) if vals else 0.0


class CellPower:
    """Per cell type and pin: capacitances, internal-power and transition tables (cached)."""

    def __init__(self, lib: Library):
        self.lib = lib
        self._cache: dict = {}

    def pin(self, cell_type: str, pin: str) -> dict:
        key = (cell_type, pin)
        if key not in self._cache:
            g = _pin(self.lib.cell(cell_type), pin)
            if g is None:
                self._cache[key] = {"cap": 0.0, "power": [], "transition": [],
                                    "direction": "input"}
            else:
                power = [table_pair(ip, "rise_power", "fall_power") for ip in g.sub("internal_power")]
                tran = [table_pair(t, "rise_transition", "fall_transition") for t in g.sub("timing")
                        if t.sub("rise_transition")]
                self._cache[key] = {"cap": float(g.attr("capacitance", 0.0)) * self.lib.cap_scale_pf,
                                    "power": power, "transition": tran,
                                    "direction": g.attr("direction", "input")}
        return self._cache[key]


def wire_cap_pf(lib: Library, fanout: int) -> float:
    """Wire-load estimate of a net with ``fanout`` sinks: the default ``wire_load`` model's
    ``fanout_length`` (extrapolated with ``slope``) times its ``capacitance`` per unit length;
    0 when the library has none (IHP).

    Example:
        >>> class L: header = ('default_wire_load : "S"; wire_load("S") { capacitance : 0.5; '
        ...     'slope : 2; fanout_length(1, 3); fanout_length(2, 4); }'); cap_scale_pf = 1.0
        >>> wire_cap_pf(L, 1), wire_cap_pf(L, 4)
        (1.5, 4.0)
    """
    import re

    m = re.search(r'default_wire_load\s*:\s*"?(\w+)', lib.header)
    if not m or fanout <= 0:
        return 0.0
    g = re.search(rf'wire_load\s*\(\s*"?{m.group(1)}"?\s*\)\s*\{{(.*?)\}}', lib.header, re.S)
    if not g:
        return 0.0
    body = g.group(1)
    cap = float(re.search(r"capacitance\s*:\s*([\d.eE+-]+)", body).group(1))
    slope = float((re.search(r"slope\s*:\s*([\d.eE+-]+)", body) or [0, 0])[1])
    lengths = {int(a): float(b) for a, b in re.findall(r"fanout_length\s*\(\s*(\d+)\s*,\s*([\d.]+)",
                                                       body)}
    if fanout in lengths:
        length = lengths[fanout]
    else:
        top = max(lengths)
        length = lengths[top] + slope * (fanout - top)
    return length * cap * lib.cap_scale_pf


@dataclass(frozen=True)
class NetEnergy:
    """Energy weights of a netlist.

    Attributes:
        per_toggle_pj: float (n_nets,) energy of one toggle of each net (switching, the
            driver's internal energy, the driven input pins' internal energy).
        clock_pj: energy of one clock cycle at the flip-flops (clock pins + clock net).
        leakage_nw: total cell leakage.
        load_pf: per-net load; ff_net: bool (n_nets,) nets driven by flip-flops.
        cell_area_um2: total cell area.
        gated_clock_pj: enable net of a clock-gating cell -> energy of one enabled cycle
            behind it (its gated output, the gated net, the flip-flop clock pins on it).
    """

    per_toggle_pj: np.ndarray
    clock_pj: float
    leakage_nw: float
    load_pf: np.ndarray
    ff_net: np.ndarray
    cell_area_um2: float
    gated_clock_pj: dict


def net_energy(netlist: Netlist, lib: Library) -> NetEnergy:
    """Per-net toggle energies, clock energy per cycle and leakage (see the module docstring)."""
    from mixq.hw.cellmodels import icg_pins

    cp = CellPower(lib)
    n = netlist.n_nets
    gated = netlist.gated or {}
    gated_cap = {g: 0.0 for g in gated}  # gated net -> clock-pin capacitance on it
    gated_pj = {g: 0.0 for g in gated}  # gated net -> pJ per enabled cycle (pins, driver)
    n_gated = {g: 0 for g in gated}
    load = np.zeros(n)
    fanout = np.zeros(n, np.int64)
    sinks: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    drivers: dict[int, tuple[str, str]] = {}
    clock_cap, clock_pj, leak, area = 0.0, 0.0, 0.0, 0.0
    ff_net = np.zeros(n, bool)
    icgs = []
    for _, ctype, conn in netlist.cells:
        icg = icg_pins(lib, ctype) if netlist.gated else None
        clk = icg[0] if icg else clock_pin(lib, ctype)
        area += lib.area(ctype)
        leak += lib.leakage_nw(ctype)
        if icg:
            icgs.append((ctype, icg[2], conn[icg[2]]))
        for pin, net in conn.items():
            info = cp.pin(ctype, pin)
            if pin == clk:
                edge = sum(r.at(NOMINAL_SLEW_NS) + f.at(NOMINAL_SLEW_NS)
                           for r, f in info["power"] if r and f) / max(len(info["power"]), 1)
                if net in gated:
                    gated_cap[net] += info["cap"]
                    gated_pj[net] += edge
                    n_gated[net] += 1
                else:
                    clock_cap += info["cap"]
                    clock_pj += edge
            elif icg and pin == icg[2]:
                continue
            elif info["direction"] == "output":
                drivers[net] = (ctype, pin)
                ff_net[net] = clk is not None
            else:
                load[net] += info["cap"]
                fanout[net] += 1
                sinks[net].append((ctype, pin))
    wires = {int(f): wire_cap_pf(lib, int(f)) for f in np.unique(fanout)}
    load += np.array([wires[int(f)] for f in fanout])
    root = len(netlist.ffs) - sum(n_gated.values()) + len(icgs)
    clock_pj += (clock_cap + wire_cap_pf(lib, root)) * lib.voltage ** 2
    for ctype, pin, net in icgs:  # gated net: switching, and the gating cell's output edges
        cap = gated_cap[net] + wire_cap_pf(lib, n_gated[net])
        gated_pj[net] += cap * lib.voltage ** 2 + 2 * _mean_tables(
            cp.pin(ctype, pin)["power"], NOMINAL_SLEW_NS, cap)
    slew = np.full(n, NOMINAL_SLEW_NS)
    for net, (ctype, pin) in drivers.items():
        tran = cp.pin(ctype, pin)["transition"]
        if tran:
            slew[net] = _mean_tables(tran, NOMINAL_SLEW_NS, load[net])
    # a cell's input slew: the mean slew of its input nets
    cell_slew = {}
    for name, ctype, conn in netlist.cells:
        ins = [slew[v] for p, v in conn.items() if cp.pin(ctype, p)["direction"] != "output"]
        cell_slew[name] = float(sum(ins) / len(ins)) if ins else NOMINAL_SLEW_NS
    per = 0.5 * load * lib.voltage ** 2
    for name, ctype, conn in netlist.cells:
        clk = clock_pin(lib, ctype)
        for pin, net in conn.items():
            info = cp.pin(ctype, pin)
            if info["direction"] == "output":
                per[net] += _mean_tables(info["power"], cell_slew[name], load[net])
            elif pin != clk and info["power"]:
                per[net] += _mean_tables(info["power"], slew[net], 0.0)
    return NetEnergy(per, clock_pj, leak, load, ff_net, area,
                     {gated[g]: pj for g, pj in gated_pj.items()})


@dataclass(frozen=True)
class AsicEnergy(RunEnergy):
    """Energy of one run of a mapped engine (pJ; SRAM macros are counted elsewhere): a
    :class:`~mixq.hw.energy.RunEnergy` (``dynamic_pj`` = logic + flip-flops/clock;
    ``busy_pj``/``idle_pj`` include the clock and leakage; ``per_block_pj`` has 'clock') with
    the split:

    Attributes:
        logic_pj: combinational cells' internal energy and the switching of the nets they (and
            the engine's input ports) drive.
        ff_clock_pj: flip-flops: clock pins and clock net every cycle, their internal energy
            and the switching of their output nets.
        clock_pj: the part of ``ff_clock_pj`` spent on clock pins and the clock net.
        ff_toggles: value changes of all flip-flop outputs over the run (the cycles in which a
            clock-gated flip-flop would need its clock edge).
    """

    logic_pj: float = 0.0
    ff_clock_pj: float = 0.0
    clock_pj: float = 0.0
    ff_toggles: int = 0


def asic_run_energy(netlist: Netlist, ne: NetEnergy, trace: dict, period_ns: float,
                    block_names: dict) -> AsicEnergy:
    """Replay an RTL run on the mapped netlist (bit-exact every cycle) and price its toggles.

    Args:
        block_names: Amaranth instance name -> block label (unlisted drivers: 'input wires').
    """
    from mixq.hw.gatesim import block_sums, busy_idle, simulate_activity

    act = simulate_activity(netlist, trace, ne.per_toggle_pj)
    energy = act.toggles.astype(np.float64) * ne.per_toggle_pj
    cycles = len(act.weighted)
    leak_cycle = ne.leakage_nw * period_ns * 1e-3
    # gated clocks: one edge per cycle whose enable settled at 1 (spread evenly over the
    # cycles for the busy/idle split)
    clock = ne.clock_pj * cycles + sum(pj * float(act.ones[en])
                                       for en, pj in ne.gated_clock_pj.items())
    ff = float(energy[ne.ff_net].sum()) + clock
    blocks = {"clock": clock, **block_sums(netlist, energy, block_names)}
    busy, idle = busy_idle(act.weighted + clock / max(cycles, 1) + leak_cycle, trace)
    logic = float(energy[~ne.ff_net].sum())
    return AsicEnergy(logic + ff, leak_cycle * cycles, blocks, busy, idle, cycles, logic, ff,
                      clock, int(act.toggles[ne.ff_net].sum()))
