"""Cycle-level Python model of the engine: the controller's rules of :mod:`mixq.hw.rtl_engine`
and :mod:`mixq.hw.rtl_requant` replayed on counters only (no data), so it runs whole networks
in a fraction of a second. The tests check it against the RTL cycle for cycle (total cycles,
dense beats and sparse words must be equal).

Only the sparse words' ``last`` flags matter to the timing; :func:`program_cycles` takes them
from the packed stream of a :class:`~mixq.hw.program.LayerProgram`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mixq.hw.config import EngineConfig
from mixq.hw.program import LayerProgram
from mixq.hw.streams import words_per_group


@dataclass(frozen=True)
class CycleStats:
    """Timing of one engine run.

    Attributes:
        cycles: cycles from the one after ``start`` to ``done`` (same definition as
            :class:`mixq.hw.sim.RtlRun`).
        dense_beats: cycles in which the dense path read a chunk.
        sparse_words: sparse words read.
        macs: useful MACs of the layer (IR count).
        peak_macs: ``lanes * channels`` per cycle.
    """

    cycles: int
    dense_beats: int
    sparse_words: int
    macs: int
    peak_macs: int

    @property
    def mac_per_cycle(self) -> float:
        return self.macs / max(self.cycles, 1)

    @property
    def utilization(self) -> float:
        """Useful MACs over the peak (padding, stalls and fill all count as waste)."""
        return self.mac_per_cycle / self.peak_macs

    @property
    def stall_cycles(self) -> int:
        """Cycles in which the dense path did not issue (fill, drain, sparse/requant stalls)."""
        return self.cycles - self.dense_beats

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(mac_per_cycle=self.mac_per_cycle, utilization=self.utilization,
                 stall_cycles=self.stall_cycles)
        return d


def simulate_cycles(cfg: EngineConfig, n_rows: int, n_groups: int, n_chunks: int,
                    word_last: list[bool], macs: int = 0) -> CycleStats:
    """Replay the engine's control for one run.

    Args:
        cfg: the engine.
        n_rows, n_groups, n_chunks: the program's loop bounds.
        word_last: ``last`` flag of every sparse word of one row (ignored for int8).
        macs: useful MACs (only reported back).

    Returns:
        :class:`CycleStats`.

    Example:
        >>> cfg = EngineConfig(engine="int8", lanes=8, channels=2, structure="dense")
        >>> s = simulate_cycles(cfg, 4, 2, 3, [])  # 4 rows x 2 groups x 3 chunks
        >>> s.dense_beats, s.cycles  # + loading the first row, pipeline fill and drain
        (24, 35)
    """
    ternary = cfg.engine == "ternary_sparse"
    p, total_beats = cfg.channels, n_rows * n_chunks
    s_words = len(word_last)
    running = done = False
    ld_row = ld_j = x_ptr = 0
    d_row = d_g = d_j = 0
    d1_valid = d1_last = False
    hv0 = hv1 = False
    s_ptr = s0_row = s1_addr = s1_row = s1_g = 0
    s1_valid = False
    s2_valid = s2_last = False
    busy, ch, grp, row = False, 0, 0, 0
    v1 = f1 = v2 = f2 = v3 = f3 = y_final = False
    t = beats = words = 0
    start = True
    while True:
        if t > 0 and done:
            break
        # combinational signals of cycle t
        both = hv0 and hv1 if ternary else hv0
        active = busy or both
        cur = ch if busy else 0
        free = active and cur == p - 1
        d1_stall = d1_valid and d1_last and hv0 and not free
        d_issue = running and d_row < n_rows and d_row < ld_row and not d1_stall
        if ternary:
            s2_stall = s2_valid and s2_last and hv1 and not free
            s1_hold = s1_valid and (not s1_row < ld_row or s2_stall)
            s_issue = running and s0_row < n_rows and not s1_hold
            s1_adv = s1_valid and not s1_hold
            left = min(d_row, s1_row)
        else:
            left = d_row
        fire = running and ld_row < n_rows and ld_row < left + 2 and x_ptr < total_beats
        if t > 0:
            beats += d_issue
            words += ternary and s_issue
        # next state (every right-hand side below reads cycle t's values)
        land0 = d1_valid and not d1_stall and d1_last
        land1 = ternary and s2_valid and not s2_stall and s2_last
        n_done = y_final
        if start and not running:
            running = True
        if y_final:
            running = False
        if d_issue:
            d1_valid, d1_last = True, d_j == n_chunks - 1
            if d_j == n_chunks - 1:
                d_j = 0
                if d_g == n_groups - 1:
                    d_g, d_row = 0, d_row + 1
                else:
                    d_g += 1
            else:
                d_j += 1
        elif not d1_stall:
            d1_valid = False
        hv0 = (hv0 and not free) or land0
        if ternary:
            w_last = word_last[s1_addr]
            if s1_adv:
                s2_valid, s2_last = True, w_last
                if w_last:
                    if s1_g == n_groups - 1:
                        s1_g, s1_row = 0, s1_row + 1
                    else:
                        s1_g += 1
            elif not s2_stall:
                s2_valid = False
            if s_issue:
                s1_valid, s1_addr = True, s_ptr
                if s_ptr == s_words - 1:
                    s_ptr, s0_row = 0, s0_row + 1
                else:
                    s_ptr += 1
            elif not s1_hold:
                s1_valid = False
            hv1 = (hv1 and not free) or land1
        if fire:
            x_ptr += 1
            if ld_j == n_chunks - 1:
                ld_j, ld_row = 0, ld_row + 1
            else:
                ld_j += 1
        y_final = f3 and v3
        v3, f3 = v2, f2
        v2, f2 = v1, f1
        v1 = active
        f1 = active and cur == p - 1 and grp == n_groups - 1 and row == n_rows - 1
        if active:
            busy = cur != p - 1
            ch = 0 if cur == p - 1 else cur + 1
            if cur == p - 1:
                if grp == n_groups - 1:
                    grp, row = 0, row + 1
                else:
                    grp += 1
        done = n_done
        start = False
        t += 1
    return CycleStats(t, beats, words, macs, cfg.mac_lanes)


def program_cycles(prog: LayerProgram) -> CycleStats:
    """Cycle model of one lowered program (see :func:`simulate_cycles`)."""
    last = []
    if prog.cfg.family != "int8":
        for n in words_per_group(prog):
            last += [False] * (int(n) - 1) + [True]
    return simulate_cycles(prog.cfg, prog.n_rows, prog.n_groups, prog.n_chunks, last, prog.macs)
