"""The accelerator RTL (Amaranth simulator) against ir.interpret, bit for bit, and the Python
cycle model against the RTL, cycle for cycle, on random layers of every supported structure."""

import numpy as np
import pytest

from mixq.hw.config import EngineConfig, HwConfigError
from mixq.hw.cyclemodel import program_cycles
from mixq.hw.program import lower_node, program_reference, scatter_outputs
from mixq.hw.sim import run_program_rtl
from mixq.hw.synthetic import random_layer
from mixq.ir.graph import SPARSE_STRUCTURES

pytestmark = pytest.mark.hw

KINDS = ("conv", "pw", "fc", "dw")


def _engine(structure: str, lanes: int, channels: int, units: int = 2) -> EngineConfig:
    small = dict(max_chunks=32, max_groups=16, sparse_depth=512, row_bits=8)
    if structure == "dense":
        return EngineConfig(engine="int8", lanes=lanes, channels=channels, structure="dense",
                            **small)
    return EngineConfig(lanes=lanes, channels=channels, structure=structure,
                        sparse_units=units, **small)


def _check_layer(cfg, graph, node, env, sample=0):
    """RTL == interpret (whole layer) and cycle model == RTL (every program)."""
    progs = lower_node(node, graph, env[node.input][sample], cfg)
    runs = [run_program_rtl(p) for p in progs]
    for p, r in zip(progs, runs):
        np.testing.assert_array_equal(r.outputs, program_reference(p))
        model = program_cycles(p)
        assert (model.cycles, model.dense_beats, model.sparse_words) == (
            r.cycles, r.dense_beats, r.sparse_words), p.name
    y = scatter_outputs(progs, [r.outputs for r in runs])
    np.testing.assert_array_equal(y, env[node.output][sample].reshape(-1))
    return progs, runs


@pytest.mark.parametrize("structure", SPARSE_STRUCTURES + ("dense",))
def test_rtl_is_bitexact_and_cycle_model_exact_on_every_structure(structure):
    rng = np.random.default_rng(sum(map(ord, structure)))
    lanes = 16 if structure == "1:16" else 8
    for i, kind in enumerate(KINDS):
        graph, node, env = random_layer(
            structure, seed=int(rng.integers(1 << 30)), kind=kind, c_in=int(rng.integers(3, 14)),
            c_out=int(rng.integers(1, 7)), size=3, density=float(rng.choice([0.05, 0.2])),
            signed_input=i % 2 == 1)
        cfg = _engine(structure, lanes, channels=[2, 4, 1, 2][i], units=1 + i % 3)
        if kind == "dw":  # depthwise: one program per channel group, run two of them
            progs = lower_node(node, graph, env[node.input][0], cfg)[:2]
            for p in progs:
                r = run_program_rtl(p)
                np.testing.assert_array_equal(r.outputs, program_reference(p))
                assert program_cycles(p).cycles == r.cycles
            continue
        _check_layer(cfg, graph, node, env)


def test_stalls_are_modelled_exactly():
    """Dense unstructured outliers on one sparse unit (sparse-path stalls) and more channels
    than chunks (requant-bound passes)."""
    graph, node, env = random_layer("unstructured", seed=7, kind="conv", c_in=8, c_out=8,
                                    size=3, density=0.5)
    progs, runs = _check_layer(_engine("unstructured", 8, channels=4, units=1), graph, node, env)
    assert runs[0].cycles > runs[0].dense_beats * 2  # the sparse path is the bottleneck
    graph, node, env = random_layer("1:8", seed=8, kind="pw", c_in=8, c_out=16, size=2)
    progs, runs = _check_layer(_engine("1:8", 8, channels=8), graph, node, env)
    assert progs[0].n_chunks == 1 and runs[0].cycles >= 8 * progs[0].n_rows * progs[0].n_groups


def test_int8_engine_runs_dense_sparse_layers_as_effective_int8_weights():
    graph, node, env = random_layer("2:8", seed=3, kind="conv", c_in=6, c_out=3, size=3)
    _check_layer(_engine("dense", 8, channels=2), graph, node, env, sample=1)


def test_layers_that_do_not_fit_are_refused():
    graph, node, env = random_layer("dense", seed=1, kind="pw")
    with pytest.raises(HwConfigError, match="ternary engine runs ternary"):
        lower_node(node, graph, env[node.input][0], _engine("1:8", 8, 2))
    graph, node, env = random_layer("1:8", seed=1, kind="fc", c_in=300)
    with pytest.raises(HwConfigError, match="exceed the buffers"):
        lower_node(node, graph, env[node.input][0], _engine("1:8", 8, 2))
    with pytest.raises(HwConfigError, match="multiple of M"):
        EngineConfig(lanes=8, channels=2, structure="1:16")
    graph, node, env = random_layer("unstructured", seed=1, kind="conv", density=0.5)
    tiny = EngineConfig(lanes=8, channels=2, structure="unstructured", sparse_units=1,
                        sparse_depth=16)
    with pytest.raises(HwConfigError, match="exceed the sparse buffer"):
        program_cycles(lower_node(node, graph, env[node.input][0], tiny)[0])
