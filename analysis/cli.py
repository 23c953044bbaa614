"""``python -m analysis``: the workbench's analyses from the command line.

Every command reads runs either from a CSV/Parquet file in the upload format (``--csv FILE``) or
from the store (``--store FILE --family NAME [--metric M]``), and prints a plain-text summary or,
with ``--json``, one JSON object (the flags and keys are a contract other tools rely on).
Errors print one line to stderr and exit non-zero, without a traceback.

Commands: laws, families, fit, predict, allocate, backtest, report, crossover, trend, scan, downstream.
"""
from __future__ import annotations

import argparse
import datetime
import decimal
import json
import math
import shlex
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

EXIT_DATA, EXIT_USAGE, EXIT_INTERNAL = 1, 2, 3
AXES = {"params": "N", "tokens": "D", "flops": "C", "N": "N", "D": "D", "C": "C", "step": "step"}


class CLIError(Exception):
    """A user-facing error: one line, exit code 1."""


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, pd.DataFrame):
        return _jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, decimal.Decimal):   # DuckDB sums (e.g. family_summary.n_points) come back as DECIMAL
        return int(obj) if obj.is_finite() and obj == obj.to_integral_value() else _jsonable(float(obj))
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (pd.Timestamp, datetime.date, datetime.datetime)):
        return obj.isoformat()
    if isinstance(obj, np.str_):
        return str(obj)
    return obj


def _emit(args, payload: dict, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(_jsonable(payload), indent=None if args.compact else 2, allow_nan=False))
    else:
        print(text)


# ----------------------------------------------------------------------------------------------
# Data loading
# ----------------------------------------------------------------------------------------------
def _check_file(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"not a regular file: {path}" if p.exists() else f"no such file: {path}")
    return p


def _read_upload(path: str):
    from datasets.upload import read_upload
    p = _check_file(path)
    return read_upload(p, filename=p.name)


def _pick_metric(metrics: list[str], wanted: str | None, where: str, auxiliary=()) -> str:
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


def _lr_metrics(points: pd.DataFrame) -> set:
    """Metrics that are learning-rate series (unit ``lr``): never the default metric to analyse."""
    return set(points.loc[points["unit"] == "lr", "metric"].unique())


def _family_metric(store, fam: str, metric: str | None) -> str:
    """``metric`` (checked against the family's metrics) or the family's default metric."""
    table = store.metrics(fam)
    if table.empty:
        raise CLIError(f"family {fam!r} not found or has no metrics; see `python -m analysis families`")
    known = list(dict.fromkeys(table["metric"]))
    if metric is None:
        return store.default_metric(fam)
    return _pick_metric(known, metric, f"family {fam!r}")


def load_frame(args, *, metric: str | None = None) -> tuple[pd.DataFrame, dict]:
    """The fit frame the command works on and a description of where it came from."""
    from datasets.store import to_fit_frame
    metric = metric or getattr(args, "metric", None)
    if getattr(args, "csv", None):
        up = _read_upload(args.csv)
        m = _pick_metric(sorted(up.points["metric"].unique()), metric, args.csv, _lr_metrics(up.points))
        frame = to_fit_frame(up.runs, up.points, m, final_only=getattr(args, "final_only", False))
        return frame, {"kind": "csv", "path": str(args.csv), "metric": m, "unit": frame.attrs.get("unit"),
                       "higher_is_better": frame.attrs.get("higher_is_better")}
    if getattr(args, "store", None) or getattr(args, "family", None):
        store = _store(args)
        if not args.family:
            raise CLIError("--store needs --family NAME (see `python -m analysis families`)")
        fam = args.family[0] if isinstance(args.family, list) else args.family
        m = _family_metric(store, fam, metric)
        frame = store.fit_frame(fam, m, final_only=getattr(args, "final_only", False))
        return frame, {"kind": "store", "path": str(store.path), "family": fam, "metric": m,
                       "flagged": store.flagged_runs(fam),
                       "unit": frame.attrs.get("unit"), "higher_is_better": frame.attrs.get("higher_is_better")}
    raise CLIError("give the data: --csv FILE, or --store FILE --family NAME")


