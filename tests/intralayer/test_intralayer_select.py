"""Outlier criteria, the diagonal Fisher, the re-selection schedule and a short QAT run."""

import torch
from torch import nn

from mixq.data import synthetic
from mixq.intralayer.qat import (IntraLayerConfig, cost_summary, intralayer_allocation,
                                 prepare_intralayer, train_intralayer)
from mixq.intralayer.select import (OutlierSchedule, fisher_diagonal, outlier_scores,
                                    select_outliers)
from mixq.models import get_model
from mixq.nn.intralayer import dense_sparse_layers
from mixq.nn.layers import ConvBNReLU, GlobalAvgPool
from mixq.train import TrainConfig

DATA = synthetic(192, (1, 8, 8), num_classes=3, seed=0)


def _net():
    torch.manual_seed(0)
    net = nn.Sequential(ConvBNReLU(1, 8, 3), ConvBNReLU(8, 16, 1), ConvBNReLU(16, 16, 3),
                        GlobalAvgPool(), nn.Flatten(), nn.Linear(16, 3))
    net.input_shape = (1, 8, 8)
    return net


def test_edges_stay_8bit_and_the_middle_is_dense_sparse():
    qat = prepare_intralayer(_net(), IntraLayerConfig(), DATA.train.x[:32])
    assert list(dense_sparse_layers(qat)) == ["1", "2"]
    alloc, names = intralayer_allocation([("a", "conv"), ("b", "pw"), ("c", "fc")],
                                         IntraLayerConfig(edge_bits=None))
    assert names == ["a", "b", "c"] and all(l.ternary for l in alloc.layers)


def test_fisher_weights_the_error_by_squared_gradients():
    qat = prepare_intralayer(_net(), IntraLayerConfig(), DATA.train.x[:32])
    fisher = fisher_diagonal(qat, DATA.train, num_batches=2, batch_size=32)
    assert set(fisher) == {"1", "2"}
    assert all((f >= 0).all() and f.shape == qat.gm.get_submodule(n).weight.shape
               for n, f in fisher.items())
    assert all(p.grad is None for p in qat.parameters())  # .grad fields untouched
    mag = outlier_scores(qat, "magnitude")
    fis = outlier_scores(qat, "fisher", fisher)
    torch.testing.assert_close(fis["1"], mag["1"] ** 2 * fisher["1"])
    counts = select_outliers(qat, 0.05, "fisher", fisher)
    layer = qat.gm.get_submodule("1")
    chosen = fis["1"][layer.wq.mask]
    assert counts["1"] == round(0.05 * layer.weight.numel()) == chosen.numel()
    assert chosen.min() >= fis["1"][~layer.wq.mask].max()


def test_schedule_reselects_then_freezes():
    qat = prepare_intralayer(_net(), IntraLayerConfig(), DATA.train.x[:32])
    sched = OutlierSchedule(0.05, "magnitude", epochs=5, data_split=None, every=1,
                            freeze_last=2)
    sched.select(qat, 0)
    layer = qat.gm.get_submodule("2")
    masks = [layer.wq.mask.clone()]
    for epoch in range(4):  # after epochs 0..3; the run has 5 epochs
        with torch.no_grad():
            layer.weight.copy_(torch.randn(layer.weight.shape))  # new weights, new outliers
        sched(epoch, qat)
        masks.append(layer.wq.mask.clone())
    # re-selected before epochs 1 and 2; epochs 3 and 4 (the last two) keep that mask
    assert sched.selections == 3
    assert not torch.equal(masks[0], masks[1]) and not torch.equal(masks[1], masks[2])
    assert torch.equal(masks[2], masks[3]) and torch.equal(masks[3], masks[4])


def test_short_qat_run_trains_and_costs():
    cfg = IntraLayerConfig(density=0.05, structure="1:8", criterion="fisher", freeze_last=1,
                           fisher_batches=1)
    model = get_model("demo_net", num_classes=3, width=0.25, resolution=8)
    qat, result = train_intralayer(model, DATA, cfg, TrainConfig(epochs=2, batch_size=32))
    assert len(result.history) == 2 and not qat.training
    cost = cost_summary(qat)
    assert 0 < cost["achieved_density"] <= 0.125
    assert cost["bits_per_weight_dense_sparse"] < cost["bits_per_weight"]
    assert cost["value_bits"] + cost["scale_bits"] + cost["index_bits"] == \
        round(cost["bits_per_weight"] * cost["weights"])


def test_refit_criterion_scores_against_the_scale_left_after_the_outliers():
    """'refit' re-scores against TWN refitted off the first mask: on heavy-tailed rows its
    selection leaves a smaller ternary error on the weights kept ternary than 'magnitude'."""
    import torch

    from mixq.intralayer.select import refit_error, ternary_error

    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 64, generator=g) * torch.where(torch.rand(8, 64, generator=g) < 0.05,
                                                      6.0, 1.0)

    def top(score, k=3):
        m = torch.zeros_like(w, dtype=torch.bool)
        return m.scatter_(1, score.abs().topk(k, dim=1).indices, True)

    mag = top(ternary_error(w))
    ref = top(refit_error(w, mag))

    def kept_error(m):
        return float((refit_error(w, m) ** 2 * ~m).sum())

    assert kept_error(ref) < kept_error(mag)
    assert torch.equal(refit_error(w, torch.zeros_like(mag)), ternary_error(w))
