"""Properties of the fake quantizers: codes in range, idempotence, ternary values, STE grads."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixq.nn.quantizers import PACT, WeightQuantizer
from mixq.quant.fake import (
    pact_quantize,
    ternary_codes_and_scale,
    ternary_quantize,
    weight_codes,
)
from mixq.quant.integer import qrange

floats = st.floats(-10, 10, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(st.lists(floats, min_size=1, max_size=64), st.sampled_from([2, 4, 8]),
       st.floats(0.05, 8.0))
def test_pact_codes_in_range_and_idempotent(values, bits, alpha):
    x = torch.tensor(values)
    a = torch.tensor(alpha)
    y = pact_quantize(x, a, bits)
    s = alpha / ((1 << bits) - 1)
    codes = torch.round(y / s)
    assert codes.min() >= 0 and codes.max() <= (1 << bits) - 1
    assert torch.allclose(codes * s, y, atol=1e-5)
    assert torch.allclose(pact_quantize(y, a, bits), y, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(st.lists(floats, min_size=2, max_size=64), st.sampled_from([2, 4, 8]), st.booleans())
def test_weight_quantizer_codes_in_range_and_idempotent(values, bits, per_channel):
    w = torch.tensor(values).reshape(1, -1)
    q = WeightQuantizer(bits, per_channel, 1)
    y = q(w)
    codes, scale = q.codes_and_scale(w)
    lo, hi = qrange(bits, True)
    assert codes.min() >= lo and codes.max() <= hi
    torch.testing.assert_close(codes.double() * scale[:, None], y.double(), rtol=0, atol=1e-5)
    torch.testing.assert_close(q(y), y, rtol=0, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(floats, min_size=2, max_size=64), st.booleans())
def test_ternary_only_three_values(values, per_channel):
    w = torch.tensor(values).reshape(2, -1) if len(values) % 2 == 0 else torch.tensor(values).reshape(1, -1)
    codes, alpha = ternary_codes_and_scale(w, per_channel)
    assert set(codes.unique().tolist()) <= {-1, 0, 1}
    assert bool((alpha > 0).all())
    y = ternary_quantize(w, per_channel)
    assert y.unique().numel() <= (3 * w.shape[0] if per_channel else 3)
    a = alpha[:, None] if per_channel else alpha
    assert torch.equal(y, codes.to(y.dtype) * a)


def test_pact_gradients_follow_the_paper():
    x = torch.tensor([-1.0, 0.5, 2.0, 3.0], requires_grad=True)
    alpha = torch.tensor(2.5, requires_grad=True)
    pact_quantize(x, alpha, 4).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0]  # STE inside (0, alpha)
    assert alpha.grad.item() == 1.0  # only x >= alpha contributes


def test_lsq_scale_gets_gradient_and_weights_pass_through():
    q = WeightQuantizer(4, True, 2)
    w = torch.randn(2, 8, requires_grad=True)
    q(w).pow(2).sum().backward()
    assert q.step.grad is not None and q.step.grad.abs().sum() > 0
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_weight_codes_match_documented_rounding():
    assert weight_codes(torch.tensor([[0.125, 0.375, -9.0]]), torch.tensor([0.25]), 2).tolist() == [[0, 2 - 1, -2]]


def test_pact_module_scale():
    p = PACT(2, alpha=3.0)
    assert abs(p.scale - 1.0) < 1e-7
