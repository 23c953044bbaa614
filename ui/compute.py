"""One cached, typed call per analysis: ``fit(frame, settings) -> FitResult``, ``backtest``, ``crossover`` ...

Each function here runs one function of :mod:`analysis` through ``st.cache_data``. The cache key is
the *content* of the inputs (:func:`digest`: a frame's hashed rows and columns, arrays' bytes, a fit's
parameters and resamples) plus the settings as plain values, never an object's address, so an
unchanged rerun is a hit and different data are never mixed up. A failure the analysis explains
(bad data, too few runs ...) is cached too and raised as :class:`AnalysisError` with its message.
"""
from __future__ import annotations

import dataclasses
import hashlib
import weakref
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import pandas as pd
import streamlit as st

from analysis import allocate as allocate_api
from analysis import approach2 as approach2_api
from analysis import backtest as backtest_api
from analysis import crossover as crossover_api
from analysis import downstream as downstream_api
from analysis import fit as fit_api
from analysis import hparams as hparams_api
from analysis import settings as settings_api
from analysis import trend as trend_api
from analysis.figures import vega
from analysis.laws import Law
from analysis.settings import FitSettings
from datasets.errors import WorkbenchError

EXPLAINED = (WorkbenchError, ValueError, KeyError, ZeroDivisionError, np.linalg.LinAlgError)


class AnalysisError(WorkbenchError):
    """An analysis could not run on the chosen data; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------- keys
def _update(h, obj) -> None:
    if obj is None or isinstance(obj, (str, bool, int, float, np.generic)):
        h.update(f"{type(obj).__name__}:{obj!r};".encode("utf-8"))
    elif isinstance(obj, bytes):
        h.update(obj)
    elif isinstance(obj, (tuple, list)):
        h.update(f"[{len(obj)}".encode())
        for o in obj:
            _update(h, o)
    elif isinstance(obj, dict):
        _update(h, sorted((str(k), v) for k, v in obj.items()))
    elif isinstance(obj, pd.DataFrame):
        _update(h, [list(map(str, obj.columns)), [str(t) for t in obj.dtypes], repr(sorted(obj.attrs.items()))])
        h.update(pd.util.hash_pandas_object(obj, index=True).to_numpy().tobytes())
    elif isinstance(obj, pd.Series):
        _update(h, [str(obj.name), str(obj.dtype)])
        h.update(pd.util.hash_pandas_object(obj, index=True).to_numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        _update(h, [str(obj.dtype), obj.shape])
        h.update("\0".join(map(str, obj.ravel())).encode("utf-8") if obj.dtype == object
                 else np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, fit_api.FitResult):
        _update(h, [str(obj.law), obj.params, obj.y_transform, obj.boot, obj.settings])
    elif isinstance(obj, Law):
        _update(h, f"law:{obj.name}")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):     # a result: every field, by content
        h.update(_result_key(obj))
    else:
        raise TypeError(f"no content key for {type(obj).__name__}")


_RESULT_KEYS: dict[int, tuple[weakref.ref, bytes]] = {}


def _result_key(obj) -> bytes:
    """The content hash of a frozen dataclass result, computed once per object (results are immutable)."""
    hit = _RESULT_KEYS.get(id(obj))
    if hit is not None and hit[0]() is obj:
        return hit[1]
    h = hashlib.sha256()
    _update(h, [type(obj).__qualname__] + [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)])
    key = h.digest()
    try:
        ident = id(obj)
        _RESULT_KEYS[ident] = (weakref.ref(obj, lambda _: _RESULT_KEYS.pop(ident, None)), key)
    except TypeError:                       # no weak references (slots): not remembered
        pass
    return key


def digest(*objs) -> str:
    """A content key of ``objs`` (frames, series, arrays, fits, and plain values nested in lists/dicts)."""
    h = hashlib.sha256()
    for o in objs:
        _update(h, o)
    return h.hexdigest()


@dataclass(frozen=True)
class _Failure:
    message: str


def _guarded(fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``, or a :class:`_Failure` (cached like a result) with the explanation."""
    try:
        return fn(*args, **kwargs)
    except EXPLAINED as e:
        return _Failure(str(e) or type(e).__name__)


