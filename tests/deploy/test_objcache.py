"""The compiled-object cache: a hit links the same bytes as a one-command build; a changed
header misses; a damaged entry is rebuilt; concurrent writers leave only whole entries."""

import filecmp
import json
import subprocess
import threading
from pathlib import Path

import pytest

from mixq.codegen import emit_c
from mixq.codegen.synth import GraphBuilder
from mixq.deploy import objcache
from mixq.deploy.build import CALLGRAPH_DIR, build_model_elf, elf_sizes
from mixq.deploy.host import build_host
from mixq.deploy.isa import isa_record
from mixq.deploy.objcache import compile_objects, lookup, publish
from mixq.deploy.stack import stack_bound_bytes
from mixq.deploy.toolchain import find_toolchain
from mixq.platform import get_platform



def two_layers():
    b = GraphBuilder((6, 6, 3), seed=2)
    return b.build(b.fc(b.conv(b.input, 4, kernel=3, out="u4", weight="s4"), 5, out="s8"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv(objcache.CACHE_DIR_ENV, str(root))
    monkeypatch.delenv(objcache.NO_CACHE_ENV, raising=False)
    return root


@pytest.fixture
def compiles(monkeypatch):
    """The sources each ``gcc -c`` compiled (a cache hit compiles nothing)."""
    seen = []
    real = objcache.run_tool

    def spy(cmd, cwd):
        if "-c" in cmd:
            seen.append(Path(cmd[cmd.index("-c") + 1]).name)
        return real(cmd, cwd)

    monkeypatch.setattr(objcache, "run_tool", spy)
    return seen


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("??/*") if p.is_dir())


def _one_command_build(record, project: Path, out: Path) -> Path:
    """The build as one gcc call (no cache, no separate objects): the reference bytes."""
    (out / "cg").mkdir(parents=True)
    gcc = str(find_toolchain(record).gcc)
    elf = out / "ref.elf"
    subprocess.run([gcc, *record.cflags(), "-I.", *record.link_flags,
                    f"-T{record.linker_script_path()}", "-Wl,--entry=mixq_model_run",
                    "-Wl,-u,mixq_model_run", *sorted(p.name for p in project.glob("*.c")),
                    "-fcallgraph-info=su", "-dumpdir", f"{out / 'cg'}/", "-o", str(elf)],
                   cwd=project, check=True)
    return elf


@pytest.mark.cross
@pytest.mark.parametrize("target", ["stm32h7-ref", "gap8"])
def test_cache_hit_links_the_one_command_bytes_and_stack_bound(target, cache, compiles, tmp_path):
    platform = get_platform(target)
    record = isa_record(platform.isa, platform.cpu)
    builds = {}
    for run in ("cold", "warm"):  # two projects of the same graph in different folders
        project = emit_c(two_layers(), tmp_path / run / "p", kernels=platform.kernels).out_dir
        compiles.clear()
        elf = build_model_elf(record, project, tmp_path / run / "m.elf")
        builds[run] = (elf, tmp_path / run / CALLGRAPH_DIR, sorted(compiles))
    runtime = sorted(p.name for p in project.glob("*.c")
                     if p.name not in ("mixq_model.c", "mixq_weights.c"))
    assert builds["cold"][2] == sorted([*runtime, "mixq_model.c", "mixq_weights.c"])
    assert builds["warm"][2] == ["mixq_model.c", "mixq_weights.c"]  # kernels all from the cache
    assert len(_entries(cache)) == len(runtime)
    ref = _one_command_build(record, project, tmp_path / "ref")
    cold_elf, cold_cg, _ = builds["cold"]
    for elf, cg, _ in builds.values():
        assert elf.read_bytes() == ref.read_bytes()
        assert elf_sizes(elf) == elf_sizes(ref)
        names = sorted(p.name for p in (tmp_path / "ref" / "cg").glob("*.ci"))
        assert sorted(p.name for p in cg.glob("*.ci")) == names
        assert all(filecmp.cmp(cg / n, tmp_path / "ref" / "cg" / n, shallow=False) for n in names)
        assert stack_bound_bytes(cg) == stack_bound_bytes(tmp_path / "ref" / "cg") > 0


def test_host_build_takes_its_kernels_from_the_cache(cache, compiles, tmp_path):
    project = emit_c(two_layers(), tmp_path / "p").out_dir
    build_host(project, tmp_path / "b1", sanitize=False)
    first = len(compiles)
    compiles.clear()
    build_host(project, tmp_path / "b2", sanitize=False)
    assert sorted(compiles) == ["main.c", "mixq_model.c", "mixq_weights.c"] and first > 3


def _kernel(folder: Path, value: int, comment: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "k.h").write_text(f"#define K {value}\n")
    (folder / "k.c").write_text(f"/* {comment} */\n#include \"k.h\"\nint k(void) {{ return K; }}\n")
    return folder


def _compile(folder: Path, work: Path, root: Path):
    return compile_objects("gcc", ["-O2", "-I."], ["k.c"], folder, work, lambda s: True, root)[0]


def test_changed_header_misses_changed_comment_hits(tmp_path):
    root = tmp_path / "cache"
    first = _compile(_kernel(tmp_path / "a", 1, "model 1"), tmp_path / "w1", root)
    same = _compile(_kernel(tmp_path / "b", 1, "model 2"), tmp_path / "w2", root)
    other = _compile(_kernel(tmp_path / "c", 2, "model 1"), tmp_path / "w3", root)
    assert (first.cached, same.cached, other.cached) == (False, True, False)
    assert same.object.read_bytes() == first.object.read_bytes()
    assert other.object.read_bytes() != first.object.read_bytes()
    assert len(_entries(root)) == 2


def test_damaged_entry_is_rebuilt_not_linked(tmp_path):
    root = tmp_path / "cache"
    src = _kernel(tmp_path / "a", 7)
    good = _compile(src, tmp_path / "w0", root).object.read_bytes()
    (entry,) = _entries(root)
    for i, damage in enumerate([lambda: (entry / "k.o").write_bytes(good[:100]),
                                lambda: (entry / "manifest.json").write_text("{"),
                                lambda: (entry / "manifest.json").unlink()]):
        damage()
        rebuilt = _compile(src, tmp_path / f"w{i + 1}", root)
        assert not rebuilt.cached and rebuilt.object.read_bytes() == good
        assert lookup(root, entry.name) == entry  # the rebuilt entry is whole again
        assert _compile(src, tmp_path / f"v{i}", root).cached


def test_concurrent_writers_leave_one_whole_entry(tmp_path):
    root = tmp_path / "cache"
    src = _kernel(tmp_path / "a", 3)
    key = "ab" + "0" * 62
    builds = []
    for i in range(8):  # eight writers of one key, each with its own object
        built = compile_objects("gcc", ["-O2", "-I."], ["k.c"], src, tmp_path / f"w{i}")[0]
        builds.append(built.object.parent)
    start = threading.Barrier(len(builds))

    def write(folder):
        start.wait()
        publish(root, key, folder, {})

    threads = [threading.Thread(target=write, args=(b,)) for b in builds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _entries(root) == [root / "ab" / key]
    assert list((root / "tmp").iterdir()) == []  # the losers' copies are gone
    manifest = json.loads((root / "ab" / key / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["k.o"] and lookup(root, key) is not None
    # and through the lock: concurrent compiles of one missing object all succeed
    results = [None] * 4

    def compile_one(i):
        results[i] = _compile(src, tmp_path / f"c{i}", root)

    threads = [threading.Thread(target=compile_one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(not r.cached for r in results) == 1
    assert len({r.object.read_bytes() for r in results}) == 1


def test_no_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(objcache.NO_CACHE_ENV, "1")
    monkeypatch.setenv(objcache.CACHE_DIR_ENV, str(tmp_path / "cache"))
    built = compile_objects("gcc", ["-O2"], ["k.c"], _kernel(tmp_path / "a", 1), tmp_path / "w",
                            lambda s: True)[0]
    assert not built.cached and built.object.exists() and not (tmp_path / "cache").exists()
