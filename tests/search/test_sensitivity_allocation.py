"""The integer-program allocator: optimal (vs brute force), never over any budget, clear errors."""

import itertools
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixq.quant.spec import BitAllocation, LayerBits, scheme_for
from mixq.search.memory import MemoryBudget, flash_bytes, ram_peak_bytes
from mixq.search.memory_driven import BudgetError
from mixq.search.sensitivity_allocation import allocate_sensitivity, allocation_latency
from strategies import layer_chains

BITS = (8, 4, 2)


@st.composite
def sensitivities(draw, shapes):
    costs = st.floats(0, 10, allow_nan=False)
    out = []
    for s in shapes:
        # quantization error grows as bits drop: keep the costs ordered like real ones
        w = sorted(draw(st.lists(costs, min_size=3, max_size=3)))
        a = sorted(draw(st.lists(costs, min_size=3, max_size=3)))
        out.append(SimpleNamespace(name=s.name, weight_cost=dict(zip(BITS, w)),
                                   act_cost=dict(zip(BITS, a))))
    return out


def toy_latency(shape, w, a_in, a_out):
    return shape.macs * (1 + w / 8 + a_in / 16) + a_out


def _allocation(shapes, choice, granularity):
    return BitAllocation(tuple(LayerBits(s.name, s.kind, w, a, o, scheme_for(granularity, w, o))
                               for s, (w, a, o) in zip(shapes, choice)), granularity)


def brute_force(shapes, sens, budget, granularity, latency=None, latency_budget=None):
    """Cheapest allocation by enumeration (reference for small chains), or None."""
    n = len(shapes)
    best = None
    for ws in itertools.product(BITS, repeat=n):
        for ts in itertools.product(BITS, repeat=n - 1):
            t = (8, *ts, 8)
            choice = [(ws[i], t[i], t[i + 1]) for i in range(n)]
            alloc = _allocation(shapes, choice, granularity)
            if flash_bytes(shapes, alloc) > budget.flash_bytes or \
                    ram_peak_bytes(shapes, alloc) > budget.ram_bytes:
                continue
            if latency_budget is not None and \
                    allocation_latency(shapes, alloc, latency) > latency_budget:
                continue
            cost = sum(sens[i].weight_cost[ws[i]] + (sens[i].act_cost[t[i + 1]] if i < n - 1
                                                     else 0) for i in range(n))
            if best is None or cost < best[0] - 1e-12:
                best = (cost, alloc)
    return best


def proxy(sens, alloc):
    n = len(alloc.layers)
    return sum(s.weight_cost[l.w_bits] + (s.act_cost[l.out_bits] if i < n - 1 else 0)
               for i, (s, l) in enumerate(zip(sens, alloc.layers)))


@settings(max_examples=120, deadline=None)
@given(data=st.data(), flash_frac=st.floats(0.1, 1.2), ram_frac=st.floats(0.1, 1.2),
       lat_frac=st.one_of(st.none(), st.floats(0.2, 1.2)),
       granularity=st.sampled_from(["per-channel", "per-layer"]))
def test_optimal_and_never_over_any_budget(data, flash_frac, ram_frac, lat_frac, granularity):
    shapes = data.draw(layer_chains(max_layers=4))
    sens = data.draw(sensitivities(shapes))
    uniform = BitAllocation.uniform([(s.name, s.kind) for s in shapes], 8, granularity)
    budget = MemoryBudget(max(1, int(flash_frac * flash_bytes(shapes, uniform))),
                          max(1, int(ram_frac * ram_peak_bytes(shapes, uniform))))
    lat_budget = None if lat_frac is None else \
        lat_frac * allocation_latency(shapes, uniform, toy_latency)
    ref = brute_force(shapes, sens, budget, granularity, toy_latency, lat_budget)
    try:
        alloc = allocate_sensitivity(shapes, budget, sens, granularity,
                                     toy_latency if lat_budget is not None else None, lat_budget)
    except BudgetError as e:
        assert ref is None, f"solver says infeasible ({e}) but {ref[1]} fits"
        assert "\n" not in str(e)
        return
    assert ref is not None
    assert flash_bytes(shapes, alloc) <= budget.flash_bytes
    assert ram_peak_bytes(shapes, alloc) <= budget.ram_bytes
    if lat_budget is not None:
        assert allocation_latency(shapes, alloc, toy_latency) <= lat_budget
    assert alloc.layers[0].in_bits == 8 and alloc.layers[-1].out_bits == 8
    assert all(a.out_bits == b.in_bits for a, b in zip(alloc.layers, alloc.layers[1:]))
    assert proxy(sens, alloc) == pytest.approx(ref[0], rel=1e-6, abs=1e-9)


