"""What a page shows and hands out: charts, tables, warnings, downloads and reports.

* :func:`chart` draws a figure of :mod:`analysis.figures` with Vega-Lite (its toolbar saves a PNG);
* :func:`table` shows scale columns (parameters, tokens, FLOPs and their CI bounds) with units, and
  every other number readably (:func:`ui.format.number_format`);
* :func:`download_text`, :func:`download_table`, :func:`download_json` make files only when clicked;
* :func:`report_downloads` offers a result's HTML / Markdown / JSON report and the command lines that
  reproduce it;
* :func:`stop_on_error` turns an explained error (:class:`~ui.compute.AnalysisError`, any
  :class:`~datasets.errors.WorkbenchError`, :class:`~analysis.settings.SettingsError`) into a message
  (and what to do) that ends the page, never a traceback.
"""
from __future__ import annotations

import functools
import io
import json
import math
import numbers
import re
from contextlib import contextmanager
from typing import Any, Callable, Sequence

import pandas as pd
import streamlit as st

from analysis import figures
from analysis import report as report_api
from analysis.jsonable import jsonable
from analysis.report.content import path_replacements, redact
from analysis.settings import SettingsError
from datasets.errors import WorkbenchError
from datasets.vocabulary import AXES
from ui import compute
from ui.format import SCIENTIFIC, escape, number_format, scaled_header, slug, table_scale

# column -> header of scale columns in tables (CI bounds "<col>_lo" / "<col>_hi" get the same header)
SCALE_HEADERS = {**{a.column: a.label for a in AXES.values() if a.symbol != "step"},
                 "compute": "compute (FLOPs)", "N_opt": "N* (parameters)", "D_opt": "D* (tokens)",
                 "min_params": "min parameters", "max_params": "max parameters",
                 "min_tokens": "min tokens", "max_tokens": "max tokens",
                 "turning_point": "turning point (parameters)", "N": "N (parameters)", "D": "D (tokens)",
                 "batch_opt": "batch* (tokens)", "batch": "batch (tokens)", "batch (tokens)": "batch (tokens)"}


@contextmanager
def stop_on_error(what: str, fix: str | None = None, *, warning: bool = False):
    """Run the block; on an explained error show ``what: message`` (and ``fix``) and end the page."""
    try:
        yield
    except (WorkbenchError, SettingsError) as e:
        (st.warning if warning else st.error)(f"{what}: {escape(e)}" if what else escape(e))
        if fix:
            st.info(fix, icon=":material/info:")
        st.stop()


def warn(messages: Sequence[str]) -> None:
    """One ``st.warning`` per message (the analyses phrase them as what is wrong and what to do)."""
    for m in messages:
        st.warning(escape(m), icon=":material/warning:")


def chart(fig, name: str, key: str | None = None) -> None:
    """Draw a figure of :mod:`analysis.figures` with Vega-Lite (:mod:`analysis.figures.vega`). Its toolbar's
    "Download as PNG" saves ``<date>_chart.png`` (Streamlit names it; a spec cannot). A figure the
    translation cannot draw is drawn with plotly, whose modebar camera saves ``<name>.png``.

    Vega-Lite, because a plotly chart makes a new tab evaluate Streamlit's 4.7 MB plotly.js before it
    draws anything (``bench/bench_first_chart.py``)."""
    spec = compute.chart_spec(fig)
    if spec is None:
        st.plotly_chart(fig, config=figures.plot_config(name), key=key)
    else:
        # small multiples (a concatenation) keep their panels' widths: Vega fits only a single view to the page
        st.vega_lite_chart(spec, width="content" if "concat" in spec else "stretch", key=key)


def table(df: pd.DataFrame, key: str, *, static: bool = False, **column_config) -> None:
    """``df`` without the index, every number readable: scale columns (:data:`SCALE_HEADERS`, also their CI
    bounds ``*_lo`` / ``*_hi``) in scientific notation with their unit in the header, any other numeric column
    in :func:`ui.format.number_format` (never raw digits such as 88000000000000), and a column past 2^53
    (FLOPs) in units of 1e18 (:func:`ui.format.table_scale`; a value and its bounds in one scale; downloads
    keep the values). ``column_config`` entries win, and their columns are shown as they are (a caller
    configuring a column past 2^53 scales it).

    An interactive ``st.dataframe`` keyed ``key`` (sort, search, copy, CSV), or with ``static`` a plain
    ``st.table`` of the same numbers as text (:func:`_cell`; no column help): for a page's small first result (a
    handful of rows), which a browser draws in ~0.05 s against ~0.25 s for the page's first data grid."""
    shown, config = _readable(df, column_config, rescale=not static)
    if static:
        st.table(_as_text(shown, config), hide_index=True)
    else:
        st.dataframe(shown, hide_index=True, key=key, column_config=config)