def _store(args):
    from datasets.store import Store, locate_store
    path = Path(args.store) if getattr(args, "store", None) else locate_store()
    return Store(path)


def _fit_kwargs(args, source: dict) -> dict:
    yt = args.y_transform
    if yt == "auto":
        yt = "one_minus" if source.get("higher_is_better") else "none"
    return dict(objective=args.objective, delta=args.delta, bootstrap=args.bootstrap, seed=args.seed,
                min_tokens=args.min_tokens, min_fraction=args.min_fraction,
                exclude_runs=_exclusions(args, source), y_transform=yt, time_budget=args.time_budget)


def _exclusions(args, source: dict) -> tuple[str, ...]:
    """--exclude-run values plus, as in the app, the runs the source flags as outliers (unless --keep-flagged)."""
    runs = list(args.exclude_run or ())
    if not getattr(args, "keep_flagged", False):
        runs += [r for r in source.get("flagged", ()) if r not in runs]
    return tuple(runs)


def _choose(args, frame, kwargs) -> tuple[str, dict | None]:
    if args.law != "auto":
        return args.law, None
    from analysis.backtest import choose_law
    kw = dict(kwargs, bootstrap=0)
    choice = choose_law(frame, **kw)
    return choice.law, choice.to_dict()


def _fit(args):
    from analysis.fit import fit_law
    frame, source = load_frame(args)
    kwargs = _fit_kwargs(args, source)
    law, choice = _choose(args, frame, kwargs)
    return fit_law(frame, law, **kwargs), frame, source, choice


# ----------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------
def cmd_laws(args):
    from analysis.laws import LAWS
    laws = [law.describe() for law in LAWS.values()]
    _emit(args, {"laws": laws}, "\n".join(f"{d['name']:18s} {d['formula']}   [{', '.join(d['variables'])}]"
                                         for d in laws))


def cmd_families(args):
    fams = _store(args).families()
    _emit(args, {"families": fams}, fams.to_string(index=False))


def cmd_fit(args):
    res, frame, source, choice = _fit(args)
    if args.out:
        Path(args.out).write_text(json.dumps(_jsonable(res.to_dict(include_samples=True))), encoding="utf-8")
    payload = res.to_dict()
    payload["data"] = source
    if choice:
        payload["auto"] = choice
    text = res.summary() + (f"\n[[auto]] {choice['reason']}" if choice else "")
    _emit(args, payload, text)


def _read_points(path: str) -> pd.DataFrame:
    from datasets.upload import ALIASES, MAX_BYTES
    p = _check_file(path)
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


