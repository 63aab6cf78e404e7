"""The gate-level simulator's inner loop: a tiny C program (gcc, built once into a cache
folder) that reads a netlist in array form and a stimulus, evaluates the gates in topological
order every cycle, compares the outputs with the RTL's and counts, per net, toggles and the
cycles it settled at 1 (see :func:`mixq.hw.gatesim.simulate_activity` for the file layout).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from mixq.errors import ToolchainError

C_SOURCE = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static void *rd(FILE *f, size_t n, size_t sz) {
    void *p = malloc(n * sz + 8);
    if (!p || fread(p, sz, n, f) != n) { fprintf(stderr, "short input\n"); exit(2); }
    return p;
}
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    int32_t h[8];
    if (fread(h, 4, 8, f) != 8) return 2;
    int32_t nn = h[0], ng = h[1], nf = h[2], ni = h[3], no = h[4], T = h[5], c1 = h[7];
    int32_t *g = rd(f, 8 * (size_t)ng, 4), *ff = rd(f, 2 * (size_t)nf, 4);
    uint64_t *tt = rd(f, ng, 8);
    uint8_t *init = rd(f, nf, 1);
    int32_t *pi = rd(f, ni, 4), *po = rd(f, no, 4);
    uint8_t *stim = rd(f, (size_t)T * ni, 1), *expect = rd(f, (size_t)T * no, 1);
    double *wt = rd(f, nn, 8);
    fclose(f);
    double *per = calloc((size_t)T + 1, sizeof(double));
    uint8_t *v = calloc(nn, 1), *prev = calloc(nn, 1), *nq = malloc(nf + 1);
    uint32_t *tog = calloc(nn, 4), *ones = calloc(nn, 4);
    int64_t mism = 0, first = -1, first_po = -1;
    v[c1] = 1;
    for (int32_t i = 0; i < nf; i++) v[ff[2 * i + 1]] = init[i];
    for (int32_t t = 0; t < T; t++) {
        for (int32_t i = 0; i < ni; i++) v[pi[i]] = stim[(size_t)t * ni + i];
        for (int32_t k = 0; k < ng; k++) {
            const int32_t *q = g + 8 * (size_t)k;
            uint32_t idx = 0;
            for (int32_t i = 0; i < q[0]; i++) idx |= (uint32_t)v[q[1 + i]] << i;
            v[q[7]] = (uint8_t)((tt[k] >> idx) & 1u);
        }
        for (int32_t i = 0; i < no; i++)
            if (v[po[i]] != expect[(size_t)t * no + i]) {
                if (first < 0) { first = t; first_po = i; }
                mism++;
            }
        for (int32_t n = 0; n < nn; n++) ones[n] += v[n];
        if (t > 0) {
            double e = 0;
            for (int32_t n = 0; n < nn; n++)
                if (v[n] != prev[n]) { tog[n]++; e += wt[n]; }
            per[t] = e;
        }
        memcpy(prev, v, nn);
        for (int32_t i = 0; i < nf; i++) nq[i] = v[ff[2 * i]];
        for (int32_t i = 0; i < nf; i++) v[ff[2 * i + 1]] = nq[i];
    }
    FILE *o = fopen(argv[2], "wb");
    int64_t res[3] = {mism, first, first_po};
    fwrite(res, 8, 3, o);
    fwrite(tog, 4, nn, o);
    fwrite(ones, 4, nn, o);
    fwrite(per, sizeof(double), T, o);
    fclose(o);
    return 0;
}
"""


def simulator_binary() -> Path:
    """Path of the built simulator (compiled on first use; safe with parallel workers)."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise ToolchainError("gcc not found: the activity simulation compiles a small C "
                             "program (apt-get install -y gcc)")
    key = hashlib.sha256(C_SOURCE.encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"mixq-gatesim-{key}"
    exe = folder / "gatesim"
    if not exe.exists():  # build under a private name, then rename: safe with parallel workers
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"gatesim.{os.getpid()}.{np.random.default_rng().integers(1 << 30)}"
        tmp.with_suffix(".c").write_text(C_SOURCE)
        subprocess.run([cc, "-O2", "-o", str(tmp), str(tmp.with_suffix(".c"))], check=True)
        tmp.replace(exe)
    return exe
