"""The rules that decide what is fitted, shared by the app and the CLI so the two cannot disagree.

Everything here takes plain data (a fit frame, a list of run ids, a unit string) and returns plain
values; nothing reads the store or imports streamlit.

* **Law**: :func:`default_law` -- Chinchilla's ``L = E + A/N^alpha + B/D^beta`` when N and D both vary,
  else the saturating 1-D power law of the axis that varies (``power_d``, ``power_n``, ``power_c``,
  ``power_step``, in that order of preference).
* **Early-checkpoint cut**: :func:`default_cut` -- none when every run has one point; the first 10B
  tokens when every run saw at least 100B tokens (Hitchhiker's guide); else the first 10% of each run.
* **Flagged runs**: :func:`flagged_exclusions` -- the runs a source flags as outliers (e.g. the five
  points Epoch's Chinchilla replication leaves out) are left out by default.
* **Fitted quantity**: :func:`default_y_transform` -- ``1 - value`` for a higher-is-better metric whose
  values all lie in [0, 1] (an error that falls with scale); else the value itself.
* **Units**: :func:`fitted_unit` and :func:`loss_to_nats` -- losses in bits, perplexity or log10
  perplexity are fitted in nats (``bits x ln 2``, ``ln(perplexity)``, ``log10_ppl x ln 10``).
  :func:`as_fitted` converts a column of values row by row.
* **Budgets**: :data:`BOOTSTRAP` (run-level resamples, env ``SCALING_BOOTSTRAP``, default 1000) and
  :data:`TIME_BUDGET` (seconds a fit's bootstrap may take in the app, env ``SCALING_TIME_BUDGET``, 10);
  :func:`bootstrap_for` caps the resamples per analysis (crossover, trend, scan, downstream).

:func:`default_settings` combines the fit rules into one :class:`FitSettings`. The other pages' rules:
:func:`final_values` (the rows a trend is judged on), :func:`default_loss_metric`,
:func:`downstream_pairs` and :func:`downstream_holdout` (a loss-to-task map), :func:`default_target`
(the Fit page's target scale). The data rules -- a sweep family's envelope, which N, and how both are
recorded -- live in :mod:`analysis.data_settings` and are importable from here too. The CLI
(:mod:`analysis.cli`) takes every default from here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from analysis.backtest import applicable_laws
from analysis.data_settings import (ENVELOPE, ENVELOPE_METHOD, ENVELOPE_METHODS, WHICH_N, SweepChoice, data_choices,
                                    fit_metric, n_choices, sweep_envelope, with_which_n)
from datasets.vocabulary import LOSS_UNITS, to_nats

__all__ = ["BOOTSTRAP", "TIME_BUDGET", "OBJECTIVE", "HUBER_DELTA", "SEED", "CUTS", "HITCHHIKER_TOKENS",
           "LAW_PREFERENCE", "BOOTSTRAP_CAPS", "TREND_ALPHA", "DOWNSTREAM_HELDOUT", "SettingsError", "FitSettings",
           "env_number", "bootstrap_for", "is_higher_better", "default_law", "default_cut", "cut_bounds",
           "flagged_exclusions", "default_y_transform", "fitted_unit", "loss_to_nats", "as_fitted", "default_settings",
           "final_values", "default_loss_metric", "downstream_pairs", "downstream_holdout", "TARGET_MULTIPLE",
           "REFERENCE_COMPUTE", "default_target", "ENVELOPE", "ENVELOPE_METHOD", "ENVELOPE_METHODS", "SweepChoice",
           "fit_metric", "sweep_envelope", "WHICH_N", "n_choices", "with_which_n", "data_choices"]


def env_number(name: str, default: float, cast: Callable = float) -> Any:
    """``cast(os.environ[name])`` when set to a non-negative number, else ``default``."""
    try:
        value = cast(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 0 else default


BOOTSTRAP = env_number("SCALING_BOOTSTRAP", 1000, int)          # run-level bootstrap resamples
TIME_BUDGET = env_number("SCALING_TIME_BUDGET", 10.0, float)    # seconds an interactive fit's bootstrap may take
OBJECTIVE = "huber"                                             # Huber loss (delta 1e-3) on log residuals
CUTS = {"auto": "Default for this family", "none": "Keep every checkpoint",
        "fraction": "Drop the first fraction of each run", "tokens": "Drop checkpoints below a token count"}
HITCHHIKER_TOKENS = 10e9                                        # tokens dropped from long runs
LONG_RUN_TOKENS = 100e9                                         # every run at least this long: drop 10B tokens
EARLY_FRACTION = 0.1                                            # else drop the first 10% of each run
LAW_PREFERENCE = ("chinchilla", "power_d", "power_n", "power_c", "power_step")
HUBER_DELTA = 1e-3                                              # Huber threshold on log residuals (fit_law's)
SEED = 0
# resamples per analysis: at most BOOTSTRAP, capped where an interactive page would otherwise wait
BOOTSTRAP_CAPS = {"fit": None, "crossover": 200, "trend": 500, "scan": 200, "downstream": 200, "context": 200}
TREND_ALPHA = 0.05                                              # significance level of the trend tests
DOWNSTREAM_HELDOUT = "largest"                                  # the map's back-test holds out the largest model


class SettingsError(ValueError):
    """No default fit exists for these data; the message says why and what to do."""


@dataclass(frozen=True)
class FitSettings:
    """Everything that determines a fit besides the data.

    ``min_tokens`` (tokens) and ``min_fraction`` (share of each run's final tokens or steps) drop early
    checkpoints; ``exclude_runs`` are run ids left out; ``y_transform`` is ``"none"`` or ``"one_minus"``;
    ``auto`` means the law is to be chosen by held-out error.
    """

    law: str
    objective: str
    min_tokens: float | None
    min_fraction: float | None
    exclude_runs: tuple[str, ...]
    bootstrap: int
    y_transform: str
    auto: bool = False
    min_tpp: float | None = None       # data filters: tokens per parameter D/N kept in [min_tpp, max_tpp]
    max_tpp: float | None = None
    max_loss: float | None = None      # ceiling on the metric (its units; nats for a loss)

    def kwargs(self) -> dict:
        """The keyword arguments of :func:`analysis.fit.fit_law` besides law and bootstrap (filters only when set)."""
        filters = {k: v for k, v in (("min_tpp", self.min_tpp), ("max_tpp", self.max_tpp),
                                     ("max_loss", self.max_loss)) if v is not None}
        return dict(objective=self.objective, min_tokens=self.min_tokens, min_fraction=self.min_fraction,
                    exclude_runs=self.exclude_runs, y_transform=self.y_transform, **filters)


def bootstrap_for(analysis: str, total: int | None = None) -> int:
    """Resamples the app uses for ``analysis`` (a key of :data:`BOOTSTRAP_CAPS`): ``total`` (default
    :data:`BOOTSTRAP`) capped at the analysis' cap (crossover 200, trend 500, scan 200, downstream 200,
    context 200 -- the loss law fitted beside a trend or a downstream map)."""
    total = BOOTSTRAP if total is None else int(total)
    cap = BOOTSTRAP_CAPS[analysis]
    return total if cap is None else min(total, cap)


def is_higher_better(flag) -> bool:
    """A metric's ``higher_is_better`` flag as a bool: True only when it is known and true."""
    try:
        return bool(flag is not None and not pd.isna(flag) and flag)
    except (TypeError, ValueError):
        return False


