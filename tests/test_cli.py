"""The ``mixq`` command itself: --version, help that lists valid values, argument checks."""

import re

import pytest

import mixq
from mixq.cli import main
from mixq.platform import known_platforms


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"mixq {mixq.__version__}"


def test_version_matches_the_package_metadata():
    import pathlib
    import tomllib

    pyproject = pathlib.Path(__file__).parents[1] / "pyproject.toml"
    assert tomllib.loads(pyproject.read_text())["project"]["version"] == mixq.__version__


@pytest.mark.parametrize("command", ["deploy", "demo"])
def test_target_help_lists_the_targets(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name in known_platforms():
        assert re.search(rf"--target TARGET .*\b{re.escape(name)}\b", help_text), name
    if command == "deploy":
        assert re.search(r"--model MODEL .*int8, int8-fit, mixed", help_text)


@pytest.mark.parametrize("value", ["0", "-3", "x"])
def test_deploy_emulate_must_be_positive(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as e:
        main(["deploy", str(tmp_path), "--out", str(tmp_path / "o"), "--emulate", value])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "argument --emulate" in err and "Traceback" not in err
    assert ("must be positive" if value != "x" else "is not an integer") in err


def test_demo_emulate_refuses_negative_before_training(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--out", str(tmp_path / "run"), "--quick", "--emulate", "-3"])
    assert e.value.code == 2 and "must be >= 0, got -3" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_dataset_names_of_the_help_are_the_registry():
    from mixq.args import DATASET_NAMES
    from mixq.data.registry import DATASETS

    assert DATASET_NAMES == tuple(sorted(DATASETS))
