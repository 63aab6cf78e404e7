"""Property tests: the allocator never reports a budget as met when it is not."""

from hypothesis import given, settings
from hypothesis import strategies as st

from mixq.quant.spec import BitAllocation, scheme_for
from mixq.search.memory import MemoryBudget, flash_bytes, ram_peak_bytes
from mixq.search.memory_driven import BudgetError, allocate_bits
from strategies import layer_chains


def _footprint_8bit(shapes, granularity):
    uniform = BitAllocation.uniform([(s.name, s.kind) for s in shapes], 8, granularity)
    return flash_bytes(shapes, uniform), ram_peak_bytes(shapes, uniform)


@settings(max_examples=300, deadline=None)
@given(shapes=layer_chains(), flash_frac=st.floats(0.1, 1.2), ram_frac=st.floats(0.1, 1.2),
       granularity=st.sampled_from(["per-channel", "per-layer"]),
       delta=st.floats(0, 0.5))
def test_allocation_meets_the_budget_it_reports(shapes, flash_frac, ram_frac, granularity, delta):
    # Budgets as a fraction of the 8-bit footprint, so that most cases need cuts and some fail.
    flash8, ram8 = _footprint_8bit(shapes, granularity)
    flash, ram = max(1, int(flash_frac * flash8)), max(1, int(ram_frac * ram8))
    try:
        alloc = allocate_bits(shapes, MemoryBudget(flash, ram), granularity, delta)
    except BudgetError as e:
        assert "\n" not in str(e) and ("flash budget" in str(e) or "RAM budget" in str(e))
        return
    assert flash_bytes(shapes, alloc) <= flash
    assert ram_peak_bytes(shapes, alloc) <= ram
    layers = alloc.layers
    assert [l.name for l in layers] == [s.name for s in shapes]
    assert layers[0].in_bits == 8 and layers[-1].out_bits == 8
    assert all(a.out_bits == b.in_bits for a, b in zip(layers, layers[1:]))
    assert all(l.scheme == scheme_for(granularity, l.w_bits, l.out_bits) for l in layers)


@settings(max_examples=100, deadline=None)
@given(shapes=layer_chains(), granularity=st.sampled_from(["per-channel", "per-layer"]))
def test_no_cut_when_8_bits_fit(shapes, granularity):
    budget = MemoryBudget(*_footprint_8bit(shapes, granularity))
    uniform = BitAllocation.uniform([(s.name, s.kind) for s in shapes], 8, granularity)
    assert allocate_bits(shapes, budget, granularity) == uniform
