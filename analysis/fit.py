"""Fitting scaling laws: global initialisation, robust log-space objective, run-level bootstrap.

The objective is a sum over observations of a loss on log residuals,

.. math::
    F(\\theta) = \\sum_i w_i\\, \\rho\\big(\\log \\hat y_i(\\theta) - \\log y_i\\big),

with :math:`\\rho` the Huber loss (``delta`` = 1e-3 by default, as in Hoffmann et al. and Epoch),
the squared error (``"mse"``), or an asymmetric squared error that keeps the curve under the data
(``"lower"``, an expectile with tau = 0.1: points below the curve weigh 9x more).

1. **Initialisation** by the law's ``init``: variable projection (a dense grid over exponents, NNLS
   for the linear coefficients) or a small grid. The candidates are scored in one batched call.
2. **Polish** the best candidates with L-BFGS-B on the exact objective and its analytic gradient.
3. **Bootstrap** by run: each resample draws whole runs with replacement (checkpoints of one run
   are correlated), i.e. the same data with integer weights. All resamples are refitted together by
   one batched Levenberg-Marquardt on the loss's own curvature, warm-started at the point estimate,
   on the points each resample drew (:mod:`analysis.bootstrap`).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from analysis.bootstrap import MAX_ITER, refine, refit_resamples
from analysis.loss import LOWER_TAU, loss_value
from analysis.resample import run_weights
from analysis.diagnostics import diagnose, objective_sensitivity, on_bounds, other_objective, unique
from analysis.fit_result import OBJECTIVES, FitResult
from analysis.interval import percentile_interval
from analysis.laws import Law, get_law
from analysis.prepare import FLOPS_PER_PARAM_TOKEN, FitError, Prepared, complete_axes, prepare, select_rows

__all__ = ["fit_law", "FitResult", "FitError", "OBJECTIVES", "FLOPS_PER_PARAM_TOKEN", "Prepared", "prepare",
           "select_rows", "complete_axes", "rho", "irls_weight", "run_weights", "single_thread_blas"]



# ----------------------------------------------------------------------------------------------
# BLAS threads
# ----------------------------------------------------------------------------------------------
_BLAS = None


def single_thread_blas():
    """A context in which the BLAS libraries numpy and scipy loaded run on one thread (restored afterwards).

    L-BFGS-B factorises tiny (2m x 2m) matrices at every iteration; a multi-threaded OpenBLAS wakes its
    thread pool for each, which made a 5-parameter iteration ~25x slower (1.6 ms instead of 0.06 ms,
    measured on a busy 2-core machine). The limit is process-wide (threadpoolctl): two fits overlapping
    in different threads may leave it at one thread, which only costs speed on large matrix products this
    package does not do.
    """
    global _BLAS
    if _BLAS is None:   # inspecting the loaded libraries takes milliseconds: once per process
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


# ----------------------------------------------------------------------------------------------
# Objective
# ----------------------------------------------------------------------------------------------
def rho(r: np.ndarray, objective: str, delta: float) -> np.ndarray:
    """Per-observation loss of a log residual ``r = log yhat - log y`` (:func:`analysis.loss.loss_value`)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    return loss_value(r, objective, delta)


def irls_weight(r: np.ndarray, objective: str, delta: float) -> np.ndarray:
    """u(r) with psi(r) = u(r) r: the weight of the quadratic surrogate at r."""
    if objective == "huber":
        return np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-300))
    if objective == "mse":
        return np.ones_like(r)
    return np.where(r > 0, 1.0 - LOWER_TAU, LOWER_TAU)


# ----------------------------------------------------------------------------------------------
# Engine
# ----------------------------------------------------------------------------------------------
def _objective_batch(law, theta, X, ly, W, objective, delta):
    r = law.logpred(theta, X) - ly[None, :]
    val = np.sum(W * rho(r, objective, delta), axis=1)
    return np.where(np.isfinite(val), val, np.inf)


