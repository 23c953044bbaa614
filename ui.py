"""The one Streamlit glue module of the dashboard. A page is ``ui.page(name)``, ``ui.sidebar()``, a few
widgets from here, analyses through :func:`compute` (cached) and figures from :mod:`analysis.figures`
through :func:`chart`.

* **Navigation**: :data:`PAGES`; :func:`page` draws the sidebar's page list (Streamlit's own list is
  hidden in ``.streamlit/config.toml``; ``pages/`` still gives each page a clean URL such as ``/Fit``).
* **Store**: :func:`store` opens the corpus once per process and, on a first start without one, builds
  it under a progress bar; when that fails the app still runs, says what to do, and uploads work.
* **Data**: :func:`sidebar` chooses a corpus family (source -> family -> metric) or the session's
  uploaded runs (``st.session_state`` only, never the shared store) and returns a :class:`Data` handle.
* **URL state**: :func:`select`, :func:`multiselect`, :func:`radio`, :func:`number`, :func:`scale`,
  :func:`toggle` seed a widget from its current value, the URL parameter named after its key, its value
  on another page of the session, then its default, and write it back to the URL unless it is the
  default: a copied link reproduces the view.
* **Caching**: :func:`compute` keys ``st.cache_data`` on the data's identity (store file signature or
  upload digest, family, metric) and the settings; failures are cached as messages.
* **Output**: :func:`fmt` gives every number its unit, :func:`md` escapes text from files, :func:`chart`
  names each chart's PNG download, :func:`report_downloads` offers HTML / Markdown / JSON reports with
  the command lines that reproduce them.

Environment: ``SCALING_BOOTSTRAP`` (default resamples, 1000), ``SCALING_TIME_BUDGET`` (seconds a fit's
bootstrap may take, 10), ``SCALING_STORE`` (the store file, see :func:`datasets.store.locate_store`).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from analysis import figures
from analysis import report as report_api
from analysis.allocate import allocate, frontier, isoflop
from analysis.backtest import applicable_laws, backtest, choose_law
from analysis.crossover import crossover
from analysis.downstream import map_downstream
from analysis.fit import OBJECTIVES, FitError, fit_law
from analysis.laws import get_law
from analysis.trend import scan_trends, trend_shape
from datasets import store as store_api
from datasets.store import Store, StoreError, to_fit_frame

APP = "Scaling-law workbench"
# name, script, icon (Material Symbols: drawn by Streamlit's own font, no emoji font needed), what it does
PAGES = (("Home", "app.py", ":material/home:", "the corpus and a reference fit"),
         ("Browse", "pages/1_Browse.py", ":material/search:", "curves and provenance"),
         ("Fit", "pages/2_Fit.py", ":material/show_chart:", "laws with bootstrap CIs"),
         ("Allocate", "pages/3_Allocate.py", ":material/calculate:", "N*, D* for a budget"),
         ("Upload", "pages/4_Upload.py", ":material/upload_file:", "your own runs"),
         ("Crossover", "pages/5_Crossover.py", ":material/compare_arrows:", "where curves cross"),
         ("Trends", "pages/6_Trends.py", ":material/trending_down:", "inverse and U shapes"),
         ("Downstream", "pages/7_Downstream.py", ":material/target:", "loss to task metrics"))
PAGE_FILES = {name: path for name, path, _, _ in PAGES}
ICONS = {name: icon for name, _, icon, _ in PAGES}
UPLOADS = "uploads"            # st.session_state key: {name: {"runs", "points", "report", "filename", "digest"}}
REFERENCE_SOURCE = "chinchilla-epoch"
RETRY_SECONDS = 60.0           # a failed store build is retried at most this often


def _env_number(name: str, default: float, cast: Callable = float) -> Any:
    try:
        value = cast(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 0 else default


BOOTSTRAP = _env_number("SCALING_BOOTSTRAP", 1000, int)
TIME_BUDGET = _env_number("SCALING_TIME_BUDGET", 10.0, float)


class AnalysisError(Exception):
    """An analysis could not run on the chosen data; the message says why and what to do."""


# ----------------------------------------------------------------------------------------------
# Page, text and numbers
# ----------------------------------------------------------------------------------------------
def page(name: str) -> None:
    """Configure the page ``name`` (of :data:`PAGES`) and draw the page list at the top of the sidebar.

    Must be the first Streamlit call of every page.
    """
    st.set_page_config(page_title=f"{name} · {APP}", page_icon=ICONS[name], layout="wide")
    for label, path, icon, _ in PAGES:
        st.sidebar.page_link(path, label=label, icon=icon)
    st.sidebar.divider()


def page_links() -> None:
    """Links to every other page with what it does (home page)."""
    cols = st.columns(4)
    for i, (name, path, icon, what) in enumerate(PAGES[1:]):
        cols[i % 4].page_link(path, label=f"{name}: {what}", icon=icon)


def example(label: str, state: dict, key: str) -> None:
    """A button that switches the view to a worked example: it sets the widgets' values (corpus data,
    then ``state``: widget key -> value) before the rerun, and the URL follows."""
    def apply():
        st.session_state["data"] = "corpus"
        st.session_state.update(state)

    st.button(label, key=key, on_click=apply, icon=":material/lightbulb:")


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=])")


def md(text: object) -> str:
    """Escape ``text`` (a name or message that may come from a file) for Streamlit Markdown."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def code(text: object) -> str:
    """``text`` as an inline code span (Markdown escapes do not apply inside one; backticks are replaced)."""
    return "`" + str(text).replace("`", "'").replace("\n", " ") + "`"