def cmd_predict(args):
    from analysis.fit import FitResult
    _check_file(args.fit)
    try:
        obj = json.loads(Path(args.fit).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot read the fit {args.fit}: {exc}") from None
    if not isinstance(obj, dict) or not {"law", "params"} <= set(obj):
        raise CLIError(f"{args.fit} is not a fit saved with `python -m analysis fit --out` (no 'law' and 'params')")
    try:
        fit = FitResult.from_dict(obj)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CLIError(f"{args.fit} is not a usable fit: {_one_line(exc)}") from None
    pts = _read_points(args.csv)
    pred = fit.predict(pts)
    out = pts.copy()
    out["y_pred"] = pred
    if fit.n_boot:
        out["y_lo"], out["y_hi"] = fit.band(pts)
    _emit(args, {"law": fit.law, "predictions": out}, out.to_string(index=False))


def cmd_allocate(args):
    from analysis.allocate import allocate, flops_to_gpu_hours
    res, frame, source, choice = _fit(args)
    a = allocate(res, args.compute, flops_per_param_token=args.flops_per_param_token,
                 unique_tokens=args.unique_tokens)
    payload = a.to_dict()
    payload["gpu_hours_h100_40pct"] = flops_to_gpu_hours(args.compute)
    payload["fit"] = res.to_dict()
    ci = a.ci
    fmt = lambda k: f" [{ci[k][0]:.4g}, {ci[k][1]:.4g}]" if k in ci else ""  # noqa: E731
    text = (f"budget {a.compute:.4g} FLOPs ({payload['gpu_hours_h100_40pct']:.4g} H100-hours at 40% utilisation)\n"
            f"N*  = {a.N_opt:.4g} parameters{fmt('N_opt')}\nD*  = {a.D_opt:.4g} tokens{fmt('D_opt')}\n"
            f"D*/N* = {a.tokens_per_param:.3g} tokens per parameter{fmt('tokens_per_param')}\n"
            f"loss at the optimum = {a.loss:.4g} {source.get('unit') or ''}{fmt('loss')}")
    _emit(args, payload, text)


def cmd_backtest(args):
    from analysis.backtest import backtest
    frame, source = load_frame(args)
    kwargs = _fit_kwargs(args, source)
    law, choice = _choose(args, frame, kwargs)
    bt = backtest(frame, law, n_holdout=args.n_holdout, tail=args.tail, **kwargs)
    payload = bt.to_dict()
    if choice:
        payload["auto"] = choice
    _emit(args, payload, bt.summary())


def cmd_report(args):
    from analysis.allocate import allocate
    from analysis.backtest import backtest
    from analysis.report import build_report
    res, frame, source, choice = _fit(args)
    kwargs = _fit_kwargs(args, source)
    bt = None
    try:
        bt = backtest(frame, res.law, **dict(kwargs, bootstrap=0))
    except Exception as exc:  # noqa: BLE001 - a report without a back-test is still a report
        print(f"note: no back-test in the report ({exc})", file=sys.stderr)
    alloc = None
    if res.law_obj.allocatable:
        alloc = [allocate(res, c) for c in (args.compute or [1e21, 1e22, 1e23, 1e24, 1e25])]
    command = "python -m analysis " + " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:]))
    rep = build_report(res, frame, data_source=source, backtest=bt, allocation=alloc, command=command,
                       settings=res.settings)
    text = {"html": rep.to_html, "json": rep.to_json, "md": rep.to_markdown}[args.format]()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.format} report to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _groups_from_csv(args) -> dict[str, pd.DataFrame]:
    """Split an upload into groups by a column of the file (constant within each run).

    The column is read by the upload reader as the runs' family, so encodings, delimiters and bad
    cells are handled (and reported) exactly as for any upload.
    """
    from datasets.store import to_fit_frame
    from datasets.upload import read_upload
    p = _check_file(args.csv)
    col = args.group
    up = read_upload(p, filename=p.name, column_map={"family": col})
    split = up.runs.groupby("model")["family"].nunique()
    if (split > 1).any():
        raise CLIError(f"--group {col!r} changes within run {split[split > 1].index[0]!r}: "
                       "a group must be constant within each run")
    m = _pick_metric(sorted(up.points["metric"].unique()), args.metric, args.csv, _lr_metrics(up.points))
    frame = to_fit_frame(up.runs, up.points, m, final_only=args.final_only)
    frame["_g"] = frame["group"].str.replace("upload/", "", n=1, regex=False)
    groups = {str(g): sub.drop(columns="_g") for g, sub in frame.groupby("_g")}
    if len(groups) < 2:
        raise CLIError(f"--group {col!r} gives {len(groups)} group(s); a crossover needs at least 2")
    return groups, m, frame.attrs.get("higher_is_better")


def cmd_crossover(args):
    from analysis.crossover import crossover
    if args.csv:
        groups, metric, hib = _groups_from_csv(args)
    else:
        store = _store(args)
        if not args.family or len(args.family) < 2:
            raise CLIError("with --store give two or more --family NAME")
        m = _family_metric(store, args.family[0], args.metric)
        for f in args.family[1:]:
            _family_metric(store, f, m)
        if len(set(args.family)) < 2:
            raise CLIError("with --store give two or more different --family NAME")
        groups = {f: store.fit_frame(f, m, final_only=args.final_only) for f in dict.fromkeys(args.family)}
        metric, hib = m, next(iter(groups.values())).attrs.get("higher_is_better")
    res = crossover(groups, axis=AXES[args.x], law=args.law, target=args.target, bootstrap=args.bootstrap,
                    seed=args.seed, higher_is_better=bool(hib))
    payload = res.to_dict()
    payload["metric"] = metric
    _emit(args, payload, res.summary())