def _polish(law: Law, theta0, X, ly, w, objective, delta):
    scale = 1.0 / (delta if objective == "huber" else 1.0)

    def f(th):
        t = th[None, :]
        r = law.logpred(t, X)[0] - ly
        val = np.sum(w * rho(r, objective, delta)) * scale
        if not np.isfinite(val):
            return 1e300, np.zeros_like(th)
        psi = irls_weight(r, objective, delta) * r
        g = (w * psi) @ law.jac(t, X)[0] * scale
        return val, g

    from scipy.optimize import minimize

    # L-BFGS-B can stall on the Huber kinks: a warm restart (fresh curvature memory) finishes the job.
    opts = {"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-12, "maxcor": 10}
    res = minimize(f, theta0, jac=True, method="L-BFGS-B", bounds=law.bounds(), options=opts)
    for _ in range(2):
        again = minimize(f, res.x, jac=True, method="L-BFGS-B", bounds=law.bounds(), options=opts)
        improved = again.fun < res.fun * (1 - 1e-12)
        if again.fun <= res.fun:
            res = again
        if not improved:
            break
    return res


INIT_ROWS = 10_000
"""Rows the initialisation and L-BFGS-B polish use; larger data are subsampled for them (seeded), and the
optimum is then refined on every row by Levenberg-Marquardt, so the point fit's time and memory grow
linearly with the rows past this size."""


def init_rows(n: int, limit: int = INIT_ROWS) -> np.ndarray | None:
    """Sorted indices of a seeded subsample of ``limit`` of ``n`` rows, or None when ``n <= limit``."""
    if n <= limit:
        return None
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))


def _warnings(law: Law, theta, prep: Prepared, res_hess_cond: float, init_theta, n_runs) -> list[str]:
    out = on_bounds(law, law.to_public(theta))     # relative tolerance (analysis.diagnostics.BOUND_RTOL)
    for k, glo, ghi in law.grid_edges:
        if np.isclose(init_theta[k], glo) or np.isclose(init_theta[k], ghi):
            out.append(f"the best starting {law.params[k].name} was on the edge of the search grid "
                       f"[{glo:g}, {ghi:g}]; the optimum may lie outside it: treat {law.params[k].name} with care.")
    if res_hess_cond > 1e12:
        out.append(f"the fit is ill-conditioned (Hessian condition number {res_hess_cond:.1e}): some "
                   "parameters trade off against each other; read their CIs, not their point values.")
    if "N" in law.variables and "D" in law.variables:
        ratio = np.log(prep.X["D"] / prep.X["N"])
        if np.std(ratio) < 0.15:
            out.append("tokens per parameter barely varies across the data (a D = kN design): alpha and beta "
                       "are not separately identifiable; add runs at other tokens-per-parameter ratios.")
        if len(np.unique(prep.X["N"])) < 3:
            out.append("fewer than 3 distinct model sizes: the parameter term is barely constrained; add sizes.")
    if n_runs < len(law.params):
        out.append(f"only {n_runs} run{'s' if n_runs != 1 else ''} for {len(law.params)} parameters: the bootstrap "
                   "over runs is unreliable and the fit may be exact; add runs or choose a law with fewer parameters.")
    return out


