"""Stack a generated model needs: a static bound from the compiler's call graph.

The cross build (:func:`mixq.deploy.build.build_model_elf`) passes ``-fcallgraph-info=su``:
gcc writes, per translation unit, a ``.ci`` file (VCG text) with one node per function and
its frame size (``N bytes (static)``, ``(dynamic,bounded)`` or ``(dynamic)``) and one edge per
call. :func:`stack_bound_bytes` merges them and takes the deepest path from the entry point
(``mixq_model_run``): the sum of the frames along it.

Routines of the C library and libgcc (``memset``, ``__aeabi_ldivmod``) come as object code
without call-graph information; each path that reaches one adds :data:`LIBRARY_STACK_BYTES`,
an allowance (the deploy flow measures the real stack on the emulator by painting, and the
tests check the bound against it: :attr:`mixq.deploy.deploy.DeployResult.stack_measured_bytes`).
Recursion, indirect calls and unbounded dynamic frames have no static bound: they raise.
"""

from __future__ import annotations

import re
from pathlib import Path

from mixq.errors import MixqError

# Allowance for one chain of C library / libgcc routines (leaf memset/memcpy, 64-bit division):
# measured on the emulators at well under 100 bytes; no call-graph info exists for them.
LIBRARY_STACK_BYTES = 256

_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
_FRAME = re.compile(r"\\n(\d+) bytes \(([a-z,]+)\)")


def read_call_graph(ci_dir) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Frames and calls of every function in the ``.ci`` files of ``ci_dir``.

    Returns:
        (frame bytes per defined function, callees per function). Names are gcc's titles:
        ``file.c:name`` for static functions, ``name`` for external ones.

    Raises:
        MixqError: a function with an unbounded dynamic frame (``alloca``/VLA).

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / "a.ci").write_text('graph: { title: "a.c"\\n'
        ...     'node: { title: "f" label: "f\\\\na.c:1:5\\\\n16 bytes (static)" }\\n'
        ...     'node: { title: "g" label: "g\\\\na.h:1:5" shape : ellipse }\\n'
        ...     'edge: { sourcename: "f" targetname: "g" label: "a.c:2:3" }\\n}\\n')
        >>> read_call_graph(d)
        ({'f': 16}, {'f': {'g'}})
    """
    frames: dict[str, int] = {}
    calls: dict[str, set[str]] = {}
    for path in sorted(Path(ci_dir).glob("*.ci")):
        for line in path.read_text(errors="replace").splitlines():
            node = _NODE.search(line)
            if node:
                frame = _FRAME.search(node.group(2))
                if frame is None:
                    continue  # a declaration (defined elsewhere, or a library routine)
                if frame.group(2) == "dynamic":
                    raise MixqError(f"{node.group(1)} has an unbounded stack frame (alloca or a "
                                    "variable-length array); no static stack bound exists")
                frames[node.group(1)] = int(frame.group(1))
                continue
            edge = _EDGE.search(line)
            if edge:
                calls.setdefault(edge.group(1), set()).add(edge.group(2))
    return frames, calls


def stack_bound_bytes(ci_dir, entry: str = "mixq_model_run") -> int:
    """Worst-case stack bytes of a call of ``entry``: the deepest path of the call graph.

    Args:
        ci_dir: folder holding the ``.ci`` files of one build.
        entry: the function the caller calls.

    Returns:
        The largest sum of frames along a call path from ``entry``, plus
        :data:`LIBRARY_STACK_BYTES` on a path that reaches a library routine.

    Raises:
        MixqError: no call graph for ``entry``, recursion, an indirect call or an unbounded
            frame.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / "a.ci").write_text(
        ...     'node: { title: "run" label: "run\\\\nm.c:1:1\\\\n32 bytes (static)" }\\n'
        ...     'node: { title: "k" label: "k\\\\nk.c:1:1\\\\n96 bytes (static)" }\\n'
        ...     'edge: { sourcename: "run" targetname: "k" label: "m.c:3:5" }\\n'
        ...     'edge: { sourcename: "run" targetname: "memset" label: "m.c:4:5" }\\n')
        >>> stack_bound_bytes(d, "run")  # 32 + max(96, 256 for memset)
        288
    """
    frames, calls = read_call_graph(ci_dir)
    if entry not in frames:
        raise MixqError(f"no call-graph information for {entry} in {ci_dir}; build with "
                        "-fcallgraph-info=su (mixq.deploy.build.build_model_elf does)")
    memo: dict[str, int] = {}

    def resolve(caller: str, callee: str) -> str | None:
        # a static callee is titled 'file.c:name'; an external one by its plain name
        if callee in frames:
            return callee
        unit = caller.rsplit(":", 1)[0] if ":" in caller else ""
        local = f"{unit}:{callee}" if unit else callee
        return local if local in frames else None

    def depth(fn: str, path: tuple[str, ...]) -> int:
        if fn in memo:
            return memo[fn]
        if fn in path:
            raise MixqError(f"recursion through {fn} ({' -> '.join(path + (fn,))}); no static "
                            "stack bound exists")
        deepest = 0
        for callee in sorted(calls.get(fn, ())):
            if callee == "__indirect_call":
                raise MixqError(f"{fn} makes an indirect call; no static stack bound exists")
            target = resolve(fn, callee)
            deepest = max(deepest, LIBRARY_STACK_BYTES if target is None
                          else depth(target, path + (fn,)))
        memo[fn] = frames[fn] + deepest
        return memo[fn]

    return depth(entry, ())


__all__ = ["LIBRARY_STACK_BYTES", "read_call_graph", "stack_bound_bytes"]
