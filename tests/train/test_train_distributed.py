"""DistributedDataParallel training as torchrun starts it: 2 processes, gloo, loopback.

What holds (and is asserted): for a model without BatchNorm, the 2-process model equals the
1-process model trained on the same global batches (up to float summation order); only rank 0
writes the checkpoint; a checkpoint a 2-process run left is resumed by 1 process and ends where
an uninterrupted run ends. With BatchNorm on CPU (torch has no CPU SyncBatchNorm) each rank
normalizes its half batch, so the model differs from the 1-process one, but both replicas stay
identical and the checkpoint is a plain model's.
"""

import multiprocessing as mp
import os
import socket

import pytest
import torch
from torch import nn

from mixq.data import synthetic
from mixq.models import get_model
from mixq.train import TrainConfig, load_checkpoint, train
from mixq.train.distributed import Ranks, env_ranks, resolve_device, shard

CFG = TrainConfig(epochs=3, batch_size=32, lr=0.02)
STOP_AT = 1  # the interrupted runs stop after this many epochs


class _Stop(Exception):
    pass


def _data():
    return synthetic(192, (1, 8, 8), num_classes=3)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 3))


def _stop_after(n):
    def hook(epoch, model):
        if epoch == n:  # the checkpoint of epochs [0, n) is on disk
            raise _Stop
    return hook


def _worker(rank, world, port, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    import mixq.train.loop as loop

    saves = []
    real_save = loop.save_checkpoint
    loop.save_checkpoint = lambda *a, **k: (saves.append(1), real_save(*a, **k))[1]
    try:
        train(_mlp(), _data(), CFG, checkpoint_path=f"{out}/mlp.ckpt", progress=False,
              on_epoch_end=_stop_after(STOP_AT))
    except _Stop:
        pass
    torch.save({"saves": len(saves)}, f"{out}/saves.{rank}.pt")
    torch.manual_seed(0)
    net = get_model("demo_net", num_classes=3, width=0.25, resolution=8, in_channels=1)
    train(net, _data(), TrainConfig(epochs=1, batch_size=32), checkpoint_path=f"{out}/bn.ckpt",
          progress=False, device="cpu")
    torch.save(net.state_dict(), f"{out}/bn.{rank}.pt")
    torch.distributed.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    port = _free_port()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(r, 2, port, str(out))) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    return out


def _close(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)


def test_two_processes_train_like_one_on_the_same_global_batches(two_process_run, tmp_path):
    torch.set_num_threads(1)
    ref = _mlp()
    with pytest.raises(_Stop):
        train(ref, _data(), CFG, checkpoint_path=tmp_path / "ref.ckpt", progress=False,
              on_epoch_end=_stop_after(STOP_AT))
    ddp = _mlp()
    assert load_checkpoint(two_process_run / "mlp.ckpt", ddp).epoch == STOP_AT
    ref_state = torch.load(tmp_path / "ref.ckpt", weights_only=True)["model_state"]
    _close(ddp.state_dict(), ref_state)
    assert ddp.state_dict()["1.weight"].ne(_mlp().state_dict()["1.weight"]).any()  # it trained
    saves = [torch.load(two_process_run / f"saves.{r}.pt")["saves"] for r in range(2)]
    assert saves == [STOP_AT, 0]  # rank 0 writes, rank 1 writes nothing


def test_one_process_resumes_a_two_process_checkpoint(two_process_run, tmp_path):
    torch.set_num_threads(1)
    ckpt = tmp_path / "mlp.ckpt"
    ckpt.write_bytes((two_process_run / "mlp.ckpt").read_bytes())
    resumed = _mlp()
    result = train(resumed, _data(), CFG, checkpoint_path=ckpt, progress=False)
    assert result.start_epoch == STOP_AT and len(result.history) == CFG.epochs
    whole = _mlp()
    train(whole, _data(), CFG, progress=False)
    _close(resumed.state_dict(), whole.state_dict())


def test_batchnorm_replicas_stay_identical_on_cpu(two_process_run):
    a, b = (torch.load(two_process_run / f"bn.{r}.pt") for r in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    net = get_model("demo_net", num_classes=3, width=0.25, resolution=8, in_channels=1)
    load_checkpoint(two_process_run / "bn.ckpt", net)
    assert all(torch.equal(net.state_dict()[k], a[k]) for k in a)
    assert {type(m).__name__ for m in net.modules()} >= {"BatchNorm2d"}


def test_device_and_ranks_from_the_environment(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert env_ranks() == Ranks(3, 4, 3)
    x, y = shard(torch.arange(8), torch.arange(8), env_ranks())
    assert x.tolist() == [3, 7]
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        from mixq.errors import MixqError

        with pytest.raises(MixqError, match="no CUDA GPU"):
            resolve_device("cuda")