def _readable(df: pd.DataFrame, column_config: dict, rescale: bool = True) -> tuple[pd.DataFrame, dict]:
    """The frame to show (with ``rescale``, columns past 2^53 rescaled) and its column configuration (see
    :func:`table`). A static table is text, which holds any number: rescaling it would only write a column that
    mixes a law's coefficients with a FLOP count (bnsl's break points) as 1.784e-18 (x 1e18)."""
    numeric = [c for c in df.columns if c not in column_config and pd.api.types.is_numeric_dtype(df[c])
               and not pd.api.types.is_bool_dtype(df[c])]
    bases = {c: re.sub(r"_(lo|hi)$", "", str(c)) for c in numeric}
    scales = {b: table_scale(pd.concat([df[c] for c in numeric if bases[c] == b])) if rescale else 0
              for b in set(bases.values())}
    config, shown = {}, (df.copy() if any(scales.values()) else df)
    for c in numeric:
        base, k = bases[c], scales[bases[c]]
        if k:
            shown[c] = df[c].astype(float) / 10.0 ** k
        help_ = f"Shown in units of 1e{k}: 6.986e-1 is {6.986 * 10.0 ** (k - 1):.3e}." if k else None
        if base in SCALE_HEADERS:
            label = SCALE_HEADERS[base] + {"": "", "_lo": " 95% low", "_hi": " 95% high"}[str(c)[len(base):]]
            config[c] = st.column_config.NumberColumn(scaled_header(label, k), format=SCIENTIFIC, help=help_)
        elif k:
            config[c] = st.column_config.NumberColumn(scaled_header(str(c), k), format=SCIENTIFIC, help=help_)
        elif (fmt := number_format(df[c])) is not None:
            config[c] = st.column_config.NumberColumn(format=fmt)
    return shown, {**config, **column_config}


def _as_text(df: pd.DataFrame, config: dict) -> pd.DataFrame:
    """``df`` as text under ``config`` (its labels and number formats; a column configured ``None`` is hidden),
    each cell Markdown-escaped (``st.table`` reads cells as Markdown); a missing value is empty."""
    out, names = {}, {}
    for c in [c for c in df.columns if c not in config or config[c] is not None]:
        conf = config.get(c) or {}
        conf = {"label": conf} if isinstance(conf, str) else conf
        fmt = (conf.get("type_config") or {}).get("format")
        names[c] = escape(conf.get("label") or c)
        numeric = pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        out[c] = [_cell(v, fmt if numeric else None) for v in df[c]]
    return pd.DataFrame(out, columns=list(out)).rename(columns=names)