def _run(cached: Callable, key: str, spinner: str | None, *args) -> Any:
    """``cached(key, *args)`` under a spinner; a cached failure is raised as :class:`AnalysisError`."""
    with st.spinner(spinner) if spinner else nullcontext():
        value = cached(key, *args)
    if isinstance(value, _Failure):
        raise AnalysisError(value.message)
    return value


# ---------------------------------------------------------------------------------------------- fits
@st.cache_data(show_spinner=False, max_entries=256)
def _fit(key: str, law: str, bootstrap: int, time_budget: float, kwargs: tuple, _frame):
    return _guarded(fit_api.fit_law, _frame, law, bootstrap=bootstrap, time_budget=time_budget, **dict(kwargs))


def fit(frame: pd.DataFrame, settings: FitSettings, *, law: str | None = None, objective: str | None = None,
        bootstrap: int | None = None) -> fit_api.FitResult:
    """:func:`analysis.fit.fit_law` of ``settings`` (or another ``law`` / ``objective`` / ``bootstrap``
    count) on ``frame``; the bootstrap stops after :data:`analysis.settings.TIME_BUDGET` seconds."""
    name = str(law or settings.law)
    kwargs = settings.kwargs() | ({"objective": objective} if objective else {})
    boot = settings.bootstrap if bootstrap is None else bootstrap
    return _run(_fit, digest(frame), f"Fitting {name} ...", name, int(boot), float(settings_api.TIME_BUDGET),
                tuple(sorted(kwargs.items())), frame)


@st.cache_data(show_spinner=False, max_entries=64)
def _choose_law(key: str, kwargs: tuple, _frame):
    return _guarded(backtest_api.choose_law, _frame, bootstrap=0, **dict(kwargs))


def resolve_law(frame: pd.DataFrame, settings: FitSettings) -> tuple[FitSettings, backtest_api.LawChoice | None]:
    """(settings with a concrete law, the :class:`~analysis.backtest.LawChoice` or None): ``auto``
    picks the law with the best held-out error (largest model left out)."""
    if not settings.auto:
        return settings, None
    choice = _run(_choose_law, digest(frame), "Back-testing the candidate laws ...",
                  tuple(sorted(settings.kwargs().items())), frame)
    return replace(settings, law=str(choice.law)), choice


@st.cache_data(show_spinner=False, max_entries=64)
def _backtest(key: str, law: str, kwargs: tuple, _frame):
    return _guarded(backtest_api.backtest, _frame, law, bootstrap=0, **dict(kwargs))


def backtest(frame: pd.DataFrame, settings: FitSettings) -> backtest_api.BacktestResult:
    """:func:`analysis.backtest.backtest` of the settings' law (largest model held out, no bootstrap)."""
    return _run(_backtest, digest(frame), "Back-testing ...", str(settings.law),
                tuple(sorted(settings.kwargs().items())), frame)


@st.cache_data(show_spinner=False, max_entries=64)
def _frontier(key: str, computes: tuple, unique_tokens: float | None, _fit):
    return _guarded(allocate_api.frontier, _fit, computes, unique_tokens=unique_tokens)


def frontier(fit_result: fit_api.FitResult, computes, *, unique_tokens: float | None = None) -> pd.DataFrame:
    """:func:`analysis.allocate.frontier`: the compute-optimal N*, D* and loss at each budget of ``computes``."""
    computes = tuple(float(c) for c in computes)
    return _run(_frontier, digest(fit_result), "Tracing the frontier ...", computes, unique_tokens, fit_result)


@st.cache_data(show_spinner=False, max_entries=64)
def _isoflops(key: str, budgets: tuple, unique_tokens: float | None, _fit):
    def one(budget: float):
        a = allocate_api.allocate(_fit, budget, unique_tokens=unique_tokens)
        Ns = np.logspace(np.log10(a.N_opt / 30), np.log10(a.N_opt * 30), 80)
        return (budget, allocate_api.isoflop(_fit, budget, Ns, unique_tokens=unique_tokens)), a

    return _guarded(lambda: [one(b) for b in budgets])