_SI = ((1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
COUNT_UNITS = {"params": "parameters", "parameters": "parameters", "tokens": "tokens", "samples": "samples",
               "steps": "steps", "runs": "runs", "points": "points", "unique tokens": "unique tokens"}


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt(x, unit: str | None = None, digits: int = 3, short: bool = False) -> str:
    """A number with its unit: ``70M parameters``, ``1.2e21 FLOPs``, ``2,300 GPU-hours``, ``1.82 nats``.

    ``short`` drops the unit word (for a label that already names the unit): ``70M``, ``1.2e21``.
    """
    if short:
        text, word = fmt(x, unit, digits), COUNT_UNITS.get(unit, unit)
        return text[: -len(word) - 1] if unit and text.endswith(" " + word) else text
    if not _finite(x):
        return "n/a"
    x, u = float(x), unit or ""
    if u in COUNT_UNITS:
        scale, suffix = next(((s, p) for s, p in _SI if abs(x) >= s), (1.0, ""))
        text = f"{x / scale:.{digits}g}"
        return f"{text if 'e' not in text else f'{x / scale:.0f}'}{suffix} {COUNT_UNITS[u]}"
    if u == "FLOPs":
        mant, exp = f"{x:.{digits}e}".split("e")
        return f"{mant.rstrip('0').rstrip('.')}e{int(exp)} FLOPs"
    if u == "GPU-hours":
        return f"{x:,.0f} GPU-hours" if x >= 100 else f"{x:.{digits}g} GPU-hours"
    if u == "%":
        return f"{100 * x:.{max(digits - 1, 1)}f}%"
    return f"{x:.{digits + 1}g} {u}".strip()


def fmt_ci(ci, unit: str | None = None, digits: int = 3) -> str:
    """``95% CI a to b unit`` (or an explanation when no interval was computed)."""
    if not ci or not all(_finite(v) for v in ci):
        return "no interval (bootstrap off or too few runs)"
    lo, hi = (fmt(v, unit, digits) for v in ci)
    word = lo.split(" ", 1)[1] if " " in lo else ""
    if word and hi.endswith(" " + word):
        lo = lo[: -len(word) - 1]
    return f"95% CI {lo} to {hi}"


def param_unit(law_name: str, name: str, unit: str | None) -> str:
    """Unit of a law parameter when the fitted quantity is in ``unit`` (same rule as the report)."""
    return report_api.param_unit(get_law(law_name), name, unit)


def warn(messages: Sequence[str]) -> None:
    """One ``st.warning`` per message (the analysis modules phrase them as what is wrong and what to do)."""
    for m in messages:
        st.warning(md(m), icon=":material/warning:")


def chart(fig, name: str, key: str | None = None) -> None:
    """Draw a plotly figure; its modebar camera saves ``<name>.png``."""
    st.plotly_chart(fig, config=figures.plot_config(name), key=key)


_SCALE_LABELS = {"params": "params (N)", "tokens": "tokens (D)", "flops": "FLOPs (C)", "compute": "compute (FLOPs)",
                 "unique_tokens": "unique tokens", "N_opt": "N* (params)", "D_opt": "D* (tokens)",
                 "min_params": "min params", "max_params": "max params", "turning_point": "turning point (params)"}


def table(df: pd.DataFrame, key: str, **column_config) -> None:
    """``st.dataframe`` without the index; scale columns (parameters, tokens, FLOPs, also their CI bounds
    ``*_lo`` / ``*_hi``) in scientific notation with their unit in the header."""
    config = {}
    for c in df.columns:
        base = re.sub(r"_(lo|hi)$", "", str(c))
        if base in _SCALE_LABELS and pd.api.types.is_numeric_dtype(df[c]):
            label = _SCALE_LABELS[base] + {"": "", "_lo": " 95% low", "_hi": " 95% high"}[str(c)[len(base):]]
            config[c] = st.column_config.NumberColumn(label, format="%.3e")
    st.dataframe(df, hide_index=True, key=key, column_config={**config, **column_config})


def slug(text: str) -> str:
    """A safe file-name fragment."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")[:80] or "data"


def _for_files(df: pd.DataFrame) -> pd.DataFrame:
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
    download_text(label, lambda: json.dumps(report_api.jsonable(obj), indent=2, allow_nan=False).encode("utf-8"),
                  f"{slug(name)}.json", "application/json", key, where)


def report_downloads(fit, frame: pd.DataFrame, data: "Data", name: str, key: str, *, command: str | None = None,
                     extra_commands: Sequence[str | None] = (), **analyses) -> Any:
    """The report of ``fit`` (plus ``analyses``: backtest=, allocation=, crossover=, trend=, downstream=,
    settings=, title= of :func:`analysis.report.build_report`) as HTML, Markdown and JSON downloads, and
    the command lines that reproduce it. Returns the report."""
    fit_command = report_api.reproduce_command(data.describe(), {**(fit.settings or {}),
                                                                 **(analyses.get("settings") or {})})
    lines = [c for c in (command or fit_command, *extra_commands) if c]
    rep = report_api.build_report(fit, frame, data_source=data.describe(), command="\n".join(lines) or None,
                                  **analyses)
    st.caption("The same content three ways: a self-contained HTML page (interactive figures; works offline), "
               "Markdown and JSON.")
    cols = st.columns(3)
    for col, (label, make, ext, mime) in zip(cols, (("HTML", rep.to_html, "html", "text/html"),
                                                     ("Markdown", rep.to_markdown, "md", "text/markdown"),
                                                     ("JSON", rep.to_json, "json", "application/json"))):
        download_text(f"Report ({label})", make, f"report_{slug(name)}.{ext}", mime, f"{key}_{ext}", col)
    if lines:
        st.caption("Reproduce from the command line (the store path is this server's):")
        st.code("\n".join(lines), language="bash", wrap_lines=True)
    else:
        st.caption("Uploaded runs have no file on the server, so no command line reproduces this report; its "
                   "Settings section lists every choice.")
    return rep


# ----------------------------------------------------------------------------------------------
# URL state
# ----------------------------------------------------------------------------------------------
_MEM = "_remembered_"
_NONE = ""                     # URL value of an emptied multiselect whose default is not empty


def _enc(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if v and not 1e-4 <= abs(v) < 1e5:            # 1e9, 5.76e23: short and exact to 10 digits
            mant, exp = f"{v:.9e}".split("e")
            return f"{mant.rstrip('0').rstrip('.')}e{int(exp)}"
        return format(v, ".10g")
    return str(v)


def _seed(key: str, default, valid: Callable[[Any], bool], parse: Callable[[str], Any], multi: bool = False) -> None:
    """Set ``st.session_state[key]`` before its widget is drawn: current value, URL, remembered, default."""
    ss = st.session_state
    cands = [ss[key]] if key in ss else []
    raw = st.query_params.get_all(key) if multi else ([st.query_params[key]] if key in st.query_params else [])
    if raw:
        try:
            cands.append([parse(r) for r in raw if r != _NONE] if multi else parse(raw[0]))
        except (KeyError, ValueError, TypeError, OverflowError):   # OverflowError: int(float("inf"))
            pass
    if _MEM + key in ss:
        cands.append(ss[_MEM + key])
    for c in cands:
        try:
            if valid(c):
                ss[key] = c
                return
        except (TypeError, ValueError):
            continue
    ss[key] = default


def _publish(key: str, value, default) -> None:
    """Write a widget's value to the URL (removed when it equals the default) and remember it."""
    st.session_state[_MEM + key] = value
    qp = st.query_params
    if isinstance(value, (list, tuple)):
        enc = [_enc(v) for v in value] or ([_NONE] if default else [])
        if list(value) == list(default or []) or not enc:
            qp.pop(key, None)
        elif qp.get_all(key) != enc:
            qp[key] = enc
    elif value is None or value == default:
        qp.pop(key, None)
    elif qp.get(key) != _enc(value):
        qp[key] = _enc(value)


def forget(*keys: str) -> None:
    """Drop parameters of widgets not shown in this view from the URL."""
    for k in keys:
        st.query_params.pop(k, None)


def _choice(widget: str, label: str, options: Sequence, key: str, default, where, kw: dict):
    options = list(options)
    default = default if default in options else options[0]
    lookup = {_enc(o): o for o in options}
    _seed(key, default, lambda v: v in options, lambda r: lookup[r])
    value = getattr(where or st, widget)(label, options, key=key, **kw)
    _publish(key, value, default)
    return value


def select(label: str, options: Sequence, *, key: str, default=None, where=None, **kw):
    """``st.selectbox`` whose value lives in the URL as ``?key=value`` (None when there are no options)."""
    return _choice("selectbox", label, options, key, default, where, kw) if len(options) else None


def radio(label: str, options: Sequence, *, key: str, default=None, where=None, **kw):
    """``st.radio`` whose value lives in the URL."""
    return _choice("radio", label, options, key, default, where, kw)


def multiselect(label: str, options: Sequence, *, key: str, default: Sequence = (), where=None, **kw) -> list:
    """``st.multiselect`` whose values live in the URL as repeated ``?key=a&key=b``."""
    options = list(options)
    default = [d for d in default if d in options]
    lookup = {_enc(o): o for o in options}
    _seed(key, list(default), lambda v: isinstance(v, list) and all(x in options for x in v),
          lambda r: lookup[r], multi=True)
    value = list((where or st).multiselect(label, options, key=key, **kw))
    _publish(key, value, default)
    return value


def number(label: str, *, key: str, default: float, min_value: float | None = None, max_value: float | None = None,
           step: float | None = None, where=None, integer: bool = False, **kw):
    """``st.number_input`` whose value lives in the URL (a URL value out of range falls back to the default)."""
    cast = int if integer else float

    def valid(v):
        return (not isinstance(v, bool) and _finite(v) and (min_value is None or v >= min_value)
                and (max_value is None or v <= max_value))

    _seed(key, cast(default), valid, lambda r: cast(float(r)))
    st.session_state[key] = cast(st.session_state[key])
    bounds = {k: None if v is None else cast(v) for k, v in
              (("min_value", min_value), ("max_value", max_value), ("step", step))}
    value = (where or st).number_input(label, key=key, **bounds, **kw)
    _publish(key, value, cast(default))
    return value


def toggle(label: str, *, key: str, default: bool = False, where=None, **kw) -> bool:
    """``st.toggle`` whose value lives in the URL as ``1`` / ``0``."""
    flags = {"1": True, "0": False, "true": True, "false": False}
    _seed(key, bool(default), lambda v: isinstance(v, bool), lambda r: flags[r.lower()])
    value = bool((where or st).toggle(label, key=key, **kw))
    _publish(key, value, bool(default))
    return value


def scale_options(lo: float, hi: float, per_decade: int = 4) -> list[float]:
    """Round scale values from ``lo`` to ``hi``: 1, 1.8, 3.2, 5.6 x 10^k (``per_decade`` per decade)."""
    k0 = math.floor(math.log10(lo) * per_decade)
    k1 = math.ceil(math.log10(hi) * per_decade)
    return [float(f"{10 ** (k / per_decade):.2g}") for k in range(k0, k1 + 1)]


def _log_scale(lo: float, hi: float) -> tuple[list[float], Callable[[Any], float], Callable[[str], float]]:
    """The options of a log slider, ``nearest(value)`` and a URL parser that snaps to the nearest option."""
    options = scale_options(lo, hi)
    arr = np.log10(np.array(options))

    def nearest(v) -> float:
        return options[int(np.argmin(np.abs(arr - math.log10(float(v)))))]

    def parse(r: str) -> float:
        v = float(r)
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(r)
        return nearest(v)

    return options, nearest, parse


def scale(label: str, *, key: str, lo: float, hi: float, default: float, unit: str, where=None, **kw) -> float:
    """A log-scale ``st.select_slider`` over :func:`scale_options`; a URL value snaps to the nearest option."""
    options, nearest, parse = _log_scale(lo, hi)
    default = nearest(default)
    current = st.session_state.get(key)
    if current not in options and _finite(current) and current > 0:
        st.session_state[key] = nearest(current)
    _seed(key, default, lambda v: v in options, parse)
    value = (where or st).select_slider(label, options, key=key, format_func=lambda v: fmt(v, unit, 2), **kw)
    _publish(key, value, default)
    return float(value)


def scale_range(label: str, *, key: str, lo: float, hi: float, unit: str, where=None, **kw) -> tuple[float, float]:
    """A log-scale range ``st.select_slider`` (URL: ``?key=lo&key=hi``); the default is the full range."""
    options, _, parse = _log_scale(lo, hi)
    full = [options[0], options[-1]]
    if isinstance(st.session_state.get(key), tuple):
        st.session_state[key] = list(st.session_state[key])
    _seed(key, full, lambda v: isinstance(v, list) and len(v) == 2 and all(x in options for x in v) and v[0] <= v[1],
          parse, multi=True)
    st.session_state[key] = tuple(st.session_state[key])
    value = (where or st).select_slider(label, options, key=key, format_func=lambda v: fmt(v, unit, 2), **kw)
    _publish(key, list(value), full)
    return float(value[0]), float(value[1])


def scale_with_number(label: str, *, key: str, lo: float, hi: float, default: float, unit: str, where=None,
                      help: str | None = None) -> float:
    """A log slider and a number input showing one value (URL ``?key=``): either can be used."""
    c_slider, c_number = (where or st).columns([3, 1])
    value = number(f"{label} ({unit})", key=key, default=default, min_value=lo, max_value=hi, where=c_number,
                   format="%.4g", help=help)
    options, nearest, _ = _log_scale(lo, hi)
    st.session_state[f"{key}__slider"] = nearest(value)

    def _from_slider():
        st.session_state[key] = float(st.session_state[f"{key}__slider"])

    c_slider.select_slider(label, options, key=f"{key}__slider", format_func=lambda v: fmt(v, unit, 2),
                           on_change=_from_slider, help=help)
    return float(value)


# ----------------------------------------------------------------------------------------------
# The store
# ----------------------------------------------------------------------------------------------
def _signature(path) -> tuple:
    s = os.stat(path)
    return (s.st_ino, s.st_size, s.st_mtime_ns)


@st.cache_resource(show_spinner=False, max_entries=4)
def _open(path: str, signature: tuple) -> Store:
    return Store(path)


@st.cache_resource(show_spinner=False)
def _build_failures() -> dict:
    return {}


def _unavailable(err: StoreError) -> None:
    st.error(f"The published corpus is not available: {md(err.message)}", icon=":material/block:")
    st.info(f"What to do: {md(err.fix)}. Meanwhile you can upload your own runs (CSV or Parquet) on the "
            "Upload page and use every analysis on them.", icon=":material/info:")
    st.page_link(PAGE_FILES["Upload"], label="Go to Upload", icon=ICONS["Upload"])


def store(quiet: bool = False) -> Store | None:
    """The corpus store, built on first start (with a progress bar) when missing or out of date.

    Returns None when the store cannot be opened or built, after saying why and what to do (unless
    ``quiet``: the sidebar has said it already).
    """
    report = (lambda err: None) if quiet else _unavailable
    path = store_api.locate_store()
    try:
        return _open(str(path), _signature(path))
    except FileNotFoundError:
        pass
    except StoreError as e:
        if e.kind not in ("missing", "old_schema"):
            report(e)
            return None
    failures = _build_failures()
    failed = failures.get(str(path))
    if failed is not None and time.time() - failed[0] < RETRY_SECONDS:
        report(failed[1])
        return None
    bar = st.progress(0.0, text="First start: building the corpus store from the published data ...")
    try:
        store_api.ensure_store(progress=lambda f, m: bar.progress(min(max(float(f), 0.0), 1.0),
                                                                  text=f"Building the corpus store: {m}"))
        result = _open(str(path), _signature(path))
    except (StoreError, OSError) as e:
        err = e if isinstance(e, StoreError) else StoreError(f"the store at {path} could not be opened ({e})",
                                                             f"check the file and rebuild: {store_api.build_command(path)}")
        failures[str(path)] = (time.time(), err)
        bar.empty()
        report(err)
        return None
    bar.empty()
    failures.pop(str(path), None)
    return result


_QUERIES = frozenset({"summary", "sources", "families", "metrics", "default_metric", "runs", "points", "fit_frame",
                      "exclusions", "metric_across_families", "chance_level",
                      "flagged_runs"})


@st.cache_data(show_spinner=False, max_entries=512)
def _query(path: str, signature: tuple, method: str, args: tuple, kwargs: tuple):
    if method not in _QUERIES:
        raise KeyError(method)
    return getattr(_open(path, signature), method)(*args, **dict(kwargs))


def query(s: Store, method: str, *args, **kwargs):
    """A cached ``Store`` query (keyed on the store file's identity, so a rebuilt store is re-read).

    A store that fails mid-query (a file damaged while the app runs) ends the page with the same message
    and fix as at start, never a traceback."""
    try:
        return _query(str(s.path), _signature(s.path), method, args, tuple(sorted(kwargs.items())))
    except StoreError as err:
        _unavailable(err)
        st.stop()


def reference_family(s: Store, fallback: bool = False) -> str | None:
    """The family the home page fits (and the sidebar shows first): the Epoch/Chinchilla points when the
    store has them; else, with ``fallback``, the family with the most runs."""
    fams = query(s, "families")
    ref = fams[fams["source"] == REFERENCE_SOURCE]
    if len(ref):
        return str(ref.sort_values("n_runs", ascending=False).iloc[0]["family"])
    if not fallback:
        return None
    return str(fams.sort_values(["n_runs", "family"], ascending=[False, True]).iloc[0]["family"])


# ----------------------------------------------------------------------------------------------
# Uploaded runs (session only)
# ----------------------------------------------------------------------------------------------
def uploads() -> dict:
    """The session's uploads: {name: {"runs", "points", "report", "filename", "digest"}}."""
    return st.session_state.setdefault(UPLOADS, {})


def add_upload(name: str, upload, filename: str | None, raw: bytes | str) -> None:
    """Keep an :class:`datasets.upload.Upload` for this session (never written to the shared store)."""
    h = hashlib.sha256(raw if isinstance(raw, bytes) else raw.encode("utf-8"))
    for table in (upload.runs, upload.points):   # the data as read: a column mapping changes them, not the bytes
        h.update(pd.util.hash_pandas_object(table.astype("string"), index=False).to_numpy().tobytes())
    digest = h.hexdigest()[:16]
    uploads()[name] = {"runs": upload.runs, "points": upload.points, "report": upload.report,
                       "filename": filename, "digest": digest}


def _upload_tables() -> tuple[pd.DataFrame, pd.DataFrame, str]:
    ups = uploads()
    if not ups:
        return pd.DataFrame(), pd.DataFrame(), ""
    runs = pd.concat([u["runs"] for u in ups.values()], ignore_index=True).drop_duplicates("run_id", keep="last")
    points = pd.concat([u["points"] for u in ups.values()], ignore_index=True)
    digest = hashlib.sha256("|".join(f"{k}:{u.get('digest', id(u))}" for k, u in sorted(ups.items()))
                            .encode("utf-8")).hexdigest()[:16]
    return runs, points, digest


def upload_families() -> list[str]:
    """Families of the session's uploaded runs."""
    runs, _, _ = _upload_tables()
    return sorted(runs["family"].dropna().unique()) if len(runs) else []


def file_columns(raw: bytes, filename: str | None) -> list[str]:
    """The header of an uploaded CSV or Parquet file for the column-mapping widgets, read the way
    :func:`datasets.upload.read_upload` reads it ([] when unreadable: the reader then says why)."""
    from datasets import upload as upload_api

    try:
        if (filename or "").lower().endswith((".parquet", ".pq")) or raw[:4] == b"PAR1":
            import pyarrow.parquet as pq
            return [str(c) for c in pq.read_schema(io.BytesIO(raw)).names]
        head = raw if len(raw) <= 65536 else raw[:65536].rsplit(b"\n", 1)[0]
        text = re.sub(r"\A\s*sep=.\r?\n", "", upload_api._decode(head)[0])
        return [c.strip() for c in upload_api._sniff(text)[1]]
    except Exception:  # noqa: BLE001 - a broken file: read_upload reports it
        return []


def _metric_table(points: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """family_metrics-like rows (metric, split, unit, higher_is_better, n_runs, n_points, n_sizes, has_curves)."""
    if points.empty:
        return pd.DataFrame(columns=["metric", "split", "unit", "higher_is_better", "n_runs", "n_points", "n_sizes",
                                     "has_curves"])
    p = points.merge(runs[["run_id", "params"]], on="run_id", how="left")
    out = p.groupby(["metric", "split", "unit"], dropna=False).agg(
        higher_is_better=("higher_is_better", "first"), n_runs=("run_id", "nunique"), n_points=("value", "size"),
        n_sizes=("params", "nunique")).reset_index()
    out["has_curves"] = out["n_points"] > out["n_runs"]
    return out.sort_values(["n_runs", "n_points", "metric"], ascending=[False, False, True]).reset_index(drop=True)


def default_metric(metrics: pd.DataFrame) -> str | None:
    """The metric to show first among ``metrics`` (the store's rule: validation loss, train loss, most points)."""
    return Store.default_metric(SimpleNamespace(metrics=lambda family: metrics), "")


@st.cache_data(show_spinner=False, max_entries=64)
def _upload_frame(key: str, metric: str, final_only: bool, _runs: pd.DataFrame, _points: pd.DataFrame):
    return to_fit_frame(_runs, _points, metric, final_only=final_only)


# ----------------------------------------------------------------------------------------------
# The data handle
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    """The data chosen in the sidebar: a corpus family or an uploaded family, and a metric.

    ``key`` identifies the data for caches: the store file's identity and the family, or the uploads'
    digest and the family.
    """

    kind: str                 # "corpus" | "upload"
    family: str
    metric: str | None
    key: str
    source: str | None = None
    store: Store | None = None

    def _upload_family(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        runs, points, _ = _upload_tables()
        fam = runs[runs["family"] == self.family].reset_index(drop=True)
        return fam, points[points["run_id"].isin(fam["run_id"])]

    def metrics(self) -> pd.DataFrame:
        if self.kind == "corpus":
            return query(self.store, "metrics", self.family)
        runs, points = self._upload_family()
        return _metric_table(points, runs)

    def metric_row(self, metric: str | None = None) -> pd.Series | None:
        m = self.metrics()
        rows = m[m["metric"] == (metric or self.metric)]
        return None if rows.empty else rows.iloc[0]

    def unit(self, metric: str | None = None) -> str | None:
        """The metric's unit as fitted: losses are converted to nats."""
        row = self.metric_row(metric)
        if row is None:
            return None
        return "nats" if row["unit"] in store_api.LOSS_UNITS else row["unit"]

    def higher_is_better(self, metric: str | None = None) -> bool:
        row = self.metric_row(metric)
        return bool(row is not None and pd.notna(row["higher_is_better"]) and row["higher_is_better"])

    def runs(self) -> pd.DataFrame:
        if self.kind == "corpus":
            return query(self.store, "runs", family=self.family)
        return self._upload_family()[0]

    def flagged_runs(self) -> list[str]:
        """Runs the source flags as outliers (``runs.extra``: ``"..._outlier": true``, e.g. the five points
        Epoch's Chinchilla replication leaves out): fits leave them out by default."""
        if self.kind == "corpus":
            return query(self.store, "flagged_runs", self.family)
        r = self.runs()
        if "extra" not in r:
            return []
        flagged = r["extra"].astype(str).str.contains(store_api.OUTLIER_FLAG, regex=True, na=False)
        return sorted(r.loc[flagged, "run_id"].astype(str))

    def points(self, metric: str | None = None, final_only: bool = False) -> pd.DataFrame:
        metric = metric or self.metric
        if self.kind == "corpus":
            return query(self.store, "points", family=self.family, metric=metric, final_only=final_only)
        fam, pts = self._upload_family()
        p = pts[pts["metric"] == metric]
        if final_only:
            p = p.sort_values(["run_id", "tokens", "step"], na_position="first").groupby("run_id").tail(1)
        cols = ["run_id", "family", "model", "params", "data", "arch"]
        return p.merge(fam[cols], on="run_id", how="left").reset_index(drop=True)

    def frame(self, metric: str | None = None, final_only: bool = False) -> pd.DataFrame:
        """The canonical fit frame (losses in nats). Raises AnalysisError when the metric cannot be used."""
        metric = metric or self.metric
        try:
            if self.kind == "corpus":
                return query(self.store, "fit_frame", self.family, metric, final_only=final_only)
            return _upload_frame(self.key, metric, final_only, *self._upload_family())
        except ValueError as e:
            raise AnalysisError(str(e)) from None

    def cache_key(self, metric: str | None = None, final_only: bool = False) -> str:
        return f"{self.key}|{metric or self.metric}|{int(final_only)}"

    def provenance(self) -> pd.DataFrame:
        """Distinct (paper, repo, commit, licence) of the family's runs."""
        r = self.runs()
        return r[[c for c in ("paper", "repo", "commit", "licence") if c in r]].drop_duplicates().reset_index(drop=True)

    def describe(self, family=None) -> dict:
        """What a report (and its command line) needs to name the data; ``family`` may name several groups."""
        d = {"kind": "store" if self.kind == "corpus" else "upload", "family": family or self.family,
             "metric": self.metric, "unit": self.unit()}
        if self.kind == "corpus":
            d["path"] = str(self.store.path)
        return d

    def sibling(self, family: str, metric: str | None = None) -> "Data":
        """A handle on another family of the same kind (corpus or uploads)."""
        metric = metric or self.metric
        if self.kind == "corpus":
            return corpus_data(self.store, family, metric)
        return Data("upload", family, metric, f"upload|{_upload_tables()[2]}|{family}", "upload", None)


def corpus_data(s: Store, family: str, metric: str | None) -> Data:
    """A :class:`Data` handle on a corpus family (outside the sidebar's choice)."""
    return Data("corpus", family, metric, f"corpus|{s.path}|{_signature(s.path)}|{family}",
                str(family).split("/")[0], s)


def _metric_label(m: pd.DataFrame) -> Callable[[str], str]:
    info = {}
    for metric, g in m.groupby("metric", sort=False):
        units = ", ".join(dict.fromkeys(str(u) for u in g["unit"]))
        splits = ", ".join(dict.fromkeys(str(s) for s in g["split"]))
        info[metric] = f"{metric}  [{units}; {splits}; {int(g['n_runs'].max())} runs]"
    return lambda metric: info.get(metric, str(metric))


def sidebar(*, with_metric: bool = True) -> Data | None:
    """The shared data chooser. Returns None (after saying what to do) when there is nothing to show."""
    sb = st.sidebar
    sb.header("Data")
    s = store()
    ups = uploads()
    kind = radio("Data", ["corpus", "upload"], key="data", default="corpus" if s is not None or not ups else "upload",
                 where=sb, horizontal=True,
                 format_func=lambda k: {"corpus": "Published corpus", "upload": "My uploads"}[k],
                 help="Published runs from the store, or the runs you uploaded in this session "
                      "(kept in your session only).")
    if kind == "corpus":
        if s is None:
            sb.info("The corpus is unavailable (see the message on the page). Choose My uploads instead.")
            return None
        fams = query(s, "families")
        if fams.empty:
            sb.warning("The store holds no families: rebuild it with " + store_api.build_command(s.path))
            return None
        titles = query(s, "sources").set_index("source")["title"].fillna("").to_dict()
        fallback = reference_family(s, fallback=True)
        source = select("Source", sorted(fams["source"].unique()), key="source",
                        default=str(fams.loc[fams["family"] == fallback, "source"].iloc[0]), where=sb,
                        format_func=lambda x: f"{x} — {titles[x]}" if titles.get(x) else x)
        in_source = fams[fams["source"] == source].sort_values("family")
        counts = dict(zip(in_source["family"], in_source["n_runs"]))
        family = select("Family", list(in_source["family"]), key="family", default=fallback, where=sb,
                        format_func=lambda f: f"{f}  ({counts.get(f, 0)} runs)",
                        help="A scaling family: one recipe trained at several sizes.")
        data = corpus_data(s, family, None)
        default_metric_name, metric_key = query(s, "default_metric", family), "metric"
    else:
        if not ups:
            sb.info("No uploaded runs in this session yet.")
            sb.page_link(PAGE_FILES["Upload"], label="Upload runs", icon=ICONS["Upload"])
            return None
        family = select("Uploaded family", upload_families(), key="ufamily", where=sb)
        data = Data("upload", family, None, f"upload|{_upload_tables()[2]}|{family}", "upload", None)
        default_metric_name, metric_key = default_metric(data.metrics()), "umetric"
    if not with_metric:
        return data
    m = data.metrics()
    if m.empty:
        sb.warning("This family has no measurements: choose another family.")
        return None
    metric = select("Metric", list(dict.fromkeys(m["metric"])), key=metric_key, default=default_metric_name, where=sb,
                    format_func=_metric_label(m), help="Unit, split and number of runs in brackets. Losses in "
                                                       "bits or perplexity are converted to nats for fitting.")
    data = replace(data, metric=metric)
    unit = data.unit()
    converted = unit == "nats" and m.loc[m["metric"] == metric, "unit"].iloc[0] != "nats"
    sb.caption(f"Unit: {md(unit or 'not given')}" + (" (converted to nats)" if converted else ""))
    prov = data.provenance()
    if len(prov):
        with sb.expander("Provenance", expanded=False):
            for r in prov.head(5).itertuples(index=False):
                st.caption(" · ".join(md(v) for v in r if isinstance(v, str) and v))
    return data


# ----------------------------------------------------------------------------------------------
# Cached analyses
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Failure:
    message: str


_FUNCTIONS: dict[str, Callable] = {"fit": fit_law, "backtest": backtest, "choose_law": choose_law,
                                   "crossover": crossover, "trend_shape": trend_shape, "scan_trends": scan_trends,
                                   "allocate": allocate, "frontier": frontier, "isoflop": isoflop,
                                   "map_downstream": map_downstream}


@st.cache_data(show_spinner=False, max_entries=256)
def _run(fn: str, data_key: str, _args: tuple, params: dict):
    try:
        return _FUNCTIONS[fn](*_args, **params)
    except (FitError, ValueError, KeyError, ZeroDivisionError, np.linalg.LinAlgError) as e:
        return _Failure(str(e) or type(e).__name__)


def compute(fn: str, data_key: str, *args, spinner: str | None = None, **params):
    """Run a registered analysis function, cached on ``data_key`` (what the positional data are) and
    ``params``. Raises :class:`AnalysisError` with the function's message when it fails."""
    with st.spinner(spinner) if spinner else nullcontext():
        res = _run(fn, data_key, args, params)
    if isinstance(res, _Failure):
        raise AnalysisError(res.message)
    return res


# ----------------------------------------------------------------------------------------------
# Fit settings shared by Fit, Allocate, Trends and Downstream
# ----------------------------------------------------------------------------------------------
CUTS = {"auto": "Default for this family", "none": "Keep every checkpoint",
        "fraction": "Drop the first fraction of each run", "tokens": "Drop checkpoints below a token count"}
HITCHHIKER_TOKENS = 10e9


def default_cut(frame: pd.DataFrame) -> tuple[str, float | None, str]:
    """The early-checkpoint cut used by default, in the spirit of the Hitchhiker's guide.

    No cut when every run has one point (final checkpoints only). Otherwise drop the first 10B tokens
    when every run trained on at least 100B tokens (the guide's rule), else the first 10% of each run
    (10B tokens would remove most of a small run). Returns (kind, value, explanation).
    """
    per_run = frame.groupby("run").size()
    if len(per_run) == 0 or per_run.max() <= 1:
        return "none", None, "every run has one point (final checkpoints only), so nothing is cut"
    final_d = frame.groupby("run")["D"].max()
    if final_d.notna().all() and final_d.min() >= 100e9:
        return "tokens", HITCHHIKER_TOKENS, "every run saw at least 100B tokens: the first 10B tokens are dropped"
    return "fraction", 0.1, "the first 10% of each run's tokens (or steps) are dropped"


@dataclass(frozen=True)
class FitSettings:
    """Everything that determines a fit besides the data."""

    law: str
    objective: str
    min_tokens: float | None
    min_fraction: float | None
    exclude_runs: tuple[str, ...]
    bootstrap: int
    y_transform: str
    auto: bool = False

    def kwargs(self) -> dict:
        return dict(objective=self.objective, min_tokens=self.min_tokens, min_fraction=self.min_fraction,
                    exclude_runs=self.exclude_runs, y_transform=self.y_transform)


def default_law(options: Sequence[str]) -> str:
    """chinchilla when N and D both vary, else the saturating 1-D law of the varying axis."""
    return next((n for n in ("chinchilla", "power_d", "power_n", "power_c", "power_step") if n in options), options[0])


def _y_transform(frame: pd.DataFrame) -> str:
    """Fit 1 - value for a higher-is-better metric in [0, 1] (an error that falls with scale)."""
    return "one_minus" if frame.attrs.get("higher_is_better") and frame["y"].between(0, 1).all() else "none"


def default_settings(data: Data, frame: pd.DataFrame, bootstrap: int | None = None) -> FitSettings:
    """The Fit page's defaults for these data (law, Huber, early-checkpoint cut, flagged runs left out)."""
    laws = applicable_laws(frame)
    if not laws:
        raise AnalysisError("no law applies to these data (a scale axis needs at least 3 different values)")
    kind, value, _ = default_cut(frame)
    runs = set(frame["run"].astype(str))
    return FitSettings(default_law(laws), "huber", value if kind == "tokens" else None,
                       value if kind == "fraction" else None, tuple(r for r in data.flagged_runs() if r in runs),
                       BOOTSTRAP if bootstrap is None else bootstrap, _y_transform(frame))


def law_label(name: str) -> str:
    return "auto (best held-out error)" if name == "auto" else f"{name}: {get_law(name).formula}"


def fit_controls(data: Data, frame: pd.DataFrame, *, allocatable_only: bool = False, where=None) -> FitSettings:
    """Law, objective, early-checkpoint cut, excluded runs and bootstrap count, all in the URL."""
    box = where or st
    laws = [n for n in applicable_laws(frame) if get_law(n).allocatable or not allocatable_only]
    if not laws:
        raise AnalysisError("no law applies to these data: a fit needs a scale axis (N, D, C or step) that takes "
                            "at least 3 positive, different values; choose another family or metric")
    c1, c2, c3 = box.columns([2, 1, 1])
    law = select("Law", laws if allocatable_only else ["auto"] + laws, key="law", default=default_law(laws), where=c1,
                 format_func=law_label, help="Laws whose variables these data provide. 'auto' back-tests each "
                                             "one (largest model held out) and keeps the best.")
    objective = select("Objective", list(OBJECTIVES), key="objective", default="huber", where=c2,
                       format_func=lambda o: {"huber": "Huber (delta 1e-3)", "mse": "Squared error",
                                              "lower": "Lower envelope"}[o],
                       help="Loss on log residuals: " + "; ".join(f"{k}: {v}" for k, v in OBJECTIVES.items()))
    boot = number("Bootstrap resamples", key="boot", default=BOOTSTRAP, min_value=0, max_value=5000, step=100,
                  integer=True, where=c3,
                  help=f"Run-level resamples for the 95% intervals; stops early after {TIME_BUDGET:g} s and says so.")
    kind, value, why = default_cut(frame)
    c4, c5 = box.columns([2, 1])
    cut = select("Early-checkpoint cut", list(CUTS), key="cut", default="auto", where=c4, format_func=CUTS.get,
                 help=f"Early checkpoints sit off the law (Hitchhiker's guide). Default here: {why}.")
    min_tokens = min_fraction = None
    if cut == "auto":
        min_tokens, min_fraction = (value, None) if kind == "tokens" else (None, value)
        c5.caption(f"Default: {why}.")
    elif cut == "fraction":
        min_fraction = number("Fraction dropped", key="cut_fraction", default=0.1, min_value=0.0, max_value=0.9,
                              step=0.05, where=c5, help="Share of each run's final tokens (or steps).")
    elif cut == "tokens":
        min_tokens = number("Minimum tokens", key="cut_tokens", default=HITCHHIKER_TOKENS, min_value=0.0, step=1e9,
                            where=c5, format="%.3e", help="Checkpoints with fewer training tokens D are dropped.")
    forget(*[f"cut_{k}" for k in ("fraction", "tokens") if k != cut])
    run_ids = sorted(frame["run"].astype(str).unique())
    flagged = [r for r in data.flagged_runs() if r in run_ids]
    exclude = multiselect("Exclude runs", run_ids, key="exclude", default=flagged, where=box,
                          help="Runs left out of the fit (drawn as grey crosses)." +
                               (f" Default: the {len(flagged)} runs the source flags as outliers (as in its published "
                                "fit); clear the box to keep them." if flagged else ""))
    if flagged and exclude == flagged:
        box.caption(f"Left out by default: the {len(flagged)} runs the source flags as outliers, as its published "
                    "fit does. Clear the box to keep them.")
    y_transform = _y_transform(frame)
    if y_transform == "one_minus":
        box.info("This metric is higher-is-better (in [0, 1]): the law is fitted to 1 - value, an error that falls "
                 "with scale; predictions are converted back.", icon=":material/info:")
    return FitSettings(law, objective, min_tokens, min_fraction, tuple(exclude), int(boot), y_transform,
                       auto=law == "auto")


def run_fit(data: Data, frame: pd.DataFrame, settings: FitSettings, *, law: str | None = None,
            objective: str | None = None, bootstrap: int | None = None):
    """The cached fit of ``settings`` (optionally another law / objective / bootstrap count) on ``frame``."""
    kw = {**settings.kwargs(), **({"objective": objective} if objective else {})}
    name = law or settings.law
    return compute("fit", data.cache_key(), frame, spinner=f"Fitting {name} ...", law=name,
                   bootstrap=settings.bootstrap if bootstrap is None else bootstrap, time_budget=TIME_BUDGET, **kw)


def resolve_law(data: Data, frame: pd.DataFrame, settings: FitSettings):
    """(settings with a concrete law, LawChoice or None): ``auto`` picks the law with the best held-out
    error (largest model left out)."""
    if not settings.auto:
        return settings, None
    choice = compute("choose_law", data.cache_key(), frame, spinner="Back-testing every applicable law ...",
                     bootstrap=0, **settings.kwargs())
    return replace(settings, law=choice.law), choice


def param_table(fit, unit: str | None) -> pd.DataFrame:
    """Parameters with their 95% CIs, units and meanings (for st.dataframe)."""
    return pd.DataFrame([{"parameter": p.name, "value": fit.params[p.name],
                          "95% CI low": fit.ci.get(p.name, (np.nan, np.nan))[0],
                          "95% CI high": fit.ci.get(p.name, (np.nan, np.nan))[1],
                          "unit": param_unit(fit.law, p.name, unit), "meaning": p.meaning} for p in fit.law_obj.params])
