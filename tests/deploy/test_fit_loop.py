"""The allocation loop closed on the linked build (torch-free: synthetic graphs per 'allocation')."""

import pytest

from mixq.codegen.synth import GraphBuilder
from mixq.deploy.fit_loop import FitError, close_allocation
from mixq.platform import get_platform
from mixq.search.memory import MemoryBudget

pytestmark = pytest.mark.cross


def _graph(act: str):
    b = GraphBuilder((16, 16, 3), seed=0)
    y = b.conv(b.input, 16, kernel=3, out=act, weight="s8")
    return b.build(b.fc(b.avgpool(y), 10, out="s8"))


def _allocate(budget: MemoryBudget):
    """A stand-in allocator: 8-bit activations (model RAM 4,864 B) when the budget allows, else
    4-bit ones (2,816 B); model flash 600 B either way."""
    if budget.ram_bytes >= 4_864:
        return "u8", 600, 4_864
    if budget.ram_bytes >= 2_816:
        return "u4", 600, 2_816
    raise FitError(f"RAM budget {budget.ram_bytes} bytes cannot be met")


@pytest.fixture(scope="module")
def u8_fit(tmp_path_factory):
    from mixq.deploy.fit import link_fit

    return link_fit(_graph("u8"), tmp_path_factory.mktemp("u8"), get_platform("stm32h7"))


def test_tightens_by_the_measured_excess_until_the_build_fits(u8_fit, tmp_path):
    # a RAM budget 1 byte below the 8-bit build's linked RAM: the first step is over by 1 B;
    # flash room for the u4 kernels' code (measured: 1,096 B more than the u8 build's image)
    budget = MemoryBudget(u8_fit.flash_bytes + 8_000, u8_fit.ram_bytes - 1)
    seen = []
    closed = close_allocation(_allocate, _graph, get_platform("stm32h7"), budget,
                              out_dir=tmp_path, on_step=seen.append)
    first, last = closed.steps
    assert seen == list(closed.steps) and closed.allocation == "u4"
    assert first.fit == u8_fit and (first.flash_excess, first.ram_excess) == (0, 1)
    assert last.model_budget == MemoryBudget(budget.flash_bytes, 4_864 - 1)  # model RAM - excess
    assert last.fits and closed.fit.fits(budget.flash_bytes, budget.ram_bytes)
    assert closed.fit.ram_bytes < u8_fit.ram_bytes
    assert "step 1:" in str(first) and "(1 B over)" in str(first)


def test_impossible_budget_is_one_line(u8_fit, tmp_path):
    # over by 1 B with the cycles-only kernel choice (no code traded)
    budget = MemoryBudget(u8_fit.flash_bytes - 1, u8_fit.ram_bytes)
    with pytest.raises(FitError) as e:
        close_allocation(_allocate, _graph, get_platform("stm32h7"), budget, out_dir=tmp_path,
                         max_steps=1, trade=False)
    msg = str(e.value)
    assert "\n" not in msg and "did not fit stm32h7 after 1 steps" in msg and "1 B over" in msg


def _pw_graph(_allocation=None):
    """A first layer, a pointwise layer and an FC head: three DSP variants linked."""
    b = GraphBuilder((16, 16, 3), seed=0)
    y = b.conv(b.conv(b.input, 16, kernel=3), 16, kernel=1)
    return b.build(b.fc(b.avgpool(y), 10, out="s8"))


def test_code_aware_choice_fits_without_shrinking_the_allocation_bit_exact(tmp_path):
    from mixq.deploy import deploy
    from mixq.deploy.fit import link_fit

    # 2,000 B over: the DSP FC's code (the head runs the pointwise kernel already linked, few
    # cycles lost) covers it, so the allocation is kept (one round) and its deployment, built
    # with the same exclusion, fits as measured and is bit-exact
    platform = get_platform("stm32h7")
    full = link_fit(_pw_graph(), tmp_path / "full", platform)
    budget = MemoryBudget(full.flash_bytes - 2_000, full.ram_bytes)
    closed = close_allocation(lambda b: ("u8", 600, 4_864), _pw_graph, platform, budget,
                              out_dir=tmp_path / "fit")
    (step,) = closed.steps  # the model's budget was not tightened
    assert closed.allocation == "u8" and step.fits
    assert [(t.kernel, t.layers) for t in step.trades] == \
        [("mixq_fc_dsp_s8/dsp-fc", (("fc3", "mixq_conv2d_dsp_s8"),))]
    assert step.trades[0].bytes_saved == full.flash_bytes - step.fit.flash_bytes > 2_000
    assert closed.excluded_kernels == {"mixq_fc_dsp_s8/dsp-fc"}
    bound = step.to_json()["trade_bound"]  # ~354 cycles lost, within 10% of the estimate
    assert bound["skipped"] == [] and bound["max_cycles_lost"] == int(0.1 * bound["est_cycles"])
    assert "dropped mixq_fc_dsp_s8/dsp-fc (fc3 -> mixq_conv2d_dsp_s8)" in str(step)
    result = deploy(_pw_graph(), tmp_path / "dep", closed.platform_for(platform), emulate=2,
                    host_check=False)
    assert result.bitexact and result.fit == closed.fit
    assert [layer.kernel for layer in result.layers][-1] == "mixq_conv2d_dsp_s8"


def test_trades_stop_at_the_cycles_bound(tmp_path):
    from mixq.deploy.code_trade import trade_code
    from mixq.deploy.fit import link_fit

    # 1,000 B over: the only trade that saves flash is conv0's window kernel (the FC's needs the
    # conv kernel linked first), ~52% of the model's estimated cycles: over the default 10%
    # bound it is not traded (the round says so, the weights would shrink); unbounded it is
    platform, graph = get_platform("stm32h7"), _graph("u8")
    full = link_fit(graph, tmp_path / "full", platform)
    args = (graph, platform, full, full.flash_bytes - 1_000, full.ram_bytes, tmp_path / "full")
    _, fit, trades, bound = trade_code(*args, tmp_path / "bounded")
    assert trades == () and fit == full
    assert bound.skipped == ("mixq_conv2d_dsp_win_s8/dsp-window",)
    assert bound.max_cycles_lost == int(0.1 * bound.est_cycles) > 0
    _, fit, trades, unbounded = trade_code(*args, tmp_path / "unbounded", max_cycles_lost=1.0)
    assert fit.fits(full.flash_bytes - 1_000, full.ram_bytes) and unbounded.skipped == ()
    assert trades[0].kernel == "mixq_conv2d_dsp_win_s8/dsp-window"
    assert sum(t.cycles_lost for t in trades) > bound.max_cycles_lost
    # in the closing loop: the round reports the bound, and the one-line error names it
    with pytest.raises(FitError) as e:
        close_allocation(lambda b: ("u8", 600, 4_864), _graph, platform,
                         MemoryBudget(full.flash_bytes - 1_000, full.ram_bytes),
                         out_dir=tmp_path / "fit", max_steps=1)
    assert "\n" not in str(e.value) and "not traded (over the" in str(e.value) \
        and "mixq_conv2d_dsp_win_s8/dsp-window" in str(e.value)
