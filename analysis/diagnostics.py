"""Fit diagnostics: what can make a fitted law's answer wrong, each as a warning that says what to do.

Every check takes a fit (or the pieces of one) and returns a list of warning strings; :func:`diagnose`
runs the ones that need only the fit, and :func:`analysis.fit.fit_law` appends them to
``FitResult.warnings``. The thresholds, and why:

* **Misspecification** (:func:`misspecification`)

  - mean relative error ``mean |y_hat - y| / y`` above :data:`MARE_WARN` = 3%: the Hitchhiker's guide
    (Choshen et al. 2025) finds ~4% held-out error about the best attainable across its corpus; a fit
    that misses its *own* points by 3% explains them no better than a typical extrapolation would.
  - residual trend against each scale variable of the law (N, D, step; C too for a law in N and D, the
    axis its allocation extrapolates along): the log residuals are split into up to
    :data:`TREND_BINS` = 5 equal-count bins of that variable; a bin is off when its mean residual is
    above :data:`TREND_MIN` = 1% in size *and* :data:`TREND_T` = 4 standard errors from zero (standard
    errors over runs, since checkpoints of one run are correlated). The size threshold keeps large,
    precise data sets from flagging harmless 0.1% wiggles; the t threshold (two-sided p ~ 6e-5 per bin,
    ~1e-3 over 15 bins) keeps noise from flagging. A law that bends the wrong way leaves same-signed
    residuals at both ends of the range or in the middle: exactly a bin whose mean is off.
* **Parameters on or near their bounds** (:func:`on_bounds`): within :data:`BOUND_RTOL` = 0.1% of the
  parameter's range from a bound (the range in log for parameters fitted in log: for E in [1e-6, 1e3], a
  factor 1.021). A fit whose E is 1.00004e-06 or 1.001e-06 against a lower bound of 1e-06 is on that
  bound; an optimiser stops a little inside it, so an absolute 1e-12 test misses it.
* **Non-identifiable exponents** (:func:`identifiability`): an exponent (alpha, beta, ...) whose 95%
  interval is wider than its value (or reaches a bound); and the designs that cause it (tokens per
  parameter that barely varies, fewer than 3 sizes).
* **Objective sensitivity** (:func:`objective_sensitivity`): the law is refitted with the other
  objective (Huber <-> squared error); a warning when a parameter or the compute-optimal exponent moves
  outside its 95% interval, by more than :data:`OBJECTIVE_RTOL` = 0.1% of its value -- the answer then
  depends on a choice, not on the data. (On noise-free data the intervals have no width; a move in the
  tenth digit leaves them but changes no digit shown.)
* **Extrapolation** (:func:`extrapolation`): a target scale over the largest scale in the data; past
  :data:`EXTRAPOLATION_WARN` = 10x in compute (or in N or D) the warning says by how much.
* **Law-choice uncertainty** (:func:`law_choice`): two laws whose 95% intervals at the target do not
  overlap. The bootstrap covers the noise in the data, not the choice of law.
"""
from __future__ import annotations

from itertools import combinations
from typing import Iterable

import numpy as np
import pandas as pd

from analysis.interval import Interval, percentile_interval
from analysis.laws import Law, as_arrays

__all__ = ["MARE_WARN", "TREND_MIN", "TREND_T", "TREND_BINS", "BOUND_RTOL", "EXTRAPOLATION_WARN", "SPLIT_SPAN_WARN",
           "diagnose", "misspecification", "residual_trends", "on_bounds", "identifiability", "exponent_names",
           "objective_sensitivity", "other_objective", "extrapolation", "split_uncertainty", "law_choice",
           "law_choice_at", "at_target", "data_max", "unique"]

MARE_WARN = 0.03
TREND_MIN = 0.01
TREND_T = 4.0
TREND_BINS = 5
BOUND_RTOL = 1e-3
OBJECTIVE_RTOL = 1e-3       # a move below 0.1% of a value: at most a unit in the 4th significant digit shown
EXTRAPOLATION_WARN = 10.0
SPLIT_SPAN_WARN = 10.0
SCALE_VARIABLES = ("N", "D", "C", "step")
_AXIS_WORDS = {"N": "model size N", "D": "tokens D", "C": "compute C", "step": "step"}


