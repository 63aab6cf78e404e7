"""Training checkpoints: one file per run, rewritten atomically after every epoch.

A checkpoint holds everything a resumed run needs to continue exactly where the interrupted run
stopped: model, optimizer and scheduler state, the number of completed epochs, the RNG states,
the training config, the history so far, and ``model_id``, a small dict naming the architecture
(e.g. ``{"model": "demo_net", "width": 0.5, "allocation_hash": "3f2a..."}``).

Files are read with ``torch.load(weights_only=True)``: a checkpoint holds tensors and plain
values only, and loading one cannot run code.
"""

from __future__ import annotations

import io
import json
import pickle
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mixq.errors import MixqError
from mixq.fileio import write_bytes_atomic

FORMAT = "mixq.checkpoint"
VERSION = 1
_DELETE = "delete it or pass the matching model"


@dataclass(frozen=True)
class Checkpoint:
    """What :func:`load_checkpoint` read besides the states it loaded into the objects.

    Attributes:
        path: the file.
        epoch: number of completed epochs (training resumes at this 0-based epoch index).
        model_id: the architecture identity stored with it, or None.
        config: the training config as a dict, or None.
        history: per-epoch records (dicts) of the run so far.
        rng_state: python, numpy and torch RNG states at the end of the last epoch.
    """

    path: Path
    epoch: int
    model_id: dict | None
    config: dict | None
    history: tuple = ()
    rng_state: dict = field(default_factory=dict, repr=False)


def _canonical_id(model_id: dict | None) -> dict | None:
    """model_id as plain JSON values (tuples become lists), or TypeError if it is not JSON."""
    if model_id is None:
        return None
    if not isinstance(model_id, dict):
        raise TypeError(f"model_id must be a dict of JSON values, got {type(model_id).__name__}")
    try:
        return json.loads(json.dumps(model_id, sort_keys=True))
    except (TypeError, ValueError) as e:
        raise TypeError(f"model_id must hold JSON values only: {e}") from None


def _describe(model_id: dict | None) -> str:
    if model_id is None:
        return "an unnamed model"
    return json.dumps(model_id, sort_keys=True, separators=(", ", ": "))


def get_rng_state() -> dict:
    """Python, numpy and torch (CPU and CUDA) RNG states, as checkpointable plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned (missing parts are left alone)."""
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        s = state["numpy"]
        np.random.set_state((s["kind"], s["keys"].numpy().astype(np.uint32), s["pos"],
                             s["has_gauss"], s["cached_gaussian"]))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path, model: nn.Module, *, optimizer: torch.optim.Optimizer | None = None,
                    scheduler=None, epoch: int = 0, config=None, model_id: dict | None = None,
                    history=(), rng_state: dict | None = None) -> Path:
    """Write a checkpoint atomically (temp file + rename: never a half-written file).

    Args:
        path: destination file (parent folders are created).
        model: its state_dict is saved.
        optimizer: optimizer whose state is saved, or None.
        scheduler: LR scheduler whose state is saved, or None.
        epoch: number of completed epochs.
        config: the :class:`~mixq.train.TrainConfig` (or its dict), or None.
        model_id: JSON-able dict naming the architecture, checked when loading.
        history: per-epoch records (dicts or dataclasses with ``to_dict``).
        rng_state: RNG states to store; None stores the current ones.

    Returns:
        The path written.

    Raises:
        TypeError: model_id is not a dict of JSON values.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "ck.pt"
        >>> m = nn.Linear(2, 2)
        >>> _ = save_checkpoint(p, m, epoch=3, model_id={"model": "lin", "width": 2})
        >>> load_checkpoint(p, nn.Linear(2, 2), model_id={"model": "lin", "width": 2}).epoch
        3
    """
    if config is not None and not isinstance(config, dict):
        config = config.to_dict()
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(epoch),
        "model_id": _canonical_id(model_id),
        "config": config,
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "scheduler_state": scheduler.state_dict() if scheduler is not None else None,
        "rng_state": get_rng_state() if rng_state is None else rng_state,
        "history": [h.to_dict() if hasattr(h, "to_dict") else dict(h) for h in history],
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # torch's messages carry terminal bold codes
_WEIGHTS_FIX = "pass a mixq checkpoint or a file written by torch.save(model.state_dict(), path)"