def isoflops(fit_result: fit_api.FitResult, budgets, *, unique_tokens: float | None = None):
    """([(budget, :func:`analysis.allocate.isoflop` curve over N*/30 .. 30 N*)], [the Allocation at each
    budget]): the Allocate page's iso-FLOP curves with their bootstrap bands."""
    budgets = tuple(float(b) for b in budgets)
    pairs = _run(_isoflops, digest(fit_result), None, budgets, unique_tokens, fit_result)
    return [c for c, _ in pairs], [a for _, a in pairs]


@st.cache_data(show_spinner=False, max_entries=64)
def _approach2(key: str, exclude_runs: tuple, bootstrap: int, _frame):
    return _guarded(approach2_api.approach2, _frame, bootstrap=bootstrap, exclude_runs=exclude_runs)


def approach2(frame: pd.DataFrame, *, exclude_runs=(), bootstrap: int = 0) -> approach2_api.Approach2Result:
    """:func:`analysis.approach2.approach2`: each IsoFLOP budget's minimum and the power laws N* ~ C^a,
    D* ~ C^b through them, with ``bootstrap`` resamples of runs within budgets for the intervals."""
    return _run(_approach2, digest(frame), "Approach 2 ...", tuple(exclude_runs), int(bootstrap), frame)


# ---------------------------------------------------------------------------------------------- other analyses
@st.cache_data(show_spinner=False, max_entries=128)
def _crossover_fit(key: str, index: int, name: str, kwargs: tuple, _frame):
    return _guarded(crossover_api.fit_group, _frame, index, name, **dict(kwargs))


@st.cache_data(show_spinner=False, max_entries=64)
def _crossover(key: str, kwargs: tuple, _frames, _fits):
    return _guarded(crossover_api.crossover, _frames, fits=_fits, **dict(kwargs))


def crossover(frames: dict[str, pd.DataFrame], *, axis: str, target: float, bootstrap: int,
              higher_is_better: bool) -> crossover_api.CrossoverResult:
    """:func:`analysis.crossover.crossover` of the groups ``frames`` (name -> fit frame) along ``axis``.

    Each group's fit (:func:`analysis.crossover.fit_group`, with its bootstrap) is cached on its own
    frame, position and settings, apart from the comparison: moving the target or adding a group
    refits nothing that was fitted before."""
    fit_kwargs = dict(axis=axis, bootstrap=int(bootstrap), higher_is_better=bool(higher_is_better))
    fits = {g: _run(_crossover_fit, digest(f), f"Fitting {g} and its bootstrap ...", i, g,
                    tuple(sorted(fit_kwargs.items())), f) for i, (g, f) in enumerate(frames.items())}
    kwargs = fit_kwargs | {"target": float(target)}
    return _run(_crossover, digest(frames, fits), None, tuple(sorted(kwargs.items())), frames, fits)


@st.cache_data(show_spinner=False, max_entries=64)
def _trend(key: str, kwargs: tuple, _x, _y, _runs):
    return _guarded(trend_api.trend_shape, _x, _y, runs=_runs, **dict(kwargs))


def trend(x: np.ndarray, y: np.ndarray, runs: np.ndarray, *, higher_is_better: bool, alpha: float,
          n_boot: int) -> trend_api.TrendResult:
    """:func:`analysis.trend.trend_shape` of metric ``y`` against sizes ``x`` (bootstrap by ``runs``)."""
    kwargs = dict(higher_is_better=bool(higher_is_better), alpha=float(alpha), n_boot=int(n_boot))
    return _run(_trend, digest(x, y, runs), None, tuple(sorted(kwargs.items())), x, y, runs)


@st.cache_data(show_spinner=False, max_entries=16)
def _scan(key: str, alpha: float, n_boot: int, _points):
    return _guarded(trend_api.scan_trends, _points, alpha=alpha, n_boot=n_boot)


