"""The ``--device`` choices of the training commands (torch-free, so the CLI parses fast)."""

from __future__ import annotations

import enum


class DeviceKind(enum.Enum):
    """Where training runs.

    Example:
        >>> [k.value for k in DeviceKind]
        ['auto', 'cpu', 'cuda']
    """

    AUTO = "auto"  # CUDA when a GPU is visible, else the CPU
    CPU = "cpu"
    CUDA = "cuda"


def add_device_argument(parser) -> None:
    """``--device auto|cpu|cuda`` on a training command's argparse parser."""
    parser.add_argument("--device", choices=[k.value for k in DeviceKind], default="auto",
                        help="where training runs: auto (CUDA when a GPU is visible, else the "
                        "CPU), cpu or cuda; start with torchrun for data-parallel training")