def fit_law(frame: pd.DataFrame, law: str | Law = "chinchilla", *, objective: str = "huber",
            delta: float = 1e-3, bootstrap: int = 1000, seed: int = 0, min_tokens: float | None = None,
            min_fraction: float | None = None, exclude_runs=(), y_transform: str = "none",
            time_budget: float | None = None, n_polish: int = 3, diagnostics: bool = True,
            min_tpp: float | None = None, max_tpp: float | None = None, max_loss: float | None = None,
            fixed: dict | str | None = None) -> FitResult:
    """Fit ``law`` to the fit frame and bootstrap it by run.

    Parameters
    ----------
    frame : DataFrame
        Columns ``run, N, D, C, step, y`` (see the package docs); ``y`` in the metric's units.
    law : str or Law
        A name from :data:`analysis.laws.LAWS`.
    objective : {"huber", "mse", "lower"}
        Loss on log residuals; ``delta`` is the Huber threshold (1e-3 by default).
    bootstrap : int
        Number of run-level resamples (0 for none). 1,000 by default.
    seed : int
        Seed of the resampling.
    time_budget : float, optional
        Seconds the bootstrap may take; when exceeded it stops early and says so in ``warnings``.
    min_tpp, max_tpp, max_loss : float, optional
        Data filters: keep points with ``min_tpp <= D/N <= max_tpp`` tokens per parameter and a metric at
        most ``max_loss`` (:func:`analysis.prepare.select_rows`); recorded in ``settings``.
    diagnostics : bool
        Append the checks of :mod:`analysis.diagnostics` to ``warnings`` (misspecification, bounds,
        identifiability and, when intervals were computed, a refit with the other objective).
    fixed : dict or str, optional
        Parameters held at given public values (``{"E": 1.87, ...}``), or a named stage 1 of a two-stage
        fit (``"published"``, ``"single-epoch"`` for ``data_constrained``): :mod:`analysis.fixed_params`.

    Returns
    -------
    FitResult
    """
    if fixed:
        from analysis.fixed_params import fit_with_fixed      # fits the law over its free parameters
        return fit_with_fixed(fit_law, frame, law, fixed, objective=objective, delta=delta, bootstrap=bootstrap,
                              seed=seed, min_tokens=min_tokens, min_fraction=min_fraction, exclude_runs=exclude_runs,
                              y_transform=y_transform, time_budget=time_budget, n_polish=n_polish,
                              diagnostics=diagnostics, min_tpp=min_tpp, max_tpp=max_tpp, max_loss=max_loss)
    t0 = time.perf_counter()
    law = get_law(law)
    if objective not in OBJECTIVES:
        raise FitError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    filters = dict(min_tpp=min_tpp, max_tpp=max_tpp, max_loss=max_loss)
    prep = prepare(frame, law, min_tokens=min_tokens, min_fraction=min_fraction,
                   exclude_runs=exclude_runs, y_transform=y_transform, **filters)
    X, y, ly = prep.X, prep.y, np.log(prep.y)
    # 1-2. initialisation and polish; past INIT_ROWS rows on a seeded subsample, then refined on all rows
    sub = init_rows(len(y))
    Xs, ys = (X, y) if sub is None else ({v: a[sub] for v, a in X.items()}, y[sub])
    lys, ws = np.log(ys), np.ones_like(ys)
    cands = law.init(Xs, ys)
    vals = _objective_batch(law, cands, Xs, lys, ws[None, :], objective, delta) if len(cands) > 1 else np.zeros(1)
    order = np.argsort(vals)[:max(1, n_polish)]
    best = None
    with single_thread_blas():
        for i in order:
            res = _polish(law, cands[i], Xs, lys, ws, objective, delta)
            if best is None or res.fun < best[0].fun:
                best = (res, cands[i])
        res, init_theta = best
        theta, fun, message = res.x, res.fun, str(res.message)
        if sub is not None:
            theta, fun, converged = refine(law, X, ly, theta, objective, delta)
            message = (f"initialised and polished on {len(sub):,} of {len(y):,} rows, then Levenberg-Marquardt on "
                       f"all rows ({'converged' if converged else f'not converged in {MAX_ITER} iterations'})")
    t_point = time.perf_counter() - t0
    lp, J = law.logpred_jac(theta[None], X)
    r, J = lp[0] - ly, J[0]
    try:
        cond = float(np.linalg.cond(J.T @ J))
    except np.linalg.LinAlgError:
        cond = float("inf")
    n_runs = len(np.unique(prep.run))
    warns = _warnings(law, theta, prep, cond, init_theta, n_runs)
    success = bool(np.all(np.isfinite(theta)) and np.isfinite(fun))
    # 3. bootstrap: one batched Levenberg-Marquardt over all resamples, budget checked every iteration
    boot, n_unconverged = None, 0
    if bootstrap and n_runs >= 2:
        deadline = None if time_budget is None else t0 + float(time_budget)
        if deadline is not None and diagnostics and t_point <= SENSITIVITY_MAX_SECONDS:
            deadline -= t_point                # the diagnostics refit the point estimate after the bootstrap
        with single_thread_blas():
            refit = refit_resamples(law, X, ly, prep.run, theta, n_boot=int(bootstrap), seed=seed,
                                    objective=objective, delta=delta, deadline=deadline)
        boot, n_unconverged = law.to_public(refit.theta), refit.n_unconverged
        if refit.stopped_by_budget:
            warns.append(f"the bootstrap stopped after {refit.n_done} of {bootstrap} resamples to stay within the "
                         f"{time_budget:g} s time budget: the intervals are rougher; run the CLI for the full count.")
        if n_unconverged:
            warns.append(f"{n_unconverged} of {refit.n_done} bootstrap refits did not converge in {MAX_ITER} "
                         "iterations and were kept at their best point: the intervals may be slightly off; "
                         "check the fit's warnings, or fix a poorly determined parameter.")
        if refit.n_failed:
            warns.append(f"{refit.n_failed} bootstrap refits failed (the law is not finite on their data) and "
                         "were dropped.")
    elif bootstrap:
        warns.append("a run-level bootstrap needs at least 2 runs; no intervals were computed.")
    public = law.to_public(theta)
    params = dict(zip(law.param_names, map(float, public)))
    ci = {}
    if boot is not None and len(boot):
        ci = {k: percentile_interval(boot[:, j]) for j, k in enumerate(law.param_names)}
    yhat = np.exp(ly + r)
    ranges = {v: (float(np.min(X[v])), float(np.max(X[v]))) for v in law.checked}
    for v in ("N", "D", "C", "step"):      # every scale the rows have: extrapolation is judged against them
        vals = pd.to_numeric(prep.frame[v], errors="coerce").to_numpy(float) if v in prep.frame else np.array([])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if v not in ranges and len(vals):
            ranges[v] = (float(vals.min()), float(vals.max()))
    settings = dict(law=law.name, objective=objective, delta=delta, bootstrap=int(bootstrap), seed=int(seed),
                    min_tokens=min_tokens, min_fraction=min_fraction, exclude_runs=sorted(map(str, exclude_runs or ())),
                    y_transform=y_transform, **filters)
    result = FitResult(
        law=law, params=params, ci=ci, n_points=len(y), n_runs=n_runs, success=success,
        message=message, warnings=tuple(warns), objective=objective, delta=delta,
        objective_value=float(np.sum(rho(r, objective, delta))), rmse_log=float(np.sqrt(np.mean(r * r))),
        mare=float(np.mean(np.abs(yhat - y) / y)), ranges=ranges, settings=settings, y_transform=y_transform,
        boot=boot, n_boot_requested=int(bootstrap), n_boot_unconverged=n_unconverged,
        seconds=time.perf_counter() - t0, notes=prep.notes,
        used=prep.used_mask(), data=prep.frame)
    if not diagnostics:
        return result
    return _diagnosed(result, frame, t0, t_point, dict(delta=delta, seed=seed, min_tokens=min_tokens,
                                                       min_fraction=min_fraction, exclude_runs=exclude_runs,
                                                       y_transform=y_transform, n_polish=n_polish, **filters))