def default_law(options: Sequence[str]) -> str:
    """chinchilla when N and D both vary, else the saturating 1-D law of the varying axis.

    ``options`` are the laws that apply to the data (:func:`analysis.backtest.applicable_laws`).
    """
    if not options:
        raise SettingsError("no law applies to these data (a scale axis needs at least 3 different values)")
    return next((n for n in LAW_PREFERENCE if n in options), options[0])


def default_cut(frame: pd.DataFrame) -> tuple[str, float | None, str]:
    """The early-checkpoint cut used by default, in the spirit of the Hitchhiker's guide.

    No cut when every run has one point (final checkpoints only). Otherwise drop the first 10B tokens
    when every run trained on at least 100B tokens (the guide's rule), else the first 10% of each run
    (10B tokens would remove most of a small run). Returns (kind, value, explanation) with kind one of
    ``"none"``, ``"tokens"`` (value in tokens) and ``"fraction"`` (value a share of each run).
    """
    per_run = frame.groupby("run").size()
    if len(per_run) == 0 or per_run.max() <= 1:
        return "none", None, "every run has one point (final checkpoints only), so nothing is cut"
    final_d = frame.groupby("run")["D"].max()
    if final_d.notna().all() and final_d.min() >= LONG_RUN_TOKENS:
        return "tokens", HITCHHIKER_TOKENS, "every run saw at least 100B tokens: the first 10B tokens are dropped"
    return "fraction", EARLY_FRACTION, "the first 10% of each run's tokens (or steps) are dropped"


