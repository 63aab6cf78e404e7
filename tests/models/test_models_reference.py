"""Reference networks: exact TF-slim MobileNetV1 shapes and counts, MLPerf Tiny shapes, registry."""

import pytest
import torch
from torch import nn

from mixq.errors import MixqError
from mixq.models import (MODELS, demo_net, ds_cnn, get_model, mobilenet_v1, resnet8,
                         trace_weight_layers, weight_layers)
from mixq.nn.layers import LEAF_FLOAT_BLOCKS, ConvBNReLU

MBV1_KINDS = ["conv"] + ["dw", "pw"] * 13 + ["fc"]


def _shapes(model):
    return [(c.name, c.in_shape, c.out_shape) for c in trace_weight_layers(model)]


def test_mobilenet_v1_parameter_count_matches_tf_slim():
    m = mobilenet_v1(1.0, 224, 1000)
    convs = [mod.conv for mod in m.modules() if isinstance(mod, ConvBNReLU)]
    # TF-slim's mobilenet_v1.py table: 3,185,088 conv weights for the 1.0 body.
    assert sum(c.weight.numel() for c in convs) == 3_185_088
    # FC 1024 -> 1000: 1,024,000 weights + 1,000 bias -> 4,209,088 weights in all.
    assert m.fc.weight.numel() == 1_024_000 and m.fc.bias.numel() == 1000
    # BN channels: conv0 32 + each block's dw (C_in) and pw (C_out) = 10,944; gamma + beta each.
    bn_channels = sum(mod.bn.num_features for mod in m.modules() if isinstance(mod, ConvBNReLU))
    assert bn_channels == 10_944
    # Trainable total 3,185,088 + 1,024,000 + 1,000 + 2 * 10,944 = 4,231,976, the well-known
    # MobileNet 1.0/224 count (Keras reports the same trainable parameters).
    assert sum(p.numel() for p in m.parameters()) == 4_231_976


def test_mobilenet_v1_075_128_body_params_match_tf_slim_table():
    m = mobilenet_v1(0.75, 128, 1000)
    convs = [mod.conv for mod in m.modules() if isinstance(mod, ConvBNReLU)]
    assert sum(c.weight.numel() for c in convs) == 1_800_144  # TF-slim 75% / 128 table


def test_mobilenet_v1_has_28_weight_layers_in_tf_slim_order():
    layers = weight_layers(mobilenet_v1(0.25, 128, 10))
    assert [k for _, k in layers] == MBV1_KINDS
    assert [n for n, _ in layers] == (["conv0"] + [f"{t}{i}" for i in range(1, 14)
                                                   for t in ("dw", "pw")] + ["fc"])


def test_mobilenet_v1_075_224_layer_shapes():
    # int(0.75 * c): 24, then pw 48, 96, 96, 192, 192, 384 x 6, 768, 768; SAME padding halves
    # the map at stride 2: 224 -> 112 (conv0), 56 (dw2), 28 (dw4), 14 (dw6), 7 (dw12).
    shapes = _shapes(mobilenet_v1(0.75, 224, 1000))
    assert shapes[0] == ("conv0", (3, 224, 224), (24, 112, 112))
    assert shapes[1] == ("dw1", (24, 112, 112), (24, 112, 112))
    assert shapes[2] == ("pw1", (24, 112, 112), (48, 112, 112))
    assert shapes[3] == ("dw2", (48, 112, 112), (48, 56, 56))
    assert shapes[4] == ("pw2", (48, 56, 56), (96, 56, 56))
    assert shapes[7] == ("dw4", (96, 56, 56), (96, 28, 28))
    assert shapes[11] == ("dw6", (192, 28, 28), (192, 14, 14))
    assert shapes[12] == ("pw6", (192, 14, 14), (384, 14, 14))
    assert shapes[23] == ("dw12", (384, 14, 14), (384, 7, 7))
    assert shapes[24] == ("pw12", (384, 7, 7), (768, 7, 7))
    assert shapes[26] == ("pw13", (768, 7, 7), (768, 7, 7))
    assert shapes[27] == ("fc", (768,), (1000,))


def test_mobilenet_v1_025_128_layer_shapes():
    shapes = _shapes(mobilenet_v1(0.25, 128, 1000))
    pw_out = [s[2] for s in shapes if s[0].startswith("pw")]
    assert shapes[0] == ("conv0", (3, 128, 128), (8, 64, 64))
    assert pw_out == [(16, 64, 64), (32, 32, 32), (32, 32, 32), (64, 16, 16), (64, 16, 16),
                      *[(128, 8, 8)] * 6, (256, 4, 4), (256, 4, 4)]
    assert shapes[-1] == ("fc", (256,), (1000,))


def test_mobilenet_v1_output_shape_and_recorded_input_shape():
    m = mobilenet_v1(0.5, 160, 7)
    assert m.input_shape == (3, 160, 160)
    assert m(torch.zeros(2, 3, 160, 160)).shape == (2, 7)


