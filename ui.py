"""The one Streamlit glue module of the dashboard: every page is ``ui.page(...)``, ``ui.sidebar()``, a few
widgets from here, a call into ``analysis/`` (through :func:`compute`, which caches it) and a figure from
:mod:`analysis.figures` (through :func:`chart`).

What lives here
---------------
* **The store**: :func:`store` opens the corpus once per process (``st.cache_resource``). On first start,
  when no store exists, it builds one with :func:`datasets.store.ensure_store` under an ``st.progress`` bar;
  when that fails (no data, no network) the app still runs, says what to do, and uploads keep working.
* **Data choice**: :func:`sidebar` draws the shared sidebar (published corpus: source -> family -> metric
  with its unit; or the session's uploaded runs, kept in ``st.session_state`` only and never written to the
  shared store) and returns a :class:`Data` handle whose tables are cached.
* **State in the URL**: the widget helpers (:func:`select`, :func:`multiselect`, :func:`radio`,
  :func:`number`, :func:`scale`, :func:`toggle`) seed each widget from, in order, its current value, the
  URL query parameter named after its key, the value it had on another page of this session, and its
  default; after drawing it they write the value back to the URL (omitted when it equals the default),
  so a copied link reproduces the view.
* **Caching**: :func:`compute` runs an analysis function through ``st.cache_data`` keyed on the data's
  identity (store file signature or upload digest, family, metric) and the settings; failures are cached
  too (as messages) so a bad setting costs one attempt.
* **Formatting**: :func:`fmt` gives every number its unit; :func:`md` escapes text from files before it
  reaches Markdown.

Environment
-----------
``SCALING_BOOTSTRAP``   default bootstrap resamples (1000; tests use e.g. 50).
``SCALING_TIME_BUDGET`` seconds a fit's bootstrap may take in the app (10).
``SCALING_STORE``       the store file (see :func:`datasets.store.locate_store`).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from analysis import figures
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
PAGE_FILES = {"Home": "app.py", "Browse": "pages/1_Browse.py", "Fit": "pages/2_Fit.py",
              "Allocate": "pages/3_Allocate.py", "Upload": "pages/4_Upload.py",
              "Crossover": "pages/5_Crossover.py", "Trends": "pages/6_Trends.py",
              "Downstream": "pages/7_Downstream.py"}
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
def page(title: str, icon: str) -> None:
    """Configure the page (must be the first Streamlit call of every page)."""
    st.set_page_config(page_title=f"{title} · {APP}", page_icon=icon, layout="wide")


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

    ``short`` drops the unit word (for a metric whose label already names the unit): ``70M``, ``1.2e21``.
    """
    if short:
        text = fmt(x, unit, digits)
        return text.rsplit(" ", 1)[0] if unit and text.endswith(" " + {**COUNT_UNITS}.get(unit, unit)) else text
    if not _finite(x):
        return "n/a"
    x = float(x)
    u = unit or ""
    if u in COUNT_UNITS:
        word = COUNT_UNITS[u]
        for scale, suffix in _SI:
            if abs(x) >= scale:
                v = x / scale
                text = f"{v:.{digits}g}"
                return f"{text if 'e' not in text else f'{v:.0f}'}{suffix} {word}"
        text = f"{x:.{digits}g}"
        return f"{text if 'e' not in text else f'{x:.0f}'} {word}"
    if u == "FLOPs":
        mant, exp = f"{x:.{digits}e}".split("e")
        mant = mant.rstrip("0").rstrip(".")
        return f"{mant}e{int(exp)} FLOPs"
    if u == "GPU-hours":
        return f"{x:,.0f} GPU-hours" if x >= 100 else f"{x:.{digits}g} GPU-hours"
    if u == "%":
        return f"{100 * x:.{max(digits - 1, 1)}f}%"
    text = f"{x:.{digits + 1}g}"
    return f"{text} {u}".strip()


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
    from analysis.report import param_unit as _param_unit
    return _param_unit(get_law(law_name), name, unit)


