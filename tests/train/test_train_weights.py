"""load_weights: what users pass as --checkpoint (a mixq checkpoint or a plain state_dict)."""

import pytest
import torch
from torch import nn

from mixq.errors import MixqError
from mixq.train import save_checkpoint
from mixq.train.checkpoint import load_weights


def net():
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_plain_state_dict_and_mixq_checkpoint_load_the_same_weights(tmp_path):
    torch.manual_seed(0)
    trained = net()
    torch.save(trained.state_dict(), tmp_path / "plain.pt")
    save_checkpoint(tmp_path / "mixq.ckpt", trained)
    for name in ("plain.pt", "mixq.ckpt"):
        model = net()
        load_weights(tmp_path / name, model)
        for a, b in zip(model.state_dict().values(), trained.state_dict().values()):
            assert torch.equal(a, b)


def test_pickled_whole_model_says_what_to_save_instead(tmp_path):
    torch.save(net(), tmp_path / "whole.pt")
    with pytest.raises(MixqError) as e:
        load_weights(tmp_path / "whole.pt", net())
    message = str(e.value)
    assert ("holds pickled Python objects (torch.nn.modules.container.Sequential: a whole model "
            "saved with torch.save(model)?)") in message
    assert "torch.save(model.state_dict(), path)" in message
    assert "\x1b" not in message and "\n" not in message and "corrupt" not in message


def test_other_architecture_and_non_weights_are_named(tmp_path):
    torch.save(nn.Linear(4, 5).state_dict(), tmp_path / "other.pt")
    with pytest.raises(MixqError, match=r"not this one .*; pass the weights of this model "
                       r"\(check --model, --width"):
        load_weights(tmp_path / "other.pt", net())
    torch.save({"lr": 0.1}, tmp_path / "config.pt")
    with pytest.raises(MixqError, match=r"holds a dict, not model weights; pass a mixq "
                       r"checkpoint or a file written by torch.save\(model.state_dict\(\), path\)"):
        load_weights(tmp_path / "config.pt", net())
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(MixqError, match="junk.pt' is corrupt or truncated .*; pass a mixq "
                       "checkpoint") as e:
        load_weights(tmp_path / "junk.pt", net())
    assert "delete" not in str(e.value) and "\x1b" not in str(e.value)
    assert "Unsupported operand" in str(e.value)  # torch's cause, not its boilerplate
