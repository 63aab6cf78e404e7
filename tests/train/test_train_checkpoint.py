import pytest
import torch
from torch import nn

from mixq.data import synthetic
from mixq.errors import MixqError
from mixq.train import TrainConfig, load_checkpoint, save_checkpoint, train

CFG = TrainConfig(epochs=4, batch_size=32, lr=1e-2, warmup_epochs=1, seed=2)
MODEL_ID = {"model": "tiny", "width": 4, "allocation_hash": "abc"}


def tiny(width=4, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.Dropout(0.2), nn.Flatten(), nn.Linear(width * 64, 3))


@pytest.fixture(scope="module")
def data():
    return synthetic(240, (1, 8, 8), num_classes=3, seed=5)


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


class Interrupt(Exception):
    pass


def test_resume_matches_uninterrupted_run(tmp_path, data):
    reference = tiny()
    full = train(reference, data, CFG, progress=False)

    path = tmp_path / "run" / "ck.pt"

    def kill_in_third_epoch(epoch, model):
        if epoch == 2:
            raise Interrupt  # as if killed after epoch 3's steps, before its checkpoint

    with pytest.raises(Interrupt):
        train(tiny(), data, CFG, checkpoint_path=path, model_id=MODEL_ID, progress=False,
              on_epoch_end=kill_in_third_epoch)
    assert load_checkpoint(path, tiny()).epoch == 2

    resumed_model = tiny(seed=99)  # different init: the checkpoint must supply the weights
    torch.manual_seed(7)
    resumed = train(resumed_model, data, CFG, checkpoint_path=path, model_id=MODEL_ID,
                    progress=False)
    assert resumed.start_epoch == 2
    assert same_weights(resumed_model, reference)
    assert resumed.top1 == full.top1
    assert [h.to_dict() for h in resumed.history] == [h.to_dict() for h in full.history]
    assert load_checkpoint(path, tiny(), model_id=MODEL_ID).epoch == 4
    # No temporary files are left next to the checkpoint.
    assert sorted(p.name for p in path.parent.iterdir()) == ["ck.pt"]

    # A finished run resumes to "done": no training, same result.
    again_model = tiny(seed=5)
    again = train(again_model, data, CFG, checkpoint_path=path, model_id=MODEL_ID,
                  progress=False)
    assert again.start_epoch == 4 and again.top1 == full.top1 and same_weights(again_model,
                                                                               reference)


def test_hooks_replayed_before_weights_on_resume(tmp_path, data):
    path = tmp_path / "ck.pt"
    cfg = TrainConfig(**{**CFG.to_dict(), "epochs": 2})
    train(tiny(), data, cfg, checkpoint_path=path, progress=False)
    calls = []

    def hook(epoch, model):
        calls.append(epoch)
        model[1].eval()  # a flag outside the state_dict
        with torch.no_grad():
            model[0].weight.zero_()  # weight edits are overwritten by the checkpoint

    model = tiny()
    train(model, data, cfg, checkpoint_path=path, progress=False, on_epoch_end=hook)
    assert calls == [0, 1] and not model[1].training
    assert model[0].weight.abs().sum() > 0


def corrupt_cases(path):
    good = path.read_bytes()
    yield "truncated", good[: len(good) // 3]
    yield "garbage", b"\x00garbage" * 10
    yield "empty", b""


def test_corrupt_checkpoint_is_an_error_and_kept(tmp_path, data):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, tiny(), epoch=1, model_id=MODEL_ID)
    for _, content in list(corrupt_cases(path)):
        path.write_bytes(content)
        with pytest.raises(MixqError, match="corrupt or truncated.*delete it to start over") as e:
            train(tiny(), data, CFG, checkpoint_path=path, model_id=MODEL_ID, progress=False)
        assert "\n" not in str(e.value)
        assert path.read_bytes() == content


def test_not_a_mixq_checkpoint(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(MixqError, match="is not a mixq checkpoint"):
        load_checkpoint(path, tiny())
    with pytest.raises(MixqError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.pt", tiny())


def test_other_model_id_is_refused_and_file_kept(tmp_path, data):
    path = tmp_path / "ck.pt"
    train(tiny(), data, TrainConfig(**{**CFG.to_dict(), "epochs": 1}), checkpoint_path=path,
          model_id=MODEL_ID, progress=False)
    before = path.read_bytes()
    other = {**MODEL_ID, "allocation_hash": "def"}
    model = tiny()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(MixqError, match=r"was saved for model .*\"abc\".*, not .*\"def\".*; "
                                        "delete it or pass the matching model"):
        train(model, data, CFG, checkpoint_path=path, model_id=other, progress=False)
    assert path.read_bytes() == before
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def test_other_shapes_are_refused_before_loading(tmp_path, data):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, tiny(width=4), epoch=1)
    model = tiny(width=8)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(MixqError, match=r"'0.weight' is \[4, 1, 3, 3\] in the checkpoint, "
                                        r"\[8, 1, 3, 3\] in the model.*matching model"):
        load_checkpoint(path, model)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    with pytest.raises(MixqError, match="model has 'weight' and 1 more not in the checkpoint; "
                                        "checkpoint has '0.weight' and 8 more not in the model"):
        load_checkpoint(path, nn.Linear(2, 2))


def test_other_config_is_refused(tmp_path, data):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, tiny(), epoch=1, config=CFG)
    with pytest.raises(MixqError, match="another training config .*lr 0.01 in the checkpoint, "
                                        "0.1 now"):
        train(tiny(), data, TrainConfig(**{**CFG.to_dict(), "lr": 0.1}), checkpoint_path=path,
              progress=False)
    # resume=False starts over and overwrites.
    result = train(tiny(), data, TrainConfig(**{**CFG.to_dict(), "lr": 0.1, "epochs": 1}),
                   checkpoint_path=path, resume=False, progress=False)
    assert result.start_epoch == 0 and load_checkpoint(path, tiny()).config["lr"] == 0.1


def test_save_checkpoint_roundtrip_with_optimizer(tmp_path):
    model = tiny()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.rand(2, 1, 8, 8)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "a" / "b.pt", model, optimizer=opt, epoch=2,
                           config=CFG, model_id={"model": "tiny", "dims": (1, 2)},
                           history=[{"epoch": 0}])
    model2 = tiny(seed=3)
    opt2 = torch.optim.Adam(model2.parameters(), lr=0.1)
    ck = load_checkpoint(path, model2, optimizer=opt2, model_id={"model": "tiny", "dims": [1, 2]},
                         config=CFG)
    assert ck.epoch == 2 and ck.history == ({"epoch": 0},) and ck.config["seed"] == 2
    assert same_weights(model, model2)
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"],
                       opt.state_dict()["state"][0]["exp_avg"])
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(tmp_path / "c.pt", model, model_id={"f": object()})
    bare = save_checkpoint(tmp_path / "c2.pt", model)
    with pytest.raises(MixqError, match="no optimizer state"):
        load_checkpoint(bare, tiny(), optimizer=torch.optim.SGD(tiny().parameters(), lr=1))
