"""The plain content a report shows, computed from results and the rows they used.

Each function turns one result (or the data) into plain JSON types (:func:`analysis.jsonable.jsonable`);
:mod:`analysis.report.sections` lays them out. Units: a parameter's unit follows from the law and the
fitted quantity's unit (:meth:`analysis.laws.Law.param_unit`): levels (``E``, ``a``, ``L0``) are in the
metric's unit, exponents are dimensionless, a coefficient ``A`` of ``A / x^alpha`` is in
``unit x [x]^alpha``, critical and break scales are in the units of their variable.
"""
from __future__ import annotations

import os
import platform
import shlex
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.allocate import Allocation, flops_to_gpu_hours
from analysis.fit_result import OBJECTIVES, FitResult
from analysis.jsonable import jsonable, number
from datasets.store import is_url

PACKAGES = ("streamlit", "plotly", "pandas", "numpy", "scipy", "duckdb", "pyarrow")
MAX_RUN_ROWS = 1000           # runs listed in the JSON data summary
SOURCE_KEYS = ("kind", "family", "metric", "unit", "path", "store_digest")
DIGEST_CHARS = 16             # of the store's content sha256 (meta.input_digest) shown in a report


def _store_digest(path) -> str | None:
    """The content digest (``meta.input_digest``) of the store at ``path``, None when it cannot be read."""
    try:
        from datasets.store import Store

        return Store(path).meta().get("input_digest") or None
    except Exception:  # noqa: BLE001 - a report without the digest is still a report
        return None


def public_source(data_source: dict) -> tuple[dict, dict[str, str]]:
    """``data_source`` as a report shared with others may show it, and the replacements that make a
    command line equally public.

    A report names its data file (store or CSV) by its file name -- and a store also by its content
    digest (the sha256 of its tables, ``meta.input_digest``; ``store_digest`` when the caller knows it)
    -- never by its absolute path on this machine, which says who ran it and where. The replacements map
    each spelling of the path (as given, absolute, resolved) to the file name."""
    source = dict(data_source)
    path = source.get("path")
    if not path or is_url(str(path)):            # nothing, or a URL (public by nature)
        return source, {}
    name = Path(str(path).rstrip("/")).name or str(path)
    if source.get("kind") == "store" and not source.get("store_digest"):
        source["store_digest"] = _store_digest(path)
    if source.get("store_digest"):
        source["store_digest"] = str(source["store_digest"])[:DIGEST_CHARS]
    source["path"] = name
    return source, path_replacements(path)


def path_replacements(path) -> dict[str, str]:
    """Each spelling of a local file's ``path`` (as given, absolute, resolved) -> its file name ({} for none
    or a URL), for :func:`redact`."""
    if not path or is_url(str(path)):
        return {}
    name = Path(str(path).rstrip("/")).name or str(path)
    forms = {str(path), os.path.abspath(str(path))}
    try:
        forms.add(str(Path(str(path)).resolve()))
    except OSError:
        pass
    return {f: name for f in forms if f and f != name}


def redact(text: str | None, replacements: dict[str, str]) -> str | None:
    """``text`` (e.g. a command line) with each path of ``replacements`` (quoted or not) replaced by its name."""
    if not text:
        return text
    for path in sorted(replacements, key=len, reverse=True):
        name = replacements[path]
        text = text.replace(shlex.quote(path), shlex.quote(name)).replace(path, name)
    return text


def param_unit(law, name: str, unit: str | None) -> str:
    """Unit of parameter ``name`` of ``law`` when the fitted quantity is in ``unit`` (:meth:`Law.param_unit`)."""
    return law.param_unit(name, unit)


def fitted_unit(fit: FitResult, unit: str | None) -> str | None:
    """The unit of the quantity the law was fitted to: ``unit``, or ``1 - value (unit)``."""
    if fit.y_transform == "none":
        return unit
    return f"1 - value ({unit})" if unit else "1 - value"


def _range(series) -> list[float] | None:
    v = pd.to_numeric(pd.Series(series), errors="coerce").to_numpy(float)
    v = v[np.isfinite(v)]
    return [float(v.min()), float(v.max())] if len(v) else None


def run_table(frame: pd.DataFrame) -> list[dict]:
    """One row per run, smallest model first: its size N, points, and final D, C and y (the run's row
    with the largest D, then step; missing values sort first; ties: the later row)."""
    if frame.empty:
        return []
    order = [c for c in ("D", "step") if c in frame]
    df = frame.reset_index(drop=True).assign(_row=np.arange(len(frame)))
    last = df.sort_values(["run", *order, "_row"], na_position="first", kind="stable").groupby("run").tail(1)
    points = df.groupby("run").size()
    rows = [{"run": str(r["run"]), "N": number(r.get("N")), "points": int(points[r["run"]]),
             "final_D": number(r.get("D")), "final_C": number(r.get("C")), "final_y": number(r.get("y"))}
            for r in last.to_dict("records")]
    return sorted(rows, key=lambda r: (r["N"] is None, r["N"] or 0.0, r["run"]))


