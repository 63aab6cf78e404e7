"""Host C helpers shared by the code-generation tests."""

from __future__ import annotations

import subprocess


def printed_scratch_bytes(result, tmp_path, headers, calls) -> list[int]:
    """Compile the generated project with a ``main`` that prints each ``(function, layer)``'s
    ``<function>_scratch_bytes(&mixq_l<layer>_params)``; returns the printed values."""
    from mixq.deploy.build import compile_and_link, runtime_sources
    from mixq.deploy.host import CFLAGS

    lines = [f'    printf("%ld\\n", (long){f}_scratch_bytes(&mixq_l{i}_params));'
             for f, i in calls]
    includes = [f'#include "{h}"' for h in headers]
    main = "\n".join(["#include <stdio.h>", *includes, '#include "mixq_weights.h"',
                      "int main(void)", "{", *lines, "    return 0;", "}", ""])
    (tmp_path / "main.c").write_text(main)
    sources = [result.out_dir / f for f in result.files if f.endswith(".c")]
    # the kernels' host objects come from the run's object cache (mixq.deploy.objcache)
    exe = compile_and_link("gcc", list(CFLAGS), [], [*sources, tmp_path / "main.c"],
                           tmp_path / "scratch", include_dirs=(result.out_dir,),
                           cached=runtime_sources(sources))
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return [int(v) for v in out.split()]