def scan_trends(points: pd.DataFrame, *, alpha: float, n_boot: int) -> pd.DataFrame:
    """:func:`analysis.trend.scan_trends`: the non-monotone (family, metric) findings of ``points``."""
    return _run(_scan, digest(points), "Scanning ...", float(alpha), int(n_boot), points)


@st.cache_data(show_spinner=False, max_entries=64)
def _downstream(key: str, kwargs: tuple, _loss, _metric, _runs, _scale):
    return _guarded(downstream_api.map_downstream, _loss, _metric, runs=_runs, scale=_scale, **dict(kwargs))


def map_downstream(loss: np.ndarray, metric: np.ndarray, runs: np.ndarray, *, chance: float | None,
                   higher_is_better: bool, heldout: str, scale: np.ndarray | None,
                   bootstrap: int) -> downstream_api.DownstreamResult:
    """:func:`analysis.downstream.map_downstream`: the map from ``loss`` (nats) to a task ``metric``."""
    kwargs = dict(chance=chance, higher_is_better=bool(higher_is_better), heldout=heldout, bootstrap=int(bootstrap))
    return _run(_downstream, digest(loss, metric, runs, scale), "Fitting the maps ...",
                tuple(sorted(kwargs.items())), loss, metric, runs, scale)


@st.cache_data(show_spinner=False, max_entries=32)
def _sweep_frame(key: str, _parts: tuple):
    def build():
        frames = [hparams_api.from_runs(runs, points) for runs, points in _parts]
        return frames[0] if len(frames) == 1 else hparams_api.sweep_frame(pd.concat(frames, ignore_index=True))

    return _guarded(build)


def sweep_frame(parts) -> pd.DataFrame:
    """:func:`analysis.hparams.from_runs` of each (runs, final points) pair, pooled
    (:func:`analysis.hparams.sweep_frame`) when there are several: the Hyperparameters page's sweep."""
    parts = tuple((r, p) for r, p in parts)
    return _run(_sweep_frame, digest(list(parts)), None, parts)


@st.cache_data(show_spinner=False, max_entries=32)
def _hparams(key: str, kwargs: tuple, _frame):
    return _guarded(hparams_api.analyse_sweep, _frame, **dict(kwargs))


def hparams(frame: pd.DataFrame, *, method: str, bootstrap: int, seed: int, n_basis: str) -> hparams_api.HparamsResult:
    """:func:`analysis.hparams.analyse_sweep` of a sweep frame: cell optima, laws, rules, sensitivity."""
    kwargs = dict(method=method, bootstrap=int(bootstrap), seed=int(seed), n_basis=n_basis)
    return _run(_hparams, digest(frame), "Analysing the sweep ...", tuple(sorted(kwargs.items())), frame)


# ---------------------------------------------------------------------------------------------- figures
@st.cache_resource(show_spinner=False, max_entries=256)
def _figure(key: str, builder: str, _build: Callable, _args: tuple, _kwargs: dict):
    return _build(*_args, **_kwargs)


def figure(build: Callable, *args, **kwargs):
    """``build(*args, **kwargs)`` (a figure builder of :mod:`analysis.figures`), made once per content of
    its arguments and shared by every session: building a figure costs far more than drawing it (plotly
    validates every property), and a rerun that changes nothing, or a widget moved back to an earlier
    value, gets the figure from here. Treat it as read-only. Arguments without a content key (an
    object :func:`digest` does not know) build the figure anew."""
    name = f"{build.__module__}.{build.__qualname__}"
    try:
        key = digest(name, args, kwargs)
    except TypeError:
        return build(*args, **kwargs)
    return _figure(key, name, build, args, kwargs)


_UNSET = object()


def chart_spec(fig) -> dict | None:
    """:func:`analysis.figures.vega.to_vega_lite` of ``fig`` (``None``: draw it with plotly), made once per
    figure and kept on it: a figure of :func:`figure` is cached and shared read-only, so its translation is
    shared with it and leaves the cache with it (Streamlit copies a spec before changing it)."""
    spec = getattr(fig, "_vega_lite", _UNSET)
    if spec is _UNSET:
        spec = fig._vega_lite = vega.to_vega_lite(fig)
    return spec
