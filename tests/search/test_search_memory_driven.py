"""Memory-driven allocation (Rusci et al. 2020) on small networks worked out by hand.

Chains are built from flat tensors: ``chain([e0, e1, ..., en])`` has n layers, layer i reads a
tensor of e_i elements and writes e_{i+1}; at 8 bits an element is a byte. Trace legend
(``str(Step)``): '1F' = sweep 1 forward, '2B' = sweep 2 backward, 'W' = weight step;
'cut L1.out 4' = layer L1's output halved to 4 bits; 'defer L1' = L1 left to the next sweep.
"""

import pytest

from mixq.errors import MixqError
from mixq.search.memory import LayerShape, MemoryBudget, flash_bytes, ram_peak_bytes
from mixq.search.memory_driven import BudgetError, allocate_bits, allocation_summary

BIG = 10**9


def chain(elements, weights=None, channels=None):
    n = len(elements) - 1
    weights = weights or [1] * n
    channels = channels or [1] * n
    return tuple(LayerShape(f"L{i}", "fc" if i == n - 1 else "conv", (1, 1, elements[i]),
                            (1, 1, elements[i + 1]), weights[i], channels[i], weights[i])
                 for i in range(n))


def run(shapes, flash=BIG, ram=BIG, granularity="per-channel", delta=0.05):
    trace = []
    alloc = allocate_bits(shapes, MemoryBudget(flash, ram), granularity, delta, trace)
    return alloc, [str(s) for s in trace]


def act_bits(alloc):
    """Tensor bits t0..tn (network input, then each layer's output)."""
    return [alloc.layers[0].in_bits] + [l.out_bits for l in alloc.layers]


def test_everything_fits_at_8_bits():
    alloc, trace = run(chain([10, 20, 10]))
    assert trace == [] and all(l.w_bits == 8 for l in alloc.layers) and act_bits(alloc) == [8] * 3


def test_forward_cut_of_the_output():
    # RAM 220. L0: 100 (input, never cut) + 200 = 300 > 220 -> only the output can be cut:
    # t1 -> 4 bits: 100 + 100 = 200. L1: 100 + 100 = 200. L2: 100 + 10. One sweep, no deferral.
    alloc, trace = run(chain([100, 200, 100, 10]), ram=220)
    assert trace == ["1F cut L0.out 4"]
    assert act_bits(alloc) == [8, 4, 8, 8]
    assert ram_peak_bytes(chain([100, 200, 100, 10]), alloc) == 200


def test_larger_input_defers_then_backward_cuts_it():
    # RAM 220. Sweep 1 forward: L0 10 + 200 = 210 ok; L1 200 + 100 = 300, equal bits, the input
    # is larger -> defer; L2 110 ok. Sweep 2 backward: L2 ok; L1 cuts its input t1 -> 4:
    # 100 + 100 = 200 ok; L0 10 + 100 ok. Nothing deferred -> done.
    alloc, trace = run(chain([10, 200, 100, 10]), ram=220)
    assert trace == ["1F defer L1", "2B cut L1.in 4"]
    assert act_bits(alloc) == [8, 4, 8, 8]


def test_more_bits_beats_larger_size():
    # RAM 200. Sweep 1 forward: L1 100 + 300 = 400: equal bits, output larger -> t2 -> 4:
    # 100 + 150 = 250 > 200; now the input has more bits (8 > 4) although the output has more
    # bytes (150 > 100) -> input chosen -> defer. L2 150 + 10 ok. Sweep 2 backward: L1 cuts t1
    # -> 4: 50 + 150 = 200 ok (the budget is inclusive); L0 10 + 50 ok.
    alloc, trace = run(chain([10, 100, 300, 10]), ram=200)
    assert trace == ["1F cut L1.out 4", "1F defer L1", "2B cut L1.in 4"]
    assert act_bits(alloc) == [8, 4, 4, 8]


def test_exact_tie_cuts_the_output():
    # RAM 150. L1: 100 + 100 = 200, equal bits and sizes -> output t2 -> 4: 100 + 50 = 150.
    alloc, trace = run(chain([10, 100, 100, 10]), ram=150)
    assert trace == ["1F cut L1.out 4"]
    assert act_bits(alloc) == [8, 8, 4, 8]


def test_three_sweeps_backward_defers_a_chosen_output():
    # RAM 200. Sweep 1 forward: L0 10 + 180 ok; L1 180 + 150 = 330, input larger -> defer;
    # L2 150 + 10 ok. Sweep 2 backward: L1 cuts t1 -> 4: 90 + 150 = 240 > 200; now the output
    # has more bits -> defer; L0 10 + 90 ok. Sweep 3 forward: L1 cuts t2 -> 4: 90 + 75 = 165 ok;
    # L2 75 + 10 ok. Nothing deferred -> done.
    alloc, trace = run(chain([10, 180, 150, 10]), ram=200)
    assert trace == ["1F defer L1", "2B cut L1.in 4", "2B defer L1", "3F cut L1.out 4"]
    assert act_bits(alloc) == [8, 4, 4, 8]


