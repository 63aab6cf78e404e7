"""User-facing errors: one line naming the problem and the fix; the CLI exits non-zero."""


class MixqError(Exception):
    """A problem with the user's input or environment (bad config, budget, checkpoint, toolchain).

    The message is a single line that names the problem and how to fix it. ``exit_code`` is the
    process exit status the CLI uses (2 for bad input, as argparse does).
    """

    exit_code = 2


class ToolchainError(MixqError):
    """A required external tool (compiler, emulator) is missing or failed."""

    exit_code = 3