def _final_table(args) -> tuple[pd.DataFrame, dict]:
    frame, source = load_frame(args)
    # final point per run: the largest D (then step)
    frame = frame.sort_values(["run", "D", "step"]).groupby("run", as_index=False).tail(1)
    return frame, source


def cmd_trend(args):
    from analysis.trend import trend_shape
    frame, source = _final_table(args)
    x = AXES[args.x]
    frame = frame[np.isfinite(frame[x]) & np.isfinite(frame["y"])]
    hib = source.get("higher_is_better")
    if args.higher_is_better is not None:
        hib = args.higher_is_better == "yes"
    res = trend_shape(frame[x].to_numpy(float), frame["y"].to_numpy(float), higher_is_better=bool(hib),
                      alpha=args.alpha, seed=args.seed)
    payload = res.to_dict()
    payload["metric"] = source.get("metric")
    _emit(args, payload, res.summary())


def cmd_scan(args):
    from analysis.trend import scan_trends
    store = _store(args)
    pts = store.points(family=None, split=args.split, final_only=True) if not args.family else \
        pd.concat([store.points(family=f, split=args.split, final_only=True) for f in args.family])
    if args.source:
        pts = pts[pts["family"].str.startswith(args.source + "/")]
    table = scan_trends(pts, alpha=args.alpha)
    _emit(args, {"findings": table}, table.to_string(index=False) if len(table) else "no non-monotone trends found")


def cmd_downstream(args):
    from analysis.downstream import map_downstream
    if args.csv:
        up = _read_upload(args.csv)
        pts = up.points
    else:
        store = _store(args)
        if not args.family:
            raise CLIError("--store needs --family NAME")
        _family_metric(store, args.family[0], None)
        pts = store.points(family=args.family[0])
    metrics = sorted(pts["metric"].unique())
    metric = _pick_metric(metrics, args.metric, "the data", _lr_metrics(pts))
    loss_metric = args.loss_metric
    if loss_metric is None:
        losses = sorted(pts.loc[pts["unit"].isin(["nats", "bits", "perplexity"]), "metric"].unique())
        if not losses:
            raise CLIError("no loss metric (unit nats/bits/perplexity) to map from; name one with --loss-metric")
        loss_metric = losses[0]
    chance = args.chance
    if chance is None and not args.csv:     # as the app: the source's published random baseline, when known
        chance = store.chance_level(args.family[0].split("/")[0], metric)
    if "params" not in pts:
        pts = pts.merge(up.runs[["run_id", "params"]], on="run_id", how="left")
    key = ["run_id", "tokens"] if pts["tokens"].notna().any() else ["run_id", "step"]
    a = pts[pts["metric"] == loss_metric][key + ["value", "params"]].rename(columns={"value": "loss"})
    b = pts[pts["metric"] == metric][key + ["value", "higher_is_better"]]
    j = a.merge(b, on=key).dropna(subset=["loss", "value"])
    if len(j) < 4:
        raise CLIError(f"only {len(j)} checkpoints have both {loss_metric!r} and {metric!r}; need at least 4")
    hib = bool(j["higher_is_better"].dropna().iloc[0]) if j["higher_is_better"].notna().any() else True
    res = map_downstream(j["loss"].to_numpy(float), j["value"].to_numpy(float), runs=j["run_id"].to_numpy(str),
                         chance=chance, higher_is_better=hib, scale=j["params"].to_numpy(float))
    payload = res.to_dict()
    payload.update(metric=metric, loss_metric=loss_metric)
    _emit(args, payload, res.summary())


# ----------------------------------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (``error: ...``, exit 2), like every other error of the CLI."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"error: {' '.join(str(message).split())} (see `{self.prog} --help`)\n")


