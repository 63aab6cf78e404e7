"""``results.jsonl``: one JSON object per finished trial, appended durably.

Durability rules (so an interrupted sweep resumes and never loses a finished trial):

- a record is written as one complete line in a single ``write``, then flushed and fsynced;
- only the sweep's parent process writes, so lines never interleave;
- on start, a trailing partial line (a write cut short by a crash) is truncated away; every
  complete line is a finished trial.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mixq.errors import MixqError


def repair_tail(path) -> int:
    """Truncate a trailing partial line (no final newline); returns the bytes removed.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
        >>> _ = p.write_text('{"a": 1}\\n{"b":')
        >>> repair_tail(p), p.read_text()
        (5, '{"a": 1}\\n')
    """
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with open(path, "r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return len(data) - keep


def read_results(path) -> list[dict]:
    """The finished trials of a results file (a trailing partial line is ignored).

    Raises:
        MixqError: a complete line that is not a JSON object (the file was edited by hand).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
        >>> append_result(p, {"trial": "a"}); _ = open(p, "a").write('{"tri')
        >>> read_results(p)
        [{'trial': 'a'}]
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    out = []
    for i, line in enumerate(lines[:-1], start=1):  # the last piece is "" or a partial line
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            rec = None
        if not isinstance(rec, dict):
            raise MixqError(f"{path}: line {i} is not a JSON object; delete that line (its trial "
                            "will run again)")
        out.append(rec)
    return out


def append_result(path, record: dict) -> None:
    """Append ``record`` as one line: a single write, flushed and fsynced."""
    line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
