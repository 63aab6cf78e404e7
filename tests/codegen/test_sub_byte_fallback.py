"""The sub-byte fallback of the ARMv7E-M DSP set, on the kernel costs: on every layer kind, the
kernel chosen for 4-/2-bit or ternary weights is estimated no slower than the one chosen for the
same layer with 8-bit weights wherever running the weights widened to 8 bits fits the flash
allowance (``widened_flash_ok``); first layers and heads take the widened 8-bit kernel where it
is cheaper, and their packed weights are the 8-bit layout of the same codes."""

import dataclasses

import numpy as np
import pytest

from mixq.codegen.kernels import select_kernel
from mixq.codegen.kernels_armv7em_fallback import widened_flash_ok
from mixq.codegen.synth import GraphBuilder

LAYERS = {  # name -> (input shape, build(builder, x, weight) -> output)
    "conv3x3-first-s2": ((16, 16, 3), lambda b, x, w: b.conv(x, 8, kernel=3, stride=2, weight=w)),
    "conv3x3-16": ((8, 8, 16), lambda b, x, w: b.conv(x, 32, kernel=3, weight=w)),
    "conv10x4-first": ((12, 6, 1), lambda b, x, w: b.conv(x, 16, kernel=(5, 4), weight=w)),
    "pw-narrow": ((8, 8, 8), lambda b, x, w: b.pw(x, 16, weight=w)),
    "pw-24": ((4, 4, 24), lambda b, x, w: b.pw(x, 40, weight=w)),
    "dw3x3": ((8, 8, 16), lambda b, x, w: b.dw(x, kernel=3, weight=w)),
    "fc-head-64x12": ((1, 1, 64), lambda b, x, w: b.fc(x, 12, weight=w, out="u8")),
    "fc-head-256x2": ((1, 1, 256), lambda b, x, w: b.fc(x, 2, weight=w, out="u8")),
    "fc-640x128": ((1, 1, 640), lambda b, x, w: b.fc(x, 128, weight=w, out="u8")),
}


def _layer(name, act, weight):
    shape, build = LAYERS[name]
    b = GraphBuilder(shape, act, seed=3)
    g = b.build(build(b, b.input, weight))
    return g.nodes[0], g


def _cost(kernel, node, graph):
    return kernel.cost(node, graph) if kernel.cost is not None else None


@pytest.mark.parametrize("act", ["u8", "u4", "u2"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_sub_byte_kernel_never_estimated_slower_than_8_bit(name, act):
    node8, g8 = _layer(name, act, "s8")
    k8 = select_kernel(node8, g8, "armv7em")
    for weight in ("s4", "s2", "t2"):
        node, g = _layer(name, act, weight)
        k = select_kernel(node, g, "armv7em")
        if _cost(k, node, g) is None:  # one kernel for every width (depthwise 3x3)
            assert k.function == k8.function
            continue
        if widened_flash_ok(node, g):
            assert _cost(k, node, g) <= _cost(k8, node8, g8), (weight, k.function, k.variant)


def test_widened_fallback_taken_where_cheaper_and_packed_as_8_bit():
    """A 3-channel first layer with 2-bit weights runs the 8-bit window kernel (27 codes in 28
    lanes instead of 32); a large fc with 4-bit weights stays native (flash allowance)."""
    node, g = _layer("conv3x3-first-s2", "u8", "s2")
    k = select_kernel(node, g, "armv7em")
    assert (k.function, k.variant) == ("mixq_conv2d_dsp_win_s8", "dsp-window-widened")
    node8, g8 = _layer("conv3x3-first-s2", "u8", "s8")
    widened = np.asarray(k.pack_weights(node, g))
    same_codes = dataclasses.replace(node8, weight=node.weight)  # the 2-bit codes as s8
    as_8_bit = np.asarray(select_kernel(node8, g8, "armv7em").pack_weights(same_codes, g8))
    assert np.array_equal(widened, as_8_bit)
    big, gb = _layer("fc-640x128", "u8", "s4")
    assert not widened_flash_ok(big, gb)
    assert select_kernel(big, gb, "armv7em").function == "mixq_fc_dsp_s4"
