"""Capture of standard PyTorch models (issue 10): what is accepted, what is reported, and the
guarantee that shapes, memory and prepare all read the same captured graph."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mixq
from mixq.errors import MixqError
from mixq.ir.capture import input_codes, integer_codes
from mixq.ir.interpret import interpret
from mixq.nn.capture import CaptureError, capture, weight_layer_names
from mixq.nn.layers import ConvBNReLU, LinearReLU
from mixq.search.memory import layer_shapes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from user_models import USER_MODELS, build_user_model, mixed_allocation  # noqa: E402

CAPTURED = ["mobilenetv2", "resnet8", "dscnn", "poolcat"]


def _weights(model):
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@pytest.mark.parametrize("name", CAPTURED)
def test_user_model_captured_whole_and_equal(name):
    model, x = build_user_model(name, 4)
    gm = capture(model, x)  # capture() itself asserts gm(x) == model(x) in eval mode
    assert len(weight_layer_names(gm)) == len(_weights(model))
    model.eval()
    torch.testing.assert_close(gm.eval()(x), model(x), rtol=1e-4, atol=1e-5)


def test_memory_model_counts_every_weight():
    """The issue's 45k-parameter net that layer_shapes reported as its final Linear only."""
    ctor, shape = USER_MODELS["resnet8"]
    model = ctor()
    shapes = layer_shapes(model, shape)
    want = sum(m.weight.numel() for m in _weights(model))
    assert sum(s.weight_count for s in shapes) == want > 40_000
    assert [s.kind for s in shapes][:3] == ["conv", "conv", "conv"] and shapes[-1].kind == "fc"


class _Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.GELU()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.act(self.conv(x))
        y = y.transpose(2, 3)
        y = torch.sigmoid(y).mean((2, 3))
        return self.fc(y)


def test_one_error_lists_every_unsupported_node_with_its_line():
    with pytest.raises(CaptureError) as e:
        capture(_Unsupported(), torch.rand(1, 3, 8, 8))
    msg = str(e.value)
    assert "\n" not in msg and "3 unsupported operations" in msg
    for what in ("act: nn.GELU", "Tensor.transpose", "torch.sigmoid"):
        assert what in msg
    assert msg.count("test_nn_capture.py:") == 3


def test_activations_and_flatten_forms():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(2, 4, 3, padding="same")
            self.c2 = nn.Conv2d(4, 4, (3, 1), stride=(2, 1), padding=(1, 0), groups=4)
            self.c3 = nn.Conv2d(4, 6, 1)
            self.h = nn.Hardtanh(0.0, 3.0)
            self.fc1 = nn.Linear(6 * 4 * 8, 5)
            self.fc2 = nn.Linear(5, 3)

        def forward(self, x):
            x = F.relu6(self.c1(x))
            x = torch.clamp(self.c2(x), 0, 4.0)
            x = self.h(self.c3(x))
            x = x.reshape(x.shape[0], -1)
            return self.fc2(F.relu(self.fc1(x)))

    gm = capture(Net(), torch.rand(2, 2, 8, 8))
    blocks = {n: gm.get_submodule(n) for n in weight_layer_names(gm)}
    assert [b.clip_max for b in blocks.values() if isinstance(b, ConvBNReLU)] == [6.0, 4.0, 3.0]
    assert isinstance(blocks["fc1"], LinearReLU) and not isinstance(blocks["fc2"], LinearReLU)


def test_input_normalization_folded_and_range_reported():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3)).eval()
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    x = torch.rand(8, 3, 8, 8)
    gm = capture(model, x, input_mean=mean, input_std=std).eval()
    normalized = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(gm(x), model(normalized), rtol=1e-4, atol=1e-4)
    with pytest.raises(MixqError, match="input_mean=, input_std="):
        mixq.prepare(model, 8, calibration=normalized)
    qat = mixq.prepare(model, 8, calibration=x, input_mean=mean, input_std=std).eval()
    assert (qat(x).argmax(1) == model(normalized).argmax(1)).float().mean() >= 0.75


def test_own_state_dict_then_prepare(tmp_path):
    ctor, shape = USER_MODELS["resnet8"]
    torch.manual_seed(1)
    trained = ctor()
    torch.save(trained.state_dict(), tmp_path / "w.pt")
    model = ctor()
    model.load_state_dict(torch.load(tmp_path / "w.pt"))
    x = torch.rand(16, *shape)
    qat = mixq.prepare(model, 8, example_input=x[:1], calibration=x).eval()
    with torch.no_grad():
        ref = trained.eval()(x)
        assert (qat(x).argmax(1) == ref.argmax(1)).float().mean() >= 0.75


