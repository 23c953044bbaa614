"""Reading the data a command works on: an upload file (``--csv``) or a store family (``--store --family``).

This package is the only part of ``analysis/`` that reads files or the store. Loss units are converted to
nats as in the app (:func:`datasets.store.to_fit_frame`, :func:`analysis.settings.downstream_pairs`).
Every loader returns plain data plus ``data_source``: a dict naming where the data came from (``kind``
"csv" or "store", ``path``, ``family``, ``metric``, ``unit``, ``higher_is_better``, ``flagged``), which
the JSON output and the reports carry.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis import settings
from analysis.cli.errors import CLIError
from datasets.store import Store, locate_store, to_fit_frame
from analysis.cli.data_options import describe as describe_read, read_runs
from datasets.upload import ALIASES, MAX_BYTES


def check_file(path: str) -> Path:
    """``path`` as a Path when it is a regular file, else a :class:`CLIError` saying what it is."""
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"not a regular file: {path}" if p.exists() else f"no such file: {path}")
    return p


def read_file(args, **kwargs):
    """The :class:`datasets.upload.Upload` of ``--data`` (any format; the data flags and their warnings:
    :func:`analysis.cli.data_options.read_runs`)."""
    return read_runs(args, **kwargs)


def upload_store(upload) -> Store:
    """The upload as an in-memory store (:meth:`Store.from_upload`): the same queries as a store family."""
    return Store.from_upload(upload)


def upload_families(store: Store) -> list[str]:
    return list(store.families()["family"])


def open_store(args) -> Store:
    """The store of ``--store`` (default: ``$SCALING_STORE`` or ``./store.duckdb``)."""
    return Store(Path(args.store) if getattr(args, "store", None) else locate_store())


def pick_metric(metrics: list[str], wanted: str | None, where: str, auxiliary=()) -> str:
    """``wanted`` if the data have it; else the only metric (auxiliary series such as ``lr`` do not count)."""
    if wanted:
        if wanted not in metrics:
            raise CLIError(f"metric {wanted!r} is not in {where}; available: {', '.join(sorted(metrics)[:20])}")
        return wanted
    candidates = [m for m in metrics if m not in set(auxiliary)] or list(metrics)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise CLIError(f"{where} has no metrics")
    raise CLIError(f"{where} has several metrics; choose one with --metric ({', '.join(sorted(candidates)[:20])})")


def lr_metrics(points: pd.DataFrame) -> set:
    """Metrics that are learning-rate series (unit ``lr``): never the default metric to analyse."""
    return set(points.loc[points["unit"] == "lr", "metric"].unique())


def family_metric(store: Store, family: str, metric: str | None) -> str:
    """``metric`` (checked against the family's metrics) or the family's default metric."""
    table = store.metrics(family)
    if table.empty:
        raise CLIError(f"family {family!r} not found or has no metrics; see `python -m analysis families`")
    if metric is None:     # the app's rule: a published smoothed loss (StepLaw) before the raw one
        return settings.fit_metric(list(dict.fromkeys(table["metric"])), store.default_metric(family))
    return pick_metric(list(dict.fromkeys(table["metric"])), metric, f"family {family!r}")


def first_family(args) -> str:
    """The (first) ``--family`` of a store command."""
    if not getattr(args, "family", None):
        raise CLIError("--store needs --family NAME (see `python -m analysis families`)")
    return args.family[0] if isinstance(args.family, list) else args.family


def load_frame(args, *, metric: str | None = None) -> tuple[pd.DataFrame, dict]:
    """The fit frame the command works on (losses in nats) and its ``data_source``."""
    metric = metric or getattr(args, "metric", None)
    final_only = getattr(args, "final_only", False)
    if getattr(args, "csv", None):
        upload = read_file(args)
        m = pick_metric(sorted(upload.points["metric"].unique()), metric, args.csv, lr_metrics(upload.points))
        frame = to_fit_frame(upload.runs, upload.points, m, final_only=final_only)
        store = upload_store(upload)
        flagged = sorted({r for f in upload_families(store) for r in store.flagged_runs(f)})
        frame, sweep = _sweep(args, frame, upload.runs, None)
        return frame, {**sweep, "kind": "csv", "path": str(args.csv), **describe_read(upload, args), "metric": m, "flagged": flagged,
                       "unit": frame.attrs.get("unit"), "higher_is_better": frame.attrs.get("higher_is_better")}
    if getattr(args, "store", None) or getattr(args, "family", None):
        store = open_store(args)
        family = first_family(args)
        m = family_metric(store, family, metric)
        frame = store.fit_frame(family, m, final_only=final_only)
        frame, sweep = _sweep(args, frame, store.runs(family=family), family)
        return frame, {**sweep, "kind": "store", "path": str(store.path), "family": family, "metric": m,
                       "flagged": store.flagged_runs(family),
                       "unit": frame.attrs.get("unit"), "higher_is_better": frame.attrs.get("higher_is_better")}
    raise CLIError("give the data: --data PATH (a file, folder or .zip; alias --csv), or --store FILE --family NAME")


def _sweep(args, frame: pd.DataFrame, runs: pd.DataFrame, family: str | None) -> tuple[pd.DataFrame, dict]:
    """For a command that fits a law (it has ``--no-envelope``): a hyperparameter sweep family reduced to its
    envelope unless ``--no-envelope`` (:func:`analysis.settings.sweep_envelope`, the app's rule); ``{"sweep":
    {...}}`` for ``data_source`` when the data are a sweep, else ``{}``."""
    if not hasattr(args, "no_envelope"):
        return frame, {}
    which = getattr(args, "which_n", settings.WHICH_N) or settings.WHICH_N
    if which != "total":     # N = non-embedding / active / average (analysis.settings.with_which_n)
        from analysis.effective_params import attach_counts
        frame = settings.with_which_n(attach_counts(frame, runs), which)
    choice = settings.sweep_envelope(frame, runs, not args.no_envelope, family=family,
                                     method=getattr(args, "envelope", None) or settings.ENVELOPE_METHOD)
    return choice.frame, {"which_n": which, **({"sweep": choice.to_dict()} if choice.is_sweep else {})}


def load_groups(args) -> tuple[dict[str, pd.DataFrame], str, bool]:
    """``({group: fit frame}, metric, higher_is_better)`` for a comparison of groups.

    From a file, the groups are the values of the ``--group`` column (read by the upload reader as the
    runs' family, so encodings, delimiters and bad cells are handled and reported as for any upload; the
    column must be constant within each run). From the store, one group per ``--family``.
    """
    final_only = args.final_only
    if args.csv:
        upload = read_file(args, column_map_extra={"family": args.group})
        split = upload.runs.groupby("model")["family"].nunique()
        if (split > 1).any():
            raise CLIError(f"--group {args.group!r} changes within run {split[split > 1].index[0]!r}: "
                           "a group must be constant within each run")
        m = pick_metric(sorted(upload.points["metric"].unique()), args.metric, args.csv, lr_metrics(upload.points))
        frame = to_fit_frame(upload.runs, upload.points, m, final_only=final_only)
        frame["_g"] = frame["group"].str.replace("upload/", "", n=1, regex=False)
        groups = {str(g): sub.drop(columns="_g") for g, sub in frame.groupby("_g")}
        if len(groups) < 2:
            raise CLIError(f"--group {args.group!r} gives {len(groups)} group(s); a crossover needs at least 2")
        return groups, m, settings.is_higher_better(frame.attrs.get("higher_is_better"))
    store = open_store(args)
    if not args.family or len(args.family) < 2:
        raise CLIError("with --store give two or more --family NAME")
    m = family_metric(store, args.family[0], args.metric)
    for family in args.family[1:]:
        family_metric(store, family, m)
    if len(set(args.family)) < 2:
        raise CLIError("with --store give two or more different --family NAME")
    groups = {f: store.fit_frame(f, m, final_only=final_only) for f in dict.fromkeys(args.family)}
    row = store.metrics(args.family[0]).query("metric == @m")
    return groups, m, settings.is_higher_better(row["higher_is_better"].iloc[0] if len(row) else None)


def load_points(args) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(points, metrics)``: every metric of the data, points carrying the run's ``params`` and ``model``,
    and the ``family_metrics`` rows (metric, split, unit, higher_is_better, n_runs, n_points ...)."""
    if args.csv:
        upload = read_file(args)
        store = upload_store(upload)
        families = upload_families(store)
        points = pd.concat([store.points(family=f) for f in families], ignore_index=True) if families \
            else upload.points.assign(params=np.nan, model=None)
        metrics = pd.concat([store.metrics(f) for f in families], ignore_index=True) if families \
            else pd.DataFrame(columns=["metric", "split", "unit", "higher_is_better", "n_runs", "n_points"])
        return points, metrics
    store = open_store(args)
    family = first_family(args)
    family_metric(store, family, None)
    return store.points(family=family), store.metrics(family)


def chance_level(args, metric: str) -> float | None:
    """The source's published random baseline of ``metric`` (store data only), as the app defaults to."""
    if args.csv:
        return None
    family = first_family(args)
    return open_store(args).chance_level(family.split("/")[0], metric)


def read_points(path: str) -> pd.DataFrame:
    """Points to predict at: columns N, D, C, step, U (or their upload aliases) as float64.

    A cell that is not a number is an error naming its row and column.
    """
    p = check_file(path)
    if p.stat().st_size > MAX_BYTES:
        raise CLIError(f"{path} is {p.stat().st_size / 1e6:.0f} MB, above the {MAX_BYTES / 1e6:.0f} MB limit")
    try:
        raw = pd.read_parquet(p) if p.suffix.lower() == ".parquet" else pd.read_csv(p, dtype=str)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a user-facing message
        raise CLIError(f"cannot read {path}: {exc}") from None
    norm = {c: str(c).strip().lower().replace(" ", "_").replace("-", "_") for c in raw.columns}
    out = pd.DataFrame(index=raw.index)
    for canon in ("N", "D", "C", "step", "U"):
        names = {canon.lower(), *[a.lower() for a in ALIASES.get(canon, ())]}
        hit = [c for c in raw.columns if norm[c] in names]
        if hit:
            col = hit[0]
            vals = pd.to_numeric(raw[col].astype(str).str.strip(), errors="coerce")
            bad = vals.isna() & raw[col].notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise CLIError(f"{path}: row {i + 1}, column {col!r}: {raw[col].iloc[i]!r} is not a number")
            out[canon] = vals.astype(float)
    if not {"N", "D", "C", "step"} & set(out.columns):
        raise CLIError(f"{path} needs columns to predict at: N (params), D (tokens), C (flops) or step")
    return out
