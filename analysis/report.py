"""One report of a fitted scaling law, rendered as JSON, Markdown or a self-contained HTML page.

:func:`build_report` gathers everything a reader needs to judge and reproduce a fit -- the law and its
formula, the parameters with their 95% run-level bootstrap intervals and units, the fit's warnings in
words, a summary of the data (points, runs, model sizes, token / FLOP ranges, metric and unit), the
back-test, the compute-optimal allocation table, comparisons with other laws, the comparative
analyses (crossover, trend shape, loss-to-downstream), the settings, the versions of the packages
that produced it and the command line that reproduces it -- into one frozen :class:`Report`.
The three renderings are views of the same content (``Report.to_dict()``):

* :meth:`Report.to_json` -- strict JSON (NaN and infinities become ``null``);
* :meth:`Report.to_markdown` -- headings and tables, parameters with CIs and units;
* :meth:`Report.to_html` -- ONE file that works offline: plotly.js is inlined once, then the figures
  (fit over the data with its bootstrap band, log residuals, back-test predicted vs actual) and the
  tables. Every string that comes from data (run names, family names, file names, warnings) is
  escaped with :func:`html.escape`; the embedded JSON copy escapes ``<``, ``>`` and ``&``.

Units: a parameter's unit follows from the law and the metric's unit ``u``: levels (``E``, ``a``,
``L0``) are in ``u``; exponents are dimensionless; a coefficient ``A`` of a term ``A / x^alpha`` is in
``u * [x]^alpha``; critical and break scales are in the units of their variable.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import math
import platform
import re
import shlex
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.allocate import Allocation, flops_to_gpu_hours
from analysis.fit import FitResult, OBJECTIVES
from analysis.laws import VAR_UNITS

TOOL = "scaling-law workbench"
PACKAGES = ("streamlit", "plotly", "pandas", "numpy", "scipy", "duckdb", "pyarrow")
MAX_RUN_ROWS = 1000           # runs listed in the JSON data summary
MAX_RUN_ROWS_SHOWN = 60       # runs listed in the Markdown / HTML tables
AXIS_NAMES = {"N": "parameters N", "D": "tokens D", "C": "FLOPs C", "step": "step"}

# coefficient -> (variable whose power it multiplies, exponent parameter)
_COEFFICIENTS = {("chinchilla", "A"): ("N", "alpha"), ("chinchilla", "B"): ("D", "beta"),
                 ("data_constrained", "A"): ("N", "alpha"), ("data_constrained", "B"): ("D", "beta"),
                 ("lr_anneal", "A"): ("S1", "alpha")}
_LEVELS = ("E", "a", "L0")


# ----------------------------------------------------------------------------------------------
# Plain-JSON helpers
# ----------------------------------------------------------------------------------------------
def jsonable(obj):
    """``obj`` as plain JSON types: numpy scalars and arrays unwrapped, NaN / inf -> None,
    DataFrames -> list of records, tuples -> lists, paths -> str."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, pd.DataFrame):
        return jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return jsonable(obj.tolist())
    if isinstance(obj, (Path, pd.Timestamp, _dt.datetime, _dt.date)):
        return str(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    return str(obj)


def _num(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt(v, digits: int = 4) -> str:
    """A number in ``digits`` significant figures; ``n/a`` for missing values; text unchanged."""
    if v is None:
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}" if abs(int(v)) >= 10_000 else str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{digits}g}" if math.isfinite(float(v)) else "n/a"
    return str(v)


def _range(series) -> list[float | None] | None:
    v = pd.to_numeric(pd.Series(series), errors="coerce").to_numpy(float)
    v = v[np.isfinite(v)]
    return [float(v.min()), float(v.max())] if len(v) else None


# ----------------------------------------------------------------------------------------------
# Content
# ----------------------------------------------------------------------------------------------
def param_unit(law, name: str, unit: str | None) -> str:
    """Unit of parameter ``name`` of ``law`` when the fitted quantity is in ``unit``."""
    u = unit or "y units"
    p = next(p for p in law.params if p.name == name)
    meaning = p.meaning.lower()
    single = law.variables[0] if len(law.variables) == 1 else None
    if name in _LEVELS:
        return u
    if "exponent" in meaning or "sharpness" in meaning or "returns decay" in meaning:
        return "dimensionless"
    if (law.name, name) in _COEFFICIENTS:
        var, exp = _COEFFICIENTS[(law.name, name)]
        return f"{u} x ({VAR_UNITS.get(var, var)})^{exp}"
    if law.name == "kaplan" and name in ("Nc", "Dc"):
        return VAR_UNITS[name[0]]
    if single is not None:
        if name == "A":
            return f"{u} x ({VAR_UNITS.get(single, single)})^alpha"
        if name == "b":
            return f"{u} x ({VAR_UNITS.get(single, single)})^c0"
        if name.endswith("c") or name.startswith("d"):
            return VAR_UNITS.get(single, single)
    if law.name == "lr_anneal" and name == "C":
        return f"{u} per unit of annealing area"
    return "see formula"


def _data_summary(frame: pd.DataFrame, data_source: dict) -> dict:
    df = frame
    runs = df["run"].astype(str) if "run" in df else pd.Series(np.arange(len(df)).astype(str))
    out = {key: data_source.get(key) for key in ("kind", "family", "metric", "unit", "path")}
    out["metric"] = out["metric"] or df.attrs.get("metric")
    out["unit"] = out["unit"] or df.attrs.get("unit")
    out.update(points=int(len(df)), runs=int(runs.nunique()))
    N = pd.to_numeric(df["N"], errors="coerce") if "N" in df else pd.Series(dtype=float)
    finite = N[np.isfinite(N) & (N > 0)].to_numpy(float)
    out["sizes"] = int(len(np.unique(np.round(np.log10(finite), 3)))) if len(finite) else 0   # distinct to 0.2%
    out["points_per_run_median"] = float(runs.value_counts().median()) if len(df) else None
    out["ranges"] = {col: _range(df[col]) for col in ("N", "D", "C", "step", "U", "y") if col in df}
    if "group" in df:
        groups = sorted(map(str, df["group"].dropna().unique()))
        out["groups"] = groups[:50]
    if df.attrs.get("converted"):
        out["converted"] = {str(k): int(v) for k, v in df.attrs["converted"].items()}
    if df.attrs.get("c_from_6nd"):
        out["c_from_6nd"] = int(df.attrs["c_from_6nd"])
    extra = {k: v for k, v in data_source.items() if k not in out and k not in ("kind", "family", "metric", "unit", "path")}
    if extra:
        out["source_details"] = extra
    out["run_table"] = _run_table(df.assign(run=runs.to_numpy()))[:MAX_RUN_ROWS]
    out["run_table_truncated"] = bool(runs.nunique() > MAX_RUN_ROWS)
    return out


def _run_table(df: pd.DataFrame) -> list[dict]:
    order = [c for c in ("D", "step") if c in df]
    rows = []
    for run, g in df.groupby("run", sort=True):
        last = g.sort_values(order, na_position="first").iloc[-1] if order else g.iloc[-1]
        rows.append({"run": str(run), "N": _num(last.get("N")), "points": int(len(g)),
                     "final_D": _num(last.get("D")), "final_C": _num(last.get("C")), "final_y": _num(last.get("y"))})
    return sorted(rows, key=lambda r: (r["N"] is None, r["N"] or 0.0, r["run"]))


def _parameters(fit: FitResult, unit: str | None) -> list[dict]:
    law = fit.law_obj
    yunit = unit if fit.y_transform == "none" else f"1 - value ({unit})" if unit else "1 - value"
    rows = []
    for p in law.params:
        lo, hi = fit.ci.get(p.name, (None, None))
        rows.append({"name": p.name, "value": _num(fit.params[p.name]), "ci_low": _num(lo), "ci_high": _num(hi),
                     "unit": param_unit(law, p.name, yunit), "meaning": p.meaning})
    return rows


def _allocation_rows(allocation) -> tuple[list[dict], list[str]]:
    if allocation is None:
        return [], []
    if isinstance(allocation, pd.DataFrame):
        rows = allocation.to_dict(orient="records")
        notes: list[str] = []
    else:
        items = [allocation] if isinstance(allocation, (Allocation, dict)) else list(allocation)
        rows, notes = [], []
        for a in items:
            if isinstance(a, Allocation):
                row = {"compute": a.compute, "N_opt": a.N_opt, "D_opt": a.D_opt,
                       "tokens_per_param": a.tokens_per_param, "loss": a.loss, "method": a.method}
                for k, (lo, hi) in a.ci.items():
                    row[f"{k}_lo"], row[f"{k}_hi"] = lo, hi
                notes += [f"{fmt(a.compute)} FLOPs: {n}" for n in a.notes]
            else:
                row = dict(a)
            rows.append(row)
    for row in rows:
        if _num(row.get("compute")):
            row["h100_hours_at_40pct"] = flops_to_gpu_hours(float(row["compute"]))
    return jsonable(rows), notes


def _fit_row(fit: FitResult) -> dict:
    return {"law": fit.law, "formula": fit.law_obj.formula, "n_params": len(fit.params),
            "n_points": fit.n_points, "n_runs": fit.n_runs, "rmse_log": _num(fit.rmse_log), "mare": _num(fit.mare),
            "objective": fit.objective, "params": {k: _num(v) for k, v in fit.params.items()},
            "ci": {k: [_num(a), _num(b)] for k, (a, b) in fit.ci.items()}, "warnings": list(fit.warnings)}


def _analysis_entry(obj):
    if obj is None:
        return None
    if isinstance(obj, pd.DataFrame):
        return {"table": jsonable(obj)}
    if isinstance(obj, (list, tuple)):
        return [_analysis_entry(o) for o in obj]
    if isinstance(obj, dict):
        return jsonable(obj)
    entry = {}
    if hasattr(obj, "summary"):
        entry["summary"] = str(obj.summary())
    entry["result"] = jsonable(obj.to_dict()) if hasattr(obj, "to_dict") else str(obj)
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


def cli_command(subcommand: str, data_source: dict, options=()) -> str | None:
    """The ``python -m analysis SUBCOMMAND`` line that reads the same data with ``options``.

    ``data_source`` names the data as in :func:`build_report` (``family`` may be a list: one
    ``--family`` per group). ``options`` is a sequence of (flag, value): None, False and "" are left
    out, True gives the bare flag, a list or tuple repeats the flag. Returns None when the data cannot
    be named on a command line (e.g. an upload without a file).
    """
    kind = data_source.get("kind")
    families = data_source.get("family")
    families = list(families) if isinstance(families, (list, tuple)) else [families] if families else []
    args = ["python", "-m", "analysis", subcommand]
    if kind == "store" and families:
        if data_source.get("path"):
            args += ["--store", str(data_source["path"])]
        for fam in families:
            args += ["--family", str(fam)]
    elif kind in ("csv", "upload") and data_source.get("path"):
        args += ["--csv", str(data_source["path"])]
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


def reproduce_command(data_source: dict, settings: dict, fmt_: str = "html") -> str | None:
    """The ``python -m analysis report`` line that redoes this fit from the same data and settings.

    Returns None when the data cannot be named on a command line (e.g. an upload without a file).
    """
    flags = (("law", "--law"), ("objective", "--objective"), ("delta", "--delta"), ("bootstrap", "--bootstrap"),
             ("seed", "--seed"), ("min_tokens", "--min-tokens"), ("min_fraction", "--min-fraction"),
             ("y_transform", "--y-transform"), ("time_budget", "--time-budget"))
    options = [(flag, settings.get(key)) for key, flag in flags]
    options += [("--final-only", bool(settings.get("final_only"))),
                ("--exclude-run", list(settings.get("exclude_runs") or ())),
                # the exclusions above are the whole list: the store's flagged runs are not added again
                ("--keep-flagged", (data_source or {}).get("kind") == "store"),
                ("--format", fmt_), ("--out", f"report.{fmt_}")]
    return cli_command("report", data_source, options)


def build_report(fit: FitResult, frame: pd.DataFrame, *, title: str | None = None,
                 data_source: dict | None = None, backtest=None, allocation=None, comparisons=None,
                 crossover=None, trend=None, downstream=None, command: str | None = None,
                 settings: dict | None = None) -> "Report":
    """Gather a fit and everything around it into one :class:`Report`.

    Parameters
    ----------
    fit : FitResult
        The fitted law (parameters, bootstrap CIs, warnings).
    frame : DataFrame
        The fit frame it was fitted on (columns ``run, N, D, C, step, y`` ...).
    title : str, optional
        Defaults to "<law title> fit to <family or file> (<metric>)".
    data_source : dict, optional
        Where the data came from: ``kind`` ("store", "upload" or "csv"), ``family``, ``metric``, ``unit``,
        ``path`` (store file or CSV), plus any extra keys (kept under ``data.source_details``).
    backtest : BacktestResult, optional
        Held-out error of the law (its predictions feed the predicted-vs-actual figure).
    allocation : Allocation, list of Allocation, or DataFrame (``allocate.frontier``), optional
        Compute-optimal splits; each row gains H100-hours at 40% utilisation.
    comparisons : iterable of FitResult, optional
        Other laws fitted to the same data.
    crossover, trend, downstream : result objects with ``to_dict()`` (and ``summary()``), optional
        Comparative analyses; a DataFrame (e.g. ``scan_trends``) is kept as a table.
    command : str, optional
        The exact command line that reproduces the report; derived from ``data_source`` and the
        settings (:func:`reproduce_command`) when not given.
    settings : dict, optional
        Settings beyond the fit's own (which are always included).

    Returns
    -------
    Report
    """
    data_source = dict(data_source or {})
    law = fit.law_obj
    data = _data_summary(frame, data_source)
    all_settings = {**(fit.settings or {}), **(settings or {})}
    where = data_source.get("family") or (Path(str(data_source["path"])).name if data_source.get("path") else None)
    if title is None:
        title = f"{law.title} fit" + (f" to {where}" if where else "") + (f" ({data['metric']})" if data["metric"] else "")
    alloc_rows, alloc_notes = _allocation_rows(allocation)
    comps = [_fit_row(c) for c in (comparisons or ()) if c is not None]
    analyses = {name: _analysis_entry(obj) for name, obj in
                (("crossover", crossover), ("trend", trend), ("downstream", downstream)) if obj is not None}
    bt = None
    if backtest is not None:
        bt = {"law": backtest.law, "are": _num(backtest.are), "log_rmse": _num(backtest.log_rmse),
              "rule": backtest.rule, "heldout": jsonable(backtest.heldout), "summary": backtest.summary()}
        if backtest.fit is not None:
            bt["fit_params"] = {k: _num(v) for k, v in backtest.fit.params.items()}
    reproduce = command or reproduce_command(data_source, all_settings)
    content = {
        "title": title,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "tool": TOOL,
        "law": {"name": law.name, "title": law.title, "formula": law.formula, "latex": law.latex,
                "variables": list(law.variables), "reference": law.reference},
        "formula": law.formula,
        "params": {k: _num(v) for k, v in fit.params.items()},
        "ci": {k: [_num(a), _num(b)] for k, (a, b) in fit.ci.items()},
        "ci_level": 0.95,
        "parameters": _parameters(fit, data["unit"]),
        "warnings": list(fit.warnings),
        "notes": list(fit.notes),
        "fit": {"success": bool(fit.success), "message": fit.message, "objective": fit.objective,
                "objective_text": OBJECTIVES.get(fit.objective, fit.objective), "delta": _num(fit.delta),
                "n_points": fit.n_points, "n_runs": fit.n_runs, "rmse_log": _num(fit.rmse_log),
                "mare": _num(fit.mare), "n_boot": fit.n_boot, "n_boot_requested": fit.n_boot_requested,
                "y_transform": fit.y_transform, "seconds": _num(fit.seconds),
                "ranges": {k: [_num(a), _num(b)] for k, (a, b) in fit.ranges.items()}},
        "data": data,
        "backtest": bt,
        "allocation": alloc_rows or None,
        "allocation_notes": alloc_notes,
        "comparisons": comps or None,
        "analyses": analyses,
        "settings": jsonable(all_settings),
        "versions": package_versions(),
        "reproduce": reproduce,
    }
    return Report(title=title, content=jsonable(content), fit=fit, frame=frame, backtest=backtest,
                  comparisons=tuple(c for c in (comparisons or ()) if c is not None),
                  crossover=crossover if hasattr(crossover, "shown_range") else None)


# ----------------------------------------------------------------------------------------------
# The report and its renderings
# ----------------------------------------------------------------------------------------------
def md_text(value) -> str:
    """Text from data made safe for a Markdown table cell: HTML-escaped, pipes and newlines neutralised."""
    return html.escape(fmt(value)).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _ci_text(lo, hi) -> str:
    return "n/a" if lo is None or hi is None else f"[{fmt(lo)}, {fmt(hi)}]"


def _table_md(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(md_text(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
    return out


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}\n{text}\n{ticks}"


_ALLOC_COLUMNS = (("compute", "compute (FLOPs)"), ("h100_hours_at_40pct", "H100-hours (40%)"),
                  ("N_opt", "N* (params)"), ("D_opt", "D* (tokens)"), ("tokens_per_param", "D*/N*"),
                  ("loss", "loss at optimum"))


def _alloc_cells(row: dict) -> list[str]:
    cells = []
    for key, _ in _ALLOC_COLUMNS:
        v = row.get(key)
        lo, hi = row.get(f"{key}_lo"), row.get(f"{key}_hi")
        cells.append(fmt(v) + (f" [{fmt(lo)}, {fmt(hi)}]" if lo is not None and hi is not None else ""))
    return cells


def _data_rows(d: dict) -> list[list[str]]:
    rows = [["source", d.get("kind") or "n/a"], ["family", d.get("family") or "n/a"],
            ["file", d.get("path") or "n/a"], ["metric", d.get("metric") or "n/a"],
            ["unit", d.get("unit") or "n/a"], ["points", fmt(d["points"])], ["runs", fmt(d["runs"])],
            ["model sizes", fmt(d["sizes"])], ["points per run (median)", fmt(d.get("points_per_run_median"))]]
    names = {"N": "parameters N", "D": "tokens D", "C": "FLOPs C", "step": "steps", "U": "unique tokens U",
             "y": "metric value"}
    for col, r in d["ranges"].items():
        if r:
            rows.append([f"{names.get(col, col)} range", f"{fmt(r[0])} to {fmt(r[1])}"])
    for key, label in (("converted", "converted to nats"), ("c_from_6nd", "rows with C = 6ND")):
        if d.get(key):
            rows.append([label, json.dumps(d[key]) if isinstance(d[key], dict) else fmt(d[key])])
    return rows


@dataclass(frozen=True, eq=False)
class Report:
    """A fitted-law report: plain content (:meth:`to_dict`) plus the objects its figures are drawn from."""

    title: str
    content: dict
    fit: FitResult = field(repr=False)
    frame: pd.DataFrame = field(repr=False)
    backtest: object = field(default=None, repr=False)
    comparisons: tuple = field(default=(), repr=False)
    crossover: object = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """The report as plain JSON types (a deep copy)."""
        return json.loads(json.dumps(self.content))

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON (no NaN): ``json.loads(r.to_json()) == r.to_dict()``."""
        return json.dumps(self.content, indent=indent, allow_nan=False)

    # ------------------------------------------------------------------------------ Markdown
    def to_markdown(self) -> str:
        c = self.content
        out = [f"# {md_text(c['title'])}", "",
               f"_{md_text(c['tool'])} report, created {md_text(c['created'])}_", "",
               "## Law", "", f"**{md_text(c['law']['title'])}** (`{c['law']['name']}`): `{c['formula']}`", ""]
        if c["law"]["reference"]:
            out += [f"Reference: {md_text(c['law']['reference'])}", ""]
        out += ["## Parameters", "",
                f"Point estimates with {c['ci_level']:.0%} percentile intervals from a run-level bootstrap "
                f"({c['fit']['n_boot']} resamples).", ""]
        out += _table_md(["parameter", "value", f"{c['ci_level']:.0%} CI", "unit", "meaning"],
                         [[p["name"], fmt(p["value"]), _ci_text(p["ci_low"], p["ci_high"]), p["unit"], p["meaning"]]
                          for p in c["parameters"]])
        f = c["fit"]
        out += ["", "## Fit", ""]
        out += _table_md(["", ""], [["objective", f["objective_text"] + (f" (delta = {fmt(f['delta'])})" if f["objective"] == "huber" else "")],
                                    ["converged", fmt(bool(f["success"]))], ["points used", fmt(f["n_points"])],
                                    ["runs used", fmt(f["n_runs"])], ["RMSE of log y", fmt(f["rmse_log"])],
                                    ["mean relative error", "n/a" if f["mare"] is None else f"{f['mare']:.2%}"],
                                    ["fitted quantity", "1 - value" if f["y_transform"] == "one_minus" else "value"]])
        out += ["", "## Warnings", ""]
        out += [f"- {md_text(w)}" for w in c["warnings"]] or ["No warnings: the fit passed every check."]
        if c["notes"]:
            out += ["", "Data choices:", ""] + [f"- {md_text(n)}" for n in c["notes"]]
        d = c["data"]
        out += ["", "## Data", ""] + _table_md(["", ""], _data_rows(d))
        shown = d["run_table"][:MAX_RUN_ROWS_SHOWN]
        out += ["", f"Runs ({len(shown)} of {d['runs']} shown):", ""]
        out += _table_md(["run", "N", "points", "final D", "final y"],
                         [[r["run"], fmt(r["N"]), fmt(r["points"]), fmt(r["final_D"]), fmt(r["final_y"])] for r in shown])
        if c["backtest"]:
            bt = c["backtest"]
            out += ["", "## Back-test", "", md_text(bt["summary"]), ""]
            out += _table_md(["held-out run", "N", "ARE", "log-RMSE", "points"],
                             [[h["run"], fmt(h["N"]), "n/a" if h["are"] is None else f"{h['are']:.2%}",
                               fmt(h["log_rmse"]), fmt(h["n_points"])] for h in bt["heldout"]])
        if c["allocation"]:
            out += ["", "## Compute-optimal allocation", "",
                    "Values with 95% bootstrap intervals; C = 6ND; H100-hours at 989 TFLOP/s and 40% utilisation.", ""]
            out += _table_md([label for _, label in _ALLOC_COLUMNS], [_alloc_cells(r) for r in c["allocation"]])
            out += [""] + [f"- {md_text(n)}" for n in c["allocation_notes"]]
        if c["comparisons"]:
            out += ["", "## Other laws on the same data", ""]
            out += _table_md(["law", "formula", "parameters", "RMSE log y", "mean rel. error", "warnings"],
                             [[r["law"], r["formula"], r["n_params"], fmt(r["rmse_log"]),
                               "n/a" if r["mare"] is None else f"{r['mare']:.2%}", len(r["warnings"])]
                              for r in c["comparisons"]])
        for name, entry in c["analyses"].items():
            out += ["", f"## {name.capitalize()}", ""]
            for e in entry if isinstance(entry, list) else [entry]:
                out.append(md_text(e.get("summary")) if isinstance(e, dict) and e.get("summary")
                           else f"{len(e.get('table', []))} rows (see the JSON report)" if isinstance(e, dict) and "table" in e
                           else "see the JSON report")
        out += ["", "## Settings", ""] + _table_md(["setting", "value"],
                                                    [[k, json.dumps(v) if isinstance(v, (list, dict)) else fmt(v)]
                                                     for k, v in c["settings"].items()])
        out += ["", "## Reproduce", ""]
        out += [_fence(c["reproduce"])] if c["reproduce"] else ["This report's data cannot be named on a command line."]
        out += ["", "## Versions", ""] + _table_md(["package", "version"],
                                                    [[k, v or "not installed"] for k, v in c["versions"].items()])
        return "\n".join(out) + "\n"

    # ------------------------------------------------------------------------------ HTML
    def figures(self) -> list[tuple[str, object]]:
        """(caption, plotly Figure or None) pairs: fit over the data with its band, residuals, back-test,
        crossover.

        A figure that cannot be drawn for this law is None, with the reason in its caption: the
        report's numbers stay available either way.
        """
        from analysis import figures as figs

        unit = self.content["data"]["unit"]
        metric = self.content["data"]["metric"]
        specs = [("Fit over the data, with the 95% bootstrap band",
                  lambda: figs.report_fit_figure(self.fit, self.frame, metric=metric, unit=unit)),
                 ("Residuals: log(predicted) - log(observed) for every point used",
                  lambda: figs.report_residual_figure(self.fit, self.frame))]
        if self.backtest is not None and getattr(self.backtest, "predictions", None) is not None:
            specs.append(("Back-test: predicted vs actual, largest scale held out",
                          lambda: figs.report_backtest_figure(self.backtest, metric=metric, unit=unit)))
        if self.crossover is not None:
            specs.append(("Crossover: each group's fit with its 95% band, the crossing and its 95% interval",
                          lambda: figs.crossover_figure(self.crossover, metric=metric, unit=unit)))
        out = []
        for caption, draw in specs:
            try:
                out.append((caption, draw()))
            except Exception as exc:  # noqa: BLE001 - a figure failure must not lose the report
                out.append((f"{caption}: not drawn ({exc.__class__.__name__}: {exc})", None))
        return out

    def to_html(self) -> str:
        """One self-contained HTML page (plotly.js inlined once; no external requests)."""
        import plotly.io as pio

        c = self.content
        e = html.escape
        parts = []
        drawn = 0
        for caption, fig in self.figures():
            if fig is None:
                parts.append(f'<p class="missing">{e(caption)}</p>')
                continue
            div = pio.to_html(fig, full_html=False, include_plotlyjs=(drawn == 0), div_id=f"figure-{drawn}",
                              config={"displaylogo": False, "responsive": True})
            parts.append(f'<figure>{div}<figcaption>{e(caption)}</figcaption></figure>')
            drawn += 1

        def table(header, rows, cls=""):
            head = "".join(f"<th>{e(str(h))}</th>" for h in header)
            body = "".join("<tr>" + "".join(f"<td>{e(fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
            return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

        f = c["fit"]
        body = [f"<h1>{e(c['title'])}</h1>",
                f'<p class="meta">{e(c["tool"])} report, created {e(c["created"])}</p>',
                "<h2>Law</h2>",
                f"<p><strong>{e(c['law']['title'])}</strong> (<code>{e(c['law']['name'])}</code>): "
                f"<code class=\"formula\">{e(c['formula'])}</code></p>"]
        if c["law"]["reference"]:
            body.append(f"<p>Reference: {e(c['law']['reference'])}</p>")
        body += ["<h2>Parameters</h2>",
                 f"<p>Point estimates with {c['ci_level']:.0%} percentile intervals from a run-level bootstrap "
                 f"({f['n_boot']} resamples).</p>",
                 table(["parameter", "value", f"{c['ci_level']:.0%} CI", "unit", "meaning"],
                       [[p["name"], fmt(p["value"]), _ci_text(p["ci_low"], p["ci_high"]), p["unit"], p["meaning"]]
                        for p in c["parameters"]], "params"),
                 "<h2>Fit</h2>",
                 table(["", ""], [["objective", f["objective_text"] + (f" (delta = {fmt(f['delta'])})" if f["objective"] == "huber" else "")],
                                  ["converged", fmt(bool(f["success"]))], ["points used", f["n_points"]],
                                  ["runs used", f["n_runs"]], ["RMSE of log y", fmt(f["rmse_log"])],
                                  ["mean relative error", "n/a" if f["mare"] is None else f"{f['mare']:.2%}"],
                                  ["fitted quantity", "1 - value" if f["y_transform"] == "one_minus" else "value"]]),
                 "<h2>Warnings</h2>"]
        if c["warnings"]:
            body.append('<ul class="warnings">' + "".join(f"<li>{e(w)}</li>" for w in c["warnings"]) + "</ul>")
        else:
            body.append("<p>No warnings: the fit passed every check.</p>")
        if c["notes"]:
            body.append("<p>Data choices:</p><ul>" + "".join(f"<li>{e(n)}</li>" for n in c["notes"]) + "</ul>")
        body += ["<h2>Figures</h2>", *parts]
        d = c["data"]
        shown = d["run_table"][:MAX_RUN_ROWS_SHOWN]
        body += ["<h2>Data</h2>", table(["", ""], _data_rows(d)),
                 f"<p>Runs ({len(shown)} of {d['runs']} shown):</p>",
                 table(["run", "N", "points", "final D", "final y"],
                       [[r["run"], r["N"], r["points"], r["final_D"], r["final_y"]] for r in shown], "runs")]
        if c["backtest"]:
            bt = c["backtest"]
            body += ["<h2>Back-test</h2>", f"<p>{e(bt['summary'])}</p>",
                     table(["held-out run", "N", "ARE", "log-RMSE", "points"],
                           [[h["run"], h["N"], "n/a" if h["are"] is None else f"{h['are']:.2%}", h["log_rmse"],
                             h["n_points"]] for h in bt["heldout"]])]
        if c["allocation"]:
            body += ["<h2>Compute-optimal allocation</h2>",
                     "<p>Values with 95% bootstrap intervals; C = 6ND; H100-hours at 989 TFLOP/s and 40% utilisation.</p>",
                     table([label for _, label in _ALLOC_COLUMNS], [_alloc_cells(r) for r in c["allocation"]], "alloc")]
            if c["allocation_notes"]:
                body.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in c["allocation_notes"]) + "</ul>")
        if c["comparisons"]:
            body += ["<h2>Other laws on the same data</h2>",
                     table(["law", "formula", "parameters", "RMSE log y", "mean rel. error", "warnings"],
                           [[r["law"], r["formula"], r["n_params"], fmt(r["rmse_log"]),
                             "n/a" if r["mare"] is None else f"{r['mare']:.2%}", len(r["warnings"])]
                            for r in c["comparisons"]])]
        for name, entry in c["analyses"].items():
            body.append(f"<h2>{e(name.capitalize())}</h2>")
            for item in entry if isinstance(entry, list) else [entry]:
                if isinstance(item, dict) and item.get("summary"):
                    body.append(f"<p>{e(item['summary'])}</p>")
                body.append(f"<details><summary>details</summary><pre>{e(json.dumps(item, indent=2))}</pre></details>")
        body += ["<h2>Settings</h2>",
                 table(["setting", "value"], [[k, json.dumps(v) if isinstance(v, (list, dict)) else fmt(v)]
                                              for k, v in c["settings"].items()]),
                 "<h2>Reproduce</h2>",
                 f'<pre class="command">{e(c["reproduce"])}</pre>' if c["reproduce"]
                 else "<p>This report's data cannot be named on a command line.</p>",
                 "<h2>Versions</h2>",
                 table(["package", "version"], [[k, v or "not installed"] for k, v in c["versions"].items()])]
        payload = (json.dumps(c, allow_nan=False).replace("&", "\\u0026").replace("<", "\\u003c")
                   .replace(">", "\\u003e"))
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; "
            "font-src data:\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(c['title'])}</title><style>{_CSS}</style></head><body><main>"
            + "\n".join(body)
            + f'\n<script type="application/json" id="report-data">{payload}</script>'
            + "</main></body></html>\n")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;margin:0;background:#fafbfc}
main{max-width:1100px;margin:0 auto;padding:1.5rem 2rem 4rem;background:#fff}
h1{font-size:1.7rem;margin-bottom:.2rem} h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #e4e7eb}
.meta{color:#616e7c;margin-top:0} code,pre{font-family:ui-monospace,Menlo,Consolas,monospace}
code.formula{font-size:1.05rem;background:#f0f4f8;padding:.1rem .4rem;border-radius:4px}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem} th,td{border:1px solid #e4e7eb;padding:.25rem .6rem;text-align:left}
th{background:#f5f7fa} td{font-variant-numeric:tabular-nums}
ul.warnings li{background:#fff8e1;border-left:4px solid #f0b429;padding:.3rem .6rem;margin:.3rem 0;list-style:none}
pre.command{background:#f0f4f8;padding:.6rem;white-space:pre-wrap;word-break:break-all}
figure{margin:1rem 0} figcaption{color:#616e7c;font-size:.9rem} p.missing{color:#8d2b0b}
"""