def test_allocation_must_match_captured_layers():
    ctor, shape = USER_MODELS["dscnn"]
    model = ctor()
    alloc = mixq.BitAllocation.uniform([("conv.0", "conv"), ("fc", "fc")], 8)
    with pytest.raises(MixqError, match="missing"):
        mixq.prepare(model, alloc, example_input=torch.rand(1, *shape))


@pytest.mark.parametrize("name", CAPTURED)
def test_integer_mode_equals_interpret_uniform_and_mixed(name):
    model, x = build_user_model(name, 8)
    mixed = mixed_allocation(model, x[:1])
    assert len({l.w_bits for l in mixed.layers}) > 1
    for bits in (8, mixed):
        qat = mixq.prepare(model, bits, example_input=x[:1], calibration=x).eval()
        graph = mixq.integerize(qat)
        np.testing.assert_array_equal(interpret(graph, input_codes(qat, x)),
                                      integer_codes(qat, x))


def test_pools_and_concat_are_captured():
    model, x = build_user_model("poolcat", 2)
    gm = capture(model, x)  # capture() asserts gm == model (eval mode)
    kinds = [type(gm.get_submodule(n.target)).__name__ for n in gm.graph.nodes
             if n.op == "call_module"]
    assert kinds == ["ConvBNReLU", "Pool2d", "ConvBNReLU", "ConvBNReLU", "Concat", "Pool2d",
                     "Flatten", "Linear"]


class _BadPools(nn.Module):
    def __init__(self):
        super().__init__()
        self.avg = nn.AvgPool2d(3, 2, ceil_mode=True)
        self.max = nn.MaxPool2d(2, dilation=2)

    def forward(self, x):
        return torch.cat([self.avg(x), self.max(x)], dim=2)


def test_unsupported_pools_and_concat_reported_together():
    with pytest.raises(CaptureError) as e:
        capture(_BadPools(), torch.rand(1, 2, 9, 9))
    msg = str(e.value)
    assert "3 unsupported operations" in msg
    for what in ("avg: nn.AvgPool2d (ceil_mode", "max: nn.MaxPool2d (dilation",
                 "torch.cat (only a concat along channels"):
        assert what in msg


class _LeNet(nn.Module):
    """PyTorch's MNIST-tutorial style: the ReLU after the max pool."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 4, 5), nn.Conv2d(4, 6, 3)
        self.fc = nn.Linear(6 * 2 * 2, 3)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = torch.clamp(F.max_pool2d(self.conv2(x), 2), 0, 6)
        return self.fc(torch.flatten(x, 1))


def test_activation_after_max_pool_moves_onto_the_conv():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 16, 16)
    gm = capture(_LeNet(), x)  # compared with the model inside
    assert [gm.get_submodule(n).relu for n in ("conv1", "conv2")] == [True, True]
    assert gm.get_submodule("conv2").clip_max == 6.0
    qat = mixq.prepare(_LeNet(), 8, example_input=x[:1], calibration=x).eval()
    np.testing.assert_array_equal(interpret(mixq.integerize(qat), input_codes(qat, x)),
                                  integer_codes(qat, x))


def test_ceil_mode_max_pool_and_uneven_padding():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1, ceil_mode=True),
                          nn.AvgPool2d((3, 2), (1, 2), (1, 0), count_include_pad=False))
    gm = capture(model, torch.rand(2, 3, 10, 9))  # compared with the model inside
    assert gm.get_submodule("2").padding == (1, 2, 1, 1)


def test_zero_pad_and_batchnorm1d_are_folded():
    torch.manual_seed(0)
    model = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(2, 4, 3, 2), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 6), nn.BatchNorm1d(6), nn.ReLU(),
                          nn.Linear(6, 2))
    model[5].running_mean.uniform_(-1, 1)
    gm = capture(model, torch.rand(3, 2, 8, 8))  # capture() asserts gm == model (eval mode)
    assert gm.get_submodule("1").pads(8, 8) == (0, 1, 0, 1)
    assert isinstance(gm.get_submodule("4"), LinearReLU)
