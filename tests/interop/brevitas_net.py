"""A small Brevitas network (conv, depthwise, residual add, ReLU, global pool, linear) trained a
few epochs on the embedded digits task and exported as QONNX: what a Brevitas user hands mixq."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mixq.data import load_dataset


def build_net():
    import brevitas.nn as qnn
    from brevitas.quant import Int8ActPerTensorFloat, Uint8ActPerTensorFloat

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True)
            self.conv1 = qnn.QuantConv2d(1, 16, 3, padding=1, weight_bit_width=4,
                                         weight_scaling_per_output_channel=True)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu1 = qnn.QuantReLU(bit_width=4)  # float out: the Add needs no equal scales
            self.dw = qnn.QuantConv2d(16, 16, 3, padding=1, groups=16, weight_bit_width=8,
                                      weight_scaling_per_output_channel=True)
            self.dw_q = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat)
            self.relu_add = qnn.QuantReLU(bit_width=8)
            self.pw = qnn.QuantConv2d(16, 32, 1, weight_bit_width=2, bias=True)
            self.relu2 = qnn.QuantReLU(bit_width=4)
            self.conv3 = qnn.QuantConv2d(32, 32, 3, stride=2, padding=1, weight_bit_width=4)
            self.relu3 = qnn.QuantReLU(bit_width=8)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.pool_q = qnn.QuantIdentity(act_quant=self.relu3.act_quant)  # shared quantizer
            self.fc = qnn.QuantLinear(32, 10, bias=True, weight_bit_width=8,
                                      output_quant=Int8ActPerTensorFloat)

        def forward(self, x):
            x = self.inp(x)
            t = self.relu1(self.bn1(self.conv1(x)))
            x = self.relu_add(t + self.dw_q(self.dw(t)))  # residual: trunk + signed branch
            x = self.relu3(self.conv3(self.relu2(self.pw(x))))
            x = self.pool_q(self.pool(x))
            return self.fc(torch.flatten(x, 1))

    return Net()


def train_and_export(path, epochs: int = 6, seed: int = 0):
    """Train the net on digits and export it as QONNX to ``path``; returns (model, test set)."""
    from brevitas.export import export_qonnx

    torch.set_num_threads(1)  # tiny net: more threads only thrash a busy machine
    torch.manual_seed(seed)
    data = load_dataset("digits")
    net = build_net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    x, y = data.train.x, data.train.y
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    net.eval()
    export_qonnx(net, torch.zeros((1, *x.shape[1:])), export_path=str(path))
    import onnx

    onnx.save(onnx.load(str(path)), str(path))  # weights inside the file, not in a .data file
    Path(str(path) + ".data").unlink(missing_ok=True)
    return net, data.test


if __name__ == "__main__":  # regenerate the committed fixture: python tests/interop/brevitas_net.py
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "data" /
               "brevitas_digits.onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    model, test = train_and_export(out)
    with torch.no_grad():
        print(f"wrote {out}; Brevitas test top-1 "
              f"{(model(test.x).argmax(1) == test.y).float().mean():.3f}")
