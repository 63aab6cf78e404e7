"""The kernel registry: selection rules and a target registered from outside the reference."""

import numpy as np
import pytest

from mixq.codegen import emit_c
from mixq.codegen import kernels as registry
from mixq.codegen.kernels import Kernel, node_dtypes, register_kernel, select_kernel
from mixq.codegen.synth import GraphBuilder
from mixq.deploy.host import run_host
from mixq.ir.interpret import interpret

CUSTOM_H = """\
#ifndef MIXQ_TESTCPU_H
#define MIXQ_TESTCPU_H
#include "mixq_kernels.h"
int32_t mixq_conv2d_1x1_testcpu_u8_s8_scratch_bytes(const mixq_conv_params_t *p);
void mixq_conv2d_1x1_testcpu_u8_s8(const mixq_conv_params_t *p, const uint8_t *input,
                                   uint8_t *output, uint8_t *scratch);
#endif
"""

CUSTOM_C = """\
/* Test kernel: 1x1 conv u8 x s8 -> u8 with transposed, unpacked weights and int32 scratch. */
#include "mixq_testcpu.h"

int32_t mixq_conv2d_1x1_testcpu_u8_s8_scratch_bytes(const mixq_conv_params_t *p)
{
    return 4 * p->out_c;
}

void mixq_conv2d_1x1_testcpu_u8_s8(const mixq_conv_params_t *p, const uint8_t *input,
                                   uint8_t *output, uint8_t *scratch)
{
    int32_t *acc = (int32_t *)(void *)scratch;
    const int8_t *w = (const int8_t *)p->weight; /* (in_c, out_c) */
    for (int32_t i = 0; i < p->out_h * p->out_w; ++i) {
        for (int32_t oc = 0; oc < p->out_c; ++oc) {
            acc[oc] = 0;
        }
        for (int32_t ic = 0; ic < p->in_c; ++ic) {
            const int32_t x = input[i * p->in_c + ic];
            for (int32_t oc = 0; oc < p->out_c; ++oc) {
                acc[oc] += x * w[ic * p->out_c + oc];
            }
        }
        for (int32_t oc = 0; oc < p->out_c; ++oc) {
            output[i * p->out_c + oc] = (uint8_t)mixq_requantize_s32(
                acc[oc], p->bias[oc], p->multiplier[oc], p->shift[oc], p->act_min, p->act_max);
        }
    }
}
"""


@pytest.fixture
def testcpu(monkeypatch, tmp_path):
    """A target 'testcpu' with one custom pointwise kernel (its own file and weight layout)."""
    monkeypatch.setitem(registry._REGISTRY, "testcpu", [])
    (tmp_path / "mixq_conv2d_1x1_testcpu_u8_s8.c").write_text(CUSTOM_C)
    (tmp_path / "mixq_testcpu.h").write_text(CUSTOM_H)
    kernel = register_kernel(Kernel(
        op="pw", variant="1x1", target="testcpu", function="mixq_conv2d_1x1_testcpu_u8_s8",
        sources=("mixq_conv2d_1x1_testcpu_u8_s8.c", "mixq_testcpu.h"), source_dir=tmp_path,
        dtypes=frozenset({("u8", "s8", "u8")}),
        accepts=lambda node, graph: node.stride == (1, 1) and node.padding == (0, 0, 0, 0),
        # (C_out, 1, 1, C_in) -> (C_in, C_out), one int8 per code
        pack_weights=lambda node, graph: node.weight[:, 0, 0, :].T.copy().view(np.uint8),
        scratch_bytes=lambda node, graph: 4 * node.weight.shape[0],
        priority=10,
    ))
    return kernel


