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
   a batched Levenberg-Marquardt / IRLS iteration warm-started at the point estimate.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

from analysis.laws import Law, as_arrays, get_law, anneal_areas

OBJECTIVES = {"huber": "Huber loss on log residuals", "mse": "squared error on log residuals",
              "lower": "asymmetric squared error (lower envelope, tau = 0.1)"}
LOWER_TAU = 0.1
FLOPS_PER_PARAM_TOKEN = 6.0


class FitError(ValueError):
    """The data cannot be fitted with the requested law (message says why and what to do)."""


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
    """Per-observation loss of a log residual ``r = log yhat - log y``."""
    if objective == "huber":
        a = np.abs(r)
        return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
    if objective == "mse":
        return 0.5 * r * r
    if objective == "lower":
        return 0.5 * np.where(r > 0, 1.0 - LOWER_TAU, LOWER_TAU) * r * r
    raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")


def irls_weight(r: np.ndarray, objective: str, delta: float) -> np.ndarray:
    """u(r) with psi(r) = u(r) r: the weight of the quadratic surrogate at r."""
    if objective == "huber":
        return np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-300))
    if objective == "mse":
        return np.ones_like(r)
    return np.where(r > 0, 1.0 - LOWER_TAU, LOWER_TAU)


# ----------------------------------------------------------------------------------------------
# Data preparation
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prepared:
    """The observations a fit uses, after the data choices."""

    X: dict
    y: np.ndarray
    run: np.ndarray
    notes: tuple[str, ...]
    frame: pd.DataFrame


def complete_axes(frame: pd.DataFrame | dict, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN) -> pd.DataFrame:
    """Fill whichever of N, D, C is missing from the other two with C = k N D."""
    df = pd.DataFrame(frame).copy()
    k = flops_per_param_token
    for col in ("N", "D", "C"):
        if col not in df:
            df[col] = np.nan
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["C"] = df["C"].fillna(k * df["N"] * df["D"])
    df["D"] = df["D"].fillna(df["C"] / (k * df["N"]))
    df["N"] = df["N"].fillna(df["C"] / (k * df["D"]))
    return df


def select_rows(frame: pd.DataFrame, *, min_tokens: float | None = None, min_fraction: float | None = None,
                exclude_runs=()) -> tuple[pd.DataFrame, list[str]]:
    """The rows a fit keeps after the data choices (excluded runs, early-checkpoint cuts), with notes.

    Returns the frame with N, D, C completed and ``run`` as text, indexed like ``frame``.
    """
    notes: list[str] = []
    df = complete_axes(frame)
    if "run" not in df:
        df["run"] = np.arange(len(df)).astype(str)
    df["run"] = df["run"].astype(str)
    excl = set(map(str, exclude_runs or ()))
    if excl:
        n0 = len(df)
        df = df[~df["run"].isin(excl)]
        notes.append(f"excluded {len(excl)} run(s) ({n0 - len(df)} points)")
    if min_tokens:
        n0 = len(df)
        df = df[~(df["D"] < float(min_tokens))]
        if n0 - len(df):
            notes.append(f"dropped {n0 - len(df)} checkpoints with D < {float(min_tokens):.3g} tokens")
    if min_fraction:
        axis = "D" if df["D"].notna().any() else "step"
        final = df.groupby("run")[axis].transform("max")
        n0 = len(df)
        df = df[~(df[axis] < float(min_fraction) * final)]
        if n0 - len(df):
            notes.append(f"dropped {n0 - len(df)} checkpoints before {min_fraction:.0%} of their run")
    return df, notes


