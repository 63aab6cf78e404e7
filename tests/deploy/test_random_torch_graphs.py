"""Issue 10 property: random standard-PyTorch graphs (pools, concat, adds, ReLU6, biases, odd
paddings, odd and non-square kernels, depthwise, stride 2) give the same codes in the QAT integer
mode, ``ir.interpret``, the generated C on the host (ASan/UBSan) and on the emulated Cortex-M7.

One model per example holds several random branches (their logits concatenated) plus two fixed
branches that use every op, so one build checks them all. CI runs the derandomized
``mixq-graphs-ci`` profile (one example: one build); ``MIXQ_GRAPHS_PROFILE=mixq-graphs-dev``
draws many more.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixq
from mixq.ir.capture import input_codes, integer_codes
from mixq.nn.capture import capture, layer_kind, weight_layer_names
from mixq.nn.modules import QuantFlatten
from mixq.quant.spec import BitAllocation, LayerBits, scheme_for
from mixq.search.graph_bits import match_graph_bits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from strategies_torch import RandomNet, torch_net_specs  # noqa: E402

pytestmark = [pytest.mark.cross, pytest.mark.slow]

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("mixq-graphs-ci", max_examples=1, derandomize=True, deadline=None,
                          suppress_health_check=_SLOW)
settings.register_profile("mixq-graphs-dev", max_examples=40, deadline=None,
                          suppress_health_check=_SLOW)
PROFILE = settings.get_profile(os.environ.get("MIXQ_GRAPHS_PROFILE", "mixq-graphs-ci"))

# Every op of the supported set at least once: ceil_mode max pool, average pool without the
# padded taps, a concat of differently scaled tensors, a signed residual add + ReLU6, a
# depthwise 3x3 stride 2, a 3x2 kernel with asymmetric padding, biases, clamp and Hardtanh.
EVERY_OP = [
    [("conv", 4, (3, 2), 1, (0, 1, 1, 0), True, False, "relu6", False),
     ("maxpool", 3, 2, (1, 1), True),
     ("conv", 0, 3, 2, 1, False, True, "clamp", True),
     ("add", 0.0, "relu6"),
     ("cat", 0.0, "none")],
    [("conv", 5, (1, 3), 1, 0, True, True, "none", False),
     ("avgpool", (2, 3), 1, (1, 1), False),
     ("cat", 0.0, "none"),
     ("conv", 3, 5, 2, 2, True, False, "hardtanh", False),
     ("add", 0.0, "none")],
]


def _allocation(gm, bits: str, seed: int) -> BitAllocation | int:
    """Uniform 8-bit, or random weight and activation bits matched to the graph's dataflow."""
    if bits == "w8a8":
        return 8
    rng = np.random.default_rng(seed)
    names = weight_layer_names(gm)
    heads = {n for n in names if n.startswith("heads.")}
    layers = []
    for name in names:
        w = int(rng.choice([8, 4, 2]))
        out = 8 if name in heads else int(rng.choice([8, 4, 2]))
        layers.append(LayerBits(name, layer_kind(gm.get_submodule(name)), w, 8, out,
                                scheme_for("per-channel", w, out)))
    return match_graph_bits(gm, BitAllocation(tuple(layers), "per-channel"))


@given(spec=torch_net_specs(max_branches=2), bits=st.sampled_from(["mixed", "w8a8"]),
       seed=st.integers(0, 2**16))
@settings(PROFILE)
def test_random_standard_graph_is_bitexact_everywhere(spec, bits, seed):
    torch.manual_seed(seed)
    model, x = RandomNet(EVERY_OP + spec, seed=seed), torch.rand(8, 3, 11, 9)
    allocation = _allocation(capture(model, x[:1]), bits, seed)
    qat = mixq.prepare(model, allocation, example_input=x[:1], calibration=x).eval()
    graph = mixq.integerize(qat)
    codes = input_codes(qat, x)
    expected = mixq.interpret(graph, codes)
    np.testing.assert_array_equal(expected, integer_codes(qat, x))  # QAT == interpret
    # ... on every tensor: the graph's nodes are the QAT steps without the flattens
    steps = [s for s in qat.integer_steps(x)[0] if not isinstance(s.module, QuantFlatten)]
    every = mixq.interpret(graph, codes, return_all=True)
    assert len(steps) == len(graph.nodes)
    for step, node in zip(steps, graph.nodes):
        got = step.output.codes.round().long()
        got = got.permute(0, 2, 3, 1) if got.dim() == 4 else got  # NCHW -> NHWC
        np.testing.assert_array_equal(every[node.output], got.numpy(), err_msg=node.name)
    with tempfile.TemporaryDirectory(prefix="mixq-random-graph-") as tmp:
        result = mixq.deploy(graph, tmp, target="stm32h7", emulate=4, inputs=codes[:4])
    assert result.bitexact and result.samples == 4  # emulated Cortex-M7 == interpret
    assert result.host_bitexact is (True if shutil.which("gcc") else None)  # host C