def demo_shapes():
    from mixq.models import get_model
    from mixq.search.memory import layer_shapes

    return layer_shapes(get_model("demo_net"))


def flat_sensitivity(shapes, w_scale=1.0):
    return [SimpleNamespace(name=s.name, weight_cost={8: 0.0, 4: w_scale, 2: 4 * w_scale},
                            act_cost={8: 0.0, 4: 1.0, 2: 4.0}) for s in shapes]


def test_loose_budget_keeps_everything_8bit():
    shapes = demo_shapes()
    a = allocate_sensitivity(shapes, MemoryBudget(10**7, 10**7), flat_sensitivity(shapes))
    assert {(l.w_bits, l.in_bits, l.out_bits) for l in a.layers} == {(8, 8, 8)}


def test_latency_budget_binds_and_costs_accuracy():
    shapes = demo_shapes()
    sens = flat_sensitivity(shapes)
    free = allocate_sensitivity(shapes, MemoryBudget(6301, 6144), sens)
    slow = allocation_latency(shapes, free, toy_latency)
    tight = allocate_sensitivity(shapes, MemoryBudget(6301, 6144), sens, latency=toy_latency,
                                 latency_budget=0.8 * slow)
    assert allocation_latency(shapes, tight, toy_latency) <= 0.8 * slow
    assert proxy(sens, tight) >= proxy(sens, free)


@pytest.mark.parametrize("budget, latency_budget, message", [
    (MemoryBudget(10**7, 100), None, "RAM budget 100 bytes cannot be met: layer 'conv0'"),
    (MemoryBudget(500, 10**7), None, "flash budget 500 bytes cannot be met"),
    (MemoryBudget(10**7, 10**7), 10.0, "latency budget 10 cycles cannot be met"),
])
def test_infeasible_budgets_name_the_budget(budget, latency_budget, message):
    shapes = demo_shapes()
    with pytest.raises(BudgetError, match=message) as e:
        allocate_sensitivity(shapes, budget, flat_sensitivity(shapes),
                             latency=toy_latency, latency_budget=latency_budget)
    assert "\n" not in str(e.value)


def test_mismatched_sensitivity_and_missing_latency_model():
    from mixq.errors import MixqError

    shapes = demo_shapes()
    with pytest.raises(MixqError, match="do not match"):
        allocate_sensitivity(shapes, MemoryBudget(10**7, 10**7), flat_sensitivity(shapes[:-1]))
    with pytest.raises(MixqError, match="latency model"):
        allocate_sensitivity(shapes, MemoryBudget(10**7, 10**7), flat_sensitivity(shapes),
                             latency_budget=1.0)


def test_gap8_cluster_latency_budget_on_mobilenet():
    from mixq.platform.latency import latency_function
    from mixq.platform.spec import get_platform
    from mixq.models import get_model
    from mixq.search.memory import layer_shapes

    shapes = layer_shapes(get_model("mobilenet_v1", width=0.25, resolution=128))
    latency, clock = latency_function(get_platform("pulp-xpulpnn"), shapes)
    sens = flat_sensitivity(shapes)
    budget = MemoryBudget(400_000, 200_000)
    free = allocate_sensitivity(shapes, budget, sens)
    limit = 0.9 * allocation_latency(shapes, free, latency)
    fast = allocate_sensitivity(shapes, budget, sens, latency=latency, latency_budget=limit)
    assert allocation_latency(shapes, fast, latency) <= limit
    assert flash_bytes(shapes, fast) <= budget.flash_bytes
    assert ram_peak_bytes(shapes, fast) <= budget.ram_bytes
