"""``--exclude-run NAME``: a run named as it is written in the file, or by its store id.

An upload's runs are stored as ``upload/<name>`` and a source's as ``<source>/<name>``; the user knows
the name in the file. :func:`resolve_runs` accepts either form and turns an unknown name into an error
that lists the closest names (``difflib``), instead of a silent no-op.
"""
from __future__ import annotations

import difflib
from typing import Iterable

import pandas as pd

from analysis.cli.errors import CLIError


def _short(run_id: str) -> str:
    """The name as written in the file: the id after its ``<source>/`` prefix."""
    return run_id.split("/", 1)[1] if "/" in run_id else run_id


def resolve_runs(names: Iterable[str], frame: pd.DataFrame) -> tuple[str, ...]:
    """The run ids of ``frame`` named by ``names`` (ids or names as written in the file), in order.

    Raises
    ------
    CLIError
        For a name that matches no run: the message lists up to 5 close matches.
    """
    ids = list(dict.fromkeys(frame["run"].astype(str))) if "run" in frame else []
    by_short: dict[str, list[str]] = {}
    for run_id in ids:
        by_short.setdefault(_short(run_id), []).append(run_id)
    out = []
    for name in names or ():
        name = str(name)
        stripped = name.strip()
        if stripped in ids:
            out.append(stripped)
        elif stripped in by_short:
            out += by_short[stripped]
        else:
            pool = list(dict.fromkeys([*by_short, *ids]))
            close = difflib.get_close_matches(stripped, pool, n=5, cutoff=0.5)
            hint = (f"close matches: {', '.join(repr(c) for c in close)}" if close
                    else f"the data have {len(ids)} runs, e.g. {', '.join(repr(_short(i)) for i in ids[:5])}")
            raise CLIError(f"--exclude-run {name!r}: no run of that name in the data; {hint}",
                           "give a run's name as written in the file (or its store id)")
    return tuple(dict.fromkeys(out))
