"""argparse value types shared by the sub-command modules (a utility: anyone may import it).

Each returns the parsed value or raises ``argparse.ArgumentTypeError``, which argparse prints as a
one-line usage error with exit status 2.
"""

from __future__ import annotations

import argparse


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None


def positive_int(text: str) -> int:
    """argparse type: a positive integer.

    Example:
        >>> positive_int("3")
        3
        >>> positive_int("0")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: must be positive, got 0
    """
    v = _integer(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0.

    Example:
        >>> non_negative_int("0")
        0
        >>> non_negative_int("x")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: 'x' is not an integer
    """
    v = _integer(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def comma_list(item):
    """argparse type factory: a comma-separated list, each item parsed by ``item``.

    Example:
        >>> comma_list(float)("0.01,0.02")
        (0.01, 0.02)
        >>> comma_list(int)("8,x")
        Traceback (most recent call last):
        argparse.ArgumentTypeError: 'x' is not a valid int
    """
    name = getattr(item, "__name__", "value")

    def parse(text: str) -> tuple:
        out = []
        for part in (p.strip() for p in text.split(",")):
            try:
                out.append(item(part))
            except ValueError:
                raise argparse.ArgumentTypeError(f"'{part}' is not a valid {name}") from None
        return tuple(out)

    return parse


# The names `--model` takes, for help texts: :data:`mixq.models.MODELS` and the zoo
# (:func:`mixq.models.zoo.zoo_names`), written out so that building the parser does not import
# torch; tests/models/test_zoo_cli.py keeps them equal to the registry.
MODEL_NAMES = ("demo_net", "ds_cnn", "mcunet-in0", "mcunet-in1", "mcunet-in2", "mcunet-in3",
               "mcunet-in4", "mcunet-vww1", "mlperf_ad_autoencoder", "mlperf_ic_resnet8",
               "mlperf_kws_dscnn", "mlperf_vww_mobilenet_v1", "mobilenet_v1", "mobilenet_v2",
               "mobilenet_v2_small", "resnet8")
ZOO_MODEL_NAMES = ("mcunet-in0", "mcunet-in1", "mcunet-in2", "mcunet-in3", "mcunet-in4",
                   "mcunet-vww1", "mlperf_kws_dscnn", "mlperf_vww_mobilenet_v1",
                   "mlperf_ic_resnet8", "mlperf_ad_autoencoder", "mobilenet_v2")


# The names `--dataset` takes (:data:`mixq.data.registry.DATASETS`), written out for the same
# reason; tests/test_cli.py keeps them equal to the registry.
DATASET_NAMES = ("cifar10", "digits", "fashion-mnist", "image-folder", "mnist", "synthetic")


def add_data_arguments(parser, *, default: str | None = "digits", use: str = "") -> None:
    """Add ``--dataset`` and ``--data-root`` to a sub-command's parser (one wording everywhere).

    Args:
        parser: the ``argparse`` (sub-)parser.
        default: the ``--dataset`` default; None when the command resolves it later (the help
            then names ``fashion-mnist``, the installed real benchmark).
        use: what the data is for, prefixed to the help text (e.g. ``"data for the
            sensitivity"``).

    Example:
        >>> p = argparse.ArgumentParser()
        >>> add_data_arguments(p)
        >>> p.parse_args(["--data-root", "/d"])
        Namespace(dataset='digits', data_root='/d')
    """
    shown = default or "fashion-mnist"
    prefix = f"{use}: " if use else ""
    parser.add_argument("--dataset", default=default,
                        help=f"{prefix}{', '.join(DATASET_NAMES)} (default {shown}; digits is "
                        "embedded, fashion-mnist installed, image-folder reads your PNG/JPEG "
                        "class folders)")
    parser.add_argument("--data-root", default=None,
                        help="folder with the dataset's standard files")
