"""Sensitivity estimates: Hutchinson trace vs the exact Hessian, ordering by bits, side effects."""

import pytest
import torch
from torch import nn

from mixq.errors import MixqError
from mixq.models import get_model
from mixq.search.sensitivity import (estimate_sensitivity, quantized_activation,
                                     quantized_weight)


def linear_model():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    m.input_shape = (1, 4, 4)
    return m


def test_hutchinson_trace_matches_the_exact_hessian():
    m = linear_model()
    x, y = torch.rand(64, 1, 4, 4), torch.randint(0, 3, (64,))
    w = m[1].weight

    def loss_of(weight):
        logits = x.flatten(1) @ weight.T + m[1].bias
        return nn.functional.cross_entropy(logits, y)

    exact = torch.autograd.functional.hessian(loss_of, w.detach()).reshape(48, 48).trace()
    s = estimate_sensitivity(m, x, y, probes=400, batch_size=64)
    assert s[0].trace * w.numel() == pytest.approx(float(exact), rel=0.1)


def test_costs_grow_as_bits_drop_and_model_is_untouched():
    m = get_model("demo_net", width=0.25)
    m.train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x, y = torch.rand(32, 1, 16, 16), torch.arange(32) % 10
    for estimator in ("hutchinson", "fisher"):
        s = estimate_sensitivity(m, x, y, estimator=estimator, probes=2, batch_size=16)
        assert [l.name for l in s] == ["conv0", "dw1", "pw1", "dw2", "pw2", "dw3", "pw3", "fc"]
        for layer in s:
            assert layer.weight_cost[2] >= layer.weight_cost[4] >= layer.weight_cost[8] >= 0
            assert layer.act_cost[2] >= layer.act_cost[4] >= layer.act_cost[8] >= 0
    assert m.training
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert all(p.grad is None for p in m.parameters())


def test_deterministic_for_a_seed():
    m = get_model("demo_net", width=0.25)
    x, y = torch.rand(16, 1, 16, 16), torch.arange(16) % 10
    a = estimate_sensitivity(m, x, y, probes=2, seed=3)
    b = estimate_sensitivity(m, x, y, probes=2, seed=3)
    assert [l.to_dict() for l in a] == [l.to_dict() for l in b]


def test_quantizers_and_errors():
    w = torch.randn(4, 3, 3, 3)
    errs = [float(((quantized_weight(w, b, True) - w) ** 2).sum()) for b in (8, 4, 2)]
    assert errs[0] < errs[1] < errs[2]
    a = torch.relu(torch.randn(1000))
    assert (quantized_activation(a, 4, False) >= 0).all()
    m = get_model("demo_net", width=0.25)
    with pytest.raises(MixqError, match="estimator"):
        estimate_sensitivity(m, torch.rand(2, 1, 16, 16), torch.zeros(2, dtype=torch.long),
                             estimator="magic")
    with pytest.raises(MixqError, match="non-empty"):
        estimate_sensitivity(m, torch.rand(0, 1, 16, 16), torch.zeros(0, dtype=torch.long))
