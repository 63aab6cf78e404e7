"""Cross build for an ISA record: C sources -> a bare-metal ELF.

The ELF has no vector table and no start-up code: the emulator (:mod:`mixq.deploy.emulator`)
calls its entry functions directly. Flags follow the measured facts in TOOLCHAIN-NOTES: no
``-ffreestanding`` (it implies ``-fno-builtin``, which turns the 4-byte ``memcpy`` of unaligned
loads into real calls). The compiler, its flags and the linker script come from the ISA's
:class:`~mixq.deploy.isa.IsaRecord`; the command line is the same for every ISA.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from mixq.codegen.emit import MODEL_SOURCES
from mixq.deploy.objcache import CompileError, compile_objects, run_tool, scratch_dir
from mixq.deploy.toolchain import find_toolchain
from mixq.errors import ToolchainError
from mixq.fileio import write_text_atomic


def build_elf(
    record,
    sources: list[str | os.PathLike],
    out: str | os.PathLike,
    entries: tuple[str, ...] = ("mixq_model_run",),
    include_dirs: tuple[str | os.PathLike, ...] = (),
    opt: str = "-O3",
    defines: tuple[str, ...] = (),
    extra_cflags: tuple[str, ...] = (),
    extra_link_flags: tuple[str, ...] = (),
) -> Path:
    """Compile and link C sources into an ELF for the ISA of ``record``.

    Sources are passed relative to the folder of the first one when they live under it, so the
    ELF's symbol table holds no absolute paths (deterministic bytes).

    Args:
        record: the :class:`~mixq.deploy.isa.IsaRecord` (compiler, flags, linker script).
        sources: C (or assembly) files.
        out: ELF path to write (a ``.log`` next to it receives the compiler output on failure).
        entries: functions the emulator calls; kept by the linker (``-u``); the first is the ELF
            entry point.
        include_dirs: extra ``-I`` folders.
        opt: optimization flag.
        defines: ``-D`` macro definitions, e.g. ``("MIXQ_FOO=1",)``.
        extra_cflags, extra_link_flags: appended to the record's compiler and linker flags.

    Returns:
        The ELF path.

    Raises:
        ToolchainError: if the toolchain is missing or the build fails (first error in the
            message, full output in ``<out>.log``).
    """
    tc = find_toolchain(record)
    return compile_elf(str(tc.gcc), record.gcc, [*record.cflags(opt), *extra_cflags],
                       [*record.link_flags, f"-T{record.linker_script_path()}",
                        *extra_link_flags], sources, out, entries, include_dirs, defines)


CALLGRAPH_DIR = "callgraph"


def build_model_elf(record, project_dir, elf_path, *, allow_overflow: bool = False) -> Path:
    """Cross-compile a generated C project (all its ``.c`` files) into an ELF.

    gcc also writes the call graph with frame sizes (``-fcallgraph-info=su``, the same ELF
    bytes) into ``<elf folder>/callgraph/``, read by :func:`mixq.deploy.stack.stack_bound_bytes`.
    The kernel sources' objects (and their call graphs) come from the object cache
    (:mod:`mixq.deploy.objcache`) when an earlier build compiled the same bytes.

    Args:
        record: the :class:`~mixq.deploy.isa.IsaRecord`.
        project_dir: the C project of :func:`mixq.codegen.emit_c`.
        elf_path: the ELF to write.
        allow_overflow: link even when code and constants overflow the linker script's memory
            regions (``--noinhibit-exec``), to measure an image that is too large; such an ELF
            is for its sizes only.
    """
    project = Path(project_dir)
    cg = Path(elf_path).resolve().parent / CALLGRAPH_DIR
    cg.mkdir(parents=True, exist_ok=True)
    for old in cg.glob("*.ci"):
        old.unlink()
    tc = find_toolchain(record)
    sources = sorted(project.glob("*.c"))
    return compile_elf(str(tc.gcc), record.gcc, record.cflags(),
                       [*record.link_flags, f"-T{record.linker_script_path()}",
                        *(("-Wl,--noinhibit-exec",) if allow_overflow else ())],
                       sources, elf_path, ("mixq_model_run",), (project,),
                       callgraph_dir=cg, cached=runtime_sources(sources))


def runtime_sources(sources) -> frozenset[Path]:
    """The sources of a generated project that are copies of the kernel library (cacheable):
    all but the model's own (:data:`mixq.codegen.emit.MODEL_SOURCES`)."""
    return frozenset(Path(s).resolve() for s in sources if Path(s).name not in MODEL_SOURCES)


