"""Cross build for an ISA record: C sources -> a bare-metal ELF.

The ELF has no vector table and no start-up code: the emulator (:mod:`mixq.deploy.emulator`)
calls its entry functions directly. Flags follow the measured facts in TOOLCHAIN-NOTES: no
``-ffreestanding`` (it implies ``-fno-builtin``, which turns the 4-byte ``memcpy`` of unaligned
loads into real calls). The compiler, its flags and the linker script come from the ISA's
:class:`~mixq.deploy.isa.IsaRecord`; the command line is the same for every ISA.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

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
    return build_elf(record, sorted(project.glob("*.c")), elf_path, entries=("mixq_model_run",),
                     include_dirs=(project,),
                     extra_cflags=("-fcallgraph-info=su", "-dumpdir", f"{cg}/"),
                     extra_link_flags=("-Wl,--noinhibit-exec",) if allow_overflow else ())


def compile_elf(gcc: str, tool: str, cflags: list[str], link_flags: list[str], sources, out,
                entries: tuple[str, ...] = (), include_dirs=(), defines: tuple[str, ...] = ()
                ) -> Path:
    """One cross compile-and-link: ``gcc cflags -I.. -D.. link_flags entries sources -o out``.

    The command of :func:`build_elf` for every ISA. Sources are passed relative to the
    first one's folder (no absolute paths in the ELF); the ELF is written atomically; on failure
    the full output goes to ``<out>.log`` and a one-line :class:`ToolchainError` names ``tool``.
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

    cmd = [gcc, *cflags]
    cmd += [f"-I{rel(Path(d).resolve())}" for d in include_dirs]
    cmd += [f"-D{d}" for d in defines]
    cmd += list(link_flags)
    if entries:
        cmd.append(f"-Wl,--entry={entries[0]}")
    cmd += [f"-Wl,-u,{e}" for e in entries]
    cmd += [rel(s) for s in srcs]
    tmp = out.with_name(f".{out.name}.tmp")
    cmd += ["-o", str(tmp)]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    log = out.with_suffix(".log")
    if proc.returncode != 0:
        write_text_atomic(log, " ".join(cmd) + "\n" + proc.stdout + proc.stderr)
        errors = [ln for ln in proc.stderr.splitlines() if "error" in ln] or ["no message"]
        raise ToolchainError(f"{tool} failed: {errors[0].strip()}; fix the source, full log in {log}")
    if log.exists():
        log.unlink()
    os.replace(tmp, out)
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


__all__ = ["CALLGRAPH_DIR", "ElfSizes", "build_elf", "build_model_elf", "compile_elf", "elf_sizes"]
