import io

import pytest
import torch
from torch import nn

from mixq.data import Augment, DatasetSplits, synthetic
from mixq.errors import MixqError
from mixq.train import TrainConfig, evaluate, lr_factor, make_optimizer, train
from mixq.train.progress import Progress


def small_net(seed=0, classes=4):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.1),
        nn.Flatten(), nn.Linear(4 * 8 * 8, classes))


@pytest.fixture(scope="module")
def data():
    base = synthetic(320, (1, 8, 8), num_classes=4, seed=0)
    # With augmentation, so the run exercises the seeded augmentation path too.
    return DatasetSplits(base.train, base.test, base.num_classes, base.input_shape,
                         augment=Augment(max_shift=0.1, max_rotation_deg=5), name="synthetic")


CFG = TrainConfig(epochs=3, batch_size=32, lr=1e-2, warmup_epochs=0.5, seed=1)


def test_train_learns_and_reports_history(data):
    model = small_net()
    result = train(model, data, CFG, progress=False)
    assert result.top1 > 0.9 and result.start_epoch == 0
    assert [h.epoch for h in result.history] == [0, 1, 2]
    assert result.history[-1].test_top1 == result.top1
    assert result.history[-1].loss < result.history[0].loss
    assert result.top1 == evaluate(model, data.test)
    assert model.training


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_same_seed_same_weights(data, optimizer):
    cfg = TrainConfig(epochs=2, batch_size=32, lr=1e-2, optimizer=optimizer, seed=3,
                      label_smoothing=0.1, grad_clip_norm=1.0)
    a, b = small_net(), small_net()
    train(a, data, cfg, progress=False)
    torch.manual_seed(123)  # global RNG state before the call must not matter
    train(b, data, cfg, progress=False)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    c = small_net()
    train(c, data, TrainConfig(**{**cfg.to_dict(), "seed": 4}), progress=False)
    assert not torch.equal(c.state_dict()["5.weight"], sa["5.weight"])


def test_on_epoch_end_called_in_order_and_mode_kept(data):
    calls = []

    def hook(epoch, model):
        calls.append(epoch)
        if epoch == 0:
            model[1].eval()  # e.g. QAT freezing BatchNorm statistics

    model = small_net()
    train(model, data, CFG, progress=False, on_epoch_end=hook)
    assert calls == [0, 1, 2]
    # evaluate() after each epoch restored the per-module flags: BN stays frozen.
    assert model.training and not model[1].training


def test_evaluate_restores_modes():
    model = small_net().train()
    model[1].eval()
    s = synthetic(40, (1, 8, 8), seed=2).test
    acc = evaluate(model, s, batch_size=3)
    assert 0.0 <= acc <= 1.0
    assert [m.training for m in model.modules()] == [True, True, False, True, True, True, True]
    model.eval()
    evaluate(model, s)
    assert not any(m.training for m in model.modules())
    with pytest.raises(MixqError, match="empty"):
        evaluate(model, s.__class__(s.x[:0], s.y[:0]))


def test_non_finite_loss_is_a_clear_error(data):
    class Exploding(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return torch.full((x.shape[0], 4), float("nan")) * self.w

    with pytest.raises(MixqError, match="loss became nan in epoch 1; lower the learning rate"):
        train(Exploding(), data, CFG, progress=False)


def test_zero_epochs_just_evaluates(data):
    model = small_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(model, data, TrainConfig(epochs=0), progress=False)
    assert result.history == () and result.top1 == evaluate(model, data.test)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_config_validation():
    for kwargs, match in [({"epochs": -1}, "epochs"), ({"lr": 0}, "lr"),
                          ({"schedule": "step"}, "schedule"),
                          ({"label_smoothing": 1.0}, "label_smoothing"),
                          ({"grad_clip_norm": 0.0}, "grad_clip_norm"),
                          ({"batch_size": 0}, "batch_size")]:
        with pytest.raises(MixqError, match=match):
            TrainConfig(**kwargs)


def test_lr_schedule_shape():
    cfg = TrainConfig(min_lr_ratio=0.1)
    factors = [lr_factor(s, 100, 10, cfg) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert lr_factor(100, 100, 10, cfg) == pytest.approx(0.1)
    const = TrainConfig(schedule="constant")
    assert lr_factor(50, 100, 0, const) == 1.0


def test_weight_decay_skips_biases_and_bn():
    model = small_net()
    opt = make_optimizer(model, TrainConfig(weight_decay=0.5))
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert decayed == {id(model[0].weight), id(model[5].weight)}


def test_progress_lines_when_not_a_tty(data):
    stream = io.StringIO()
    bar = Progress(True, "float", epochs=2, steps_per_epoch=3, stream=stream)
    for _ in range(3):
        bar.step(0.5, 0.25)
    bar.epoch(0, 0.5, 0.25, 0.75, 1e-3)
    bar.close()
    assert stream.getvalue() == "float: epoch 1/2 loss 0.5000 train 25.0% test 75.0% lr 1.00e-03\n"
    quiet = io.StringIO()
    Progress(False, "x", 1, 1, stream=quiet).epoch(0, 1, 1, 1, 1)
    assert quiet.getvalue() == ""


def test_progress_bar_on_a_tty():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    bar = Progress(True, "qat", epochs=1, steps_per_epoch=20, stream=stream)
    for _ in range(20):
        bar.step(0.5, 0.5)
    bar.epoch(0, 0.5, 0.5, 0.6, 1e-3)
    bar.close()
    out = stream.getvalue()
    assert "qat" in out and "20/20" in out and "test=60.0%" in out
