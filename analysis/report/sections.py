"""The sections each result contributes to a report, in reading order.

* the fit: Law, Parameters, Fit, Warnings, Figures (the fit over the rows it used, its residuals);
* the data: Data (source, ranges, the run table);
* a back-test: Back-test (summary, held-out runs, predicted-vs-actual figure);
* an allocation: Compute-optimal allocation; other fits: Other laws on the same data;
* comparative analyses: Crossover (with its figure), Trend, Downstream;
* the provenance: Settings, Reproduce, Versions.

A section without a result keeps its JSON key (``None``) and shows nothing.
"""
from __future__ import annotations

import json

from analysis.jsonable import jsonable
from analysis.report.blocks import (HTML_ONLY, MD_ONLY, Bullets, Code, Details, Figure, Section, Table, Text,
                                    cell, interval_text, percent_text)
from analysis.report import content
from datasets.vocabulary import AXES

CI_LEVEL = 0.95
MAX_RUN_ROWS_SHOWN = 60       # runs listed in the Markdown / HTML tables
ALLOCATION_COLUMNS = (("compute", "compute (FLOPs)"), ("h100_hours_at_40pct", "H100-hours (40%)"),
                      ("N_opt", "N* (params)"), ("D_opt", "D* (tokens)"), ("tokens_per_param", "D*/N*"),
                      ("loss", "loss at optimum"))


def fit_sections(fit, frame, unit: str | None, metric: str | None, target: float | None = None) -> list[Section]:
    """Law, Parameters, Fit, Warnings and Figures of a :class:`~analysis.fit_result.FitResult` (the fit
    figure extended to ``target``)."""
    from analysis import figures

    law_info = content.law_content(fit)
    params = content.parameters(fit, unit)
    details = content.fit_details(fit)
    level = f"{CI_LEVEL:.0%}"
    law_blocks = [Text((("strong", law_info["title"]), ("", " ("), ("code", law_info["name"]), ("", "): "),
                        ("formula", law_info["formula"])))]
    if law_info["reference"]:
        law_blocks.append(Text.plain(f"Reference: {law_info['reference']}"))
    objective = details["objective_text"] + (f" (delta = {cell(details['delta'])})"
                                             if details["objective"] == "huber" else "")
    warnings = list(fit.warnings)
    warning_blocks = [Bullets(tuple(warnings), kind="warnings") if warnings
                      else Text.plain("No warnings: the fit passed every check.")]
    if fit.notes:
        warning_blocks += [Text.plain("Data choices:"), Bullets(tuple(fit.notes))]
    return [
        Section("Law", tuple(law_blocks), {"law": law_info, "formula": law_info["formula"]}),
        Section("Parameters", (
            Text.plain(f"Point estimates with {level} percentile intervals from a run-level bootstrap "
                       f"({details['n_boot']} resamples)."),
            Table(("parameter", "value", f"{level} CI", "unit", "meaning"),
                  tuple((p["name"], p["value"], interval_text(p["ci_low"], p["ci_high"]), p["unit"], p["meaning"])
                        for p in params), kind="params")),
            {"params": jsonable(fit.params), "ci": jsonable(fit.ci), "ci_level": CI_LEVEL, "parameters": params}),
        Section("Fit", (Table(("", ""), (
            ("objective", objective), ("converged", bool(details["success"])), ("points used", details["n_points"]),
            ("runs used", details["n_runs"]), ("RMSE of log y", details["rmse_log"]),
            ("mean relative error", percent_text(details["mare"])),
            ("fitted quantity", "1 - value" if details["y_transform"] == "one_minus" else "value"))),),
            {"fit": details}),
        Section("Warnings", tuple(warning_blocks), {"warnings": warnings, "notes": list(fit.notes)}),
        Section("Figures", (
            Figure("Fit over the data, with the 95% bootstrap band" + (f", extended to {target:.3g}" if target else ""),
                   lambda: figures.fit_figure(fit, frame, metric=metric, unit=unit, target=target), only=HTML_ONLY),
            Figure("Residuals: log(predicted) - log(observed) for every point used",
                   lambda: figures.residual_figure(fit, frame), only=HTML_ONLY))),
    ]


def _data_rows(d: dict) -> list[tuple]:
    rows = [("source", d.get("kind") or "n/a"), ("family", d.get("family") or "n/a"), ("file", d.get("path") or "n/a"),
            *((("store content (sha256)", d["store_digest"]),) if d.get("store_digest") else ()),
            ("metric", d.get("metric") or "n/a"), ("unit", d.get("unit") or "n/a"), ("points", d["points"]),
            ("runs", d["runs"]), ("model sizes", d["sizes"]),
            ("points per run (median)", d.get("points_per_run_median"))]
    for col, r in d["ranges"].items():
        if r:
            label = "metric value" if col == "y" else AXES[col].label if col in AXES else col
            rows.append((f"{label} range", f"{cell(r[0])} to {cell(r[1])}"))
    for key, label in (("converted", "converted to nats"), ("c_from_6nd", "rows with C = 6ND")):
        if d.get(key):
            rows.append((label, json.dumps(d[key]) if isinstance(d[key], dict) else d[key]))
    return rows