def _torch_load(path: Path, fix: str):
    """torch.load(weights_only=True) with one-line errors that name the cause and ``fix``."""
    if not path.is_file():
        raise MixqError(f"checkpoint '{path}' does not exist; check the path")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found is None:
            raise MixqError(f"checkpoint '{path}' is corrupt or truncated (UnpicklingError: "
                            f"{_reason(e)}); {fix}") from None
        raise MixqError(f"'{path}' holds pickled Python objects ({found.group(1)}: a whole model "
                        "saved with torch.save(model)?), which mixq does not load because "
                        "unpickling can run code; save the weights with "
                        "torch.save(model.state_dict(), path) instead") from None
    except Exception as e:  # torch raises many types for damaged zip/pickle data
        raise MixqError(f"checkpoint '{path}' is corrupt or truncated ({type(e).__name__}: "
                        f"{_reason(e)}); {fix}") from None


def _reason(e: Exception) -> str:
    """The cause in torch's message, one line, without terminal escape codes."""
    text = _ANSI.sub("", str(e))
    text = text.split("WeightsUnpickler error:", 1)[-1].split("Check the documentation")[0]
    return " ".join(text.split())[:100]


def _check_version(payload: dict, path: Path) -> None:
    if payload.get("version") != VERSION:
        raise MixqError(f"checkpoint '{path}' has format version {payload.get('version')}, this "
                        f"mixq reads version {VERSION}; delete it to start over")


def read_checkpoint(path) -> dict:
    """Read and sanity-check a checkpoint file without loading it into anything.

    Raises:
        MixqError: the file is missing, corrupt, truncated, or not a mixq checkpoint.
    """
    path = Path(path)
    payload = _torch_load(path, "delete it to start over")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise MixqError(f"'{path}' is not a mixq checkpoint; delete it or choose another path")
    _check_version(payload, path)
    return payload


def load_weights(path, model: nn.Module) -> None:
    """Load trained weights into ``model``: a mixq checkpoint or a plain saved state_dict.

    Args:
        path: a checkpoint written by :func:`save_checkpoint` (or by training), or a file written
            by ``torch.save(model.state_dict(), path)``.
        model: receives the weights (keys and shapes must match exactly).

    Raises:
        MixqError: missing or damaged file, a pickled whole model, anything else that is not
            weights, or weights of another architecture.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
        >>> torch.save(nn.Linear(2, 1).state_dict(), p)
        >>> m = nn.Linear(2, 1); load_weights(p, m)
        >>> torch.equal(m.weight, torch.load(p)["weight"])
        True
    """
    path = Path(path)
    payload = _torch_load(path, _WEIGHTS_FIX)
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        _check_version(payload, path)
    elif isinstance(payload, dict) and payload and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()):
        payload = {"model_state": payload}  # a plain state_dict
    else:
        raise MixqError(f"'{path}' holds a {type(payload).__name__}, not model weights; "
                        f"{_WEIGHTS_FIX}")
    fix = "pass the weights of this model (check --model, --width, --resolution, --num-classes)"
    check_state_dict(payload, path, model, fix)
    model.load_state_dict(payload["model_state"])


def check_model_id(payload: dict, path, model_id: dict | None) -> None:
    """Raise MixqError when both the checkpoint and the caller name a model and they differ."""
    saved, wanted = payload.get("model_id"), _canonical_id(model_id)
    if saved is not None and wanted is not None and saved != wanted:
        raise MixqError(f"checkpoint '{path}' was saved for model {_describe(saved)}, not "
                        f"{_describe(wanted)}; {_DELETE}")


