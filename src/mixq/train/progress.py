"""Progress display: a tqdm bar on a terminal, one plain line per epoch in logs."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


class Progress:
    """Reports training progress.

    On a terminal (stderr is a TTY) it draws a tqdm bar over all steps with the running loss and
    accuracy; otherwise (``make demo > log``, CI) it prints one line per epoch, which reads well
    in a log file where a redrawn bar would not. ``enabled=False`` prints nothing.
    """

    def __init__(self, enabled: bool, desc: str, epochs: int, steps_per_epoch: int,
                 start_epoch: int = 0, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.desc, self.epochs = desc, epochs
        self.bar = None
        if enabled and self.stream.isatty():
            self.bar = tqdm(total=epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch,
                            desc=desc, unit="step", file=self.stream, dynamic_ncols=True,
                            leave=True)

    def step(self, loss: float, acc: float) -> None:
        """One optimizer step done; ``loss``/``acc`` are running means over the epoch."""
        if self.bar is not None:
            self.bar.update(1)
            if self.bar.n % 10 == 0:
                self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.1%}", refresh=False)

    def epoch(self, epoch: int, loss: float, acc: float, test_acc: float, lr: float) -> None:
        """Epoch ``epoch`` (0-based) finished."""
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{acc:.1%}", test=f"{test_acc:.1%}")
        elif self.enabled:
            print(f"{self.desc}: epoch {epoch + 1}/{self.epochs} loss {loss:.4f} "
                  f"train {acc:.1%} test {test_acc:.1%} lr {lr:.2e}", file=self.stream,
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