def _cell(v, fmt: str | None) -> str:
    """One cell as text, as a data grid writes it: ``fmt`` is a NumberColumn format (a printf one such as
    ``%.3e`` written ``8.800e+13`` / ``9.470e-2``, ``localized``, ``percent``) or None (Streamlit's default:
    an integer as it is, a float with up to 4 decimals); other named formats are written as the default."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return ""
    if not isinstance(v, numbers.Real) or isinstance(v, bool):
        return escape(v)
    if fmt == "localized":
        return f"{v:,.0f}"
    if fmt == "percent":
        return f"{100 * v:.2f}%"
    if fmt and fmt.startswith("%"):
        return re.sub(r"e([+-])0+(\d)", r"e\1\2", fmt % v)
    return str(v) if isinstance(v, numbers.Integral) else f"{v:.4f}".rstrip("0").rstrip(".")


def _for_files(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns as text (None for missing), so CSV and Parquet writers accept mixed cells."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    return out


def download_text(label: str, make: Callable[[], str | bytes], file_name: str, mime: str, key: str, where=None) -> None:
    """A download button whose content ``make()`` is produced only when clicked."""
    (where or st).download_button(label, make, file_name=file_name, mime=mime, key=key, on_click="ignore")


def download_table(df: pd.DataFrame, name: str, key: str, label: str = "points") -> None:
    """CSV and Parquet download buttons for ``df`` (files made when clicked; names from ``name``)."""
    def parquet() -> bytes:
        buf = io.BytesIO()
        _for_files(df).to_parquet(buf, index=False)
        return buf.getvalue()

    c1, c2 = st.columns(2)
    download_text(f"Download {label} (CSV)", lambda: _for_files(df).to_csv(index=False).encode("utf-8"),
                  f"{slug(name)}.csv", "text/csv", f"{key}_csv", c1)
    download_text(f"Download {label} (Parquet)", parquet, f"{slug(name)}.parquet", "application/vnd.apache.parquet",
                  f"{key}_parquet", c2)


def download_json(obj: Any, name: str, key: str, label: str, where=None) -> None:
    """A JSON download button (NaN and infinities written as null)."""
    download_text(label, lambda: json.dumps(jsonable(obj), indent=2, allow_nan=False).encode("utf-8"),
                  f"{slug(name)}.json", "application/json", key, where)


EXPORT_KEY = "export"         # URL key (and session key) of an open export box


def export_box(label: str = "Export: the result as JSON, its report (HTML, Markdown, JSON) and the command that "
                            "reproduces it"):
    """A page's downloads in an expander built only when opened (URL ``?export=true``): ``with export_box() as
    box: if box.open: ...``. Closed, nothing of it is sent (its buttons, popover and the report's context fit),
    so a new tab draws the page's first chart sooner (``bench/bench_pages.py``)."""
    return st.expander(label, key=EXPORT_KEY, on_change="rerun", bind="query-params", icon=":material/download:")


def reproduce(lines: Sequence[str]) -> None:
    """The command lines that reproduce a view (paths already redacted), in a popover: st.code's syntax
    highlighter (a 1.5 MB script) loads only when it is opened, not with the page (measured: it delays a
    new tab's first chart)."""
    with st.popover("Reproduce from the command line", icon=":material/terminal:"):
        if any("--store" in line for line in lines):
            st.caption("`--store` names the store file: use your copy of it.")
        st.code("\n".join(lines), language="bash", wrap_lines=True)


def report_downloads(fit, frame: pd.DataFrame, data, name: str, key: str, *, command: str | None = None,
                     extra_commands: Sequence[str | None] = (), **analyses) -> Callable[[], Any]:
    """The report of ``fit`` on ``data`` (a :class:`ui.data.Data`), plus ``analyses`` (backtest=,
    allocation=, crossover=, trend=, downstream=, settings=, title= of
    :func:`analysis.report.build_report`), as HTML, Markdown and JSON downloads, and (in a popover) the
    command lines that reproduce it (``command`` replaces the fit's own).

    The report is built when a download is clicked, not on every rerun (its data summary and sections
    take longer than the rest of a page); returns the function that builds it (once)."""
    source = data.describe()
    fit_command = report_api.reproduce_command(source, {**(fit.settings or {}), **(analyses.get("settings") or {})})
    # the store by its file name, as in the report (which is made to be shared): never this server's path
    private = path_replacements(source.get("path"))
    lines = [redact(c, private) for c in (command or fit_command, *extra_commands) if c]

    @functools.lru_cache(maxsize=1)
    def report():
        return report_api.build_report(fit, frame, data_source=source, command="\n".join(lines) or None, **analyses)

    st.caption("The same content three ways: a self-contained HTML page (interactive figures; works offline), "
               "Markdown and JSON.")
    for col, (label, method, ext, mime) in zip(st.columns(3), (("HTML", "to_html", "html", "text/html"),
                                                                ("Markdown", "to_markdown", "md", "text/markdown"),
                                                                ("JSON", "to_json", "json", "application/json"))):
        download_text(f"Report ({label})", lambda m=method: getattr(report(), m)(), f"report_{slug(name)}.{ext}",
                      mime, f"{key}_{ext}", col)
    if lines:
        reproduce(lines)
    else:
        st.caption("Uploaded runs have no file on the server, so no command line reproduces this report; its "
                   "Settings section lists every choice.")
    return report
