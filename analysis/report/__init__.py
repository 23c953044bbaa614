"""One report of a fitted scaling law and the analyses around it, rendered as JSON, Markdown or HTML.

:func:`build_report` gathers everything a reader needs to judge and reproduce a fit -- the law and its
formula, the parameters with their 95% run-level bootstrap intervals and units, the fit's warnings in
words, a summary of the data, the back-test, the compute-optimal allocation table, comparisons with
other laws, the comparative analyses (crossover, trend shape, loss-to-downstream), the settings, the
package versions and the command line that reproduces it -- into one frozen :class:`Report` made of
titled sections (:mod:`~analysis.report.sections`). One renderer per format walks them:

* :meth:`Report.to_json` (:mod:`~analysis.report.render_json`) -- strict JSON of every section's data;
* :meth:`Report.to_markdown` (:mod:`~analysis.report.render_markdown`) -- headings and tables;
* :meth:`Report.to_html` (:mod:`~analysis.report.render_html`) -- one self-contained, offline page with
  the figures (fit over the rows it used with its bootstrap band, residuals, back-test, crossover);
  plotly.js embedded once, compressed (~2 MB), or ``to_html(plotlyjs="cdn")`` for ~0.2 MB online.

A report names its data file by its file name and a store by its content digest, never by this
machine's absolute path (:func:`~analysis.report.content.public_source`): reports are made to be shared.

Modules: :mod:`~analysis.report.blocks` (section and block types), :mod:`~analysis.report.content`
(plain content of each result), :mod:`~analysis.report.sections`, the three renderers, and
:mod:`~analysis.report.commands` (:func:`cli_command`, :func:`reproduce_command`).
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.fit_result import FitResult
from analysis.report import sections as make
from analysis.report.commands import cli_command, fit_options, reproduce_command
from analysis.report.content import data_content, package_versions, param_unit, public_source, redact
from analysis.report.render_html import render_html
from analysis.report.render_json import render_json, report_content
from analysis.report.render_markdown import md_text, render_markdown

__all__ = ["Report", "build_report", "cli_command", "fit_options", "reproduce_command", "param_unit",
           "package_versions", "md_text", "TOOL"]

TOOL = "scaling-law workbench"


@dataclass(frozen=True, eq=False)
class Report:
    """A report: its title, creation time and sections, plus the fit and frame it was built from."""

    title: str
    created: str
    sections: tuple
    fit: FitResult = field(repr=False)
    frame: pd.DataFrame = field(repr=False)

    @property
    def content(self) -> dict:
        """Every section's data under the header keys (plain JSON types)."""
        return report_content({"title": self.title, "created": self.created, "tool": TOOL}, list(self.sections))

    @property
    def meta(self) -> str:
        return f"{TOOL} report, created {self.created}"

    def to_dict(self) -> dict:
        """The report as plain JSON types (a deep copy)."""
        return json.loads(json.dumps(self.content))

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON (no NaN): ``json.loads(r.to_json()) == r.to_dict()``."""
        return render_json(self.content, indent)

    def to_markdown(self) -> str:
        return render_markdown(self.title, self.meta, list(self.sections))

    def to_html(self, plotlyjs: str = "inline") -> str:
        """One HTML page. ``plotlyjs="inline"``: self-contained, works offline, no external request
        (plotly.js embedded once, compressed: ~2 MB); ``"cdn"``: ~0.2 MB, the figures load plotly.js
        from cdn.plot.ly (pinned version and integrity hash). See :mod:`analysis.report.render_html`."""
        return render_html(self.title, self.meta, list(self.sections), self.content, plotlyjs=plotlyjs)


def build_report(fit: FitResult, frame: pd.DataFrame, *, title: str | None = None,
                 data_source: dict | None = None, backtest=None, allocation=None, comparisons=None,
                 crossover=None, trend=None, downstream=None, command: str | None = None,
                 settings: dict | None = None, target: float | None = None) -> Report:
    """Gather a fit and everything around it into one :class:`Report`.

    Parameters
    ----------
    fit : FitResult
        The fitted law (parameters, bootstrap CIs, warnings, the rows it used).
    frame : DataFrame
        The fit frame it was fitted on (columns ``run, N, D, C, step, y`` ...).
    title : str, optional
        Defaults to "<law title> fit to <family or file> (<metric>)".
    data_source : dict, optional
        Where the data came from: ``kind`` ("store", "upload" or "csv"), ``family``, ``metric``, ``unit``,
        ``path`` (store file or CSV; shown by its file name only, with the store's content digest
        ``store_digest`` -- read from the store when not given -- so a shared report does not carry this
        machine's paths), plus any extra keys (kept under ``data.source_details``).
    backtest : BacktestResult, optional
        Held-out error of the law (its predictions feed the predicted-vs-actual figure).
    allocation : Allocation, list of Allocation, or DataFrame (``allocate.frontier``), optional
        Compute-optimal splits; each row gains H100-hours at 40% utilisation.
    comparisons : iterable of FitResult, optional
        Other laws fitted to the same data.
    crossover, trend, downstream : result objects with ``to_dict()`` (and ``summary()``), optional
        Comparative analyses; a DataFrame (e.g. ``scan_trends``) is kept as a table, a list as a list.
    command : str, optional
        The exact command line that reproduces the report; derived from ``data_source`` and the
        settings (:func:`reproduce_command`) when not given.
    settings : dict, optional
        Settings beyond the fit's own (which are always included).
    target : float, optional
        The scale the fit figure extends to (FLOPs for a law in N and D; the law's x axis otherwise);
        default the largest budget of ``allocation``, so the figure reaches the answer the report gives.
    """
    given = dict(data_source or {})
    data_source, private = public_source(given)           # a file by its name (and digest), never its path
    data = data_content(frame, data_source)
    all_settings = {**(fit.settings or {}), **(settings or {})}
    where = data_source.get("family") or (Path(str(data_source["path"])).name if data_source.get("path") else None)
    if title is None:
        title = (f"{fit.law.title} fit" + (f" to {where}" if where else "")
                 + (f" ({data['metric']})" if data["metric"] else ""))
    unit, metric = data["unit"], data["metric"]
    target = target if target is not None else largest_budget(allocation)
    sections = [*make.fit_sections(fit, frame, unit, metric, target), *make.data_sections(data),
                *make.backtest_sections(backtest, metric, unit), *make.allocation_sections(allocation),
                *make.comparison_sections([c for c in (comparisons or ()) if c is not None], fit),
                *make.analysis_sections({"crossover": crossover, "trend": trend, "downstream": downstream},
                                        metric, unit),
                *make.provenance_sections(all_settings,
                                          redact(command or reproduce_command(given, all_settings), private),
                                          package_versions())]
    created = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    return Report(title=title, created=created, sections=tuple(sections), fit=fit, frame=frame)


def largest_budget(allocation) -> float | None:
    """The largest compute [FLOPs] of an allocation (one, a list, or a frontier table), or None."""
    if allocation is None:
        return None
    if isinstance(allocation, pd.DataFrame):
        values = allocation["compute"].to_numpy(float) if "compute" in allocation else []
    else:
        values = [getattr(a, "compute", float("nan")) for a in
                  (allocation if isinstance(allocation, (list, tuple)) else [allocation])]
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return max(finite) if finite else None