def test_network_input_is_never_cut():
    # RAM 230. L0: 200 (network input) + 50 = 250; the input is larger but never cut -> t1 -> 4:
    # 200 + 25 = 225 ok.
    alloc, trace = run(chain([200, 50, 10]), ram=230)
    assert trace == ["1F cut L0.out 4"] and act_bits(alloc) == [8, 4, 8]
    # RAM 200: t1 -> 4 (225), -> 2 (200 + ceil(12.5) = 213), still > 200 and t1 cannot go
    # below 2 bits -> no solution, naming the RAM budget and L0.
    with pytest.raises(BudgetError, match=r"^RAM budget 200 bytes cannot be met: layer 'L0' "
                                          r"still needs 213 bytes with 8-bit input and 2-bit"):
        run(chain([200, 50, 10]), ram=200)


def test_last_output_is_never_cut():
    # RAM 230. Sweep 1 forward: L1 50 + 200 (last output, never cut) = 250 -> only the input is
    # a candidate -> defer. Sweep 2 backward: L1 cuts t1 -> 4: 25 + 200 = 225 ok.
    alloc, trace = run(chain([10, 50, 200]), ram=230)
    assert trace == ["1F defer L1", "2B cut L1.in 4"] and act_bits(alloc) == [8, 4, 8]
    # RAM 200: t1 -> 4 (225) -> 2 (13 + 200 = 213) > 200 -> no solution at L1.
    with pytest.raises(BudgetError, match="RAM budget 200 bytes .* layer 'L1' still needs 213"):
        run(chain([10, 50, 200]), ram=200)


def test_single_layer_has_nothing_to_cut():
    with pytest.raises(BudgetError, match="RAM budget 100 bytes .* layer 'L0'"):
        run(chain([100, 10]), ram=100)


def test_weights_cut_the_largest_share():
    # Per-channel, C = 1: overhead 18 per layer, 11 for the last -> 65. Weight bytes at 8 bits
    # [400, 1000, 600, 100] = 2100 -> flash 2165 > 1500.
    # Step 1: shares .190 .476 .286 .048 -> r_max .476 (L1), only L1 above .426 -> L1 -> 4:
    #   [400, 500, 600, 100] = 1600 -> 1665 > 1500.
    # Step 2: shares .250 .3125 .375 .0625 -> r_max .375 (L2), L1 (.3125) not above .325 ->
    #   L2 -> 4: [400, 500, 300, 100] = 1300 -> 1365 <= 1500.
    shapes = chain([1, 1, 1, 1, 1], weights=[400, 1000, 600, 100])
    alloc, trace = run(shapes, flash=1500)
    assert trace == ["W cut L1.w 4", "W cut L2.w 4"]
    assert [l.w_bits for l in alloc.layers] == [8, 4, 4, 8]
    assert flash_bytes(shapes, alloc) == 1365


def test_weights_delta_picks_the_lowest_index():
    # [500, 520, 100, 10] = 1130 + 65 = 1195 > 1000. Shares .4425 and .4602 (r_max).
    # delta .05: threshold .4102 -> L0 and L1 qualify -> lowest index L0 -> 4: 880 + 65 = 945.
    # delta .01: threshold .4502 -> only L1 -> 4: 870 + 65 = 935.
    shapes = chain([1, 1, 1, 1, 1], weights=[500, 520, 100, 10])
    alloc, _ = run(shapes, flash=1000, delta=0.05)
    assert [l.w_bits for l in alloc.layers] == [4, 8, 8, 8]
    alloc, _ = run(shapes, flash=1000, delta=0.01)
    assert [l.w_bits for l in alloc.layers] == [8, 4, 8, 8]
    # delta 0: only the r_max layer itself qualifies (also with equal shares: lowest index).
    alloc, trace = run(chain([1, 1, 1, 1], weights=[300, 300, 10]), flash=400, delta=0.0)
    assert trace == ["W cut L0.w 4", "W cut L1.w 4"]


def test_weights_only_layers_above_2_bits_compete():
    # Overhead 18 + 18 + 11 = 47; weights [1000, 200, 10].
    # 1: total 1210, L0 .826 -> 4: 710 + 47 = 757 > 400.
    # 2: L0 500/710 = .704 -> 2: 460 + 47 = 507 > 400.
    # 3: L0 is at 2 bits and out of the race although its share is the largest (.543):
    #    L1 200/460 = .435 is r_max -> 4: 360 + 47 = 407 > 400.
    # 4: L1 100/360 = .278 vs L2 .028 -> L1 -> 2: 310 + 47 = 357 <= 400.
    shapes = chain([1, 1, 1, 1], weights=[1000, 200, 10])
    alloc, trace = run(shapes, flash=400)
    assert trace == ["W cut L0.w 4", "W cut L0.w 2", "W cut L1.w 4", "W cut L1.w 2"]
    assert [l.w_bits for l in alloc.layers] == [2, 2, 8]
    # Budget 300: then L2 -> 4 (5 bytes: 352), -> 2 (3 bytes: 350), no layer left above 2 bits.
    # The largest layer is L0: 250 + 18 = 268 bytes.
    with pytest.raises(BudgetError, match=r"^flash budget 300 bytes cannot be met: with all "
                                          r"weights at 2 bits the network still needs 350 bytes, "
                                          r"layer 'L0' alone 268"):
        run(shapes, flash=300)