# ---------------------------------------------------------------------------------------------- helpers
def exponent_names(law: Law) -> list[str]:
    """The law's exponents: dimensionless, linearly fitted parameters named alpha*, beta*, gamma*."""
    return [p.name for p in law.params
            if p.unit == "dimensionless" and not p.log and p.name.lower().startswith(("alpha", "beta", "gamma"))]


def _residuals(fit) -> tuple[np.ndarray, pd.DataFrame] | None:
    """Log residuals ``log y_hat - log y`` of the rows the fit used, and those rows (None without them)."""
    data = getattr(fit, "data", None)
    if data is None or len(data) == 0:
        return None
    law = fit.law
    theta = law.to_internal(np.array([fit.params[n] for n in law.param_names], float))
    with np.errstate(all="ignore"):
        lp = law.logpred(theta[None, :], as_arrays(data, law.variables))[0]
        r = lp - np.log(data["y"].to_numpy(float))
    ok = np.isfinite(r)
    return r[ok], data[ok].reset_index(drop=True)


def data_max(fit, axis: str) -> float:
    """The largest value of scale ``axis`` (N, D, C, step) in the rows the fit used (NaN if unknown)."""
    data = getattr(fit, "data", None)
    if data is not None and axis in data:
        v = pd.to_numeric(data[axis], errors="coerce").to_numpy(float)
        v = v[np.isfinite(v) & (v > 0)]
        if len(v):
            return float(v.max())
    rng = getattr(fit, "ranges", {}) or {}
    if axis in rng:
        return float(rng[axis][1])
    if axis == "C" and "N" in rng and "D" in rng:      # a fit loaded from JSON: an upper bound
        return float(6.0 * rng["N"][1] * rng["D"][1])
    return float("nan")


# ---------------------------------------------------------------------------------------------- checks
def residual_trends(fit) -> list[dict]:
    """Per scale variable of the law (and C for a law in N and D), the bins of its values whose mean log
    residual is off (see module docs).

    Returns one dict per flagged bin: ``axis``, ``lo``, ``hi`` (the bin's range), ``mean`` (mean log
    residual, ~ relative error; positive = the law predicts too high), ``t``, ``n_runs``.
    """
    got = _residuals(fit)
    if got is None:
        return []
    r, data = got
    run = data["run"].astype(str).to_numpy() if "run" in data else np.arange(len(r)).astype(str)
    axes = set(fit.law.variables) | ({"C"} if fit.law.allocatable else set())
    out = []
    for v in SCALE_VARIABLES:
        if v not in data or v not in axes:
            continue
        x = pd.to_numeric(data[v], errors="coerce").to_numpy(float)
        ok = np.isfinite(x) & (x > 0)
        if len(np.unique(x[ok])) < 3 or ok.sum() < 2 * TREND_BINS:
            continue
        xs, rs, runs = np.log(x[ok]), r[ok], run[ok]
        n_bins = min(TREND_BINS, len(np.unique(xs)))
        rank = pd.Series(xs).rank(method="dense").to_numpy()
        edges = np.quantile(rank, np.linspace(0, 1, n_bins + 1))
        b = np.clip(np.searchsorted(edges, rank, side="right") - 1, 0, n_bins - 1)
        for k in range(n_bins):
            m = b == k
            if m.sum() < 2:
                continue
            per_run = pd.Series(rs[m]).groupby(runs[m]).mean()
            if len(per_run) >= 3:
                se = per_run.std(ddof=1) / np.sqrt(len(per_run))
            else:
                se = rs[m].std(ddof=1) / np.sqrt(m.sum())
            mean = float(rs[m].mean())
            t = mean / se if se > 0 else np.inf * np.sign(mean)
            if abs(mean) > TREND_MIN and abs(t) > TREND_T:
                out.append({"axis": v, "lo": float(np.exp(xs[m].min())), "hi": float(np.exp(xs[m].max())),
                            "mean": mean, "t": float(t), "n_runs": int(len(per_run))})
    return out


