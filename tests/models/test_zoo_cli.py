"""Zoo models by name on the command line (issue 10): `mixq allocate --model NAME` takes the
benchmark budget, `--model` help lists the names, an unknown name is one error line."""

from __future__ import annotations

import json

import pytest

from mixq.args import MODEL_NAMES, ZOO_MODEL_NAMES
from mixq.cli import main
from mixq.models import MODELS, zoo_names


def test_help_name_lists_equal_the_registry():
    assert MODEL_NAMES == tuple(sorted(MODELS)) and ZOO_MODEL_NAMES == zoo_names()


@pytest.mark.parametrize("command", ["allocate", "demo"])
def test_model_help_lists_the_zoo(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse wraps at hyphens
    assert all(name in help_text for name in ZOO_MODEL_NAMES)


@pytest.mark.parametrize("argv,message", [
    (["allocate", "--model", "lenet"], "unknown model 'lenet'; known models: demo_net, ds_cnn, "
                                       "mcunet-in0"),
    (["demo", "--model", "mcunet-vww0", "--out", "x"],
     "unknown zoo model 'mcunet-vww0'; zoo models: mcunet-in0, "),
])
def test_unknown_model_is_one_error_line_listing_the_names(capsys, argv, message):
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert err.startswith(f"mixq: error: {message}") and err.count("\n") == 1


def test_allocate_zoo_model_takes_its_benchmark_budget(capsys):
    assert main(["allocate", "--model", "mlperf_kws_dscnn"]) == 0
    # the MLPerf Tiny reference board (2 MB / 640 kB), the latency on the zoo entry's target
    out = capsys.readouterr().out
    assert "(budget 2097152), peak RAM" in out and "(budget 655360)" in out
    assert "on stm32h7" in out
