"""The instruction sets mixq deploys to, as data: one frozen :class:`IsaRecord` per ISA.

Everything the deploy flow (:func:`mixq.deploy.deploy.deploy`) needs to know about an
instruction set is in its record: the cross compiler and its flags, the linker script (the
memory map of code, data and stack), the emulator adapter (Unicorn CPU, registers, trap page
and caller-buffer addresses, ELF loader, instruction lengths), the disassembler's instruction
classes and the cycle model. The flow itself (emit -> build -> run -> compare -> host check ->
profile) is written once, in :mod:`mixq.deploy.run` and :mod:`mixq.deploy.deploy`.

Adding an ISA (e.g. a PULP core with the Xpulp extensions):

1. add its member to :class:`mixq.platform.Isa` (and use it in a platform TOML's ``[core]``);
2. write its simulator adapter: an :class:`mixq.deploy.emulator.Emulator` subclass (class
   attributes: Unicorn arch/mode/CPU, argument/SP/PC registers, trap page and buffer base,
   ELF machine, linker script; methods ``_enter`` and ``instruction_lengths``), with a linker
   script in ``mixq/deploy/`` if it needs its own memory map; a core that extends another may
   subclass that one's adapter (as :class:`mixq.deploy.emulator_xpulp.XpulpCore` extends
   :class:`mixq.deploy.riscv.Rv32Core`);
3. define its :class:`IsaRecord` next to the adapter (compiler, flags, classifier, cycle model
   from :mod:`mixq.platform.cycles`, optionally a profiler) and add one row to
   :func:`mixq.deploy.isa.isa_record`'s table (its ISA row in
   :mod:`mixq.deploy.base_isas`). A core that extends an ISA (the RI5CY cores with Xpulp,
   selected by the platform's ``[core] cpu``) is a ``dataclasses.replace`` of its ISA's record
   with its own emulator and profiler (:mod:`mixq.deploy.xpulp_runner`).

Nothing else changes: building, emulating, comparing, profiling and ``deploy.json`` follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

from mixq.platform.cycles import CycleModel
from mixq.platform.spec import Isa


@dataclass(frozen=True)
class IsaRecord:
    """One instruction set: toolchain, memory map, simulator, profiler and cycle model.

    Attributes:
        isa: the :class:`~mixq.platform.Isa` it implements.
        label: the core as the one-line summary names it ('Cortex-M7').
        emulator: the simulator adapter (an :class:`~mixq.deploy.emulator.Emulator` subclass;
            it also loads the ELFs, see its ``load``).
        gcc, objdump: names of the cross compiler driver and disassembler on ``PATH``.
        install_hint: how to get them (ends every missing-tool message).
        cpu_flags: compiler flags selecting the core and ABI.
        link_flags: linker flags besides the script (start-up files, C library specs).
        linker_script: file name of the packaged linker script (in ``mixq/deploy/``).
        classify: ``(mnemonic, operands) -> (class, registers moved)`` of one disassembled
            instruction (:mod:`mixq.platform.cycles`).
        cycle_model: the per-class cycle table of the single-core estimate.
        cycle_note: the ``cycle_model`` text of ``deploy.json``.
        reports_isa: ``deploy.json`` carries an ``isa`` key (the RISC-V records; kept as
            the files were before the records existed).
        profiler: ``(runner, sample) -> InstructionProfile`` replacing the block-count profile
            (:mod:`mixq.deploy.xpulp_runner`: the RI5CY pipeline model), or None.
    """

    isa: Isa
    label: str
    emulator: type
    gcc: str
    objdump: str
    install_hint: str
    cpu_flags: tuple[str, ...]
    link_flags: tuple[str, ...]
    linker_script: str
    classify: Callable[[str, str], tuple[str, int]]
    cycle_model: CycleModel
    cycle_note: str
    reports_isa: bool = False
    profiler: Optional[Callable] = None

    def cflags(self, opt: str = "-O3") -> list[str]:
        """Compiler flags of a build (without sources, includes, or link options).

        Example:
            >>> from mixq.deploy.base_isas import base_record
            >>> base_record(Isa.ARMV7EM).cflags()[:2]
            ['-mcpu=cortex-m7', '-mthumb']
        """
        return [*self.cpu_flags, opt, "-ffunction-sections", "-fdata-sections", "-Wall",
                "-Wextra", "-Werror", "-std=c99"]

    def linker_script_path(self) -> Path:
        """Path of the packaged linker script."""
        return Path(str(resources.files("mixq.deploy").joinpath(self.linker_script)))

    def load(self, elf):
        """Read an ELF built for this ISA (:class:`~mixq.deploy.emulator.Image`)."""
        return self.emulator.load(elf)


__all__ = ["IsaRecord"]