def misspecification(fit) -> list[str]:
    """Mean relative error above :data:`MARE_WARN`; residual trends against the scale variables."""
    out = []
    if np.isfinite(fit.mare) and fit.mare > MARE_WARN:
        out.append(f"the law misses its own data by {fit.mare:.1%} on average (mean relative error; above "
                   f"{MARE_WARN:.0%}): it may not describe these data. Look at the Residuals view for a pattern, "
                   "try another law (auto compares them by held-out error), or drop runs that are not part of "
                   "the scaling ladder.")
    by_axis: dict[str, list[dict]] = {}
    for hit in residual_trends(fit):
        by_axis.setdefault(hit["axis"], []).append(hit)
    for v, hits in by_axis.items():
        worst = max(hits, key=lambda h: abs(h["mean"]))
        where = "; ".join(f"{'over' if h['mean'] > 0 else 'under'}-predicts by {abs(h['mean']):.1%} at "
                          f"{v} {h['lo']:.3g}-{h['hi']:.3g}" for h in sorted(hits, key=lambda h: h["lo"]))
        out.append(f"systematic residuals against {_AXIS_WORDS[v]}: the law {where} (worst {abs(worst['t']):.0f} "
                   "standard errors): its shape does not follow the data along this axis. Extrapolations along "
                   f"{v} inherit the miss; try a law with more flexibility along {v}, or check the early-"
                   "checkpoint cut and outlying runs.")
    return out


def on_bounds(law: Law, public: np.ndarray, rtol: float = BOUND_RTOL) -> list[str]:
    """Parameters within ``rtol`` of their range from a bound: for a parameter fitted in log, ``|ln(value /
    bound)| <= rtol x ln(upper / lower)`` (E in [1e-6, 1e3]: within a factor 1.021 of a bound); otherwise
    ``|value - bound| <= rtol x (upper - lower)`` (alpha in [0, 3]: within 0.003)."""
    out = []
    for p, val in zip(law.params, np.asarray(public, float)):
        near = None
        for bound, side in ((p.lower, "lower"), (p.upper, "upper")):
            if p.log and p.lower > 0 and bound > 0 and val > 0:
                close = abs(np.log(val / bound)) <= rtol * np.log(p.upper / p.lower)
            else:
                close = abs(val - bound) <= rtol * (p.upper - p.lower)
            if close:
                near = (bound, side)
        if near is not None:
            out.append(f"{p.name} = {val:.6g} is on its {near[1]} bound ({near[0]:g}; within {rtol:.1%} of its "
                       "range): the data "
                       f"do not pin it down and the fit stopped at the limit. Add runs that vary the "
                       f"{'/'.join(law.variables)} it depends on, choose a law with fewer parameters, or read the "
                       "other parameters with care (they compensate).")
    return out


def identifiability(fit) -> list[str]:
    """Exponents whose 95% interval is wider than their value or reaches a bound."""
    out = []
    law = fit.law
    for name in exponent_names(law):
        ci = fit.ci.get(name)
        if ci is None:
            continue
        ci = Interval.of(ci)
        val = fit.params[name]
        p = law.params[law.param_names.index(name)]
        span = p.upper - p.lower
        at_bound = ci.finite and (ci.lo <= p.lower + BOUND_RTOL * span or ci.hi >= p.upper - BOUND_RTOL * span)
        if ci.finite and (ci.width > abs(val) or at_bound):
            out.append(f"{name} is not identified by these data: its 95% interval [{ci.lo:.3g}, {ci.hi:.3g}] is "
                       f"{'as wide as the parameter range' if at_bound else 'wider than its value'} ({val:.3g}). "
                       "Quantities that depend on it (the compute-optimal split, extrapolations) are not "
                       "determined either; add runs that vary the scale it belongs to (sizes, token counts).")
    return out


