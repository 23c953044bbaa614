"""Batch commands, serial or on a Dask cluster (:mod:`analysis.batch`): ``backtest --all``, ``scan --cluster``
and ``fit --cluster`` (a large bootstrap in chunks).

``--cluster local[:N]`` starts N worker processes on this machine (loopback only) for the command;
``--cluster tcp://HOST:PORT`` uses a running Dask scheduler (``dask scheduler`` + ``dask worker ADDRESS``
started in the project directory, so the workers import the same code). Workers read the store themselves:
give them a store they can all open (a Parquet store on object storage or a shared disk; a DuckDB file on
a shared disk). Progress goes to stderr, results to stdout as without ``--cluster``.

Work is split per family (``backtest --all``, ``scan``) or per chunk of bootstrap resamples (``fit``). Each
task carries its own settings and seed, so the numbers do not depend on where or in which order the tasks
ran, or on a worker dying and its task running again elsewhere:

* ``backtest --all``: one row per (family, applicable law): ``backtest --store S --family F --law L`` with the
  same flags gives the same ARE and log-RMSE; with ``--bootstrap B`` the row adds the ARE's percentile
  interval over the B refits of the fit (the resamples' predictions scored like the point fit's).
* ``scan --cluster``: the same table as ``scan`` (trend tests are per (family, metric)).
* ``fit --cluster``: the bootstrap is split into chunks of ``--chunk`` resamples, chunk ``k`` seeded with
  :func:`analysis.batch.item_seed` ``(seed, k)``; ``--cluster serial`` computes the same chunks in this
  process and gives identical numbers (a plain ``fit`` draws one stream of resamples: statistically the
  same, not bit-identical).
"""
from __future__ import annotations

import dataclasses
import sys
import time
from argparse import Namespace

import numpy as np
import pandas as pd

from analysis import batch
from analysis.backtest import applicable_laws, backtest
from analysis.cli import fit_commands, fitting
from analysis.cli.compare_commands import cmd_scan as serial_scan
from analysis.cli.errors import CLIError
from analysis.cli.loading import load_frame, open_store
from analysis.cli.output import emit
from analysis.diagnostics import diagnose, objective_sensitivity, other_objective, unique
from analysis.fit import fit_law
from analysis.interval import percentile_interval
from analysis.prepare import FitError
from analysis.trend import SCAN_COLUMNS, scan_trends

CLUSTER_HELP = ("run on a Dask cluster: local[:N] (N worker processes here) or tcp://HOST:PORT (a running "
                "scheduler); serial = this process; progress on stderr")
DEFAULT_CHUNK = 250
ROW_COLUMNS = ["family", "metric", "law", "are", "are_lo", "are_hi", "log_rmse", "n_heldout_runs", "n_points",
               "n_boot", "rule", "error"]
FIT_ERRORS = (FitError, ValueError, FloatingPointError, np.linalg.LinAlgError)


# ------------------------------------------------------------------------------------------ registration
def register_backtest(p) -> None:
    """``backtest --all`` and ``--cluster`` (the backtest parser's ``fn`` becomes :func:`cmd_backtest`)."""
    p.add_argument("--all", action="store_true",
                   help="every family of the store (or the --family/--source ones) x every applicable law "
                        "(or --law), with --bootstrap resamples each; one row per pair")
    p.add_argument("--source", help="with --all: only families of this source")
    p.add_argument("--cluster", metavar="SPEC", help=CLUSTER_HELP)
    p.set_defaults(fn=cmd_backtest)


def register_scan(p) -> None:
    p.add_argument("--cluster", metavar="SPEC", help=CLUSTER_HELP + " (one task per family)")
    p.set_defaults(fn=cmd_scan)


def register_fit(p) -> None:
    p.add_argument("--cluster", metavar="SPEC", help=CLUSTER_HELP + " (the bootstrap in chunks of --chunk)")
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, metavar="B",
                   help=f"resamples per task with --cluster (default {DEFAULT_CHUNK})")
    p.set_defaults(fn=cmd_fit)