def test_mixpl_overheads_and_scheme_switch():
    # L0: 800 weights, C = 10; L1 (last): 100 weights, C = 10; activations tiny.
    shapes = chain([10, 10, 10], weights=[800, 100], channels=[10, 10])
    # MixPC at 8 bits: 800 + (10C + 8 = 108) + 100 + (7C + 4 = 74) = 1082.
    # MixPL at 8 bits: PL+FB 4C + 20 = 60 for both layers -> 1020.
    alloc, _ = run(shapes, flash=1030, granularity="per-layer")
    assert [l.w_bits for l in alloc.layers] == [8, 8]
    assert [l.scheme for l in alloc.layers] == ["PL+FB", "PL+FB"]
    assert flash_bytes(shapes, alloc) == 1020
    alloc, trace = run(shapes, flash=1030, granularity="per-channel")
    assert trace == ["W cut L0.w 4"] and flash_bytes(shapes, alloc) == 400 + 108 + 100 + 74
    # MixPL, budget 1000: L0 -> 4 bits switches it to PL+ICN: overhead 60 -> 9C + 12 = 102,
    # flash 400 + 102 + 100 + 60 = 662.
    alloc, _ = run(shapes, flash=1000, granularity="per-layer")
    assert [l.scheme for l in alloc.layers] == ["PL+ICN", "PL+FB"]
    assert flash_bytes(shapes, alloc) == 662


def test_mixpl_activation_cut_switches_scheme():
    # RAM 300: L0 10 + 400 -> t1 -> 4 (10 + 200); L1 200 + 10. L0 keeps 8-bit weights but its
    # 4-bit output makes it PL+ICN: 800 + 102 + 100 + 60 = 1062, under a 1070 budget.
    shapes = chain([10, 400, 10], weights=[800, 100], channels=[10, 10])
    alloc, trace = run(shapes, flash=1070, ram=300, granularity="per-layer")
    assert trace == ["1F cut L0.out 4"]
    assert [(l.w_bits, l.out_bits, l.scheme) for l in alloc.layers] == [(8, 4, "PL+ICN"),
                                                                       (8, 8, "PL+FB")]
    assert flash_bytes(shapes, alloc) == 1062


def test_allocation_links_bits_and_marks_schemes():
    shapes = chain([10, 180, 150, 10], weights=[50, 60, 70])
    alloc, _ = run(shapes, flash=200, ram=200)
    layers = alloc.layers
    assert layers[0].in_bits == 8 and layers[-1].out_bits == 8
    assert all(a.out_bits == b.in_bits for a, b in zip(layers, layers[1:]))
    assert {l.scheme for l in layers} == {"PC+ICN"} and alloc.granularity == "per-channel"


def test_summary_is_the_cli_contract():
    shapes = chain([10, 100, 100, 10], weights=[50, 60, 70])
    alloc, _ = run(shapes, ram=150)
    summary = allocation_summary(shapes, alloc)
    assert list(summary) == ["layers", "flash_bytes", "ram_peak_bytes"]
    assert summary["layers"][1] == {"name": "L1", "kind": "conv", "w_bits": 8, "in_bits": 8,
                                    "out_bits": 4}
    assert summary["ram_peak_bytes"] == 150
    assert summary["flash_bytes"] == 50 + 60 + 70 + 18 + 18 + 11


@pytest.mark.parametrize("kwargs, message", [
    (dict(delta=1.0), "delta=1.0 must be in"),
    (dict(delta=-0.1), "delta=-0.1 must be in"),
    (dict(granularity="per-tensor"), "granularity 'per-tensor'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(MixqError, match=message):
        allocate_bits(chain([1, 1]), MemoryBudget(10, 10), **kwargs)


def test_bad_arguments_no_layers_or_budget():
    with pytest.raises(MixqError, match="without weight layers"):
        allocate_bits((), MemoryBudget(10, 10))
    with pytest.raises(MixqError, match="MemoryBudget"):
        allocate_bits(chain([1, 1]), (10, 10))


def test_budget_errors_are_one_line_mixq_errors():
    with pytest.raises(BudgetError) as info:
        run(chain([200, 50, 10]), ram=200)
    assert isinstance(info.value, MixqError) and "\n" not in str(info.value)
    assert info.value.exit_code == 2