def cut_bounds(kind: str, value: float | None) -> tuple[float | None, float | None]:
    """``(min_tokens, min_fraction)`` for a cut of :func:`default_cut`."""
    return (value if kind == "tokens" else None), (value if kind == "fraction" else None)


def flagged_exclusions(frame: pd.DataFrame, flagged_runs: Iterable[str] = ()) -> tuple[str, ...]:
    """The flagged runs (outliers the source leaves out of its own fit) that are in ``frame``, in order."""
    runs = set(frame["run"].astype(str)) if "run" in frame else set()
    return tuple(dict.fromkeys(str(r) for r in flagged_runs if str(r) in runs))


def default_y_transform(frame: pd.DataFrame, higher_is_better: bool | None = None) -> str:
    """``"one_minus"`` (fit 1 - value, an error that falls with scale) for a higher-is-better metric whose
    values all lie in [0, 1]; else ``"none"``. ``higher_is_better`` defaults to the frame's attribute."""
    hib = frame.attrs.get("higher_is_better") if higher_is_better is None else higher_is_better
    return "one_minus" if hib and len(frame) and frame["y"].between(0, 1).all() else "none"


def fitted_unit(unit: str | None) -> str | None:
    """The unit a metric is fitted in: ``"nats"`` for any loss unit (:data:`LOSS_UNITS`), else ``unit``."""
    return "nats" if unit in LOSS_UNITS else unit


def loss_to_nats(values, unit: str | None) -> np.ndarray:
    """Loss ``values`` in ``unit`` as nats (``bits x ln 2``, ``ln(perplexity)``, ``log10_ppl x ln 10``);
    values of a unit that is not a loss are returned unchanged (as float64)."""
    return np.asarray(to_nats(np.asarray(values, dtype="float64"), unit)[0], dtype="float64")


def as_fitted(values, units) -> np.ndarray:
    """``values`` in the unit they are fitted and shown in, row by row: a loss (any of :data:`LOSS_UNITS`)
    in nats, anything else unchanged. ``units`` is one unit per value (a Series or array of text)."""
    out = np.asarray(values, dtype="float64").copy()
    units = np.asarray(units, dtype=object)
    for unit in {u for u in units if u in LOSS_UNITS and u != "nats"}:
        rows = units == unit
        out[rows] = loss_to_nats(out[rows], unit)
    return out


def default_settings(frame: pd.DataFrame, flagged_runs: Iterable[str] = (), bootstrap: int | None = None,
                     *, laws: Sequence[str] | None = None) -> FitSettings:
    """The app's default fit for ``frame``: :func:`default_law`, Huber objective, :func:`default_cut`,
    the source's flagged runs left out, :func:`default_y_transform`, ``bootstrap`` resamples
    (default :data:`BOOTSTRAP`). ``laws`` restricts the candidate laws (default: every applicable one).

    Raises
    ------
    SettingsError
        When no law applies to the data.
    """
    options = list(applicable_laws(frame) if laws is None else laws)
    law = default_law(options)
    min_tokens, min_fraction = cut_bounds(*default_cut(frame)[:2])
    return FitSettings(law, OBJECTIVE, min_tokens, min_fraction, flagged_exclusions(frame, flagged_runs),
                       BOOTSTRAP if bootstrap is None else int(bootstrap), default_y_transform(frame))


# ---------------------------------------------------------------------------------------------- targets (H9)
TARGET_MULTIPLE = 10.0          # an upload's default target: 10x its largest scale (the diagnostics warn past 10x)
REFERENCE_COMPUTE = 1e24        # a published family's default compute target (frontier scale), when above its data


