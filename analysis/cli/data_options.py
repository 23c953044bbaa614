"""The data flags of every command that reads runs, and the one function that reads them.

Flags (the Upload page's choices, on the command line)::

    --data PATH              a file, a folder or a .zip (alias: --csv); the format is sniffed: the workbench's
                             CSV/Parquet layout, a W&B export, a TensorBoard log directory, an MLflow
                             folder or mlflow.db, or a folder of per-run CSV/Parquet files
    --column ROLE=NAME       which column (or logged name) holds what, repeatable; roles as on the Upload page:
                             run, family, step, N, D, C, U, lr, value (repeat value to keep several metrics),
                             metric, unit, split, stderr; NAME "none" switches a role off
    --run-info FILE          per-run sizes where the log has none: a CSV with run, params, tokens[,
                             tokens_per_step][, flops]
    --tokens-per-step N      D = step x N for runs whose tokens are not logged
    --strict                 any rejected row is an error (exit 1) instead of a warning

Nothing is dropped without a word: every rejected row is counted in the JSON ``warnings`` (count, the
first rows and columns, why; :func:`datasets.formats.rejection_summary`) and printed to stderr in text
mode; the data source of the JSON says ``read``: format, rows read, points kept, rejected rows.
"""
from __future__ import annotations

from pathlib import Path

from analysis.cli.errors import CLIError
from datasets.formats import FORMATS, check_strict, column_map_from_pairs, read_any, rejection_summary
from datasets.upload import Upload

DETAIL = 10          # rejected rows listed one by one in the JSON data source (all are counted)


def add_data_args(group) -> None:
    """Add ``--data/--csv``, ``--column``, ``--run-info``, ``--tokens-per-step`` and ``--strict`` to ``group``."""
    from analysis.cli.parser import POSITIVE   # here: the parser module imports this one

    group.add_argument("--data", "--csv", dest="csv", metavar="PATH",
                       help="runs to analyse: a file, a folder or a .zip, format sniffed (" + ", ".join(FORMATS)
                            + "); --csv is an alias")
    group.add_argument("--column", action="append", metavar="ROLE=NAME",
                       help="which column or logged name holds ROLE (run, family, step, N, D, C, U, lr, value, "
                            "metric, unit, split, stderr); repeat value=NAME to keep several metrics; "
                            "NAME 'none' switches a role off")
    group.add_argument("--run-info", metavar="FILE",
                       help="per-run sizes where the log has none: CSV with run, params, tokens "
                            "[, tokens_per_step][, flops]")
    group.add_argument("--tokens-per-step", type=POSITIVE, metavar="N",
                       help="tokens per optimiser step: D = step x N for runs whose tokens are not logged")
    group.add_argument("--strict", action="store_true",
                       help="fail on any rejected row (default: skip it, and say so in warnings / on stderr)")


def _path(text: str) -> Path:
    p = Path(text).expanduser()
    if not p.exists():
        raise CLIError(f"no such file or folder: {text}", "give a file, a folder or a .zip with --data")
    if not (p.is_file() or p.is_dir()):
        raise CLIError(f"not a regular file or folder: {text}")
    return p


def column_map(args, extra: dict | None = None) -> dict | None:
    """``--column`` pairs as a reader's ``column_map``, merged with a command's own roles (``extra``,
    e.g. crossover's ``--group`` as the family); a role given both ways must agree."""
    out = dict(column_map_from_pairs(getattr(args, "column", None)) or {})
    for role, name in (extra or {}).items():
        if role in out and out[role] != name:
            raise CLIError(f"--column {role}={out[role]} and the command's own choice {name!r} disagree",
                           "drop one of them")
        out[role] = name
    return out or None


def read_runs(args, *, column_map_extra: dict | None = None) -> Upload:
    """The runs of ``--data`` read with the data flags; rejections recorded on ``args`` (see the module).

    Sets ``args.read_warnings`` (messages for the JSON ``warnings``; in text mode :func:`analysis.cli.run.main`
    prints them to stderr once the command succeeded, so a failing command still prints one line).
    Raises :class:`~datasets.upload.UploadError` (exit 1) when the data cannot be read or, with
    ``--strict``, when any row was rejected.
    """
    path = _path(args.csv)
    upload = read_any(path, column_map=column_map(args, column_map_extra),
                      run_info=Path(args.run_info) if getattr(args, "run_info", None) else None,
                      tokens_per_step=getattr(args, "tokens_per_step", None))
    if getattr(args, "strict", False):
        check_strict(upload)
    warnings = read_warnings(upload)
    args.read_warnings = warnings      # printed by analysis.cli.run.main after the command succeeded (text mode)
    return upload


def read_warnings(upload: Upload) -> list[str]:
    """The reader's word on what it left out: the rejected rows (count, first rows and columns, why), then
    the reader's own warnings (sizes it could not find, run_info names not in the data ...)."""
    rep = upload.report
    summary = rejection_summary(rep)
    out = [summary] if summary else []
    if rep.ignored_columns and rep.format in ("csv", "parquet"):     # the trackers' readers say why per column
        shown = ", ".join(map(repr, rep.ignored_columns[:10])) + (" ..." if len(rep.ignored_columns) > 10 else "")
        out.append(f"Columns not read: {shown}. To keep one as a metric: --column value=NAME (repeat it, with "
                   "every metric to keep); for a size: --column N=NAME (or D, C, step).")
    return out + [w for w in rep.warnings if w not in out]


def data_flags(args) -> list[str]:
    """The reading flags given (``--column``, ``--run-info``, ``--tokens-per-step``, ``--strict``), as
    arguments a reproducing command line repeats after ``--data PATH``."""
    out: list[str] = []
    for pair in getattr(args, "column", None) or ():
        out += ["--column", pair]
    if getattr(args, "run_info", None):
        out += ["--run-info", str(args.run_info)]
    if getattr(args, "tokens_per_step", None):
        out += ["--tokens-per-step", f"{args.tokens_per_step:g}"]
    if getattr(args, "strict", False):
        out.append("--strict")
    return out


def describe(upload: Upload, args=None) -> dict:
    """What the data source of a command's JSON says about the reading: ``format``, ``data_flags`` (the
    reading flags, for a reproducing command line) and ``read`` (rows read, points kept, runs, rejected
    rows with the first :data:`DETAIL` as [row, column, why], counts by reason, and where each run's sizes
    came from)."""
    rep = upload.report
    return {"format": rep.format, "data_flags": data_flags(args) if args is not None else [],
            "read": {"rows_read": rep.rows_read, "points_kept": rep.points_kept, "runs": rep.runs,
                     "n_rejected": rep.n_rejected, "rejected": [list(r) for r in rep.rejected[:DETAIL]],
                     "rejection_counts": dict(rep.rejection_counts), "defaults": list(rep.defaults)}}