def _number(kind: str, lo: float | None = None, hi: float | None = None, *, lo_open=False, hi_open=False,
            integer=False):
    """An argparse ``type``: a finite number within [lo, hi] (open ends where asked), else a usage error."""
    def parse(text: str):
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind} expected, got {text!r}") from None
        ok = math.isfinite(x) and (lo is None or (x > lo if lo_open else x >= lo)) \
            and (hi is None or (x < hi if hi_open else x <= hi)) and (not integer or x == int(x))
        if not ok:
            raise argparse.ArgumentTypeError(f"{kind} expected, got {text!r}")
        return int(x) if integer else x
    return parse


POSITIVE = _number("a positive finite number", 0, lo_open=True)
NON_NEGATIVE = _number("a finite number >= 0", 0)
FRACTION = _number("a fraction in [0, 1)", 0, 1, hi_open=True)
TAIL = _number("a fraction in (0, 1]", 0, 1, lo_open=True)
ALPHA = _number("a significance level in (0, 1)", 0, 1, lo_open=True, hi_open=True)
MAX_BOOTSTRAP = 100_000
BOOTSTRAP = _number(f"a whole number of resamples from 0 to {MAX_BOOTSTRAP:,}", 0, MAX_BOOTSTRAP, integer=True)
SEED = _number("a whole number from 0 to 2**32 - 1", 0, 2 ** 32 - 1, integer=True)
COUNT = _number("a whole number >= 1", 1, 1e6, integer=True)


def _data_args(p, multi_family=False):
    g = p.add_argument_group("data")
    g.add_argument("--csv", help="runs in the upload format (CSV or Parquet)")
    g.add_argument("--store", help="a store built by `python -m datasets.build` (default: $SCALING_STORE or ./store.duckdb)")
    g.add_argument("--family", action="append", help="a family in the store" + (" (repeat for groups)" if multi_family else ""))
    g.add_argument("--metric", help="the metric to fit (default: the only one, or the family's default)")
    g.add_argument("--final-only", action="store_true", help="use only the last checkpoint of each run")


def _fit_args(p, law_default="chinchilla"):
    from analysis.laws import LAWS
    g = p.add_argument_group("fit")
    g.add_argument("--law", default=law_default, choices=sorted(LAWS) + ["auto"],
                   help="law to fit; auto picks by held-out error (default: %(default)s)")
    g.add_argument("--objective", default="huber", choices=["huber", "mse", "lower"])
    g.add_argument("--delta", type=POSITIVE, default=1e-3, help="Huber threshold on log residuals")
    g.add_argument("--bootstrap", type=BOOTSTRAP, default=1000, help="run-level bootstrap resamples (0 = none)")
    g.add_argument("--seed", type=SEED, default=0)
    g.add_argument("--min-tokens", type=NON_NEGATIVE, help="drop checkpoints with fewer tokens than this")
    g.add_argument("--min-fraction", type=FRACTION, help="drop checkpoints before this fraction of each run")
    g.add_argument("--exclude-run", action="append", help="leave out this run (repeatable)")
    g.add_argument("--keep-flagged", action="store_true",
                   help="keep the runs the source flags as outliers (left out by default, as in the app)")
    g.add_argument("--y-transform", default="auto", choices=["auto", "none", "one_minus"],
                   help="fit 1 - value for higher-is-better metrics (auto: from the metric)")
    g.add_argument("--time-budget", type=POSITIVE, help="seconds the bootstrap may take before it stops early")


