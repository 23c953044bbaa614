"""The CLI's error type, exit codes and one-line messages."""
from __future__ import annotations

from datasets.errors import WorkbenchError

EXIT_DATA, EXIT_USAGE, EXIT_INTERNAL = 1, 2, 3


class CLIError(WorkbenchError):
    """A user-facing error of the command line: printed as one line, exit code :data:`EXIT_DATA`."""


def one_line(exc: BaseException) -> str:
    """The first non-empty line of ``exc``'s message (its type name when there is none)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else exc.__class__.__name__
