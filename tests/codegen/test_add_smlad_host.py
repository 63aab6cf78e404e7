"""mixq_add_smlad_u8 (the SMLAD residual add of the ARMv7E-M set) on every (a, b) pair of 8-bit
codes against the integer rule (mixq.quant.integer.AddRequant), on the host with sanitizers:
every rule the code generator gives it (shift 16..47, any multiplier sign, the widest high
halfword, each input signedness, narrow clamps), out of place and in place over each input."""

import shutil
import subprocess

import numpy as np
import pytest

from mixq.codegen.kernel import RUNTIME_DIR
from mixq.codegen.kernels_armv7em_eltwise import MAX_SMLAD_SHIFT, split_multiplier
from mixq.deploy.host import CFLAGS, SANITIZE_FLAGS
from mixq.quant.integer import AddRequant

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a host gcc")

MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "mixq_eltwise_dsp.h"

/* one rule per stdin line: ma mb shift a_signed b_signed act_min act_max; for each, the 65536
 * outputs (a = i % 256, b = i / 256) out of place, in place over a, in place over b */
int main(void)
{
    static uint8_t a[65536], b[65536], y[3][65536];
    mixq_add_params_t p;
    memset(&p, 0, sizeof p);
    p.pixels = 65536; p.c = 1; p.a_bits = p.b_bits = p.out_bits = 8;
    while (scanf("%d %d %d %d %d %d %d", &p.multiplier_a, &p.multiplier_b, &p.shift, &p.a_signed,
                 &p.b_signed, &p.act_min, &p.act_max) == 7) {
        for (int i = 0; i < 65536; ++i) { a[i] = (uint8_t)i; b[i] = (uint8_t)(i >> 8); }
        mixq_add_smlad_u8(&p, a, b, y[0], NULL);
        memcpy(y[1], a, sizeof a);
        mixq_add_smlad_u8(&p, y[1], b, y[1], NULL);
        memcpy(y[2], b, sizeof b);
        mixq_add_smlad_u8(&p, a, y[2], y[2], NULL);
        fwrite(y, 1, sizeof y, stdout);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def add_exe(tmp_path_factory):
    d = tmp_path_factory.mktemp("smlad")
    (d / "main.c").write_text(MAIN)
    exe = d / "add"
    subprocess.run(["gcc", *CFLAGS, *SANITIZE_FLAGS, "-I", str(RUNTIME_DIR),
                    "-I", str(RUNTIME_DIR / "armv7em"), str(RUNTIME_DIR / "armv7em/mixq_add_smlad.c"),
                    str(d / "main.c"), "-o", str(exe)], check=True)
    return exe


def _rules() -> list[tuple[int, ...]]:
    rng = np.random.default_rng(15)
    rules = [  # (ma, mb, shift, a_signed, b_signed, act_min, act_max)
        ((1 << 31) - (1 << 15) - 1, -(1 << 31), 31, 1, 1, 0, 255),      # widest high halves
        (3 << 14, -(5 << 13), 16, 1, 1, 0, 255),                        # shift 16: down 0
        (1 << 30, (1 << 30) - 1, MAX_SMLAD_SHIFT, 1, 0, 0, 255),        # the largest shift
        (round(0.6 * 2**24), round(0.6 * 2**24), 24, 0, 0, 10, 200),    # a narrow clamp
    ]
    for shift in (29, 30, 31, 32):  # the specialised loops: every signedness at each shift
        for a_signed, b_signed in ((0, 0), (1, 0), (0, 1), (1, 1)):
            ra, rb = rng.uniform(-1, 1, 2) * 2.0 ** (30 - shift)
            rules.append((round(ra * 2**shift), round(rb * 2**shift), shift, a_signed, b_signed,
                          0, 255))
    for _ in range(6):  # random rules over the whole accepted range
        shift = int(rng.integers(16, MAX_SMLAD_SHIFT + 1))
        ma, mb = (int(m) for m in rng.integers(-(1 << 31), (1 << 31) - (1 << 15), 2))
        lo = int(rng.integers(0, 128))
        rules.append((ma, mb, shift, int(rng.integers(2)), int(rng.integers(2)), lo,
                      int(rng.integers(lo, 256))))
    return rules


def test_smlad_add_equals_the_rule_on_every_code_pair(add_exe):
    rules = _rules()
    assert all(-(1 << 15) <= split_multiplier(m)[0] < (1 << 15) for r in rules for m in r[:2])
    text = "".join(" ".join(map(str, r)) + "\n" for r in rules)
    out = subprocess.run([str(add_exe)], input=text.encode(), capture_output=True, check=True)
    got = np.frombuffer(out.stdout, np.uint8).reshape(len(rules), 3, 65536)
    codes = np.arange(65536, dtype=np.int64)
    for rule_args, outputs in zip(rules, got):
        ma, mb, shift, a_signed, b_signed, lo, hi = rule_args
        a, b = codes % 256, codes // 256
        a = np.where(a_signed & (a > 127), a - 256, a)  # the byte as an s8 code
        b = np.where(b_signed & (b > 127), b - 256, b)
        want = AddRequant(ma, mb, shift, lo, hi).apply(a, b)
        for version in outputs:  # out of place, in place over a, in place over b
            np.testing.assert_array_equal(version, want, err_msg=str(rule_args))
