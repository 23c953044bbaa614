"""The fit settings shared by the Fit, Allocate, Trends and Downstream pages, all in the URL.

The defaults are the rules of :mod:`analysis.settings` (the CLI uses the same ones): the default law
for the data, Huber loss, the early-checkpoint cut, the source's flagged runs left out, ``1 - value``
for a bounded higher-is-better metric. This module only draws them as widgets.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import settings as settings_api
from analysis.backtest import applicable_laws
from analysis.fit import OBJECTIVES, complete_axes
from analysis.laws import get_law
from analysis.settings import CUTS, HITCHHIKER_TOKENS, FitSettings
from ui.compute import AnalysisError, digest
from ui.data import Data
from ui.format import escape
from ui.widgets import HIDDEN, forget, multiselect, number, scale, select, toggle

OBJECTIVE_LABELS = {"huber": "Huber (delta 1e-3)", "mse": "Squared error", "lower": "Lower envelope"}


class NoLaw(AnalysisError):
    """No law (or, with ``allocatable_only``, no law in N and D) applies to the rows to fit."""


def defaults(data: Data, frame: pd.DataFrame, bootstrap: int | None = None) -> FitSettings:
    """The default fit of ``frame`` (:func:`analysis.settings.default_settings`, the family's flagged
    runs left out). Raises :class:`AnalysisError` when no law applies."""
    try:
        return settings_api.default_settings(frame, data.flagged_runs(), bootstrap)
    except settings_api.SettingsError as e:
        raise AnalysisError(str(e)) from None


# the option label per method of analysis.settings.ENVELOPE_METHODS (the one list; a test checks the keys)
ENVELOPE_LABELS = {"best": "best run per cell", "bowl": "bowl vertex per cell"}


@st.cache_data(show_spinner=False, max_entries=64)
def _sweep(key: str, family: str | None, enabled: bool, _frame: pd.DataFrame, _runs: pd.DataFrame,
           method: str = settings_api.ENVELOPE_METHOD):
    return settings_api.sweep_envelope(_frame, _runs, enabled, family=family, method=method)


def envelope(data: Data, frame: pd.DataFrame, *, where=None) -> pd.DataFrame:
    """The rows to fit: a hyperparameter sweep family (several runs per (N, D) cell at different learning rates
    or batches) reduced to its envelope, the best run per cell (:func:`analysis.settings.sweep_envelope`, the
    CLI's rule; ``--no-envelope`` there). A toggle (URL key ``envelope``) is drawn only for a sweep; the page
    says what was done, and warns, naming the sweep, when the user turns it off. Other data pass unchanged."""
    box = where or st
    runs = data.runs()
    key = digest(frame, runs)
    choice = _sweep(key, data.family, True, frame, runs)
    if not choice.is_sweep:
        forget("envelope")
        forget("envelope_method")
        return frame
    on = toggle("Fit the envelope of the sweep (best run per (N, D) cell)", key="envelope",
                default=settings_api.ENVELOPE, where=box,
                help="A loss law describes the best loss reachable at each size and budget. Off: every run of the "
                     "sweep is fitted, mistuned and diverged ones included.")
    if not on:
        choice = _sweep(key, data.family, False, frame, runs)
        for w in choice.warnings:
            box.warning(w, icon=":material/warning:")
        return choice.frame
    method = select("Envelope", list(settings_api.ENVELOPE_METHODS), key="envelope_method",
                    default=settings_api.ENVELOPE_METHOD, where=box, format_func=ENVELOPE_LABELS.get,
                    help="best: every checkpoint of the run with the lowest final loss in each (N, D) cell. bowl: "
                         "one point per cell, the vertex of a quadratic in (log lr, log batch) over the runs within "
                         "2% of the cell's minimum (a cell without a convex bowl keeps its best run).")
    if method != settings_api.ENVELOPE_METHOD:
        choice = _sweep(key, data.family, True, frame, runs, method)
    box.info(f"Sweep envelope: {choice.note}.", icon=":material/filter_alt:")
    for w in choice.warnings:
        box.warning(f"Envelope: {w}.", icon=":material/warning:")
    return choice.frame


N_LABELS = {"total": "total", "non_embedding": "non-embedding", "active": "active (MoE)",
            "average": "average over training (sparse/pruned)"}


@st.cache_data(show_spinner=False, max_entries=8)
def _families_with(key: str, _store) -> dict:
    from analysis.effective_params import families_with
    return families_with(_store.runs())


def which_n(data: Data, frame: pd.DataFrame, *, where=None) -> pd.DataFrame:
    """The parameter count N is fitted in (URL key ``which_n``; :func:`analysis.settings.with_which_n`):
    total, non-embedding, active (MoE) or average over training -- only the counts this family records for
    every run are offered; the help names the families that record the others."""
    from analysis.effective_params import CHOICES, attach_counts
    box = where or st
    probe = attach_counts(frame, data.runs())
    options = settings_api.n_choices(probe)
    try:
        having = _families_with(str(getattr(data.store, "key", id(data.store))), data.store)
    except Exception:  # noqa: BLE001 - the list is a hint; an upload store may not answer it
        having = {}
    missing = [f"{N_LABELS[c]}: {', '.join(having.get(c) or []) or 'no family'}" for c in CHOICES
               if c not in options and c != "total"]
    choice = select("Parameter count N", options, key="which_n", default=settings_api.WHICH_N, where=box,
                    format_func=N_LABELS.get, disabled=len(options) == 1,
                    help="Which N the law is fitted in (the report records it). " +
                         "; ".join(f"{N_LABELS[c]}: {CHOICES[c]}" for c in CHOICES) +
                         (". Not recorded for this family; recorded for -- " + "; ".join(missing) if missing else ""))
    if choice == "total":
        return frame
    try:
        return settings_api.with_which_n(probe, choice)
    except settings_api.SettingsError as e:
        raise AnalysisError(str(e)) from None


def data_settings() -> dict:
    """The data choices of :func:`which_n` and :func:`envelope` for a report's settings (and its command),
    recorded as the CLI records them (:func:`analysis.settings.data_choices`)."""
    return settings_api.data_choices(st.session_state.get("which_n"), st.session_state.get("envelope") is not False,
                                     st.session_state.get("envelope_method"))


def law_label(name: str) -> str:
    """``name: formula`` for a law menu (``auto`` explained)."""
    return "auto (best held-out error)" if name == "auto" else f"{name}: {get_law(name).formula}"


def fit_controls(data: Data, frame: pd.DataFrame, *, allocatable_only: bool = False, where=None) -> FitSettings:
    """Law, objective, early-checkpoint cut, excluded runs, bootstrap count and data filters (URL keys ``law``,
    ``objective``, ``boot``, ``cut``, ``cut_fraction``, ``cut_tokens``, ``exclude``, ``tpp_lo``, ``tpp_hi``, ``ymax``).

    ``allocatable_only`` offers only laws in N and D (a compute budget can be split), without ``auto``.
    Raises :class:`NoLaw` when no law applies to ``frame``.
    """
    box = where or st
    laws = applicable_laws(frame, allocatable_only=allocatable_only)
    if not laws:
        raise NoLaw("no law applies to these data: a fit needs a scale axis (N, D, C or step) that takes "
                    "at least 3 positive, different values; choose another family or metric")
    c1, c2, c3 = box.columns([2, 1, 1])
    law = select("Law", laws if allocatable_only else ["auto"] + laws, key="law", where=c1,
                 default=settings_api.default_law(laws), format_func=law_label,
                 help="Laws whose variables these data provide. 'auto' back-tests each one on folds holding out "
                      "the largest scales and keeps the simplest law within one standard error of the best; pure "
                      "power laws (no irreducible term) take part only when no law with one applies.")
    objective = select("Objective", list(OBJECTIVES), key="objective", default=settings_api.OBJECTIVE, where=c2,
                       format_func=OBJECTIVE_LABELS.get,
                       help="Loss on log residuals: " + "; ".join(f"{k}: {v}" for k, v in OBJECTIVES.items()))
    boot = number("Bootstrap resamples", key="boot", default=settings_api.BOOTSTRAP, min_value=0, max_value=5000,
                  step=100, integer=True, where=c3,
                  help=f"Run-level resamples for the 95% intervals; stops early after "
                       f"{settings_api.TIME_BUDGET:g} s and says so.")
    min_tokens, min_fraction = _cut(frame, *box.columns([2, 1]))
    flagged = list(settings_api.flagged_exclusions(frame, data.flagged_runs()))
    exclude = multiselect("Exclude runs", sorted(frame["run"].astype(str).unique()), key="exclude", default=flagged,
                          where=box, help="Runs left out of the fit (drawn as grey crosses)." +
                          (f" Default: the {len(flagged)} runs the source flags as outliers (as in its published "
                           "fit); clear the box to keep them." if flagged else ""))
    if flagged and exclude == flagged:
        box.caption(f"Left out by default: the {len(flagged)} runs the source flags as outliers, as its published "
                    "fit does. Clear the box to keep them.")
    y_transform = settings_api.default_y_transform(frame)
    if y_transform == "one_minus":
        box.info("This metric is higher-is-better (in [0, 1]): the law is fitted to 1 - value, an error that falls "
                 "with scale; predictions are converted back.", icon=":material/info:")
    min_tpp, max_tpp, max_loss = _filters(box)
    return FitSettings(law, objective, min_tokens, min_fraction, tuple(exclude), int(boot), y_transform,
                       auto=law == "auto", min_tpp=min_tpp, max_tpp=max_tpp, max_loss=max_loss)


SETTINGS_KEY = "settings"       # URL key (and session key) of the open settings box
SETTINGS_LABEL = ("Fit settings: law, objective, bootstrap, parameter count N, a sweep's envelope, early-checkpoint "
                  "cut, excluded runs, data filters")


def settings_box(data: Data, frame: pd.DataFrame, *, allocatable_only: bool = False,
                 label: str = SETTINGS_LABEL) -> tuple[pd.DataFrame, FitSettings]:
    """The rows to fit and the fit settings: :func:`which_n`, :func:`envelope` and :func:`fit_controls` in an
    expander whose widgets are drawn only while it is open (URL ``?settings=true``). Closed, the same
    functions resolve the same values without drawing (:data:`ui.widgets.HIDDEN`: from the session, the
    URL or the defaults), their messages about the data still show, and a caption says what is in use.
    Raises :class:`AnalysisError` as they do (:class:`NoLaw` when no law applies)."""
    box = st.expander(label, key=SETTINGS_KEY, on_change="rerun", bind="query-params")
    where = box if box.open else HIDDEN
    with where:
        frame = which_n(data, frame, where=where)
        frame = envelope(data, frame, where=where)
        settings = fit_controls(data, frame, allocatable_only=allocatable_only, where=where)
    if not box.open:
        st.caption(summary(settings))
    return frame, settings


def summary(s: FitSettings) -> str:
    """One line naming the fit settings ``s`` in use (for a closed settings box): law, objective, resamples,
    the early-checkpoint cut, the parameter count N, the runs left out and any data filter."""
    cut = st.session_state.get("cut", "auto")
    amount = {"fraction": f" ({s.min_fraction:g})" if s.min_fraction else "",
              "tokens": f" ({s.min_tokens:.3g} tokens)" if s.min_tokens else ""}.get(cut, "")
    parts = [f"Law **{escape(s.law)}**", OBJECTIVE_LABELS.get(s.objective, s.objective),
             f"{s.bootstrap:,} bootstrap resamples", f"early checkpoints: {CUTS.get(cut, cut).lower()}{amount}"]
    if st.session_state.get("which_n", settings_api.WHICH_N) != "total":
        parts.append(f"N: {N_LABELS.get(st.session_state['which_n'], st.session_state['which_n'])}")
    parts.append(f"{len(s.exclude_runs):,} run{'s' * (len(s.exclude_runs) != 1)} left out")
    filters = [f"{label} {v:g}" for label, v in (("D/N >=", s.min_tpp), ("D/N <=", s.max_tpp),
                                                 ("metric <=", s.max_loss)) if v]
    if filters:
        parts.append("filters: " + ", ".join(filters))
    return " · ".join(parts) + ". Open the settings above to change them."


def _filters(box) -> tuple[float | None, float | None, float | None]:
    """Data filters (URL keys ``tpp_lo``, ``tpp_hi``, ``ymax``; 0 = off): tokens-per-parameter range and a
    ceiling on the metric (:func:`analysis.prepare.select_rows`)."""
    with box.expander("Data filters: tokens per parameter, loss ceiling") as filters:
        c = filters.columns(3)
        lo = number("Min tokens per parameter (0 = none)", key="tpp_lo", default=0.0, min_value=0.0, where=c[0],
                    help="Keep points with D/N at least this (published analyses keep e.g. 2 <= D/N <= 2000).")
        hi = number("Max tokens per parameter (0 = none)", key="tpp_hi", default=0.0, min_value=0.0, where=c[1],
                    help="Keep points with D/N at most this.")
        ceiling = number("Loss ceiling (0 = none)", key="ymax", default=0.0, min_value=0.0, where=c[2],
                         help="Drop points whose metric is above this (its units; nats for a loss): diverged or "
                              "far-off runs.")
    return (lo or None), (hi or None), (ceiling or None)


def _cut(frame: pd.DataFrame, left, right) -> tuple[float | None, float | None]:
    """The early-checkpoint cut: ``(min_tokens, min_fraction)``."""
    kind, value, why = settings_api.default_cut(frame)
    cut = select("Early-checkpoint cut", list(CUTS), key="cut", default="auto", where=left, format_func=CUTS.get,
                 help=f"Early checkpoints sit off the law (Hitchhiker's guide). Default here: {why}.")
    forget(*[f"cut_{k}" for k in ("fraction", "tokens") if k != cut])
    if cut == "auto":
        right.caption(f"Default: {why}.")
        return settings_api.cut_bounds(kind, value)
    if cut == "fraction":
        return None, number("Fraction dropped", key="cut_fraction", default=settings_api.EARLY_FRACTION,
                            min_value=0.0, max_value=0.9, step=0.05, where=right,
                            help="Share of each run's final tokens (or steps).")
    if cut == "tokens":
        return number("Minimum tokens", key="cut_tokens", default=HITCHHIKER_TOKENS, min_value=0.0, step=1e9,
                      where=right, format="%.3e", help="Checkpoints with fewer training tokens D are dropped."), None
    return None, None


def target(fit, frame: pd.DataFrame, *, key: str = "target", label: str | None = None,
           upload: bool = False) -> float | None:
    """The scale the fit is extended to, on the law's x axis (URL ``key``; the slider reads ``label
    (unit)``, default ``Target compute`` / ``Target <unit>``); None for a law drawn run by run (no single
    scale to extend to). Compute: up to 1e27 FLOPs; other axes: up to 10^4 x the data. Default:
    :func:`analysis.settings.default_target` (``upload``: 10x the data's largest scale)."""
    law = fit.law
    if law.per_run:
        forget(key)
        return None
    x, unit = law.x_axis, law.variable_unit(law.x_axis)
    have = pd.to_numeric(complete_axes(frame)[x], errors="coerce")
    have = have[have > 0]
    lo, top = float(have.min()), float(have.max())
    default = settings_api.default_target(have, x, upload=upload)     # uploads: 10x their largest scale
    if x == "C":
        return scale(f"{label} ({unit})" if label else "Target compute", key=key, lo=lo, hi=max(1e27, top), unit=unit,
                     default=min(default, 1e27),
                     help="The fit (for N-D laws: its compute-optimal frontier) is extended to this scale.")
    return scale(f"{label} ({unit})" if label else f"Target {unit}", key=key, lo=lo, hi=top * 1e4, default=default, unit=unit,
                 help="The fitted curve and its band are extended to here.")