def split_uncertainty(ci: dict, span_warn: float = SPLIT_SPAN_WARN) -> list[str]:
    """An allocation whose tokens-per-parameter interval spans more than ``span_warn`` x."""
    tpp = ci.get("tokens_per_param")
    if tpp is None:
        return []
    tpp = Interval.of(tpp)
    if tpp.finite and tpp.lo > 0 and tpp.hi / tpp.lo > span_warn:
        return [f"the split of compute is not determined: D*/N* has a 95% interval of [{tpp.lo:.3g}, {tpp.hi:.3g}] "
                f"tokens per parameter (a factor {tpp.hi / tpp.lo:.0f}); the data do not tell parameters and tokens "
                "apart. Add runs at other tokens-per-parameter ratios, or use a published split (e.g. ~20 tokens "
                "per parameter) and say so."]
    return []


def extrapolation(fit, *, compute: float | None = None, N: float | None = None, D: float | None = None,
                  x: float | None = None, axis: str | None = None, limit: float = EXTRAPOLATION_WARN) -> list[str]:
    """Targets beyond ``limit`` x the largest scale in the fitted data, each with its factor.

    ``compute`` (FLOPs), ``N`` (parameters), ``D`` (tokens) are checked against the data's largest C, N
    and D; ``x`` against the largest value of ``axis``.
    """
    out = []
    words = {"C": "compute", "N": "model", "D": "token count", "step": "step", "U": "unique-token count"}
    checks = [("C", compute, "the budget", "compute"), ("N", N, "N*", "model"), ("D", D, "D*", "token count")]
    if x is not None and axis is not None:
        checks.append((axis, x, "the target", words.get(axis, axis)))
    for ax, value, what, word in checks:
        if value is None or not np.isfinite(value):
            continue
        top = data_max(fit, ax)
        if np.isfinite(top) and top > 0 and value > limit * top:
            out.append(f"{what} ({value:.3g}) is {value / top:,.0f}x the largest {word} in the data ({top:.3g}): "
                       f"an extrapolation over {np.log10(value / top):.1f} orders of magnitude, where the 95% "
                       "interval covers the noise in the data but not a change of regime. Add runs closer to the "
                       "target (the Hitchhiker's guide: a few models near the target beat many small ones).")
    return out


def at_target(fit, target: float | None) -> list[str]:
    """The warnings of extending ``fit`` to ``target`` on its x axis: for a law in N and D, those of the
    compute-optimal allocation at ``target`` FLOPs (extrapolation in C, N*, D*; an undetermined split);
    else the extrapolation of the x axis."""
    if target is None or not np.isfinite(target):
        return []
    if fit.law.allocatable:
        from analysis.allocate import allocate
        return list(allocate(fit, float(target)).warnings)
    return extrapolation(fit, x=float(target), axis=fit.law.x_axis)


def other_objective(objective: str) -> str:
    """The objective a sensitivity check refits with: squared error for Huber, Huber otherwise."""
    return "mse" if objective == "huber" else "huber"


def _moved(old: float, new: float, ci: Interval) -> bool:
    """``new`` lies outside ``ci`` and differs from ``old`` by more than :data:`OBJECTIVE_RTOL` of it."""
    return ci.finite and np.isfinite(new) and not ci.contains(new) and abs(new - old) > OBJECTIVE_RTOL * abs(old)


def objective_sensitivity(fit, refit) -> list[str]:
    """Parameters (and the compute-optimal exponent of a law in N and D) of ``refit`` (the same law and
    data, the other objective) that fall outside ``fit``'s 95% intervals (:func:`_moved`)."""
    if not fit.ci:
        return []
    moved = []
    for name in fit.param_names:
        ci = fit.ci.get(name)
        if ci is None:
            continue
        ci = Interval.of(ci)
        new = refit.params.get(name)
        if new is not None and _moved(fit.params[name], new, ci):
            moved.append(f"{name} {fit.params[name]:.4g} -> {new:.4g} (interval [{ci.lo:.4g}, {ci.hi:.4g}])")
    if {"alpha", "beta"} <= set(fit.params) and fit.law.allocatable and fit.boot is not None:
        names = list(fit.param_names)
        ia, ib = names.index("alpha"), names.index("beta")
        with np.errstate(all="ignore"):
            a_boot = fit.boot[:, ib] / (fit.boot[:, ia] + fit.boot[:, ib])
        ci = percentile_interval(a_boot, min_samples=2)
        a_new = refit.params["beta"] / (refit.params["alpha"] + refit.params["beta"])
        a_old = fit.params["beta"] / (fit.params["alpha"] + fit.params["beta"])
        if _moved(a_old, a_new, ci):
            moved.append(f"the compute-optimal exponent a = beta/(alpha+beta) {a_old:.3f} -> {a_new:.3f} "
                         f"(interval [{ci.lo:.3f}, {ci.hi:.3f}])")
    if not moved:
        return []
    return [f"the answer depends on the objective: refitted with {refit.objective} instead of {fit.objective}, "
            + "; ".join(moved) + ". Outliers or a law that does not fit drive the difference: look at the residuals, "
            "leave out runs that do not belong, and report both fits (Fit > Compare > another objective)."]