def warn(messages: Sequence[str]) -> None:
    """One ``st.warning`` per message (the analysis modules phrase them as what is wrong and what to do)."""
    for m in messages:
        st.warning(md(m), icon="⚠️")


def chart(fig, name: str, key: str | None = None) -> None:
    """Draw a plotly figure; its modebar camera saves ``<name>.png``."""
    st.plotly_chart(fig, config=figures.plot_config(name), key=key)


def slug(text: str) -> str:
    """A safe file-name fragment."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")[:80] or "data"


def _for_files(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    return out


def download_table(df: pd.DataFrame, name: str, key: str, label: str = "points") -> None:
    """CSV and Parquet download buttons for ``df`` (files made when clicked; names from ``name``)."""
    base = slug(name)

    def csv_bytes() -> bytes:
        return _for_files(df).to_csv(index=False).encode("utf-8")

    def parquet_bytes() -> bytes:
        buf = io.BytesIO()
        _for_files(df).to_parquet(buf, index=False)
        return buf.getvalue()

    c1, c2 = st.columns(2)
    c1.download_button(f"Download {label} (CSV)", csv_bytes, file_name=f"{base}.csv", mime="text/csv",
                       key=f"{key}_csv", on_click="ignore")
    c2.download_button(f"Download {label} (Parquet)", parquet_bytes, file_name=f"{base}.parquet",
                       mime="application/vnd.apache.parquet", key=f"{key}_parquet", on_click="ignore")


def download_text(label: str, make: Callable[[], str | bytes], file_name: str, mime: str, key: str, where=None) -> None:
    """A download button whose content ``make()`` is produced only when clicked."""
    (where or st).download_button(label, make, file_name=file_name, mime=mime, key=key, on_click="ignore")


def download_json(obj: Any, name: str, key: str, label: str, where=None) -> None:
    """A JSON download button (NaN and infinities written as null)."""
    from analysis.report import jsonable

    def make() -> bytes:
        return json.dumps(jsonable(obj), indent=2, allow_nan=False).encode("utf-8")

    download_text(label, make, f"{slug(name)}.json", "application/json", key, where)


# ----------------------------------------------------------------------------------------------
# URL state
# ----------------------------------------------------------------------------------------------
_MEM = "_remembered_"


def _enc(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (float, np.floating)):
        return format(float(v), ".10g")
    return str(v)


def _seed(key: str, default, valid: Callable[[Any], bool], parse: Callable[[str], Any], multi: bool = False) -> None:
    """Set ``st.session_state[key]`` before its widget is drawn: current value, URL, remembered, default."""
    ss = st.session_state
    cands = []
    if key in ss:
        cands.append(ss[key])
    raw = st.query_params.get_all(key) if multi else ([st.query_params[key]] if key in st.query_params else [])
    if raw:
        try:
            cands.append([parse(r) for r in raw] if multi else parse(raw[0]))
        except (KeyError, ValueError, TypeError):
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
        enc = [_enc(v) for v in value]
        same = list(value) == list(default or [])
        if same or not enc:
            if key in qp:
                del qp[key]
        elif qp.get_all(key) != enc:
            qp[key] = enc
        return
    if value is None or value == default:
        if key in qp:
            del qp[key]
    elif qp.get(key) != _enc(value):
        qp[key] = _enc(value)


def forget(*keys: str) -> None:
    """Drop parameters of widgets not shown in this view from the URL."""
    for k in keys:
        if k in st.query_params:
            del st.query_params[k]


def select(label: str, options: Sequence, *, key: str, default=None, format_func: Callable = str, where=None,
           **kw):
    """``st.selectbox`` whose value lives in the URL as ``?key=value``."""
    options = list(options)
    if not options:
        return None
    default = default if default in options else options[0]
    lookup = {_enc(o): o for o in options}
    _seed(key, default, lambda v: v in options, lambda r: lookup[r])
    value = (where or st).selectbox(label, options, key=key, format_func=format_func, **kw)
    _publish(key, value, default)
    return value


def radio(label: str, options: Sequence, *, key: str, default=None, format_func: Callable = str, where=None, **kw):
    """``st.radio`` whose value lives in the URL."""
    options = list(options)
    default = default if default in options else options[0]
    lookup = {_enc(o): o for o in options}
    _seed(key, default, lambda v: v in options, lambda r: lookup[r])
    value = (where or st).radio(label, options, key=key, format_func=format_func, **kw)
    _publish(key, value, default)
    return value


def multiselect(label: str, options: Sequence, *, key: str, default: Sequence = (), format_func: Callable = str,
                where=None, **kw) -> list:
    """``st.multiselect`` whose values live in the URL as repeated ``?key=a&key=b``."""
    options = list(options)
    default = [d for d in default if d in options]
    lookup = {_enc(o): o for o in options}
    _seed(key, list(default), lambda v: isinstance(v, list) and all(x in options for x in v),
          lambda r: lookup[r], multi=True)
    value = (where or st).multiselect(label, options, key=key, format_func=format_func, **kw)
    _publish(key, list(value), list(default))
    return list(value)


def number(label: str, *, key: str, default: float, min_value: float | None = None, max_value: float | None = None,
           step: float | None = None, where=None, integer: bool = False, **kw):
    """``st.number_input`` whose value lives in the URL (clipped to its range)."""
    cast = int if integer else float

    def valid(v):
        if isinstance(v, bool) or not _finite(v):
            return False
        return (min_value is None or v >= min_value) and (max_value is None or v <= max_value)

    _seed(key, cast(default), valid, lambda r: cast(float(r)))
    st.session_state[key] = cast(st.session_state[key])
    args = dict(min_value=None if min_value is None else cast(min_value),
                max_value=None if max_value is None else cast(max_value),
                step=None if step is None else cast(step))
    value = (where or st).number_input(label, key=key, **args, **kw)
    _publish(key, value, cast(default))
    return value


def toggle(label: str, *, key: str, default: bool = False, where=None, **kw) -> bool:
    """``st.toggle`` whose value lives in the URL as ``1`` / ``0``."""
    _seed(key, bool(default), lambda v: isinstance(v, bool), lambda r: {"1": True, "0": False, "true": True,
                                                                       "false": False}[r.lower()])
    value = (where or st).toggle(label, key=key, **kw)
    _publish(key, bool(value), bool(default))
    return bool(value)


def scale_options(lo: float, hi: float, per_decade: int = 4) -> list[float]:
    """Round scale values from ``lo`` to ``hi``: 1, 1.8, 3.2, 5.6 x 10^k (``per_decade`` per decade)."""
    k0 = math.floor(math.log10(lo) * per_decade)
    k1 = math.ceil(math.log10(hi) * per_decade)
    return [float(f"{10 ** (k / per_decade):.2g}") for k in range(k0, k1 + 1)]


def scale(label: str, *, key: str, lo: float, hi: float, default: float, unit: str, where=None, **kw) -> float:
    """A log-scale ``st.select_slider`` over :func:`scale_options`; a URL value snaps to the nearest option."""
    options = scale_options(lo, hi)
    arr = np.log10(np.array(options))

    def nearest(v):
        return options[int(np.argmin(np.abs(arr - math.log10(float(v)))))]

    default = nearest(default)

    def parse(r):
        v = float(r)
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(r)
        return nearest(v)

    if key in st.session_state and st.session_state[key] not in options and _finite(st.session_state[key]) \
            and st.session_state[key] > 0:
        st.session_state[key] = nearest(st.session_state[key])
    _seed(key, default, lambda v: v in options, parse)
    value = (where or st).select_slider(label, options, key=key, format_func=lambda v: fmt(v, unit, 2), **kw)
    _publish(key, value, default)
    return float(value)


def scale_range(label: str, *, key: str, lo: float, hi: float, unit: str, where=None, **kw) -> tuple[float, float]:
    """A log-scale range ``st.select_slider`` (URL: ``?key=lo&key=hi``); the default is the full range."""
    options = scale_options(lo, hi)
    arr = np.log10(np.array(options))
    full = [options[0], options[-1]]

    def nearest(v):
        return options[int(np.argmin(np.abs(arr - math.log10(float(v)))))]

    def valid(v):
        return isinstance(v, (list, tuple)) and len(v) == 2 and all(x in options for x in v) and v[0] <= v[1]

    def parse(r):
        v = float(r)
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(r)
        return nearest(v)

    if isinstance(st.session_state.get(key), tuple):
        st.session_state[key] = list(st.session_state[key])
    _seed(key, full, valid, parse, multi=True)
    st.session_state[key] = tuple(st.session_state[key])
    value = (where or st).select_slider(label, options, key=key, format_func=lambda v: fmt(v, unit, 2), **kw)
    _publish(key, list(value), full)
    return float(value[0]), float(value[1])


def scale_with_number(label: str, *, key: str, lo: float, hi: float, default: float, unit: str, where=None,
                      help: str | None = None) -> float:
    """A log slider and a number input showing one value (URL ``?key=``): either can be used."""
    box = where or st
    c_slider, c_number = box.columns([3, 1])
    value = number(f"{label} ({unit})", key=key, default=default, min_value=lo, max_value=hi, where=c_number,
                   format="%.4g", help=help)
    options = scale_options(lo, hi)
    arr = np.log10(np.array(options))
    slider_key = f"{key}__slider"
    st.session_state[slider_key] = options[int(np.argmin(np.abs(arr - math.log10(float(value)))))]

    def _from_slider():
        st.session_state[key] = float(st.session_state[slider_key])

    c_slider.select_slider(label, options, key=slider_key, format_func=lambda v: fmt(v, unit, 2),
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
    st.error(f"The published corpus is not available: {md(err.message)}", icon="🚫")
    st.info(f"What to do: {md(err.fix)}. Meanwhile you can upload your own runs (CSV or Parquet) on the "
            "Upload page and use every analysis on them.", icon="ℹ️")
    st.page_link(PAGE_FILES["Upload"], label="Go to Upload", icon="📤")


def store(quiet: bool = False) -> Store | None:
    """The corpus store, built on first start (with a progress bar) when missing or out of date.

    Returns None when the store cannot be opened or built, after saying why and what to do (unless
    ``quiet``: the sidebar has said it already).
    """
    return _store((lambda err: None) if quiet else _unavailable)


def _store(report: Callable[[StoreError], None]) -> Store | None:
    path = store_api.locate_store()
    problem: StoreError | None = None
    try:
        return _open(str(path), _signature(path))
    except FileNotFoundError:
        pass
    except StoreError as e:
        problem = e
    if problem is not None and problem.kind not in ("missing", "old_schema"):
        report(problem)
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
                                                             f"check the file and rebuild: {store_api.BUILD_HINT}")
        failures[str(path)] = (time.time(), err)
        bar.empty()
        report(err)
        return None
    bar.empty()
    failures.pop(str(path), None)
    return result


_QUERIES = frozenset({"summary", "sources", "families", "metrics", "default_metric", "runs", "points", "fit_frame",
                      "exclusions", "metric_across_families"})


@st.cache_data(show_spinner=False, max_entries=512)
def _query(path: str, signature: tuple, method: str, args: tuple, kwargs: tuple):
    if method not in _QUERIES:
        raise KeyError(method)
    return getattr(_open(path, signature), method)(*args, **dict(kwargs))


def query(s: Store, method: str, *args, **kwargs):
    """A cached ``Store`` query (keyed on the store file's identity, so a rebuilt store is re-read)."""
    return _query(str(s.path), _signature(s.path), method, args, tuple(sorted(kwargs.items())))


# ----------------------------------------------------------------------------------------------
# Uploaded runs (session only)
# ----------------------------------------------------------------------------------------------
def uploads() -> dict:
    """The session's uploads: {name: {"runs", "points", "report", "filename", "digest"}}."""
    return st.session_state.setdefault(UPLOADS, {})


def add_upload(name: str, upload, filename: str | None, raw: bytes | str) -> None:
    """Keep an :class:`datasets.upload.Upload` for this session (never written to the shared store)."""
    digest = hashlib.sha256(raw if isinstance(raw, bytes) else raw.encode("utf-8")).hexdigest()[:16]
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


def file_columns(raw: bytes, filename: str | None) -> list[str]:
    """The header of an uploaded CSV (delimiter sniffed) or Parquet file, for the column-mapping widgets.

    Only the names are read here; :func:`datasets.upload.read_upload` does the real reading.
    """
    import csv

    if (filename or "").lower().endswith((".parquet", ".pq")) or raw[:4] == b"PAR1":
        import pyarrow.parquet as pq
        try:
            return [str(c) for c in pq.read_schema(io.BytesIO(raw)).names]
        except Exception:  # noqa: BLE001 - a broken file: read_upload reports it properly
            return []
    head = raw[:65536]
    for enc in ("utf-8-sig", "cp1252"):
        try:
            text = head.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        return []
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and lines[0].lower().startswith("sep="):
        lines = lines[1:]
    if not lines:
        return []
    sample = "\n".join(lines[:20])
    try:
        delim = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delim = ","
    return [c.strip() for c in next(csv.reader([lines[0]], delimiter=delim))]


def upload_families() -> list[str]:
    """Families of the session's uploaded runs."""
    runs, _, _ = _upload_tables()
    return sorted(runs["family"].dropna().unique()) if len(runs) else []


def _metric_table(points: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """family_metrics-like rows (metric, split, unit, higher_is_better, n_runs, n_points, n_sizes, has_curves)."""
    if points.empty:
        return pd.DataFrame(columns=["metric", "split", "unit", "higher_is_better", "n_runs", "n_points", "n_sizes",
                                     "has_curves"])
    p = points.merge(runs[["run_id", "params"]], on="run_id", how="left")
    g = p.groupby(["metric", "split", "unit"], dropna=False)
    out = g.agg(higher_is_better=("higher_is_better", "first"), n_runs=("run_id", "nunique"),
                n_points=("value", "size"), n_sizes=("params", "nunique")).reset_index()
    out["has_curves"] = out["n_points"] > out["n_runs"]
    return out.sort_values(["n_runs", "n_points", "metric"], ascending=[False, False, True]).reset_index(drop=True)


class _MetricsShim:
    """Lets :meth:`Store.default_metric`'s rule run on any metric table (an upload's, a subset)."""

    def __init__(self, table: pd.DataFrame):
        self.table = table

    def metrics(self, family):
        return self.table


def default_metric(metrics: pd.DataFrame) -> str | None:
    """The metric to show first among ``metrics`` (the store's rule: validation loss, train loss, most points)."""
    return Store.default_metric(_MetricsShim(metrics), "")


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

    @property
    def label(self) -> str:
        return self.family if self.kind == "corpus" else f"{self.family} (uploaded)"

    def metrics(self) -> pd.DataFrame:
        if self.kind == "corpus":
            return query(self.store, "metrics", self.family)
        runs, points, _ = _upload_tables()
        fam_runs = runs[runs["family"] == self.family]
        return _metric_table(points[points["run_id"].isin(fam_runs["run_id"])], fam_runs)

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
        runs, _, _ = _upload_tables()
        return runs[runs["family"] == self.family].reset_index(drop=True)

    def points(self, metric: str | None = None, final_only: bool = False) -> pd.DataFrame:
        metric = metric or self.metric
        if self.kind == "corpus":
            return query(self.store, "points", family=self.family, metric=metric, final_only=final_only)
        runs, points, _ = _upload_tables()
        fam = runs[runs["family"] == self.family]
        p = points[points["run_id"].isin(fam["run_id"]) & (points["metric"] == metric)]
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
            runs, points, _ = _upload_tables()
            fam = runs[runs["family"] == self.family]
            pts = points[points["run_id"].isin(fam["run_id"])]
            return _upload_frame(self.key, metric, final_only, fam, pts)
        except ValueError as e:
            raise AnalysisError(str(e)) from None

    def cache_key(self, metric: str | None = None, final_only: bool = False) -> str:
        return f"{self.key}|{metric or self.metric}|{int(final_only)}"

    def provenance(self) -> pd.DataFrame:
        """Distinct (paper, repo, licence) of the family's runs."""
        r = self.runs()
        cols = [c for c in ("paper", "repo", "commit", "licence") if c in r]
        return r[cols].drop_duplicates().reset_index(drop=True)

    def describe(self) -> dict:
        """What the report needs to name the data."""
        d = {"kind": "store" if self.kind == "corpus" else "upload", "family": self.family, "metric": self.metric,
             "unit": self.unit()}
        if self.kind == "corpus":
            d["path"] = str(self.store.path)
        return d


def corpus_data(s: Store, family: str, metric: str | None) -> Data:
    """A :class:`Data` handle on a corpus family (outside the sidebar's choice)."""
    return Data("corpus", family, metric, f"corpus|{s.path}|{_signature(s.path)}|{family}",
                str(family).split("/")[0], s)


def family_data(data: Data, family: str, metric: str | None = None) -> Data:
    """A handle on another family of the same kind (corpus or uploads) as ``data``."""
    metric = metric or data.metric
    if data.kind == "corpus":
        return corpus_data(data.store, family, metric)
    _, _, digest = _upload_tables()
    return Data("upload", family, metric, f"upload|{digest}|{family}", "upload", None)


def _default_family(fams: pd.DataFrame) -> str:
    ref = fams[fams["source"] == REFERENCE_SOURCE]
    if len(ref):
        return str(ref.sort_values("n_runs", ascending=False).iloc[0]["family"])
    return str(fams.sort_values(["n_runs", "family"], ascending=[False, True]).iloc[0]["family"])


def reference_family(s: Store) -> str | None:
    """The family the home page fits: the Epoch/Chinchilla points when the store has them."""
    fams = query(s, "families")
    ref = fams[fams["source"] == REFERENCE_SOURCE]
    return None if ref.empty else str(ref.sort_values("n_runs", ascending=False).iloc[0]["family"])


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
            sb.warning("The store holds no families: rebuild it with " + store_api.BUILD_HINT)
            return None
        sources = query(s, "sources")
        titles = dict(zip(sources["source"], sources["title"].fillna("")))
        fallback = _default_family(fams)
        source = select("Source", sorted(fams["source"].unique()), key="source",
                        default=str(fams.loc[fams["family"] == fallback, "source"].iloc[0]), where=sb,
                        format_func=lambda x: f"{x} — {titles.get(x, '')}" if titles.get(x) else x)
        in_source = fams[fams["source"] == source].sort_values("family")
        counts = dict(zip(in_source["family"], in_source["n_runs"]))
        family = select("Family", list(in_source["family"]), key="family",
                        default=fallback if fallback in counts else None, where=sb,
                        format_func=lambda f: f"{f}  ({counts.get(f, 0)} runs)",
                        help="A scaling family: one recipe trained at several sizes.")
        data = corpus_data(s, family, None)
        default_metric_name = query(s, "default_metric", family)
        metric_key = "metric"
    else:
        if not ups:
            sb.info("No uploaded runs in this session yet.")
            sb.page_link(PAGE_FILES["Upload"], label="Upload runs", icon="📤")
            return None
        runs, points, digest = _upload_tables()
        families = sorted(runs["family"].dropna().unique())
        family = select("Uploaded family", families, key="ufamily", where=sb)
        data = Data("upload", family, None, f"upload|{digest}|{family}", "upload", None)
        default_metric_name = default_metric(data.metrics())
        metric_key = "umetric"
    if not with_metric:
        return data
    m = data.metrics()
    if m.empty:
        sb.warning("This family has no measurements.")
        return None
    options = list(dict.fromkeys(m["metric"]))
    metric = select("Metric", options, key=metric_key, default=default_metric_name, where=sb,
                    format_func=_metric_label(m), help="Unit, split and number of runs in brackets. Losses in "
                                                       "bits or perplexity are converted to nats for fitting.")
    data = Data(data.kind, data.family, metric, data.key, data.source, data.store)
    unit = data.unit()
    sb.caption(f"Unit: {md(unit or 'not given')}" + (" (converted to nats)" if unit == "nats" and
                                                      m.loc[m['metric'] == metric, 'unit'].iloc[0] != "nats" else ""))
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
    if spinner:
        with st.spinner(spinner):
            res = _run(fn, data_key, args, params)
    else:
        res = _run(fn, data_key, args, params)
    if isinstance(res, _Failure):
        raise AnalysisError(res.message)
    return res


# ----------------------------------------------------------------------------------------------
# Fit settings shared by Fit and Allocate
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
    for name in ("chinchilla", "power_d", "power_n", "power_c", "power_step"):
        if name in options:
            return name
    return options[0]


def law_label(name: str) -> str:
    if name == "auto":
        return "auto (best held-out error)"
    law = get_law(name)
    return f"{name}: {law.formula}"


def fit_controls(data: Data, frame: pd.DataFrame, *, allocatable_only: bool = False, where=None,
                 key_prefix: str = "") -> FitSettings:
    """Law, objective, early-checkpoint cut, excluded runs and bootstrap count, all in the URL."""
    box = where or st
    laws = applicable_laws(frame)
    if allocatable_only:
        laws = [n for n in laws if get_law(n).allocatable]
    if not laws:
        raise AnalysisError("no law applies to these data: a fit needs a scale axis (N, D, C or step) that takes "
                            "at least 3 positive, different values; choose another family or metric")
    options = laws if allocatable_only else ["auto"] + laws
    c1, c2, c3 = box.columns([2, 1, 1])
    law = select("Law", options, key=f"{key_prefix}law", default=default_law(laws), where=c1,
                 format_func=law_label, help="Laws whose variables these data provide. 'auto' back-tests each "
                                             "one (largest model held out) and keeps the best.")
    objective = select("Objective", list(OBJECTIVES), key=f"{key_prefix}objective", default="huber", where=c2,
                       format_func=lambda o: {"huber": "Huber (delta 1e-3)", "mse": "Squared error",
                                              "lower": "Lower envelope"}[o],
                       help="Loss on log residuals: " + "; ".join(f"{k}: {v}" for k, v in OBJECTIVES.items()))
    boot = number("Bootstrap resamples", key=f"{key_prefix}boot", default=BOOTSTRAP, min_value=0, max_value=5000,
                  step=100, integer=True, where=c3,
                  help=f"Run-level resamples for the 95% intervals; stops early after {TIME_BUDGET:g} s and says so.")
    kind, value, why = default_cut(frame)
    c4, c5 = box.columns([2, 1])
    cut = select("Early-checkpoint cut", list(CUTS), key=f"{key_prefix}cut", default="auto", where=c4,
                 format_func=lambda k: CUTS[k], help="Early checkpoints sit off the law (Hitchhiker's guide). "
                                                     f"Default here: {why}.")
    min_tokens = min_fraction = None
    if cut == "auto":
        if kind == "tokens":
            min_tokens = value
        elif kind == "fraction":
            min_fraction = value
        c5.caption(f"Default: {why}.")
        forget(f"{key_prefix}cut_fraction", f"{key_prefix}cut_tokens")
    elif cut == "fraction":
        min_fraction = number("Fraction dropped", key=f"{key_prefix}cut_fraction", default=0.1, min_value=0.0,
                              max_value=0.9, step=0.05, where=c5, help="Share of each run's final tokens (or steps).")
        forget(f"{key_prefix}cut_tokens")
    elif cut == "tokens":
        min_tokens = number("Minimum tokens", key=f"{key_prefix}cut_tokens", default=HITCHHIKER_TOKENS,
                            min_value=0.0, step=1e9, where=c5, format="%.3e",
                            help="Checkpoints with fewer training tokens D are dropped.")
        forget(f"{key_prefix}cut_fraction")
    else:
        forget(f"{key_prefix}cut_fraction", f"{key_prefix}cut_tokens")
    run_ids = sorted(frame["run"].astype(str).unique())
    exclude = multiselect("Exclude runs", run_ids, key=f"{key_prefix}exclude", where=box,
                          help="Runs left out of the fit (drawn as grey crosses).")
    hib = bool(frame.attrs.get("higher_is_better")) if frame.attrs.get("higher_is_better") is not None else False
    y_transform = "none"
    if hib and frame["y"].between(0, 1).all():
        y_transform = "one_minus"
        box.info("This metric is higher-is-better (in [0, 1]): the law is fitted to 1 - value, an error that falls "
                 "with scale; predictions are converted back.", icon="ℹ️")
    return FitSettings(law, objective, min_tokens, min_fraction, tuple(exclude), int(boot), y_transform,
                       auto=law == "auto")


def run_fit(data: Data, frame: pd.DataFrame, settings: FitSettings, *, law: str | None = None,
            objective: str | None = None, bootstrap: int | None = None):
    """The cached fit of ``settings`` (optionally another law / objective / bootstrap count) on ``frame``."""
    kw = settings.kwargs()
    if objective is not None:
        kw["objective"] = objective
    name = law or settings.law
    return compute("fit", data.cache_key(), frame, spinner=f"Fitting {name} ...", law=name,
                   bootstrap=settings.bootstrap if bootstrap is None else bootstrap, time_budget=TIME_BUDGET, **kw)


def choose(data: Data, frame: pd.DataFrame, settings: FitSettings):
    """The law ``auto`` picks (held-out error with the largest model left out)."""
    return compute("choose_law", data.cache_key(), frame, spinner="Back-testing every applicable law ...",
                   bootstrap=0, **settings.kwargs())


def resolve_law(data: Data, frame: pd.DataFrame, settings: FitSettings):
    """(settings with a concrete law, LawChoice or None)."""
    if not settings.auto:
        return settings, None
    choice = choose(data, frame, settings)
    return FitSettings(choice.law, settings.objective, settings.min_tokens, settings.min_fraction,
                       settings.exclude_runs, settings.bootstrap, settings.y_transform, auto=True), choice


def param_table(fit, unit: str | None) -> pd.DataFrame:
    """Parameters with their 95% CIs, units and meanings (for st.dataframe)."""
    law = fit.law_obj
    rows = []
    for p in law.params:
        lo, hi = fit.ci.get(p.name, (np.nan, np.nan))
        rows.append({"parameter": p.name, "value": fit.params[p.name], "95% CI low": lo, "95% CI high": hi,
                     "unit": param_unit(fit.law, p.name, unit), "meaning": p.meaning})
    return pd.DataFrame(rows)


def page_links() -> None:
    """Links to every page (home page)."""
    cols = st.columns(4)
    items = [("Browse", "🔎", "curves and provenance"), ("Fit", "📈", "laws with bootstrap CIs"),
             ("Allocate", "🧮", "N*, D* for a budget"), ("Upload", "📤", "your own runs"),
             ("Crossover", "✖️", "where curves cross"), ("Trends", "〽️", "inverse and U shapes"),
             ("Downstream", "🎯", "loss to task metrics")]
    for i, (name, icon, what) in enumerate(items):
        if os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), PAGE_FILES[name])):
            cols[i % 4].page_link(PAGE_FILES[name], label=f"{name}: {what}", icon=icon)