class StderrProgress:
    """``what: done/total units (s elapsed)`` on stderr: updated in place on a terminal, else about every 10%."""

    def __init__(self, what: str, unit: str, where: str):
        self.what, self.unit, self.t0, self.last = what, unit, time.perf_counter(), -1
        print(f"{what}: {where}", file=sys.stderr, flush=True)

    def __call__(self, done: int, total: int) -> None:
        tty = sys.stderr.isatty()
        step = max(1, total // 10)
        if not tty and done != total and done // step == self.last // step:
            return
        self.last = done
        text = f"{self.what}: {done}/{total} {self.unit} done ({time.perf_counter() - self.t0:.0f} s)"
        print(("\r" + text) if tty else text, end="\n" if (done == total or not tty) else "", file=sys.stderr,
              flush=True)


def _location(args) -> str:
    store = open_store(args)
    if store.path is None:
        raise CLIError("a batch command needs a store that every worker can open (--store PATH or URL)")
    return str(store.path)


# ------------------------------------------------------------------------------------------ backtest --all
def _options(args) -> dict:
    """The command's flags as plain data (what a worker needs to rebuild them)."""
    return {k: v for k, v in vars(args).items() if k not in ("fn", "argv", "cluster") and not callable(v)}


def are_samples(bt, tail: float) -> np.ndarray:
    """The back-test's ARE under each bootstrap resample's parameters: the held-out runs' last ``tail``
    checkpoints scored as :func:`analysis.backtest.backtest` scores the point fit (mean over a run's tail
    of |y - y_hat| / |y|, then mean over runs). Empty when the fit has no resamples."""
    fit = bt.fit
    if fit is None or fit.boot is None or not len(fit.boot):
        return np.empty(0)
    pred = bt.predictions
    test = pred[pred["heldout"].to_numpy(bool)]
    test = test[np.isfinite(test["y_pred"].to_numpy(float)) & np.isfinite(test["y"].to_numpy(float))]
    axis = "D" if test["D"].notna().any() else "step"
    weight = np.zeros(len(test))
    runs = test["run"].to_numpy()
    values = test[axis].to_numpy(float)
    groups = pd.Series(np.arange(len(test))).groupby(runs, sort=True)
    for _, idx in groups:
        idx = idx.to_numpy()
        v = values[idx]
        tail_rows = idx if len(idx) <= 1 else idx[v >= v.min() + (1 - tail) * (v.max() - v.min())]
        weight[tail_rows] = 1.0 / (len(tail_rows) * groups.ngroups)
    y = test["y"].to_numpy(float)
    with np.errstate(all="ignore"):
        samples = fit.predict_samples(test)
        return np.abs(y[None, :] - samples) / np.abs(y)[None, :] @ weight


def backtest_family(task: dict) -> list[dict]:
    """Every requested law back-tested on one family of the store (a worker task; module level so it pickles).

    ``task``: ``location``, ``family``, ``laws`` (None: every applicable law) and ``options`` (the flags).
    """
    args = Namespace(**dict(task["options"], store=task["location"], family=[task["family"]], csv=None))
    base = dict(family=task["family"], metric=None, law=None, are=np.nan, are_lo=np.nan, are_hi=np.nan,
                log_rmse=np.nan, n_heldout_runs=0, n_points=0, n_boot=0, rule="", error="")
    try:
        frame, source = load_frame(args)
        kwargs = fitting.fit_kwargs(args, frame, source)
    except (CLIError, *FIT_ERRORS) as exc:
        return [dict(base, error=str(exc))]
    base["metric"] = source["metric"]
    laws = applicable_laws(frame)
    wanted = task["laws"]
    laws = [law for law in laws if wanted is None or law in wanted]
    if not laws:
        return [dict(base, law=(wanted or [""])[0], error="no requested law applies to this family's data")]
    rows = []
    for law in laws:
        try:
            bt = backtest(frame, law, n_holdout=args.n_holdout, tail=args.tail, **kwargs)
        except FIT_ERRORS as exc:
            rows.append(dict(base, law=law, error=str(exc)))
            continue
        ci = percentile_interval(are_samples(bt, args.tail))
        rows.append(dict(base, law=law, are=bt.are, are_lo=ci.lo, are_hi=ci.hi, log_rmse=bt.log_rmse,
                         n_heldout_runs=len(bt.heldout), n_points=bt.fit.n_points, n_boot=bt.fit.n_boot, rule=bt.rule))
    return rows


def families_of(store, families=None, source: str | None = None) -> list[str]:
    """The store's families (sorted), or the given ones (unique, in order), narrowed to ``source``."""
    names = list(dict.fromkeys(families)) if families else list(store.families()["family"])
    if source:
        names = [f for f in names if f.startswith(source + "/")]
    if not names:
        raise CLIError("no family to work on" + (f" in source {source!r}" if source else ""),
                       "see `python -m analysis families`")
    return names


def backtest_all(location: str, families: list[str], options: dict, *, laws=None, cluster=None, client=None,
                 progress=None) -> pd.DataFrame:
    """One row per (family, law): ARE, its bootstrap interval, log-RMSE ... (:data:`ROW_COLUMNS`), family by family."""
    tasks = [dict(location=location, family=f, laws=laws, options=options) for f in families]
    parts = batch.run_batch(backtest_family, tasks, cluster=cluster, client=client, progress=progress)
    return pd.DataFrame([row for part in parts for row in part], columns=ROW_COLUMNS)


def cmd_backtest(args):
    if not args.all:
        if args.cluster or args.source:
            raise CLIError("--cluster and --source go with --all (one back-test runs in this process)",
                           "add --all, or drop them")
        return fit_commands.cmd_backtest(args)
    if args.csv:
        raise CLIError("backtest --all runs over a store's families", "use --store PATH (or the default store)")
    location = _location(args)
    families = families_of(open_store(args), args.family, args.source)
    spec = batch.parse_cluster(args.cluster)
    laws = None if args.law in (None, "auto") else [args.law]
    table = backtest_all(location, families, _options(args), laws=laws, cluster=spec,
                         progress=StderrProgress("backtest --all", "families", spec.describe()))
    ok = table[table["error"] == ""]
    emit(args, {"rows": table, "n_families": len(families), "n_backtests": len(ok),
                "n_failed": int(len(table) - len(ok)), "bootstrap": args.bootstrap, "seed": args.seed},
         table.drop(columns=["rule"]).to_string(index=False) if len(table) else "nothing to back-test")


# ------------------------------------------------------------------------------------------ scan
def scan_family(task: dict) -> pd.DataFrame:
    """:func:`analysis.trend.scan_trends` of one family's final points (a worker task)."""
    from datasets.store import Store

    points = Store(task["location"]).points(family=task["family"], split=task["split"], final_only=True)
    return scan_trends(points, alpha=task["alpha"], n_boot=task["n_boot"])


def scan_all(location: str, families: list[str], *, split=None, alpha: float = 0.05, n_boot: int = 200,
             cluster=None, client=None, progress=None) -> pd.DataFrame:
    """:func:`analysis.trend.scan_trends` over ``families``, one task per family, in scan_trends' order."""
    tasks = [dict(location=location, family=f, split=split, alpha=alpha, n_boot=n_boot) for f in families]
    parts = batch.run_batch(scan_family, tasks, cluster=cluster, client=client, progress=progress)
    findings = pd.concat([pd.DataFrame(columns=SCAN_COLUMNS), *[p for p in parts if len(p)]], ignore_index=True)
    # scan_trends' order: by (family, metric), then a stable sort by p-value
    findings = findings.sort_values(["family", "metric"]).sort_values("p_value", kind="mergesort")
    return findings.reset_index(drop=True)


def cmd_scan(args):
    if args.cluster is None or getattr(args, "emergence", False):     # the emergence scan runs serially
        return serial_scan(args)
    spec = batch.parse_cluster(args.cluster)
    families = families_of(open_store(args), args.family, args.source)
    findings = scan_all(_location(args), families, split=args.split or None, alpha=args.alpha, n_boot=args.bootstrap,
                        cluster=spec, progress=StderrProgress("scan", "families", spec.describe()))
    emit(args, {"findings": findings},
         findings.to_string(index=False) if len(findings) else "no non-monotone trends found")


# ------------------------------------------------------------------------------------------ fit --cluster
def fit_chunk(item: dict, frame: pd.DataFrame) -> dict:
    """``item["size"]`` resamples of the fit seeded ``item["seed"]`` (a worker task; the frame is shared)."""
    r = fit_law(frame, item["law"], **dict(item["kwargs"], bootstrap=item["size"], seed=item["seed"],
                                           time_budget=None, diagnostics=False))
    boot = r.boot if r.boot is not None else np.empty((0, len(r.params)))
    return {"boot": boot, "unconverged": r.n_boot_unconverged, "failed": int(item["size"] - len(boot))}


def chunked_fit(frame: pd.DataFrame, law: str, kwargs: dict, *, chunk: int = DEFAULT_CHUNK, cluster=None,
                client=None, progress=None):
    """``fit_law(frame, law, **kwargs)`` with its ``kwargs["bootstrap"]`` resamples computed in chunks of
    ``chunk`` (chunk ``k`` seeded :func:`analysis.batch.item_seed` ``(seed, k)``), serially or on a cluster:
    the same point fit, intervals from the union of the chunks, the same diagnostics."""
    n_boot, seed = int(kwargs.get("bootstrap") or 0), int(kwargs.get("seed") or 0)
    if chunk < 1:
        raise CLIError(f"--chunk must be at least 1, got {chunk}")
    base = fit_law(frame, law, **dict(kwargs, bootstrap=0, time_budget=None, diagnostics=False))
    sizes = [min(chunk, n_boot - a) for a in range(0, n_boot, chunk)]
    items = [dict(law=law, kwargs=kwargs, size=size, seed=batch.item_seed(seed, f"chunk-{k}"))
             for k, size in enumerate(sizes)]
    parts = batch.run_batch(fit_chunk, items, cluster=cluster, client=client, progress=progress, shared=frame) \
        if items and base.n_runs >= 2 else []
    warns = list(base.warnings)
    result = base
    if parts:
        boot = np.concatenate([p["boot"] for p in parts])
        unconverged, failed = sum(p["unconverged"] for p in parts), sum(p["failed"] for p in parts)
        ci = {k: percentile_interval(boot[:, j]) for j, k in enumerate(base.law.param_names)} if len(boot) else {}
        if unconverged:
            warns.append(f"{unconverged} of {len(boot)} bootstrap refits did not converge and were kept at their "
                         "best point: the intervals may be slightly off.")
        if failed:
            warns.append(f"{failed} bootstrap refits failed (the law is not finite on their data) and were dropped.")
        result = dataclasses.replace(base, boot=boot, ci=ci, n_boot_requested=n_boot, n_boot_unconverged=unconverged,
                                     settings=dict(base.settings, bootstrap=n_boot, chunk=chunk),
                                     notes=(*base.notes, f"bootstrap: {n_boot} resamples in {len(items)} chunks of "
                                                         f"up to {chunk}, chunk k seeded item_seed({seed}, 'chunk-k')"))
    elif n_boot:
        warns.append("a run-level bootstrap needs at least 2 runs; no intervals were computed.")
    warns += diagnose(result)
    if result.ci:
        try:
            refit = fit_law(frame, law, **dict(kwargs, objective=other_objective(result.objective), bootstrap=0,
                                               time_budget=None, diagnostics=False))
            warns += objective_sensitivity(result, refit)
        except FIT_ERRORS:
            pass
    return dataclasses.replace(result, warnings=tuple(unique(warns)))


def cmd_fit(args):
    if args.cluster is None:
        return fit_commands.cmd_fit(args)
    if getattr(args, "fix", None):      # the chunked bootstrap fits every parameter: refuse, never drop it silently
        raise CLIError("--fix does not work with --cluster: the chunked bootstrap fits every parameter",
                       "run the fit with --fix and without --cluster")
    frame, data_source = load_frame(args)
    kwargs = fitting.fit_kwargs(args, frame, data_source)
    law, choice = fitting.choose(args, frame, kwargs)
    spec = batch.parse_cluster(args.cluster)
    result = chunked_fit(frame, law, kwargs, chunk=args.chunk, cluster=spec,
                         progress=StderrProgress("fit --cluster", "bootstrap chunks", spec.describe()))
    fit_commands.emit_fit(args, result, data_source, choice)
