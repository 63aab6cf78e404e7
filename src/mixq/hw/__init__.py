"""Accelerator for dense-ternary + sparse-int8 layers, measured against a dense int8 engine.

Architecture (one engine = :class:`~mixq.hw.rtl_engine.Engine`, parameters in
:class:`~mixq.hw.config.EngineConfig`)::

    input stream --> loader --> row buffer (2 banks) --+--> dense path (lanes x channels:
                                                       |    +x / -x / skip into adder trees)
                                                       |           |
    sparse words ------> S0 -> S1 (chunk read) --------+--> sparse path (int8 MACs: N:M slots
                                                                   |  or a queue of entries)
                                                   accumulators (int32, per path, + holds)
                                                                   |
                       requant params ------------> ICN unit: (D*k + S) * mult + bias >> shift
                                                                   |
                                                             output stream

The int8 baseline is the same engine with a multiplier per lane and channel and no sparse path.

Public API:

- :func:`~mixq.hw.program.lower_node`: an IR ``Conv2d``/``FullyConnected`` (+ one input
  sample) -> :class:`~mixq.hw.program.LayerProgram` (im2col rows, weights, outliers, requant).
- :func:`~mixq.hw.sim.run_layer_rtl` / :func:`~mixq.hw.sim.run_program_rtl`: Amaranth
  simulation (outputs, cycles, beats, sparse words; optional port trace).
- :func:`~mixq.hw.cyclemodel.program_cycles`: the fast cycle model (equal to the RTL).
- :func:`~mixq.hw.network.network_estimate`: latency and energy per inference of a graph.
- :func:`~mixq.hw.synth.synthesize`: Yosys synthesis, area per block in NAND2 equivalents.
- :func:`~mixq.hw.energy.run_energy`: activity-based energy of a recorded run.
- :func:`~mixq.hw.asic.map_verilog`: map to a Liberty library (Yosys), fmax from OpenSTA;
  :func:`~mixq.hw.power.net_energy` / :func:`~mixq.hw.power.asic_run_energy`: energy from the
  library's internal-power tables, capacitances and leakage (flip-flop clock pins included);
  :mod:`~mixq.hw.sram`: buffers as IHP SRAM macros; :mod:`~mixq.hw.vsim`: iverilog cross-check
  of the mapped netlist.
- :func:`~mixq.hw.report.run_report`: ``mixq hw report`` (``--liberty``).

Buffer formats are documented in :mod:`mixq.hw.streams`.
"""
