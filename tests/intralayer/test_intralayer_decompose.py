"""The dense ternary + sparse int8 decomposition and its QAT quantizer."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixq.nn.intralayer import SparseTernaryQuantizer, decompose, dense_sparse_quantize
from mixq.quant.fake import ternary_codes_and_scale, ternary_quantize


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(1, 40), st.floats(0.0, 0.5), st.booleans(),
       st.integers(0, 2**16))
def test_decomposition_invariants(c_out, fan_in, density, per_channel, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn((c_out, fan_in), generator=g) * torch.rand((c_out, 1), generator=g)
    w[0, 0] = 6.0  # a clear outlier
    mask = torch.rand((c_out, fan_in), generator=g) < density
    d = decompose(w, mask, per_channel)
    assert set(d.ternary.unique().tolist()) <= {-1, 0, 1}
    assert not (d.ternary[mask] != 0).any() and not (d.sparse[~mask] != 0).any()
    assert d.sparse.min() >= -128 and d.sparse.max() <= 127
    assert d.dense_scale.min() >= 1 and d.dense_scale.max() <= 127
    torch.testing.assert_close(d.alpha, d.dense_scale.to(d.step.dtype) * d.step)
    # outliers inside the int8 range of the step are represented within half a step
    step = d.step[:, None].expand_as(w)
    inside = mask & (w.abs() <= 127 * step)
    assert ((w - d.sparse * step).abs()[inside] <= 0.5 * step[inside] + 1e-6).all()


def test_an_outlier_beyond_127_alpha_is_not_clipped_when_raising_alpha_is_better():
    w = torch.tensor([[0.01, -0.01, 0.01, 0.01, 100.0]])
    d = decompose(w, torch.tensor([[False] * 4 + [True]]))
    assert d.dense_scale.tolist() == [1] and d.sparse.tolist() == [[0, 0, 0, 0, 127]]
    torch.testing.assert_close(d.alpha, torch.tensor([100.0 / 127]))


def test_density_zero_is_exactly_twn():
    g = torch.Generator().manual_seed(3)
    for per_channel in (True, False):
        w = torch.randn((8, 4, 3, 3), generator=g, requires_grad=True)
        empty = torch.zeros(w.shape, dtype=torch.bool)
        assert torch.equal(dense_sparse_quantize(w, empty, per_channel),
                           ternary_quantize(w, per_channel))
        q = SparseTernaryQuantizer(w.shape, per_channel)
        codes, scale = q.codes_and_scale(w)
        twn_codes, twn_alpha = ternary_codes_and_scale(w, per_channel)
        assert torch.equal(codes, twn_codes)
        assert torch.equal(scale, twn_alpha.double().expand(8))


def test_outliers_reduce_the_error_and_pass_gradients_straight_through():
    g = torch.Generator().manual_seed(1)
    w = torch.randn((4, 64), generator=g)
    w[:, :3] *= 8  # heavy tails
    mask = torch.zeros_like(w, dtype=torch.bool)
    mask[:, :3] = True
    wq = w.clone().requires_grad_(True)
    q = dense_sparse_quantize(wq, mask)
    assert ((q - w) ** 2).sum() < 0.5 * ((ternary_quantize(w, True) - w) ** 2).sum()
    (q * torch.arange(w.numel()).reshape(w.shape)).sum().backward()
    assert torch.equal(wq.grad, torch.arange(w.numel()).reshape(w.shape).float())


def test_combined_codes_are_k_times_t_plus_s():
    g = torch.Generator().manual_seed(2)
    w = torch.randn((3, 16), generator=g)
    q = SparseTernaryQuantizer(w.shape)
    mask = np.zeros(w.shape, bool)
    mask[:, 5] = True
    q.set_mask(mask)
    codes, step = q.codes_and_scale(w)
    d = q.decompose(w)
    assert torch.equal(codes, d.ternary * d.dense_scale[:, None] + d.sparse)
    torch.testing.assert_close(codes * step[:, None], (d.ternary * d.alpha[:, None]
                                                       + d.sparse * d.step[:, None]).double())