SENSITIVITY_MAX_SECONDS = 2.0
"""A fit whose point estimate took longer than this is not refitted with the other objective (the check
would double a slow fit); its notes say so."""


def _diagnosed(result: FitResult, frame, t0: float, point_seconds: float, kwargs: dict) -> FitResult:
    """``result`` with the diagnostics of :mod:`analysis.diagnostics` appended to its warnings: the checks
    on the fit itself, and (when it has bootstrap intervals) a refit with the other objective."""
    import dataclasses

    warns = list(result.warnings) + diagnose(result)
    notes = list(result.notes)
    if result.ci:
        if point_seconds > SENSITIVITY_MAX_SECONDS:
            notes.append(f"objective sensitivity not checked: the fit takes {point_seconds:.1f} s; refit with "
                         f"objective {other_objective(result.objective)} to compare")
        else:
            try:
                refit = fit_law(frame, result.law, objective=other_objective(result.objective), bootstrap=0,
                                diagnostics=False, **kwargs)
                warns += objective_sensitivity(result, refit)
            except (FitError, ValueError, FloatingPointError, np.linalg.LinAlgError):
                notes.append(f"objective sensitivity not checked: the refit with {other_objective(result.objective)} "
                             "failed")
    return dataclasses.replace(result, warnings=tuple(unique(warns)), notes=tuple(notes),
                               seconds=time.perf_counter() - t0)