def data_content(frame: pd.DataFrame, data_source: dict) -> dict:
    """Where the data came from and what they hold: points, runs, distinct sizes, ranges, the run table."""
    runs = frame["run"].astype(str) if "run" in frame else pd.Series(np.arange(len(frame)).astype(str))
    out = {key: data_source.get(key) for key in SOURCE_KEYS}
    out["metric"] = out["metric"] or frame.attrs.get("metric")
    out["unit"] = out["unit"] or frame.attrs.get("unit")
    out.update(points=int(len(frame)), runs=int(runs.nunique()))
    N = pd.to_numeric(frame["N"], errors="coerce") if "N" in frame else pd.Series(dtype=float)
    finite = N[np.isfinite(N) & (N > 0)].to_numpy(float)
    out["sizes"] = int(len(np.unique(np.round(np.log10(finite), 3)))) if len(finite) else 0   # distinct to 0.2%
    out["points_per_run_median"] = float(runs.value_counts().median()) if len(frame) else None
    out["ranges"] = {col: _range(frame[col]) for col in ("N", "D", "C", "step", "U", "y") if col in frame}
    if "group" in frame:
        out["groups"] = sorted(map(str, frame["group"].dropna().unique()))[:50]
    if frame.attrs.get("converted"):
        out["converted"] = {str(k): int(v) for k, v in frame.attrs["converted"].items()}
    if frame.attrs.get("c_from_6nd"):
        out["c_from_6nd"] = int(frame.attrs["c_from_6nd"])
    extra = {k: v for k, v in data_source.items() if k not in out and k not in SOURCE_KEYS}
    if extra:
        out["source_details"] = extra
    out["run_table"] = run_table(frame.assign(run=runs.to_numpy()))[:MAX_RUN_ROWS]
    out["run_table_truncated"] = bool(runs.nunique() > MAX_RUN_ROWS)
    return jsonable(out)


def law_content(fit: FitResult) -> dict:
    law = fit.law
    return {"name": law.name, "title": law.title, "formula": law.formula, "latex": law.latex,
            "variables": list(law.variables), "reference": law.reference}


def parameters(fit: FitResult, unit: str | None) -> list[dict]:
    """Each parameter: value, 95% CI, unit (of the fitted quantity) and meaning."""
    yunit = fitted_unit(fit, unit)
    rows = []
    for p in fit.law.params:
        lo, hi = fit.ci.get(p.name, (None, None))
        rows.append({"name": p.name, "value": number(fit.params[p.name]), "ci_low": number(lo),
                     "ci_high": number(hi), "unit": param_unit(fit.law, p.name, yunit), "meaning": p.meaning})
    return rows


def fit_details(fit: FitResult) -> dict:
    return jsonable({"success": bool(fit.success), "message": fit.message, "objective": fit.objective,
                     "objective_text": OBJECTIVES.get(fit.objective, fit.objective), "delta": fit.delta,
                     "n_points": fit.n_points, "n_runs": fit.n_runs, "rmse_log": fit.rmse_log,
                     "mare": fit.mare, "n_boot": fit.n_boot, "n_boot_requested": fit.n_boot_requested,
                     "y_transform": fit.y_transform, "seconds": fit.seconds, "ranges": fit.ranges})


def fit_row(fit: FitResult) -> dict:
    """One law in the comparison table."""
    return jsonable({"law": fit.law.name, "formula": fit.law.formula, "n_params": len(fit.params),
                     "n_points": fit.n_points, "n_runs": fit.n_runs, "rmse_log": fit.rmse_log, "mare": fit.mare,
                     "objective": fit.objective, "params": fit.params, "ci": fit.ci, "warnings": list(fit.warnings)})


def backtest_content(backtest) -> dict | None:
    if backtest is None:
        return None
    out = {"law": getattr(backtest.law, "name", backtest.law), "are": backtest.are, "log_rmse": backtest.log_rmse,
           "rule": backtest.rule, "heldout": backtest.heldout, "summary": backtest.summary()}
    if backtest.fit is not None:
        out["fit_params"] = backtest.fit.params
    return jsonable(out)


def allocation_rows(allocation) -> tuple[list[dict], list[str]]:
    """Rows (compute, N*, D*, D*/N*, loss, their CI bounds, H100-hours at 40%) and notes of an allocation:
    an :class:`Allocation`, a list of them, a ``frontier`` DataFrame or plain dicts."""
    if allocation is None:
        return [], []
    if isinstance(allocation, pd.DataFrame):
        rows, notes = allocation.to_dict(orient="records"), []
    else:
        items = [allocation] if isinstance(allocation, (Allocation, dict)) else list(allocation)
        rows, notes = [], []
        for a in items:
            if isinstance(a, Allocation):
                row = {"compute": a.compute, "N_opt": a.N_opt, "D_opt": a.D_opt,
                       "tokens_per_param": a.tokens_per_param, "loss": a.loss, "method": a.method}
                for k, (lo, hi) in a.ci.items():
                    row[f"{k}_lo"], row[f"{k}_hi"] = lo, hi
                notes += [f"{a.compute:.4g} FLOPs: {n}" for n in (*a.warnings, *a.notes)]
            else:
                row = dict(a)
            rows.append(row)
    for row in rows:
        if number(row.get("compute")):
            row["h100_hours_at_40pct"] = flops_to_gpu_hours(float(row["compute"]))
    return jsonable(rows), notes


def analysis_entry(result):
    """A comparative analysis (crossover, trend, downstream result; a table; or a list of them) as JSON:
    ``{"summary": text, "result": to_dict()}``, ``{"table": records}`` or plain data."""
    if result is None:
        return None
    if isinstance(result, pd.DataFrame):
        return {"table": jsonable(result)}
    if isinstance(result, (list, tuple)):
        return [analysis_entry(r) for r in result]
    if isinstance(result, dict):
        return jsonable(result)
    entry = {}
    if hasattr(result, "summary"):
        entry["summary"] = str(result.summary())
    entry["result"] = jsonable(result.to_dict()) if hasattr(result, "to_dict") else str(result)
    return entry


def package_versions() -> dict[str, str | None]:
    """Versions of Python and of the packages the tool is built on (None when absent)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
