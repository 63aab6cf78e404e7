"""Where training runs: the device (CPU or CUDA) and the processes (one, or a ``torchrun`` job).

A process started by ``torchrun`` (environment ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``) joins the process group on its first :func:`train` call (NCCL on
CUDA, gloo on CPU) and trains a DistributedDataParallel replica on its share of every global
batch. Rank 0 alone writes checkpoints and reports (:func:`is_writer`); checkpoints hold the plain
model's state, so a run resumes under any number of processes.

Example:
    >>> resolve_device("cpu"), DeviceKind("auto").value
    (device(type='cpu'), 'auto')
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import distributed as dist
from torch import nn

from mixq.engine.device import DeviceKind
from mixq.errors import MixqError


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: ``rank`` of ``world_size`` (1: not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_ranks() -> Ranks:
    """The job layout from an initialised process group, else from torchrun's environment.

    Example:
        >>> env_ranks().world_size >= 1
        True
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        return Ranks(rank, world, int(os.environ.get("LOCAL_RANK", rank)))
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError:
        raise MixqError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets "
                        "them)") from None
    return Ranks(rank, world, local)


def is_writer() -> bool:
    """True in the process that writes files: rank 0, or the only process."""
    return env_ranks().rank == 0


def resolve_device(kind: DeviceKind | str | torch.device = DeviceKind.AUTO,
                   ranks: Ranks | None = None) -> torch.device:
    """The torch device for ``--device``: CUDA (this process's GPU under torchrun) or the CPU.

    Raises:
        MixqError: 'cuda' asked for but no GPU is visible.
    """
    if isinstance(kind, torch.device):
        return kind
    try:
        kind = DeviceKind(kind)
    except ValueError:
        raise MixqError(f"device '{kind}' is not one of "
                        f"{', '.join(k.value for k in DeviceKind)}") from None
    cuda = torch.cuda.is_available()
    if kind is DeviceKind.CUDA and not cuda:
        raise MixqError("--device cuda but no CUDA GPU is visible to torch; use --device cpu "
                        "or auto")
    if kind is DeviceKind.CPU or not cuda:
        return torch.device("cpu")
    ranks = ranks or env_ranks()
    return torch.device("cuda", ranks.local_rank % torch.cuda.device_count())


def join_process_group(device: torch.device) -> Ranks:
    """Join torchrun's process group (once) when the environment says WORLD_SIZE > 1."""
    ranks = env_ranks()
    if ranks.distributed and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return env_ranks()


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """A DistributedDataParallel replica of ``model`` (parameters broadcast from rank 0).

    On CUDA, BatchNorm layers become SyncBatchNorm for the duration (statistics over the global
    batch; undo with :func:`unwrap_ddp`). torch has no CPU SyncBatchNorm: on CPU each rank's
    BatchNorm normalizes its share of the batch, and :func:`sync_buffers` makes the running
    statistics rank 0's after every epoch.
    """
    if device.type == "cuda":
        _to_sync_bn(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def _to_sync_bn(model: nn.Module) -> None:
    for name, child in list(model.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and \
                not isinstance(child, nn.SyncBatchNorm):
            sync = nn.SyncBatchNorm.convert_sync_batchnorm(child)
            sync.mixq_bn_class = type(child)
            setattr(model, name, sync)
        else:
            _to_sync_bn(child)


def unwrap_ddp(model: nn.Module) -> None:
    """Turn the SyncBatchNorm layers :func:`wrap_ddp` made back into their classes, in place.

    Example:
        >>> m = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
        >>> _to_sync_bn(m); type(m[1]).__name__
        'SyncBatchNorm'
        >>> unwrap_ddp(m); type(m[1]).__name__
        'BatchNorm2d'
    """
    for name, child in list(model.named_children()):
        if isinstance(child, nn.SyncBatchNorm) and hasattr(child, "mixq_bn_class"):
            bn = child.mixq_bn_class(child.num_features, child.eps, child.momentum,
                                     child.affine, child.track_running_stats)
            bn.load_state_dict(child.state_dict())
            bn.to(next(iter(child.state_dict().values())).device).train(child.training)
            setattr(model, name, bn)
        else:
            unwrap_ddp(child)


def sync_buffers(model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics)."""
    for b in model.buffers():
        dist.broadcast(b, src=0)


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over the ranks."""
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def shard(x: torch.Tensor, y: torch.Tensor, ranks: Ranks):
    """This rank's share of a global batch: rows ``rank, rank + world_size, ...``.

    Example:
        >>> shard(torch.arange(6), torch.arange(6), Ranks(1, 2))
        (tensor([1, 3, 5]), tensor([1, 3, 5]))
    """
    if not ranks.distributed:
        return x, y
    return x[ranks.rank::ranks.world_size], y[ranks.rank::ranks.world_size]


def autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on a CUDA device that supports it, when ``enabled``; else a no-op.

    Float pre-training only: the fake quantizers of QAT need float32 (a bfloat16 value has 8
    significant bits, fewer than an int8 code's levels plus the rounding they model).
    """
    on = enabled and device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on)