def build_parser() -> argparse.ArgumentParser:
    from analysis.laws import LAWS
    parser = _Parser(prog="python -m analysis", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, fn, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--compact", action="store_true", help="JSON on one line")
        p.set_defaults(fn=fn)
        return p

    add("laws", cmd_laws, "list the law registry")
    p = add("families", cmd_families, "list the store's families")
    p.add_argument("--store")
    p = add("fit", cmd_fit, "fit a law with bootstrap confidence intervals")
    _data_args(p)
    _fit_args(p)
    p.add_argument("--out", help="save the fit (with bootstrap samples) as JSON for `predict`")
    p = add("predict", cmd_predict, "predict with a saved fit at the rows of a CSV")
    p.add_argument("--fit", required=True, help="a fit saved with `fit --out`")
    p.add_argument("--csv", required=True, help="points to predict at (columns N, D, C or step)")
    p = add("allocate", cmd_allocate, "compute-optimal N and D for a FLOP budget")
    _data_args(p)
    _fit_args(p)
    p.add_argument("--compute", type=POSITIVE, required=True, help="training budget in FLOPs")
    p.add_argument("--flops-per-param-token", type=POSITIVE, default=6.0, help="k in C = k N D")
    p.add_argument("--unique-tokens", type=POSITIVE, help="unique tokens available (data-constrained law)")
    p = add("backtest", cmd_backtest, "hold out the largest model(s), predict them, report ARE and log-RMSE")
    _data_args(p)
    _fit_args(p)
    p.add_argument("--n-holdout", type=COUNT, default=1, help="number of largest sizes held out")
    p.add_argument("--tail", type=TAIL, default=0.3, help="fraction of each held-out run scored by ARE")
    p = add("report", cmd_report, "a fitted-law report in HTML, JSON or Markdown")
    _data_args(p)
    _fit_args(p)
    p.add_argument("--format", choices=["html", "json", "md"], default="html")
    p.add_argument("--out", help="write the report here (default: stdout)")
    p.add_argument("--compute", type=POSITIVE, action="append", help="budget(s) for the allocation table")
    p = add("crossover", cmd_crossover, "where two groups' scaling curves cross, with bootstrap uncertainty")
    _data_args(p, multi_family=True)
    p.add_argument("--group", default="family", help="column of the CSV that names the groups")
    p.add_argument("--x", default="flops", choices=sorted(AXES), help="shared scale axis")
    p.add_argument("--law", default=None, choices=sorted(LAWS), help="law per group (default: saturating power law on the axis)")
    p.add_argument("--target", type=POSITIVE, help="scale at which to say which group is better")
    p.add_argument("--bootstrap", type=BOOTSTRAP, default=1000)
    p.add_argument("--seed", type=SEED, default=0)
    p = add("trend", cmd_trend, "classify a metric's trend with scale: improving, inverse, U-shaped ...")
    _data_args(p)
    p.add_argument("--x", default="params", choices=sorted(AXES))
    p.add_argument("--alpha", type=ALPHA, default=0.05, help="significance level")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--higher-is-better", choices=["yes", "no"], help="override the metric's direction")
    p = add("scan", cmd_scan, "list non-monotone trends across the store's families and metrics")
    p.add_argument("--store")
    p.add_argument("--family", action="append")
    p.add_argument("--source", help="only families of this source")
    p.add_argument("--split", default="downstream")
    p.add_argument("--alpha", type=ALPHA, default=0.05)
    p = add("downstream", cmd_downstream, "map loss to a downstream metric")
    _data_args(p)
    p.add_argument("--loss-metric", help="the loss to map from (default: the first loss metric)")
    p.add_argument("--chance", type=NON_NEGATIVE, help="chance level of the task (accuracy units)")
    return parser


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else exc.__class__.__name__


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    from analysis.fit import FitError
    try:
        from datasets.store import StoreError
        from datasets.upload import UploadError
        known = (CLIError, FitError, StoreError, UploadError, ValueError, KeyError, OSError)
    except ImportError:  # pragma: no cover - the upload module ships with the project
        known = (CLIError, FitError, ValueError, KeyError, OSError)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")   # library noise (pandas, numpy) is not for the CLI's user
            args.fn(args)
    except BrokenPipeError:   # the reader went away (`... | head`): not an error; silence the final flush
        try:
            import os
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 0
    except known as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_DATA
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user
        print(f"internal error ({exc.__class__.__name__}): {_one_line(exc)}; please report it with the command line",
              file=sys.stderr)
        return EXIT_INTERNAL
    return 0