def test_mobilenet_v1_same_padding_on_odd_sizes():
    # TF SAME: out = ceil(in / stride), so a 97 input gives 49 (conv0) -> 25 (dw2) -> 13 (dw4)
    # -> 7 (dw6) -> 4 (dw12).
    shapes = _shapes(mobilenet_v1(0.25, 97, 10))
    assert shapes[0][2][1:] == (49, 49)
    assert shapes[23][2][1:] == (4, 4)


def test_min_depth_as_tf_slim():
    # TF-slim keeps at least 8 channels: int(0.1 * 32) = 3 -> 8.
    assert mobilenet_v1(0.1, 32, 10).conv0.conv.out_channels == 8


def _assert_only_known_blocks(model):
    def walk(module):
        for child in module.children():
            if isinstance(child, LEAF_FLOAT_BLOCKS):
                continue
            assert not list(child.parameters(recurse=False)), type(child).__name__
            assert not isinstance(child, (nn.Conv2d, nn.BatchNorm2d, nn.ReLU))
            walk(child)
    walk(model)


BLOCK_MODELS = ("demo_net", "ds_cnn", "mobilenet_v1", "resnet8")  # the others are plain PyTorch


@pytest.mark.parametrize("name", BLOCK_MODELS)
def test_models_use_only_quantizable_blocks_and_record_input_shape(name):
    model = get_model(name)
    _assert_only_known_blocks(model)
    assert model(torch.zeros(1, *model.input_shape)).shape[0] == 1


def test_demo_net_shapes_and_width():
    shapes = _shapes(demo_net())
    assert [s[2] for s in shapes] == [(16, 16, 16), (16, 16, 16), (32, 16, 16), (32, 8, 8),
                                      (64, 8, 8), (64, 8, 8), (64, 8, 8), (10,)]
    narrow = demo_net(width=0.5)
    assert sum(p.numel() for p in narrow.parameters()) < sum(
        p.numel() for p in demo_net().parameters()) / 3


def test_ds_cnn_shapes():
    shapes = _shapes(ds_cnn())
    assert shapes[0] == ("conv0", (1, 49, 10), (64, 25, 5))
    assert [k for _, k in weight_layers(ds_cnn())] == ["conv"] + ["dw", "pw"] * 4 + ["fc"]
    assert shapes[-1] == ("fc", (64,), (12,))


def test_resnet8_shapes_and_execution_order():
    layers = _shapes(resnet8())
    assert [n for n, _, _ in layers] == [
        "conv0", "stack1.conv1", "stack1.conv2",
        "stack2.conv1", "stack2.conv2", "stack2.shortcut",
        "stack3.conv1", "stack3.conv2", "stack3.shortcut", "fc"]
    assert layers[5] == ("stack2.shortcut", (16, 32, 32), (32, 16, 16))
    assert layers[8] == ("stack3.shortcut", (32, 16, 16), (64, 8, 8))
    assert resnet8().stack2.conv2.relu is False and resnet8().stack2.shortcut.relu is False
    # MLPerf Tiny ResNet-8 weights: 432 + 2*2304 + (4608 + 9216 + 512) + (18432 + 36864 + 2048)
    # + 640 = 77,360 conv/fc weights.
    m = resnet8()
    weights = sum(mod.conv.weight.numel() for mod in m.modules() if isinstance(mod, ConvBNReLU))
    assert weights + m.fc.weight.numel() == 77_360


def test_weight_layers_follow_execution_not_registration_order():
    class Swapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.late = ConvBNReLU(8, 8, 1)     # registered first, runs second
            self.early = ConvBNReLU(1, 8, 3)
            self.input_shape = (1, 8, 8)

        def forward(self, x):
            return self.late(self.early(x))

    assert weight_layers(Swapped()) == [("early", "conv"), ("late", "pw")]


def test_trace_keeps_training_mode_and_needs_input_shape():
    m = demo_net()
    m.train()
    trace_weight_layers(m)
    assert m.training
    plain = nn.Sequential(ConvBNReLU(1, 4, 3))
    with pytest.raises(MixqError, match="input_shape"):
        weight_layers(plain)
    assert weight_layers(plain, input_shape=(1, 8, 8)) == [("0", "conv")]


def test_get_model_errors_and_defaults():
    with pytest.raises(MixqError, match="unknown model 'vgg'; known models: demo_net, ds_cnn, "
                                        "mcunet-in0, .*, mlperf_ad_autoencoder, .*, resnet8"):
        get_model("vgg")
    with pytest.raises(MixqError, match="model 'ds_cnn' takes no option width"):
        get_model("ds_cnn", width=0.5)
    with pytest.raises(MixqError, match="model 'mobilenet_v1'"):
        get_model("mobilenet_v1", width=-1.0)
    m = get_model("mobilenet_v1", width=None, resolution=96, num_classes=None)
    assert m.input_shape == (3, 96, 96) and m.fc.out_features == 1000
