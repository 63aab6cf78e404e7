"""The study's network selection: the rule's picks under flash and latency bounds."""

import pytest

from mixq.errors import MixqError
from mixq.platform import get_platform
from mixq.search.memory import MemoryBudget
from mixq.study.select import CandidateSpace, select_networks

SPACE = CandidateSpace(widths=(0.125, 0.25))


def test_latency_bound_leaves_out_the_slower_candidate():
    # 0.25-wide: 237,666 B at 8 bits fits 400,000 B less the reserve, ~2.7 ms on stm32h7
    platform, budget = get_platform("stm32h7"), MemoryBudget(400_000, 512_000)
    bound = select_networks(SPACE, (1, 28, 28), 10, budget, platform=platform, latency_ms=2.0)
    small, large = bound.candidates
    assert large.int8_flash_bytes < 400_000 - 48_000  # fits the memory, not the latency
    assert large.int8_latency_ms > 2.0 >= small.int8_latency_ms
    assert not large.fits_int8 and not large.fits_mixed
    assert bound.chosen.width == bound.baseline.width == 0.125
    assert "2 ms on stm32h7" in bound.rule
    with pytest.raises(MixqError, match="latency bound needs the platform"):
        select_networks(SPACE, (1, 28, 28), 10, budget, latency_ms=2.0)