def compile_and_link(gcc: str, cflags: list[str], link_flags: list[str], sources, out,
                     entries: tuple[str, ...] = (), include_dirs=(), defines: tuple[str, ...] = (),
                     *, callgraph_dir=None, cached=frozenset()) -> Path:
    """Compile each source to an object, then link: ``gcc cflags link_flags entries objs -o out``.

    The objects and their order are those of one ``gcc ... sources -o out`` command, so the
    output has the same bytes; sources in ``cached`` come from the object cache when present
    (:func:`mixq.deploy.objcache.compile_objects`). Sources are passed relative to the first
    one's folder (no absolute paths in the output); the output is written atomically.

    Args:
        gcc: compiler driver path.
        cflags, link_flags: compile flags; link flags (those not starting with ``-Wl,`` or
            ``-T``, e.g. ``-specs=``, also apply to the compile, as in one command).
        sources: C or assembly files.
        out: output path.
        entries: symbols kept by the linker (``-u``); the first is the entry point.
        include_dirs: ``-I`` folders. defines: ``-D`` definitions.
        callgraph_dir: when given, compile with ``-fcallgraph-info=su`` and put each unit's
            ``.ci`` file there.
        cached: resolved source paths that may come from the cache.

    Raises:
        CompileError: a compile or the link failed.
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    srcs = [Path(s).resolve() for s in sources]
    cwd = srcs[0].parent if srcs else out.parent

    def rel(p: Path) -> str:
        try:
            return str(p.relative_to(cwd))
        except ValueError:
            return str(p)

    flags = [*cflags, *(f"-I{rel(Path(d).resolve())}" for d in include_dirs),
             *(f"-D{d}" for d in defines),
             *(f for f in link_flags if not f.startswith(("-Wl,", "-T")))]
    if callgraph_dir is not None:
        flags.append("-fcallgraph-info=su")
    cacheable = {rel(s) for s in srcs if s in cached}
    tmp = out.with_name(f".{out.name}.tmp")
    with scratch_dir(out.parent) as work:
        objs = compile_objects(gcc, flags, [rel(s) for s in srcs], cwd, work,
                               cacheable=cacheable.__contains__)
        if callgraph_dir is not None:
            for aux in (a for o in objs for a in o.aux if a.suffix == ".ci"):
                shutil.copyfile(aux, Path(callgraph_dir) / aux.name)
        cmd = [gcc, *cflags, *link_flags]
        if entries:
            cmd.append(f"-Wl,--entry={entries[0]}")
        cmd += [f"-Wl,-u,{e}" for e in entries]
        run_tool([*cmd, *(str(o.object) for o in objs), "-o", str(tmp)], cwd)
    os.replace(tmp, out)
    return out


def compile_elf(gcc: str, tool: str, cflags: list[str], link_flags: list[str], sources, out,
                entries: tuple[str, ...] = (), include_dirs=(), defines: tuple[str, ...] = (),
                *, callgraph_dir=None, cached=frozenset()) -> Path:
    """:func:`compile_and_link` for every ISA, failures reported in one line.

    On failure the full output goes to ``<out>.log`` and a one-line :class:`ToolchainError`
    names ``tool``.
    """
    log = Path(out).resolve().with_suffix(".log")
    try:
        out = compile_and_link(gcc, cflags, link_flags, sources, out, entries, include_dirs,
                               defines, callgraph_dir=callgraph_dir, cached=cached)
    except CompileError as e:
        write_text_atomic(log, " ".join(e.cmd) + "\n" + e.output)
        raise ToolchainError(f"{tool} failed: {e}; fix the source, full log in {log}") from None
    if log.exists():
        log.unlink()
    return out


@dataclass(frozen=True)
class ElfSizes:
    """Section sizes of a linked ELF, in bytes.

    Attributes:
        text_bytes: code (``.text`` and other executable sections).
        rodata_bytes: read-only constants (weights, ``.rodata``, exception tables).
        data_bytes: initialized RAM data (its initial image is stored in flash too).
        bss_bytes: zero-initialized RAM.
        image_bytes: bytes of the load segments (what is programmed into flash: the sections
            above with the alignment padding between them); 0 when not read from an ELF.
    """

    text_bytes: int
    rodata_bytes: int
    data_bytes: int
    bss_bytes: int
    image_bytes: int = 0

    @property
    def flash_bytes(self) -> int:
        """Code and constants in flash: the load segments' bytes (text + rodata + the ``.data``
        initial image + alignment padding)."""
        return max(self.image_bytes, self.text_bytes + self.rodata_bytes + self.data_bytes)

    @property
    def static_ram_bytes(self) -> int:
        """RAM taken by globals (data + bss), outside the caller-owned arena."""
        return self.data_bytes + self.bss_bytes


def elf_sizes(elf: str | os.PathLike) -> ElfSizes:
    """Sizes of the allocated sections of an ELF, grouped like ``size -A`` would."""
    text = rodata = data = bss = 0
    with open(elf, "rb") as f:
        ef = ELFFile(f)
        image = sum(seg["p_filesz"] for seg in ef.iter_segments() if seg["p_type"] == "PT_LOAD")
        for sec in ef.iter_sections():
            flags = sec["sh_flags"]
            if not flags & SH_FLAGS.SHF_ALLOC:
                continue
            size = sec["sh_size"]
            if sec["sh_type"] == "SHT_NOBITS":
                bss += size
            elif flags & SH_FLAGS.SHF_EXECINSTR:
                text += size
            elif flags & SH_FLAGS.SHF_WRITE:
                data += size
            else:
                rodata += size
    return ElfSizes(text, rodata, data, bss, image)


__all__ = ["CALLGRAPH_DIR", "ElfSizes", "build_elf", "build_model_elf", "compile_and_link",
           "compile_elf", "elf_sizes", "runtime_sources"]
