"""`mixq intralayer sweep` on the command line."""

from mixq.cli import build_parser, main
from mixq.intralayer.results import append_result


def test_sweep_arguments():
    args = build_parser().parse_args(["intralayer", "sweep", "--quick", "--out", "x",
                                      "--workers", "2", "--seeds", "2"])
    assert (args.quick, args.out, args.workers, args.seeds, args.dataset) == \
        (True, "x", 2, 2, "digits")
    assert args.func.__name__ == "_cmd_sweep"


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["intralayer", "sweep", "--out", str(tmp_path / "a"), "--dataset",
                 "imagenet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mixq: error: unknown dataset 'imagenet'") and err.count("\n") == 1
    append_result(tmp_path / "b" / "results.jsonl", {"trial": "w8-s0", "recipe": "0" * 12})
    assert main(["intralayer", "sweep", "--quick", "--out", str(tmp_path / "b")]) == 2
    assert "another sweep recipe" in capsys.readouterr().err