def test_target_kernel_is_used_and_bitexact(testcpu, tmp_path):
    b = GraphBuilder((5, 4, 3), seed=2)
    x = b.conv(b.input, 6, out="u8")
    x = b.pw(x, 7, out="u8")          # -> testcpu
    x = b.pw(x, 5, out="u4")          # dtype not covered -> reference fallback
    g = b.build(b.fc(x, 4))
    result = emit_c(g, tmp_path / "proj", kernels="testcpu")
    assert result.kernels == ("mixq_conv2d_any", "mixq_conv2d_1x1_testcpu_u8_s8",
                              "mixq_conv2d_1x1_any", "mixq_fully_connected_any")
    assert result.memory.scratch_offset("conv1") is not None
    assert result.metadata["layers"][1]["target"] == "testcpu"
    xs = np.random.default_rng(0).integers(0, 256, size=(6, 5, 4, 3))
    np.testing.assert_array_equal(run_host(result.out_dir, xs), interpret(g, xs))


def test_selection_rules(testcpu):
    b = GraphBuilder((4, 4, 3), seed=0)
    y = b.pw(b.input, 4, out="u8")
    g = b.build(b.pw(y, 4, weight="s4"))
    assert select_kernel(g.nodes[0], g, "testcpu") is testcpu
    assert select_kernel(g.nodes[0], g, "ref").function == "mixq_conv2d_1x1_any"
    assert select_kernel(g.nodes[1], g, "testcpu").target == "ref"
    assert select_kernel(g.nodes[0], g, "testcpu", inplace=True) is None
    assert node_dtypes(g.nodes[1], g) == ("u8", "s4", "u8")


def test_register_rejects_unknown_op():
    with pytest.raises(ValueError, match="unknown op"):
        register_kernel(Kernel("softmax", "mixq_softmax_s8", ()))


def test_reference_kernels_cover_every_op_and_dtype():
    from mixq.codegen.kernels_ref import dwconv_inplace_safe  # noqa: F401 (import check)

    ops = {k.op for k in registry.registered_kernels("ref")}
    assert ops == set(registry.OPS)
    for k in registry.registered_kernels("ref"):
        assert k.dtypes is None  # generic over code widths
        assert all(p.exists() for p in k.source_paths()), k.function


def test_python_scratch_sizes_mirror_the_c_companions(tmp_path):
    """Kernel.scratch_bytes == the C *_scratch_bytes() companion on the emitted parameters."""
    from chost import printed_scratch_bytes

    from mixq.codegen.emit import select_kernels

    b = GraphBuilder((9, 7, 5), seed=0)
    y = b.pw(b.input, 6)
    y = b.dw(y, kernel=3, stride=2, out="u4")
    y = b.dw(y, kernel=(5, 3), padding="same", out="u4")
    g = b.build(b.pw(y, 3, out="s8"))
    result = emit_c(g, tmp_path / "p", inplace="always")
    kernels, plan = select_kernels(g, inplace="always")
    checks = [(i, k) for i, k in enumerate(kernels) if k.function == "mixq_dwconv_inplace_any"]
    assert len(checks) == 2
    printed = printed_scratch_bytes(result, tmp_path, ["mixq_kernels.h"],
                                    [("mixq_dwconv_inplace_any", i) for i, _ in checks])
    assert printed == [k.scratch_for(g.nodes[i], g) for i, k in checks]
    assert printed == [result.metadata["layers"][i]["scratch_bytes"] for i, _ in checks]


def test_kernel_set_table_is_explicit_and_complete():
    # One row per KernelSet; a row holds its own kernels only; importing a kernel module
    # registers nothing (the registry is filled from the table).
    from mixq.codegen import kernels_armv7em  # noqa: F401 (import must not register)
    from mixq.platform import KernelSet

    table = registry.kernel_set_table()
    assert set(table) == set(KernelSet)
    for kernel_set, kernels in table.items():
        assert kernels and {k.target for k in kernels} == {kernel_set.value}
        assert all(k.op in registry.OPS for k in kernels)
    assert registry.registered_kernels(KernelSet.ARMV7EM)[:len(table[KernelSet.ARMV7EM])] == \
        table[KernelSet.ARMV7EM]
    assert {k.op for k in table[KernelSet.REF] if not k.sparse} == set(registry.OPS)
    with pytest.raises(ValueError, match="unknown code generation target 'esp32': use one of "
                       "ref, armv7em, pulp, pulpnn"):
        registry.registered_kernels("esp32")