def prepare(frame: pd.DataFrame, law: Law, *, min_tokens: float | None = None,
            min_fraction: float | None = None, exclude_runs=(), y_transform: str = "none") -> Prepared:
    """Apply the data choices and return the arrays a fit of ``law`` needs.

    Parameters
    ----------
    frame : DataFrame
        Fit frame (columns ``run, N, D, C, step, y`` and optionally ``U``, ``lr``).
    min_tokens : float, optional
        Drop checkpoints with fewer training tokens ``D`` than this (the Hitchhiker guide drops the
        first 10B tokens of each run).
    min_fraction : float, optional
        Drop checkpoints before this fraction of each run's final tokens (or steps).
    exclude_runs : iterable of str
        Runs to leave out.
    y_transform : {"none", "one_minus"}
        ``"one_minus"`` fits ``1 - y`` (for accuracies: an error that decreases with scale).
    """
    if y_transform not in ("none", "one_minus"):
        raise ValueError(f"unknown y_transform {y_transform!r}")
    df, notes = select_rows(frame, min_tokens=min_tokens, min_fraction=min_fraction, exclude_runs=exclude_runs)
    df = df.reset_index(drop=True)
    df["y"] = pd.to_numeric(df["y"], errors="coerce").astype(float)
    if y_transform == "one_minus":
        df["y"] = 1.0 - df["y"]
        notes.insert(0, "fitted 1 - value (an error rate) because the metric is higher-is-better")
    if "S1" in law.variables:
        if "lr" not in df or "step" not in df or df["lr"].isna().all():
            raise FitError(f"law {law.name} needs a learning-rate schedule: columns step and lr")
        df = df[np.isfinite(df["lr"]) & np.isfinite(df["step"])]
        S1, S2 = anneal_areas(df["step"].to_numpy(), df["lr"].to_numpy(), df["run"].to_numpy())
        df = df.assign(S1=S1, S2=S2)
    if "U" in law.variables and "U" not in df:
        df["U"] = np.nan
    missing = [v for v in law.variables if v not in df]
    if missing:
        raise FitError(f"law {law.name} needs column(s) {', '.join(missing)}; the data have "
                       f"{', '.join(c for c in df.columns if c in ('N', 'D', 'C', 'step'))}")
    need = [v for v in law.variables if v not in ("U", "S2")]
    ok = np.isfinite(df["y"]) & (df["y"] > 0)
    for v in need:
        ok &= np.isfinite(df[v]) & (df[v] > 0)
    if "S2" in law.variables:
        ok &= np.isfinite(df["S2"])
    if (~ok).sum():
        notes.append(f"left out {(~ok).sum()} points with missing, zero or negative {'/'.join(need)} or y")
    df = df[ok].reset_index(drop=True)
    if len(df) < len(law.params) + 1:
        raise FitError(f"only {len(df)} usable points for the {len(law.params)}-parameter law {law.name}: "
                       "add runs, relax the early-token cut, or choose a law with fewer parameters")
    X = as_arrays(df, law.variables)
    return Prepared(X, df["y"].to_numpy(float), df["run"].to_numpy(str), tuple(notes), df)


