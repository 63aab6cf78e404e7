"""Host build/run harness: gcc flags, sanitizers, error messages, the stdin/stdout protocol."""

import numpy as np
import pytest

from mixq.codegen import emit_c
from mixq.codegen.synth import GraphBuilder
from mixq.deploy.host import build_host, run_executable, run_host
from mixq.errors import ToolchainError
from mixq.ir.interpret import interpret


def tiny_graph(out="s8"):
    b = GraphBuilder((3, 3, 2), seed=4)
    return b.build(b.fc(b.conv(b.input, 3, out="u4"), 5, out=out))


def test_missing_compiler_is_a_one_line_toolchain_error(tmp_path):
    r = emit_c(tiny_graph(), tmp_path / "p")
    with pytest.raises(ToolchainError, match="not found: install it with") as e:
        build_host(r.out_dir, tmp_path / "b", cc="mixq-no-such-gcc")
    assert "\n" not in str(e.value)


def test_not_a_project(tmp_path):
    with pytest.raises(ToolchainError, match="not a mixq C project"):
        build_host(tmp_path, tmp_path / "b")


def test_compile_error_is_reported(tmp_path):
    r = emit_c(tiny_graph(), tmp_path / "p")
    model_c = r.out_dir / "mixq_model.c"
    model_c.write_text(model_c.read_text() + "\nstatic int unused_variable_here;\n")
    with pytest.raises(ToolchainError, match="unused_variable_here") as e:
        build_host(r.out_dir, tmp_path / "b")
    assert "-Werror" in e.value.details or "error" in e.value.details


def test_sanitizer_catches_an_overrun(tmp_path):
    r = emit_c(tiny_graph(), tmp_path / "p")
    model_c = r.out_dir / "mixq_model.c"
    text = model_c.read_text().replace("    return 0;\n}", "    output[MIXQ_OUTPUT_COUNT] = 1;\n"
                                       "    return 0;\n}")
    model_c.write_text(text)
    exe = build_host(r.out_dir, tmp_path / "b")
    with pytest.raises(RuntimeError, match="AddressSanitizer"):
        run_executable(exe, np.zeros((1, 18), np.uint8), 5)


@pytest.mark.parametrize("sanitize", [True, False])
def test_run_host_on_a_project_and_unsigned_output(tmp_path, sanitize):
    g = tiny_graph(out="u8")
    r = emit_c(g, tmp_path / "p")
    x = np.random.default_rng(0).integers(0, 256, size=(7, 3, 3, 2))
    got = run_host(r.out_dir, x, sanitize=sanitize, work_dir=tmp_path / "w")
    assert got.dtype == np.int64 and got.shape == (7, 5)
    np.testing.assert_array_equal(got, interpret(g, x))
    assert got.max() > 127  # u8 codes above 127 come back unsigned


def test_protocol_errors(tmp_path):
    g = tiny_graph()
    exe = build_host(emit_c(g, tmp_path / "p").out_dir, tmp_path / "b")
    assert run_executable(exe, np.zeros((0, 18), np.uint8), 5).shape == (0, 5)
    with pytest.raises(RuntimeError, match="truncated input"):
        run_executable(exe, np.zeros(20, np.uint8), 5)
    with pytest.raises(ValueError, match="do not match the model input"):
        run_host(tmp_path / "p", np.zeros((2, 3, 3, 3), np.uint8))