def data_sections(data: dict) -> list[Section]:
    """Data: where the data came from, ranges, and the runs (smallest first)."""
    shown = data["run_table"][:MAX_RUN_ROWS_SHOWN]
    return [Section("Data", (
        Table(("", ""), tuple(_data_rows(data))),
        Text.plain(f"Runs ({len(shown)} of {data['runs']} shown):"),
        Table(("run", "N", "points", "final D", "final y"),
              tuple((r["run"], r["N"], r["points"], r["final_D"], r["final_y"]) for r in shown), kind="runs")),
        {"data": data})]


def backtest_sections(backtest, metric: str | None, unit: str | None) -> list[Section]:
    """Back-test: held-out error of the law, the held-out runs, predicted vs actual."""
    from analysis import figures

    bt = content.backtest_content(backtest)
    if bt is None:
        return [Section("Back-test", (), {"backtest": None})]
    blocks = [Text.plain(bt["summary"]),
              Table(("held-out run", "N", "ARE", "log-RMSE", "points"),
                    tuple((h["run"], h["N"], percent_text(h["are"]), h["log_rmse"], h["n_points"])
                          for h in bt["heldout"]))]
    if getattr(backtest, "predictions", None) is not None:
        blocks.append(Figure("Back-test: predicted vs actual, largest scale held out",
                             lambda: figures.backtest_figure(backtest, metric=metric, unit=unit), only=HTML_ONLY))
    return [Section("Back-test", tuple(blocks), {"backtest": bt})]


def allocation_sections(allocation) -> list[Section]:
    """Compute-optimal allocation: N*, D*, D*/N* and the loss at each budget, with intervals."""
    rows, notes = content.allocation_rows(allocation)
    data = {"allocation": rows or None, "allocation_notes": notes}
    if not rows:
        return [Section("Compute-optimal allocation", (), data)]

    def cells(row: dict) -> tuple:
        out = []
        for key, _ in ALLOCATION_COLUMNS:
            lo, hi = row.get(f"{key}_lo"), row.get(f"{key}_hi")
            out.append(cell(row.get(key)) + (f" [{cell(lo)}, {cell(hi)}]" if lo is not None and hi is not None else ""))
        return tuple(out)

    blocks = [Text.plain("Values with 95% bootstrap intervals; C = 6ND; H100-hours at 989 TFLOP/s and 40% "
                         "utilisation."),
              Table(tuple(label for _, label in ALLOCATION_COLUMNS), tuple(cells(r) for r in rows), kind="alloc")]
    if notes:
        blocks.append(Bullets(tuple(notes)))
    return [Section("Compute-optimal allocation", tuple(blocks), data)]


def comparison_sections(fits, main=None) -> list[Section]:
    """Other laws on the same data: size, error and warnings of each, and (with the ``main`` fit) whether
    the choice of law matters at 10x the data's largest scale (:func:`analysis.diagnostics.law_choice_at`)."""
    from analysis.diagnostics import law_choice_at
    rows = [content.fit_row(f) for f in fits]
    if not rows:
        return [Section("Other laws on the same data", (), {"comparisons": None})]
    table = Table(("law", "formula", "parameters", "RMSE log y", "mean rel. error", "warnings"),
                  tuple((r["law"], r["formula"], r["n_params"], r["rmse_log"], percent_text(r["mare"]),
                         len(r["warnings"])) for r in rows))
    choice = law_choice_at([main, *fits]) if main is not None else []
    blocks = (table, Bullets(tuple(choice), kind="warnings")) if choice else (table,)
    return [Section("Other laws on the same data", blocks, {"comparisons": rows, "law_choice_warnings": choice})]


def analysis_sections(analyses: dict, metric: str | None, unit: str | None) -> list[Section]:
    """One section per comparative analysis (crossover, trend, downstream): its summary, its full result
    (HTML details; in JSON under ``analyses``) and, for a crossover, its figure."""
    from analysis import figures

    entries = {name: content.analysis_entry(obj) for name, obj in analyses.items() if obj is not None}
    sections = [Section("Analyses", (), {"analyses": entries})]
    for name, entry in entries.items():
        blocks = []
        for item in entry if isinstance(entry, list) else [entry]:
            if isinstance(item, dict) and item.get("summary"):
                blocks.append(Text.plain(item["summary"]))
            else:
                rows = f"{len(item.get('table', []))} rows (see the JSON report)" \
                    if isinstance(item, dict) and "table" in item else "see the JSON report"
                blocks.append(Text.plain(rows, only=MD_ONLY))
            blocks.append(Details(json.dumps(item, indent=2), only=HTML_ONLY))
        result = analyses[name]
        if name == "crossover" and hasattr(result, "shown_range"):
            blocks.append(Figure("Crossover: each group's fit with its 95% band, the crossing and its 95% interval",
                                 lambda r=result: figures.crossover_figure(r, metric=metric, unit=unit),
                                 only=HTML_ONLY))
        sections.append(Section(name.capitalize(), tuple(blocks)))
    return sections


def provenance_sections(settings: dict, reproduce: str | None, versions: dict) -> list[Section]:
    """Settings, the command line that reproduces the report, and package versions."""
    settings = jsonable(settings)
    return [
        Section("Settings", (Table(("setting", "value"), tuple(
            (k, json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in settings.items())),),
            {"settings": settings}),
        Section("Reproduce", (Code(reproduce) if reproduce
                              else Text.plain("This report's data cannot be named on a command line."),),
                {"reproduce": reproduce}),
        Section("Versions", (Table(("package", "version"), tuple((k, v or "not installed")
                                                                  for k, v in versions.items())),),
                {"versions": versions}),
    ]