# ----------------------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted scaling law: parameters, uncertainty, diagnostics, and the settings that produced it.

    ``params`` are public values (E, A, B, alpha, beta ...). ``ci`` are 95% percentile intervals
    from the run-level bootstrap (empty when no bootstrap ran); ``boot`` holds every resample's
    parameters in ``param_names`` order.
    """

    law: str
    params: dict[str, float]
    ci: dict[str, tuple[float, float]]
    n_points: int
    n_runs: int
    success: bool
    message: str
    warnings: tuple[str, ...]
    objective: str
    delta: float
    objective_value: float
    rmse_log: float
    mare: float
    ranges: dict[str, tuple[float, float]]
    settings: dict
    y_transform: str = "none"
    boot: np.ndarray | None = field(default=None, repr=False)
    n_boot_requested: int = 0
    seconds: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def law_obj(self) -> Law:
        return get_law(self.law)

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.law_obj.param_names

    def _inverse(self, y):
        return 1.0 - y if self.y_transform == "one_minus" else y

    def _X(self, X):
        law = self.law_obj
        if isinstance(X, dict) and not all(v in X for v in law.variables):
            X = complete_axes(X)
        elif isinstance(X, pd.DataFrame) and not all(v in X for v in law.variables):
            X = complete_axes(X)
        return as_arrays(X, law.variables)

    def predict(self, X) -> np.ndarray:
        """Predicted metric at ``X`` (a DataFrame or dict with the law's variables), in metric units."""
        return self._inverse(self.law_obj.predict(self.params, self._X(X)))

    def predict_samples(self, X) -> np.ndarray:
        """Predictions of every bootstrap resample, shape (n_boot, len(X)); raises if none ran."""
        if self.boot is None or len(self.boot) == 0:
            raise ValueError("this fit has no bootstrap samples; refit with bootstrap > 0")
        law = self.law_obj
        theta = law.to_internal(self.boot)
        return self._inverse(np.exp(law.logpred(theta, self._X(X))))

    def band(self, X, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band of the prediction at ``level``."""
        s = self.predict_samples(X)
        q = (1 - level) / 2
        lo, hi = np.nanquantile(s, [q, 1 - q], axis=0)
        return lo, hi

    def derived(self, fn: Callable[[dict], float], level: float = 0.95) -> tuple[float, float, float]:
        """A derived quantity ``fn(params)`` with its percentile interval over the bootstrap."""
        value = float(fn(self.params))
        if self.boot is None or len(self.boot) == 0:
            return value, float("nan"), float("nan")
        names = self.param_names
        vals = np.array([fn(dict(zip(names, row))) for row in self.boot], dtype=float)
        vals = vals[np.isfinite(vals)]
        if len(vals) == 0:
            return value, float("nan"), float("nan")
        q = (1 - level) / 2
        lo, hi = np.quantile(vals, [q, 1 - q])
        return value, float(lo), float(hi)

    @property
    def n_boot(self) -> int:
        return 0 if self.boot is None else int(len(self.boot))

    def to_dict(self, include_samples: bool = False) -> dict:
        """Plain-JSON view (the CLI contract: law, params, ci, n_points, n_runs, success, warnings ...)."""
        d = {
            "law": self.law, "formula": self.law_obj.formula,
            "params": {k: float(v) for k, v in self.params.items()},
            "ci": {k: [float(a), float(b)] for k, (a, b) in self.ci.items()},
            "n_points": self.n_points, "n_runs": self.n_runs, "success": bool(self.success),
            "message": self.message, "warnings": list(self.warnings), "notes": list(self.notes),
            "objective": self.objective, "delta": self.delta, "objective_value": self.objective_value,
            "rmse_log": self.rmse_log, "mare": self.mare,
            "ranges": {k: [float(a), float(b)] for k, (a, b) in self.ranges.items()},
            "y_transform": self.y_transform, "n_boot": self.n_boot, "n_boot_requested": self.n_boot_requested,
            "seconds": self.seconds, "settings": self.settings,
        }
        if include_samples and self.boot is not None:
            d["boot"] = self.boot.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FitResult":
        boot = np.asarray(d["boot"], float) if d.get("boot") is not None else None
        return cls(law=d["law"], params=dict(d["params"]), ci={k: tuple(v) for k, v in d["ci"].items()},
                   n_points=d["n_points"], n_runs=d["n_runs"], success=d["success"], message=d["message"],
                   warnings=tuple(d["warnings"]), objective=d["objective"], delta=d["delta"],
                   objective_value=d["objective_value"], rmse_log=d["rmse_log"], mare=d["mare"],
                   ranges={k: tuple(v) for k, v in d["ranges"].items()}, settings=d["settings"],
                   y_transform=d.get("y_transform", "none"), boot=boot,
                   n_boot_requested=d.get("n_boot_requested", 0), seconds=d.get("seconds", 0.0),
                   notes=tuple(d.get("notes", ())))

    def summary(self) -> str:
        """An lmfit-style text report."""
        law = self.law_obj
        lines = [f"[[Fit]] {law.title}: {law.formula}",
                 f"    objective: {OBJECTIVES[self.objective]}" + (f" (delta={self.delta:g})" if self.objective == "huber" else ""),
                 f"    points: {self.n_points}   runs: {self.n_runs}   success: {self.success}",
                 f"    RMSE(log y): {self.rmse_log:.4g}   mean |rel. error|: {self.mare:.3%}",
                 f"[[Parameters]] (95% CI, run-level bootstrap, {self.n_boot} resamples)"]
        for k, v in self.params.items():
            ci = self.ci.get(k)
            lines.append(f"    {k:>8s} = {v:.6g}" + (f"   [{ci[0]:.5g}, {ci[1]:.5g}]" if ci else ""))
        if self.warnings:
            lines.append("[[Warnings]]")
            lines += [f"    - {w}" for w in self.warnings]
        return "\n".join(lines)


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


def _batched_refit(law: Law, X, ly, W, theta0, objective, delta, iters=100, xtol=1e-6):
    """Refit every row of the weight matrix ``W`` (B, n) at once by LM/IRLS from ``theta0``.

    Each iteration solves, for every resample b, the damped Gauss-Newton system of the IRLS
    surrogate ``(J^T U J + lam diag) step = -J^T U r`` with ``U = W_b * u(r)``; a step is kept only
    if it lowers resample b's exact objective. A resample stops when its step is below ``xtol``
    in the internal (log) parameters, i.e. a relative change of 1e-6: far finer than a CI needs.
    """
    B = W.shape[0]
    bounds = np.array(law.bounds())
    lo, hi = bounds[:, 0], bounds[:, 1]
    theta = np.repeat(theta0[None, :], B, axis=0)
    r_all = law.logpred(theta, X) - ly[None, :]
    f = np.sum(W * rho(r_all, objective, delta), axis=1)
    lam = np.full(B, 1e-3)
    active = np.ones(B, bool)
    p = theta.shape[1]
    eye = np.eye(p)
    for _ in range(iters):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        th, r = theta[idx], r_all[idx]
        J = law.jac(th, X)
        u = W[idx] * irls_weight(r, objective, delta)
        g = np.einsum("bn,bnp->bp", u * r, J)
        H = np.matmul((J * u[..., None]).transpose(0, 2, 1), J)
        diag = np.einsum("bpp->bp", H)
        A = H + lam[idx, None, None] * (diag[:, :, None] * eye + 1e-12 * eye)
        try:
            step = np.linalg.solve(A, -g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(A[j], -g[j], rcond=None)[0] for j in range(len(idx))])
        cand = np.clip(th + step, lo, hi)
        rc = law.logpred(cand, X) - ly[None, :]
        fc = np.sum(W[idx] * rho(rc, objective, delta), axis=1)
        fc = np.where(np.isfinite(fc), fc, np.inf)
        better = fc < f[idx]
        acc = idx[better]
        theta[acc], r_all[acc], f[acc] = cand[better], rc[better], fc[better]
        lam[idx] = np.where(better, np.maximum(lam[idx] * 0.3, 1e-12), lam[idx] * 10.0)
        moved = np.max(np.abs(cand - th), axis=1)
        done = (better & (moved < xtol)) | (~better & (lam[idx] > 1e6))
        active[idx[done]] = False
    return theta, f


def run_weights(runs: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer bootstrap weights per point: whole runs drawn with replacement.

    Returns (W, counts): ``W`` has shape (n_boot, n_points); ``counts`` (n_boot, n_runs) counts
    per unique run in sorted order, so the same seed and run set give the same resamples.
    """
    uniq, inv = np.unique(runs, return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(uniq), np.full(len(uniq), 1.0 / len(uniq)), size=n_boot)
    return counts[:, inv].astype(float), counts


def _warnings(law: Law, theta, prep: Prepared, res_hess_cond: float, init_theta, n_runs) -> list[str]:
    out = []
    bounds = law.bounds()
    for k, p in enumerate(law.params):
        lo, hi = bounds[k]
        span = hi - lo
        if theta[k] <= lo + 1e-6 * span or theta[k] >= hi - 1e-6 * span:
            val = law.to_public(theta)[k]
            out.append(f"{p.name} = {val:.4g} sits on its bound [{p.lower:g}, {p.upper:g}]: the data do not "
                       f"pin it down; add runs that vary the {'/'.join(law.variables)} it depends on, or fix it.")
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
        out.append(f"only {n_runs} runs for {len(law.params)} parameters: the bootstrap over runs is unreliable "
                   "and the fit may be exact; add runs or choose a law with fewer parameters.")
    return out


def fit_law(frame: pd.DataFrame, law: str | Law = "chinchilla", *, objective: str = "huber",
            delta: float = 1e-3, bootstrap: int = 1000, seed: int = 0, min_tokens: float | None = None,
            min_fraction: float | None = None, exclude_runs=(), y_transform: str = "none",
            time_budget: float | None = None, n_polish: int = 3) -> FitResult:
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

    Returns
    -------
    FitResult
    """
    t0 = time.perf_counter()
    law = get_law(law) if isinstance(law, str) else law
    if objective not in OBJECTIVES:
        raise FitError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    prep = prepare(frame, law, min_tokens=min_tokens, min_fraction=min_fraction,
                   exclude_runs=exclude_runs, y_transform=y_transform)
    X, y, ly = prep.X, prep.y, np.log(prep.y)
    w = np.ones_like(y)
    # 1. initialisation
    cands = law.init(X, y)
    vals = _objective_batch(law, cands, X, ly, w[None, :], objective, delta) if len(cands) > 1 else np.zeros(1)
    order = np.argsort(vals)[:max(1, n_polish)]
    # 2. polish
    best = None
    with single_thread_blas():
        for i in order:
            res = _polish(law, cands[i], X, ly, w, objective, delta)
            if best is None or res.fun < best[0].fun:
                best = (res, cands[i])
    res, init_theta = best
    theta = res.x
    r = law.logpred(theta[None], X)[0] - ly
    J = law.jac(theta[None], X)[0]
    try:
        cond = float(np.linalg.cond(J.T @ J))
    except np.linalg.LinAlgError:
        cond = float("inf")
    n_runs = len(np.unique(prep.run))
    warns = _warnings(law, theta, prep, cond, init_theta, n_runs)
    success = bool(np.all(np.isfinite(theta)) and np.isfinite(res.fun))
    # 3. bootstrap
    boot = None
    if bootstrap and n_runs >= 2:
        W, _ = run_weights(prep.run, int(bootstrap), seed)
        n, p = len(y), len(theta)
        chunk = int(np.clip(4e6 // max(1, n * p), 8, 250))   # bounded memory; budget checked per chunk
        thetas = []
        deadline = None if time_budget is None else t0 + float(time_budget)
        with single_thread_blas():
            for start in range(0, len(W), chunk):
                th_b, f_b = _batched_refit(law, X, ly, W[start:start + chunk], theta, objective, delta)
                thetas.append(th_b[np.isfinite(f_b)])
                if deadline is not None and time.perf_counter() > deadline and start + chunk < len(W):
                    done = sum(len(t) for t in thetas)
                    warns.append(f"the bootstrap stopped after {done} of {bootstrap} resamples to stay within the "
                                 f"{time_budget:g} s time budget: the intervals are rougher; run the CLI for the "
                                 "full count.")
                    break
        boot_int = np.concatenate(thetas) if thetas else np.empty((0, p))
        boot = law.to_public(boot_int)
        if len(boot) < 0.95 * min(bootstrap, len(boot) + 1):
            warns.append(f"{bootstrap - len(boot)} bootstrap refits failed and were dropped.")
    elif bootstrap:
        warns.append("a run-level bootstrap needs at least 2 runs; no intervals were computed.")
    public = law.to_public(theta)
    params = dict(zip(law.param_names, map(float, public)))
    ci = {}
    if boot is not None and len(boot):
        lo, hi = np.quantile(boot, [0.025, 0.975], axis=0)
        ci = {k: (float(a), float(b)) for k, a, b in zip(law.param_names, lo, hi)}
    yhat = np.exp(ly + r)
    scale = 1.0
    ranges = {v: (float(np.min(X[v])), float(np.max(X[v]))) for v in law.variables if v not in ("U", "S2")}
    settings = dict(law=law.name, objective=objective, delta=delta, bootstrap=int(bootstrap), seed=int(seed),
                    min_tokens=min_tokens, min_fraction=min_fraction, exclude_runs=sorted(map(str, exclude_runs or ())),
                    y_transform=y_transform)
    return FitResult(
        law=law.name, params=params, ci=ci, n_points=len(y), n_runs=n_runs, success=success,
        message=str(res.message), warnings=tuple(warns), objective=objective, delta=delta,
        objective_value=float(np.sum(rho(r, objective, delta)) * scale), rmse_log=float(np.sqrt(np.mean(r * r))),
        mare=float(np.mean(np.abs(yhat - y) / y)), ranges=ranges, settings=settings, y_transform=y_transform,
        boot=boot, n_boot_requested=int(bootstrap), seconds=time.perf_counter() - t0, notes=prep.notes)
