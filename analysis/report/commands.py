"""The command lines that reproduce what a page or a report shows (``python -m analysis ...``)."""
from __future__ import annotations

import shlex
from pathlib import Path

# fit setting -> flag of `python -m analysis report` (and fit, allocate, backtest)
FIT_FLAGS = (("law", "--law"), ("objective", "--objective"), ("delta", "--delta"), ("bootstrap", "--bootstrap"),
             ("seed", "--seed"), ("min_tokens", "--min-tokens"), ("min_fraction", "--min-fraction"),
             ("y_transform", "--y-transform"), ("time_budget", "--time-budget"),
             ("min_tpp", "--min-tpp"), ("max_tpp", "--max-tpp"), ("max_loss", "--max-loss"),
             ("which_n", "--which-n"), ("no_envelope", "--no-envelope"), ("envelope", "--envelope"))


def cli_command(subcommand: str, data_source: dict, options=()) -> str | None:
    """The ``python -m analysis SUBCOMMAND`` line that reads the same data with ``options``.

    ``data_source`` names the data as in :func:`analysis.report.build_report` (``family`` may be a list:
    one ``--family`` per group). ``options`` is a sequence of (flag, value): None, False and "" are left
    out, True gives the bare flag, a list or tuple repeats the flag. Returns None when the data cannot
    be named on a command line (e.g. an upload without a file).
    """
    kind = data_source.get("kind")
    families = data_source.get("family")
    families = list(families) if isinstance(families, (list, tuple)) else [families] if families else []
    args = ["python", "-m", "analysis", subcommand]
    if kind == "store" and families:
        if data_source.get("path") and not is_default_store(data_source["path"]):
            args += ["--store", str(data_source["path"])]
        for family in families:
            args += ["--family", str(family)]
    elif kind in ("csv", "upload") and data_source.get("path"):
        args += ["--csv", str(data_source["path"]), *map(str, data_source.get("data_flags") or ())]
    else:
        return None
    if data_source.get("metric"):
        args += ["--metric", str(data_source["metric"])]
    for flag, value in options:
        if value is None or value is False or (isinstance(value, str) and value == ""):
            continue
        if value is True:
            args.append(flag)
        else:
            for v in value if isinstance(value, (list, tuple)) else [value]:
                args += [flag, str(v)]
    return " ".join(shlex.quote(a) for a in args)


def is_default_store(path) -> bool:
    """Whether ``path`` is the store the command line reads without ``--store`` ($SCALING_STORE, else the
    project's store.duckdb): a command for it names no path, so it runs from any folder on any machine."""
    from datasets.store import is_url, locate_store

    default = locate_store()
    if is_url(str(path)) or is_url(str(default)):
        return str(path).rstrip("/") == str(default).rstrip("/")
    try:
        return Path(path).expanduser().resolve() == Path(default).resolve()
    except OSError:
        return False


def fit_options(settings: dict, data_source: dict | None = None) -> list[tuple[str, object]]:
    """The flags that give a fit with ``settings`` (a ``FitResult.settings`` dict) on the command line.

    Every choice is explicit, so the app's defaults cannot change the result: no early-checkpoint
    cut is written ``--min-fraction 0``, and for store data the exclusion list is the whole list
    (``--keep-flagged``: the store's flagged runs are not added again).
    """
    options = [(flag, settings.get(key)) for key, flag in FIT_FLAGS]
    if settings.get("min_tokens") is None and settings.get("min_fraction") is None:
        options.append(("--min-fraction", 0))
    return options + [("--final-only", bool(settings.get("final_only"))),
                      ("--exclude-run", list(settings.get("exclude_runs") or ())),
                      ("--keep-flagged", (data_source or {}).get("kind") == "store")]


def reproduce_command(data_source: dict, settings: dict, output_format: str = "html") -> str | None:
    """The ``python -m analysis report`` line that redoes this fit from the same data and settings.

    Returns None when the data cannot be named on a command line (e.g. an upload without a file).
    """
    options = fit_options(settings, data_source) + [("--compute", settings.get("compute"))]   # the allocation table
    options += [("--format", output_format), ("--out", f"report.{output_format}")]
    return cli_command("report", data_source, options)
