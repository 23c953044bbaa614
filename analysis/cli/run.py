"""The entry point: parse, run one command, turn every failure into one line on stderr and an exit code."""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from analysis.cli.errors import EXIT_DATA, EXIT_INTERNAL, one_line
from analysis.cli.parser import build_parser
from datasets.errors import WorkbenchError

# errors that are about the data or the flags (exit 1); anything else is an internal error (exit 3)
KNOWN_ERRORS = (WorkbenchError, ValueError, KeyError, OSError)


def main(argv=None) -> int:
    """Run ``python -m analysis ARGV``; returns the exit code (0 ok, 1 data error, 2 usage error, 3 internal)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")   # library noise (pandas, numpy) is not for the CLI's user
            args.fn(args)
        if not getattr(args, "json", False):     # the reader's word on what it left out, once the command ran
            for warning in getattr(args, "read_warnings", None) or ():
                print(f"warning: {warning}", file=sys.stderr)
    except BrokenPipeError:   # the reader went away (`... | head`): not an error; silence the final flush
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 0
    except KNOWN_ERRORS as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_DATA
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user
        print(f"internal error ({exc.__class__.__name__}): {one_line(exc)}; please report it with the command line",
              file=sys.stderr)
        return EXIT_INTERNAL
    return 0