def default_target(values, axis: str = "C", *, upload: bool = False) -> float | None:
    """The Fit page's default target on scale ``axis`` for data whose largest value of it is ``max(values)``.

    Uploads (a user's own runs, often far below frontier scale): :data:`TARGET_MULTIPLE` x the largest
    value, rounded up to 1, 2 or 5 x 10^k -- a one-decade extrapolation, the edge of what the diagnostics
    accept without a warning. Published families in compute: :data:`REFERENCE_COMPUTE` when it lies
    above the data, else the same multiple. None when no positive value exists.
    """
    v = np.asarray(pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce"), float)
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return None
    top = float(v.max())
    if axis == "C" and not upload and top < REFERENCE_COMPUTE:
        return REFERENCE_COMPUTE
    want = TARGET_MULTIPLE * top
    k = np.floor(np.log10(want))
    return float(next(m * 10 ** k for m in (1, 2, 5, 10) if m * 10 ** k >= want * (1 - 1e-9)))


# ---------------------------------------------------------------------------------------------- other pages
def final_values(frame: pd.DataFrame, x: str = "N") -> pd.DataFrame:
    """The rows a trend is judged on: the last checkpoint of each run (largest D, then step; NaN first),
    with a finite positive scale ``x`` (a fit-frame column: N, D, C or step) and a finite value ``y``
    (already in the fitted unit: losses in nats)."""
    order = [c for c in ("D", "step") if c in frame]
    last = frame.sort_values(["run", *order], na_position="first", kind="mergesort").groupby("run").tail(1)
    xs = pd.to_numeric(last[x], errors="coerce")
    keep = np.isfinite(xs) & (xs > 0) & np.isfinite(pd.to_numeric(last["y"], errors="coerce"))
    return last[keep.to_numpy()].reset_index(drop=True)


def default_loss_metric(metrics: pd.DataFrame) -> str | None:
    """The loss a downstream map starts from: among the ``metrics`` rows (``family_metrics``: metric, split,
    unit, n_runs, n_points) in a loss unit, the store's default-metric rule -- a validation loss, else a
    train loss (most runs, then most points, then nats first, then name), else the most-measured loss.
    None when no metric is a loss."""
    losses = metrics[metrics["unit"].isin(LOSS_UNITS)]
    if losses.empty:
        return None
    losses = losses.assign(_u=losses["unit"].map({u: i for i, u in enumerate(LOSS_UNITS)}))
    for split in ("validation", "train"):
        candidates = losses[losses["split"] == split]
        if len(candidates):
            return str(candidates.sort_values(["n_runs", "n_points", "_u", "metric"],
                                              ascending=[False, False, True, True]).iloc[0]["metric"])
    return str(losses.sort_values(["n_points", "n_runs", "metric"], ascending=[False, False, True]).iloc[0]["metric"])


def downstream_pairs(loss_points: pd.DataFrame, task_points: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Checkpoints that measured both a loss and a task metric, matched on (run, tokens) -- or (run, step)
    when either side has no token counts -- with the loss converted to nats.

    ``loss_points`` / ``task_points`` are long-form points (``run_id``, ``tokens``, ``step``, ``value``,
    ``unit``; the task side may carry ``params`` and ``model``). Returns the pairs (columns of the key,
    ``loss`` in nats, ``value`` in the task's unit, plus ``params`` / ``model`` when given; one row per
    key, the first) and the key columns.

    Raises
    ------
    SettingsError
        When the loss comes in several units.
    """
    both_tokens = loss_points["tokens"].notna().any() and task_points["tokens"].notna().any()
    key = ["run_id", "tokens"] if both_tokens else ["run_id", "step"]
    a = loss_points[key + ["value", "unit"]].rename(columns={"value": "loss", "unit": "loss_unit"})
    b = task_points[key + ["value"] + [c for c in ("params", "model") if c in task_points]]
    pairs = a.merge(b, on=key).dropna(subset=["loss", "value"]).drop_duplicates(key).reset_index(drop=True)
    units = set(pairs["loss_unit"])
    if len(units) > 1:
        raise SettingsError(f"the loss comes in several units ({', '.join(sorted(map(str, units)))}); "
                            "choose another loss metric")
    if len(pairs):
        pairs["loss"] = loss_to_nats(pairs["loss"].to_numpy(float), units.pop())
    return pairs, key


def downstream_holdout(heldout: str, scale) -> tuple[str, np.ndarray | None]:
    """``(heldout, scale)`` for :func:`analysis.downstream.map_downstream`: holding out the largest model
    needs a finite scale (parameters) with at least 2 values; otherwise the lowest-loss 20% are held out."""
    scale = None if scale is None else np.asarray(scale, dtype="float64")
    usable = scale is not None and bool(np.isfinite(scale).all()) and len(np.unique(scale)) >= 2
    if heldout == "largest" and not usable:
        return "best", None
    return heldout, (scale if heldout == "largest" else None)
