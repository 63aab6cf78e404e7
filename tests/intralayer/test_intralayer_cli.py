"""`mixq intralayer sweep` on the command line."""

from mixq.cli import build_parser, main
from mixq.intralayer.results import append_result


def test_sweep_arguments():
    args = build_parser().parse_args(["intralayer", "sweep", "--quick", "--out", "x",
                                      "--workers", "2", "--seeds", "2"])
    assert (args.quick, args.out, args.workers, args.seeds, args.dataset) == \
        (True, "x", 2, 2, "digits")
    assert args.func.__name__ == "_cmd_sweep"
    args = build_parser().parse_args(["intralayer", "sweep", "--densities", "0,0.02",
                                      "--structures", "1:16", "--criteria", "fisher",
                                      "--reference-bits", "8", "--train-samples", "4000",
                                      "--test-samples", "1000"])
    assert (args.densities, args.structures, args.criteria, args.reference_bits,
            args.train_samples, args.test_samples) == ((0.0, 0.02), ("1:16",), ("fisher",),
                                                       (8,), 4000, 1000)


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["intralayer", "sweep", "--out", str(tmp_path / "a"), "--dataset",
                 "imagenet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mixq: error: unknown dataset 'imagenet'") and err.count("\n") == 1
    append_result(tmp_path / "b" / "results.jsonl", {"trial": "w8-s0", "recipe": "0" * 12})
    assert main(["intralayer", "sweep", "--quick", "--out", str(tmp_path / "b")]) == 2
    assert "another sweep recipe" in capsys.readouterr().err
    assert main(["intralayer", "sweep", "--out", str(tmp_path / "c"), "--structures",
                 "3:4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mixq: error: ") and "3:4" in err and err.count("\n") == 1
