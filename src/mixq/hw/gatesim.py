"""Gate-level activity: replay recorded port values on the synthesized netlist, count toggles.

The flattened Yosys netlist (generic gates + D flip-flops) is simulated cycle by cycle with
zero delay: each cycle the inputs take the values the RTL simulation recorded, the gates are
evaluated in topological order, the outputs are compared with the RTL's (a built-in
equivalence check of synthesis on the real stimulus), and every net whose settled value changed
since the previous cycle counts one toggle. Glitches (several transitions per cycle) are not
seen. The inner loop is a tiny C program (:mod:`mixq.hw.gatesim_kernel`), as a Python loop over
tens of thousands of gates per cycle would be far too slow.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixq.errors import ToolchainError
from mixq.hw.gatesim_kernel import simulator_binary
from mixq.hw.synth import load_json




@dataclass(frozen=True)
class CellModel:
    """Logic of one cell type, for the simulator.

    Attributes:
        outputs: output pin -> (pins its function reads, truth table over them; bit i is the
            value when pin k has bit k of i). A flip-flop's functions read its state ``IQ``.
        ff: for a flip-flop, (next-state pins, next-state truth table, clear/preset pins,
            truth table that is 1 while clear or preset is active); else None.
        clock: a flip-flop's clock pin.
        icg: for an integrated clock-gating cell (a latch on the enable, then an AND with the
            clock), its (clock, enable, gated clock) pins; else None.
    """

    outputs: dict
    ff: tuple | None = None
    clock: str | None = None
    icg: tuple | None = None


MUX_TT = 0b11001010  # truth table of (A, B, S) -> S ? B : A, i.e. (A&!S)|(B&S)


def _generic_models() -> dict[str, CellModel]:
    from mixq.hw.liberty import truth_table

    funcs = {"$_AND_": "A&B", "$_NAND_": "!(A&B)", "$_OR_": "A|B", "$_NOR_": "!(A|B)",
             "$_XOR_": "A^B", "$_XNOR_": "!(A^B)", "$_NOT_": "!A", "$_BUF_": "A"}
    models = {t: CellModel({"Y": (pins, truth_table(f, list(pins)))})
              for t, f in funcs.items() for pins in [("A",) if t in ("$_NOT_", "$_BUF_")
                                                       else ("A", "B")]}
    models["$_MUX_"] = CellModel({"Y": (("A", "B", "S"), MUX_TT)})
    models["$_DFF_P_"] = CellModel({"Q": (("IQ",), 0b10)}, (("D",), 0b10, (), 0), "C")
    return models


GENERIC_MODELS = _generic_models()


@dataclass(frozen=True)
class Netlist:
    """A flattened gate netlist in array form (every gate a lookup table of up to 6 inputs).

    Attributes:
        n_nets: nets, numbered 0..n_nets-1 (``c0``/``c1`` are the constants 0 and 1).
        gates: int32 (n, 8): input count, 6 input nets, output net, in topological order;
            tt: uint64 (n,) truth tables.
        ffs: int32 (n, 2): D, Q of each flip-flop; ff_init: uint8 initial Q.
        ports: name -> (direction, list of net numbers, LSB first).
        fanout: int32 per net: gate and flip-flop data inputs it drives.
        net_block: block name of each net's driver ('ports' for inputs and constants).
        cells: (instance name, cell type, pin -> net) of every cell, for the power model.
        c0, c1: the constant nets.
        gated: gated clock net -> enable net of the clock-gating cell driving it; a flip-flop
            clocked by a gated net keeps its state in cycles whose enable is 0.
    """

    n_nets: int
    gates: np.ndarray
    tt: np.ndarray
    ffs: np.ndarray
    ff_init: np.ndarray
    ports: dict
    fanout: np.ndarray
    net_block: np.ndarray
    cells: tuple
    c0: int
    c1: int
    gated: dict | None = None


def _block_of(cell_name: str) -> str:
    # flattened cells are named '$flatten\<instance>.<cell>'; the top module's cells have no
    # instance prefix (controller)
    if cell_name.startswith("$flatten\\"):
        return cell_name[len("$flatten\\"):].split(".")[0]
    return "top"


def load_netlist(path, models=None) -> Netlist:
    """Read Yosys' JSON netlist of the flattened ``top`` module.

    Args:
        path: the JSON netlist.
        models: cell type -> :class:`CellModel` (a dict or a callable); default: Yosys' generic
            gates and ``$_DFF_P_``.
    """
    mod = load_json(Path(path))["modules"]["top"]
    lookup = models if callable(models) else (models or GENERIC_MODELS).__getitem__
    ids = [b for p in mod["ports"].values() for b in p["bits"] if isinstance(b, int)]
    for c in mod["cells"].values():
        ids += [b for bits in c["connections"].values() for b in bits if isinstance(b, int)]
    c0 = max(ids, default=0) + 1
    c1 = c0 + 1
    n_nets = c1 + 1

    def net(b):
        return b if isinstance(b, int) else (c1 if b == "1" else c0)

    gates, tts, owner, ffs, ff_owner, cells = [], [], [], [], [], []
    models, gated = {}, {}
    for name, c in mod["cells"].items():
        try:
            models[name] = lookup(c["type"])
        except KeyError:
            raise ToolchainError(f"netlist cell type {c['type']} has no logic model") from None
        icg = models[name].icg
        if icg is not None:
            conn = c["connections"]
            gated[net(conn[icg[2]][0])] = net(conn[icg[1]][0])
    for name, c in mod["cells"].items():
        model = models[name]
        conn = {p: net(b[0]) for p, b in c["connections"].items() if b}
        cells.append((name, c["type"], conn))
        if model.ff is not None:
            nxt_pins, nxt_tt, ctl_pins, ctl_tt = model.ff
            idx = sum((conn[p] == c1) << k for k, p in enumerate(ctl_pins))
            if any(conn[p] not in (c0, c1) for p in ctl_pins) or (ctl_tt >> idx) & 1:
                raise ToolchainError(f"flip-flop {name} ({c['type']}): asynchronous clear/preset "
                                     "must be tied inactive")
            direct = [p for p, (pins, tt) in model.outputs.items() if pins == ("IQ",)
                      and tt == 0b10 and p in conn]
            state = conn[direct[0]] if direct else n_nets
            n_nets += state == n_nets
            if len(nxt_pins) == 1 and nxt_tt == 0b10:
                d = conn[nxt_pins[0]]
            else:
                d, n_nets = n_nets, n_nets + 1
                gates.append([conn[p] for p in nxt_pins] + [d])
                tts.append(nxt_tt)
                owner.append(name)
            enable = gated.get(conn.get(model.clock, -1))
            if enable is not None:  # a gated clock: the state is kept while the enable is 0
                gates.append([state, d, enable, n_nets])
                tts.append(MUX_TT)
                owner.append(name)
                d, n_nets = n_nets, n_nets + 1
            ffs.append((d, state))
            ff_owner.append(name)
            conn = dict(conn, IQ=state)
        skip = direct[:1] if model.ff is not None else []
        for pin, (pins, tt) in model.outputs.items():
            if pin in conn and pin not in skip:
                gates.append([conn[p] for p in pins] + [conn[pin]])
                tts.append(tt)
                owner.append(name)
    order = _topo_order(gates, n_nets)
    arr = np.zeros((len(gates), 8), np.int32)
    for row, i in enumerate(order):
        g = gates[i]
        if len(g) - 1 > 6:
            raise ToolchainError("a cell function reads more than 6 pins")
        arr[row, 0] = len(g) - 1
        arr[row, 1:len(g)] = g[:-1]
        arr[row, 7] = g[-1]
    tt_a = np.array([tts[i] for i in order], np.uint64)
    ffs_a = np.array(ffs, np.int32).reshape(-1, 2)
    init = np.zeros(n_nets, np.uint8)
    for v in mod["netnames"].values():
        val = v.get("attributes", {}).get("init")
        if val:
            for i, b in enumerate(v["bits"]):
                if isinstance(b, int) and i < len(val) and val[-1 - i] == "1":
                    init[b] = 1
    fanout = np.zeros(n_nets, np.int32)
    for row in arr:
        np.add.at(fanout, row[1:1 + row[0]], 1)
    np.add.at(fanout, ffs_a[:, 0], 1)
    block = np.full(n_nets, "ports", object)
    block[arr[:, 7]] = [_block_of(owner[i]) for i in order]
    block[ffs_a[:, 1]] = [_block_of(n) for n in ff_owner]
    ports = {n: (p["direction"], [net(b) for b in p["bits"]]) for n, p in mod["ports"].items()}
    return Netlist(n_nets, arr, tt_a, ffs_a, init[ffs_a[:, 1]], ports, fanout, block,
                   tuple(cells), c0, c1, gated)


def _topo_order(gates: list, n_nets: int) -> list[int]:
    """Kahn's algorithm over gate outputs (flip-flops and inputs are sources)."""
    driver = np.full(n_nets, -1, np.int64)
    for i, g in enumerate(gates):
        driver[g[-1]] = i
    users: dict[int, list[int]] = {}
    pending = np.zeros(len(gates), np.int64)
    for i, g in enumerate(gates):
        for s in set(g[:-1]):
            if driver[s] >= 0:
                users.setdefault(int(driver[s]), []).append(i)
                pending[i] += 1
    ready = [i for i in range(len(gates)) if pending[i] == 0]
    order = []
    while ready:
        i = ready.pop()
        order.append(i)
        for u in users.get(i, ()):
            pending[u] -= 1
            if pending[u] == 0:
                ready.append(u)
    if len(order) != len(gates):
        raise ToolchainError("the netlist has a combinational loop")
    return order


