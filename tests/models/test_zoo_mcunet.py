"""MCUNet zoo (issue 10): each released variant has the published MACs and parameters, the zoo
catalogue names every zoo model with its budget, unreleased variants are refused with the reason."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mixq.errors import MixqError
from mixq.models import get_model
from mixq.models.zoo import ZOO, ZooFamily, zoo_candidates, zoo_entry, zoo_names


def _macs(model) -> int:
    """Multiply-accumulates of one inference, counted on an eval forward (cheaper than a capture)."""
    total = []

    def count(m, _, out):
        k = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1] \
            if isinstance(m, nn.Conv2d) else m.in_features
        total.append(out[0].numel() * k)

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(count)
    with torch.no_grad():
        model.eval()(torch.zeros(1, *model.input_shape))
    return sum(total)

# mit-han-lab/mcunet README (model list, MACs and #Params, rounded as published there)
PUBLISHED = {"mcunet-in0": (6.4, 0.75), "mcunet-in1": (12.8, 0.64), "mcunet-in2": (67.3, 0.73),
             "mcunet-in3": (81.8, 0.74), "mcunet-in4": (125.9, 1.73),
             "mcunet-vww1": (11.6, 0.43)}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_mcunet_macs_and_params_match_the_published_table(name):
    model = get_model(name)
    macs = _macs(model)
    params = sum(p.numel() for p in model.parameters())
    assert (round(macs / 1e6, 1), round(params / 1e6, 2)) == PUBLISHED[name]
    # TinyNAS' per-block kernel choices: depthwise 3x3, 5x5 and 7x7 in every variant
    kernels = {m.kernel_size for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1}
    assert kernels == {(3, 3), (5, 5), (7, 7)}


@pytest.mark.parametrize("name", ["mcunet-vww0", "mcunet-vww2", "mcunet-kws"])
def test_unreleased_mcunet_variants_are_refused_with_the_reason(name):
    with pytest.raises(MixqError, match=f"unknown model '{name}' \\(published, but .*\\); "
                                        "known models: .*mcunet-in0"):
        get_model(name)


def test_zoo_catalogue_lists_every_zoo_model_with_a_budget_and_builds_it():
    assert len(set(zoo_names())) == len(ZOO) == 11
    e = zoo_entry("mcunet-in2")
    assert (e.family, e.task, e.resolution, e.flash_bytes, e.ram_bytes, e.target) == (
        ZooFamily.MCUNET, "imagenet", 160, 1_024_000, 256_000, "stm32f746")
    assert zoo_entry("mcunet-vww1").build()(torch.zeros(1, 3, 80, 80)).shape == (1, 2)
    with pytest.raises(MixqError, match="unknown zoo model 'x'; zoo models: mcunet-in0, "):
        zoo_entry("x")


def test_zoo_candidates_by_family_carry_width_and_resolution():
    mbv2 = zoo_candidates(ZooFamily.MOBILENET_V2)
    assert {(c.width, c.resolution) for c in mbv2} >= {(0.35, 96), (1.0, 224)}
    small = next(c for c in mbv2 if (c.width, c.resolution) == (0.35, 96))
    assert small.build().input_shape == (3, 96, 96)
    assert [c.name for c in zoo_candidates("mlperf-tiny")][0] == "mlperf_kws_dscnn"
    assert len(zoo_candidates()) == len(ZOO) - 1 + len(mbv2)
    with pytest.raises(ValueError):
        zoo_candidates("vgg")