def diagnose(fit) -> list[str]:
    """The checks that need only the fit: misspecification, bounds, identifiability."""
    public = np.array([fit.params[n] for n in fit.param_names], float)
    return misspecification(fit) + on_bounds(fit.law, public) + identifiability(fit)


# ---------------------------------------------------------------------------------------------- several laws
def law_choice(predictions: dict[str, tuple[float, Interval | tuple | None]], *, where: str,
               unit: str = "") -> list[str]:
    """Pairs of fits whose 95% intervals at the same target do not overlap.

    ``predictions`` maps a label (a law, or law and objective) to ``(value, interval)`` at the target
    described by ``where`` (e.g. ``"at 1e+24 FLOPs"``). Fits without an interval are skipped.
    """
    out = []
    items = [(k, v, Interval.of(ci)) for k, (v, ci) in predictions.items()
             if ci is not None and Interval.of(ci).finite and np.isfinite(v)]
    u = f" {unit}" if unit else ""
    for (ka, va, ca), (kb, vb, cb) in combinations(items, 2):
        if ca.hi < cb.lo or cb.hi < ca.lo:
            out.append(f"law choice matters {where}: {ka} gives {va:.4g}{u} [{ca.lo:.4g}, {ca.hi:.4g}] and {kb} "
                       f"{vb:.4g}{u} [{cb.lo:.4g}, {cb.hi:.4g}]; the 95% intervals do not overlap. Each interval "
                       "covers the noise in the data, not the choice of law: compare the held-out errors of the "
                       "laws (Back-test, or auto) and report the spread between them.")
    return out


def law_choice_at(fits, target: float | None = None, *, unit: str = "") -> list[str]:
    """:func:`law_choice` for fits of the same data: each predicts at ``target`` on the first fit's x axis
    (default: 10x the largest value of it in the data). Laws in N and D on the compute axis give their
    compute-optimal loss there; others their prediction at ``{x: target}``. Fits without bootstrap
    intervals, or that cannot predict along that axis, are skipped."""
    fits = [f for f in fits if f is not None]
    if len(fits) < 2:
        return []
    axis = fits[0].law.x_axis
    if target is None:
        top = data_max(fits[0], axis)
        if not np.isfinite(top):
            return []
        target = EXTRAPOLATION_WARN * top
    preds = {}
    for f in fits:
        if not f.n_boot or f.law.per_run:
            continue
        try:
            with np.errstate(all="ignore"):
                if f.law.allocatable and axis == "C":
                    from analysis.allocate import allocate
                    a = allocate(f, float(target))
                    preds.setdefault(f.law.name, (a.loss, a.ci.get("loss")))
                elif f.law.x_axis == axis:
                    X = pd.DataFrame({axis: [float(target)]})
                    lo, hi = f.band(X)
                    preds.setdefault(f.law.name, (float(f.predict(X)[0]), Interval(float(lo[0]), float(hi[0]))))
        except (KeyError, ValueError):
            continue
    return law_choice(preds, where=f"at {axis} = {float(target):.3g}", unit=unit)


def unique(warnings: Iterable[str]) -> list[str]:
    """``warnings`` without repeats, in order."""
    return list(dict.fromkeys(warnings))