def _bits(values: list[int], width: int) -> np.ndarray:
    """(T,) ints -> (T, width) uint8, LSB first."""
    out = np.zeros((len(values), width), np.uint8)
    for t, v in enumerate(values):
        if v:
            out[t] = [(v >> i) & 1 for i in range(width)]
    return out


@dataclass(frozen=True)
class Activity:
    """Switching activity of one run.

    Attributes:
        toggles: uint32 (n_nets,) settled-value changes per net.
        weighted: float64 (cycles,) per cycle, sum over toggling nets of the net's weight
            (default 1 + fanout: the switched load in units of one gate input; cycle 0 has
            none).
        ones: uint32 (n_nets,) cycles in which each net settled at 1 (a clock-gating cell's
            enable: the cycles whose closing clock edge it lets through).
    """

    toggles: np.ndarray
    weighted: np.ndarray
    ones: np.ndarray


def simulate_activity(netlist: Netlist, trace: dict[str, list[int]],
                      weights: np.ndarray | None = None) -> Activity:
    """Toggle counts of every net for a recorded RTL run.

    Args:
        netlist: from :func:`load_netlist`.
        trace: port name -> per-cycle values (:class:`mixq.hw.sim.RtlRun` ``trace``); ports
            missing from it (clk, rst) are held at 0.
        weights: float per net summed into :attr:`Activity.weighted` when it toggles
            (default ``1 + fanout``).

    Returns:
        :class:`Activity`.

    Raises:
        ToolchainError: the netlist's outputs differ from the RTL's in some cycle.
    """
    cycles = len(next(iter(trace.values())))
    pi, stim, po, expect, po_names = [], [], [], [], []
    for name, (direction, nets) in netlist.ports.items():
        values = trace.get(name, [0] * cycles)
        bits = _bits(values, len(nets))
        if direction == "input":
            pi += nets
            stim.append(bits)
        else:
            po += nets
            expect.append(bits)
            po_names += [f"{name}[{i}]" for i in range(len(nets))]
    stim_a = np.concatenate(stim, axis=1) if stim else np.zeros((cycles, 0), np.uint8)
    exp_a = np.concatenate(expect, axis=1) if expect else np.zeros((cycles, 0), np.uint8)
    head = np.array([netlist.n_nets, len(netlist.gates), len(netlist.ffs), len(pi), len(po),
                     cycles, netlist.c0, netlist.c1], np.int32)
    if weights is None:
        weights = 1 + netlist.fanout
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        with open(src, "wb") as f:
            for arr in (head, netlist.gates, netlist.ffs, netlist.tt,
                        netlist.ff_init.astype(np.uint8),
                        np.array(pi, np.int32), np.array(po, np.int32), stim_a, exp_a,
                        np.asarray(weights, np.float64)):
                f.write(np.ascontiguousarray(arr).tobytes())
        subprocess.run([str(simulator_binary()), str(src), str(dst)], check=True)
        raw = dst.read_bytes()
    mism, first, first_po = np.frombuffer(raw[:24], np.int64)
    if mism:
        raise ToolchainError(f"gate-level netlist differs from the RTL: {mism} output bits, "
                             f"first {po_names[first_po]} in cycle {first}")
    n = netlist.n_nets
    toggles = np.frombuffer(raw[24:24 + 4 * n], np.uint32).copy()
    ones = np.frombuffer(raw[24 + 4 * n:24 + 8 * n], np.uint32).copy()
    return Activity(toggles, np.frombuffer(raw[24 + 8 * n:], np.float64).copy(), ones)


def block_sums(netlist: Netlist, per_net: np.ndarray, names: dict) -> dict[str, float]:
    """Sum a per-net quantity by the block of each net's driver (``names``: Amaranth instance
    name -> block label; drivers not in it, i.e. the engine's inputs: 'input wires')."""
    out: dict[str, float] = {}
    for name in np.unique(netlist.net_block):
        block = names.get(str(name), "input wires")
        out[block] = out.get(block, 0.0) + float(per_net[netlist.net_block == name].sum())
    return out


def busy_idle(per_cycle: np.ndarray, trace: dict) -> tuple[float, float]:
    """Mean of a per-cycle quantity over cycles in which the dense path summed a chunk (read in
    the cycle before: its switching shows one cycle later) and over the other cycles (cycle 0,
    which has no previous state to toggle from, excluded)."""
    busy = np.concatenate([[False], np.asarray(trace["w_re"], bool)[:-1]])
    idle = ~busy
    idle[0] = False

    def mean(sel):
        return float(per_cycle[sel].mean()) if sel.any() else 0.0
    return mean(busy), mean(idle)