def check_config(payload: dict, path, config) -> None:
    """Raise MixqError when the checkpoint was written under a different training config."""
    saved = payload.get("config")
    if config is None or saved is None:
        return
    wanted = config if isinstance(config, dict) else config.to_dict()
    diffs = [f"{k} {saved.get(k)!r} in the checkpoint, {wanted.get(k)!r} now"
             for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k)]
    if diffs:
        raise MixqError(f"checkpoint '{path}' was saved with another training config "
                        f"({'; '.join(diffs)}); delete it, use the same config, or pass "
                        "resume=False")


def check_state_dict(payload: dict, path, model: nn.Module, fix: str = _DELETE) -> None:
    """Raise MixqError when the saved state_dict's keys or shapes differ from ``model``'s."""
    saved, current = payload["model_state"], model.state_dict()
    problems = []
    missing = [k for k in current if k not in saved]
    unexpected = [k for k in saved if k not in current]
    if missing:
        problems.append(f"model has {missing[0]!r}" + (f" and {len(missing) - 1} more"
                                                       if len(missing) > 1 else "")
                        + " not in the checkpoint")
    if unexpected:
        problems.append(f"checkpoint has {unexpected[0]!r}" + (f" and {len(unexpected) - 1} more"
                                                               if len(unexpected) > 1 else "")
                        + " not in the model")
    for k in current:
        if k in saved and tuple(saved[k].shape) != tuple(current[k].shape):
            problems.append(f"{k!r} is {list(saved[k].shape)} in the checkpoint, "
                            f"{list(current[k].shape)} in the model")
            break
    if problems:
        saved_id = payload.get("model_id")
        raise MixqError(f"checkpoint '{path}' was saved for {_describe(saved_id)}, not this one "
                        f"({'; '.join(problems)}); {fix}")


def apply_checkpoint(payload: dict, path, model: nn.Module, optimizer=None,
                     scheduler=None) -> Checkpoint:
    """Load a checked payload into model, optimizer and scheduler; returns the rest."""
    check_state_dict(payload, path, model)
    model.load_state_dict(payload["model_state"])
    if optimizer is not None:
        if payload.get("optimizer_state") is None:
            raise MixqError(f"checkpoint '{path}' has no optimizer state to resume from; "
                            "delete it to start over")
        optimizer.load_state_dict(payload["optimizer_state"])
    if scheduler is not None and payload.get("scheduler_state") is not None:
        scheduler.load_state_dict(payload["scheduler_state"])
    return Checkpoint(path=Path(path), epoch=int(payload["epoch"]),
                      model_id=payload.get("model_id"), config=payload.get("config"),
                      history=tuple(payload.get("history") or ()),
                      rng_state=payload.get("rng_state") or {})


def load_checkpoint(path, model: nn.Module, *, optimizer: torch.optim.Optimizer | None = None,
                    scheduler=None, model_id: dict | None = None, config=None) -> Checkpoint:
    """Load a checkpoint into ``model`` (and optimizer/scheduler), after checking it fits.

    Nothing is loaded unless every check passes, and the file is never modified.

    Args:
        path: the checkpoint file.
        model: receives the saved state_dict (keys and shapes must match exactly).
        optimizer: receives the saved optimizer state, or None to skip it.
        scheduler: receives the saved scheduler state, or None to skip it.
        model_id: expected architecture identity; compared when the file has one too.
        config: expected TrainConfig (or dict); compared when given.

    Returns:
        Checkpoint with the epoch count, identity, config, history and RNG states.

    Raises:
        MixqError: missing, corrupt or truncated file; another model (model_id, keys or shapes);
            another training config.
    """
    payload = read_checkpoint(path)
    check_model_id(payload, path, model_id)
    check_config(payload, path, config)
    return apply_checkpoint(payload, path, model, optimizer, scheduler)
