"""Issue 10 acceptance: user models written in plain PyTorch go through
prepare -> QAT -> allocate -> integerize -> deploy, bit-exact on the emulated Cortex-M7 and on
the host, with uniform 8-bit and with a mixed allocation."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mixq
from mixq.ir.capture import input_codes, integer_codes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from user_models import build_user_model, mixed_allocation  # noqa: E402

pytestmark = [pytest.mark.cross, pytest.mark.slow]


def _qat_steps(qat, x, steps=3):
    """A few QAT steps on a made-up target (what matters is that the weights move)."""
    opt = torch.optim.SGD(qat.parameters(), lr=1e-3)
    y = torch.randint(0, 10, (len(x),))
    qat.train()
    for _ in range(steps):
        opt.zero_grad()
        out = qat(x)
        torch.nn.functional.cross_entropy(out, y % out.shape[1]).backward()
        opt.step()
    return qat.eval()


@pytest.mark.parametrize("name", ["mobilenetv2", "resnet8", "dscnn", "poolcat"])
@pytest.mark.parametrize("mixed", [False, True], ids=["w8a8", "mixed"])
def test_user_model_deploys_bitexact(tmp_path, name, mixed):
    model, x = build_user_model(name, 16)
    bits = mixed_allocation(model, x[:1]) if mixed else 8
    qat = _qat_steps(mixq.prepare(model, bits, example_input=x[:1], calibration=x), x)
    graph = mixq.integerize(qat)
    codes = input_codes(qat, x)
    result = mixq.deploy(graph, tmp_path, target="stm32h7", emulate=4, inputs=codes)
    assert result.bitexact and result.samples == 4
    assert result.host_bitexact in (None, True)
    assert result.flash_bytes > 0 and result.arena_bytes > 0 and result.instructions > 0
    # and the deployed graph is the QAT model's integer mode
    np.testing.assert_array_equal(mixq.interpret(graph, codes), integer_codes(qat, x))
