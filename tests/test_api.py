"""mixq.allocate closed on a target's linked build (issue 14)."""

import pytest
import torch
from torch import nn

import mixq
from mixq.api import allocate_on_target
from mixq.deploy.fit import link_fit
from mixq.platform import get_platform

pytestmark = pytest.mark.cross

BUDGET = dict(flash_bytes=24_000, ram_bytes=5_000)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)).eval()


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    x = torch.rand(1, 1, 16, 16)
    return x, allocate_on_target(_net(), example_input=x, target="stm32h7",
                                 out_dir=tmp_path_factory.mktemp("fit"), **BUDGET)


def test_the_memory_model_alone_is_over_once_linked(closed):
    x, c = closed
    paper = mixq.allocate(_net(), example_input=x, **BUDGET)  # the paper's memory model only
    first = c.steps[0]
    assert paper == mixq.allocate(_net(), example_input=x, **BUDGET)
    assert first.model_ram_bytes <= BUDGET["ram_bytes"] < first.fit.ram_bytes  # arena+stack+io
    assert len(c.steps) >= 2 and c.allocation != paper


def test_closed_allocation_fits_when_built_again(closed, tmp_path):
    x, c = closed
    qat = mixq.prepare(_net(), c.allocation, example_input=x)
    fit = link_fit(mixq.integerize(qat.eval()), tmp_path, get_platform("stm32h7"))
    assert fit == c.fit and fit.fits(**BUDGET)
