"""Emergence classifier (PassUntil, Hu et al. 2024): standard task scaling, accelerated emergence or sub-scaling.

Hu et al.'s task scaling law says a task's pass rate ``p`` (above chance) approaches 1 as

.. math::
    p(N) = \\exp(-c N^{-\\alpha}) \\quad\\Longleftrightarrow\\quad
    F(N) = \\log(-\\log p) = \\log c - \\alpha \\log N,

so ``F`` is a straight line in ``u = log N`` (natural logs) with slope ``-alpha``. The shape of ``F`` says
how the task scales:

* **linear** -- the standard task scaling law (``alpha`` is its exponent);
* **accelerated** -- accelerated emergence: ``F`` falls faster and faster, i.e. the growth curve
  ``G = -F = -log(-log p)`` is *convex* in ``log N`` (improvement speeds up beyond any power law);
* **sub-scaling** -- ``G`` is concave: improvement slows down (Hu et al.'s sub-scaling law growth);
* **no improvement** -- ``alpha``'s interval reaches 0: the task does not improve with scale;
* **too few sizes** -- fewer than :data:`MIN_SIZES` distinct sizes (a curvature needs at least 4).

Convex and concave refer to the growth curve ``G``, which rises with scale like the pass rate; in terms of
``F`` itself accelerated emergence is the concave case.

Chance floor
------------
For multiple choice with ``chance`` level ``g`` (0.25 for four options; the store knows the published
baselines) the pass rate above chance is ``p' = (p - g) / (1 - g)``; points at or below chance (``p' <= 0``)
or at 1 carry no information on ``F`` and are left out with a note.

Fit and test
------------
``F`` is fitted by weighted least squares on ``u``: a line (``alpha``, ``c``) and a parabola
``G = a + b u + gamma u^2`` whose ``gamma`` (per squared e-fold of N) measures the curvature. Weights are
the inverse delta-method variance of ``F`` under binomial sampling, ``w = p (log p)^2 / (1 - p)``: ``F`` is
far noisier where ``p`` is near 1. (Measured on clean synthetic draws, unweighted least squares gives a
false-positive rate of 8.5% at a nominal 5%; these weights keep it near 5% whether the noise is binomial or
relative.)

The curvature test is a run-level (wild cluster) bootstrap of the t statistic of ``gamma`` with the null
imposed (Cameron, Gelbach & Miller 2008): resamples keep every run's design and flip the sign of all its
residuals from the linear fit together, with Webb's six-point weights (distinct resamples even with 4
runs). Checkpoints of one run therefore move together, like the run-level bootstrap of the fits. The
p-value is the share of resamples with ``|t*| >= |t|``; the verdict is accelerated / sub-scaling when
``p < level`` (0.05 by default). Intervals are symmetric bootstrap-t intervals from the same resamples,
``estimate +/- q |t*| SE``: for ``gamma`` (with ``q`` the test's critical value) the interval excludes 0
exactly when the test rejects; for ``alpha`` the t* are those of the slope of the linear fit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.interval import Interval
from analysis.jsonable import number
from datasets.errors import WorkbenchError

MIN_SIZES = 4
SHAPES = ("linear", "accelerated", "sub-scaling", "no improvement", "too few sizes")
WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


class EmergenceError(WorkbenchError, ValueError):
    """The pass rates cannot be classified as given (the message names the row, the fix what to do)."""


@dataclass(frozen=True)
class EmergenceResult:
    """The shape of ``F(N) = log(-log p)`` for one task, with its test.

    Attributes
    ----------
    shape : one of :data:`SHAPES`.
    alpha, alpha_ci : exponent of the task scaling law ``p = exp(-c N^-alpha)`` and its 95% interval.
    c : coefficient of the law (N in parameters).
    curvature, curvature_ci : ``gamma`` of ``G = -F = a + b u + gamma u^2`` (u = ln N), per e-fold squared.
    p_value : run-level bootstrap p-value of the curvature test (NaN when not run).
    chance : the chance level subtracted (0 when none).
    """

    shape: str
    alpha: float
    alpha_ci: Interval
    c: float
    curvature: float
    curvature_ci: Interval
    p_value: float
    n: int
    n_sizes: int
    n_runs: int
    chance: float
    level: float
    evidence: str
    x_range: tuple[float, float]
    notes: tuple[str, ...] = field(default=())

    def predict(self, N) -> np.ndarray:
        """Pass rate of the linear (standard) task scaling law at ``N``, chance floor added back."""
        N = np.asarray(N, float)
        return self.chance + (1.0 - self.chance) * np.exp(-self.c * N ** -self.alpha)

    def to_dict(self) -> dict:
        num = number
        return {"shape": self.shape, "alpha": num(self.alpha), "alpha_ci": [num(v) for v in self.alpha_ci],
                "c": num(self.c), "curvature": num(self.curvature),
                "curvature_ci": [num(v) for v in self.curvature_ci], "p_value": num(self.p_value),
                "n": self.n, "n_sizes": self.n_sizes, "n_runs": self.n_runs, "chance": self.chance,
                "level": self.level, "evidence": self.evidence, "x_range": [num(v) for v in self.x_range],
                "notes": list(self.notes)}

    def summary(self) -> str:
        if self.shape == "too few sizes":
            s = self.evidence
        else:
            lo, hi = self.alpha_ci
            s = (f"{self.shape} ({self.evidence}); task scaling exponent alpha = {self.alpha:.3g} "
                 f"(95% CI {lo:.3g} to {hi:.3g})")
        return ". ".join([s, *self.notes])


def pass_rate_above_chance(p, chance: float = 0.0) -> np.ndarray:
    """``(p - chance) / (1 - chance)``: the pass rate with the multiple-choice floor removed."""
    chance = float(chance)
    if not 0.0 <= chance < 1.0:
        raise EmergenceError(f"chance level {chance!r} is not in [0, 1)", "give the random baseline as a fraction")
    return (np.asarray(p, float) - chance) / (1.0 - chance)


def task_transform(p, chance: float = 0.0) -> np.ndarray:
    """``F = log(-log p')`` with ``p'`` the pass rate above chance; NaN where ``p'`` is not in (0, 1)."""
    q = pass_rate_above_chance(p, chance)
    with np.errstate(all="ignore"):
        return np.where((q > 0) & (q < 1), np.log(-np.log(q)), np.nan)


def _wls(X: np.ndarray, G: np.ndarray, w: np.ndarray):
    """Weighted least squares of every row of ``G`` (B, n) on ``X`` (n, k): coefficients and t-SEs."""
    A = (X * w[:, None]).T @ X
    Ai = np.linalg.pinv(A)
    beta = G @ (X * w[:, None]) @ Ai.T
    r = G - beta @ X.T
    dof = max(len(w) - X.shape[1], 1)
    s2 = (w * r * r).sum(axis=1) / dof
    se = np.sqrt(np.maximum(s2[:, None] * np.diag(Ai)[None, :], 0.0))
    return beta, se, r


def classify_emergence(N, p, *, chance: float = 0.0, runs=None, level: float = 0.05, n_boot: int = 999,
                       seed: int = 0) -> EmergenceResult:
    """Classify how a task's pass rate scales with model size (see the module docstring).

    Parameters
    ----------
    N : model sizes (parameters), one per observation; several observations may share a size or a run.
    p : pass rates (fractions in [0, 1]: accuracy, pass@k ...), higher is better.
    chance : the random baseline subtracted first (0.25 for 4-way multiple choice).
    runs : optional run ids; a run's checkpoints move together in the bootstrap (default: one per row).
    level : significance level of the curvature test.
    n_boot : wild-bootstrap resamples (>= 99).
    seed : bootstrap seed.
    """
    N = np.asarray(N, float).reshape(-1)
    p = np.asarray(p, float).reshape(-1)
    if N.shape != p.shape:
        raise EmergenceError(f"N and p must have the same length (got {len(N)} and {len(p)})",
                             "pass one pass rate per model")
    bad = np.flatnonzero(np.isfinite(N) & (N <= 0))
    if len(bad):
        raise EmergenceError(f"row {int(bad[0])}: N = {N[bad[0]]!r} is not a positive parameter count",
                             "fix or drop that row")
    bad = np.flatnonzero(np.isfinite(p) & ((p < 0) | (p > 1)))
    if len(bad):
        raise EmergenceError(f"row {int(bad[0])}: pass rate {p[bad[0]]!r} is outside [0, 1]",
                             "give accuracies as fractions (0.53, not 53)")
    runs = np.arange(len(N)).astype(str) if runs is None else np.asarray(runs, dtype=object).astype(str).reshape(-1)
    if len(runs) != len(N):
        raise EmergenceError(f"runs must have one id per row (got {len(runs)} for {len(N)} rows)")
    if n_boot < 99:
        raise EmergenceError(f"n_boot = {n_boot} is too few for a bootstrap test", "use at least 99 resamples")
    notes = []
    F = task_transform(p, chance)
    keep = np.isfinite(N) & np.isfinite(F)
    q = pass_rate_above_chance(p, chance)
    at_floor = int(np.sum(np.isfinite(q) & (q <= 0)))
    at_top = int(np.sum(np.isfinite(q) & (q >= 1)))
    if at_floor:
        notes.append(f"Left out {at_floor} point{'s' * (at_floor != 1)} at or below chance"
                     + (f" ({chance:g})" if chance else ""))
    if at_top:
        notes.append(f"Left out {at_top} point{'s' * (at_top != 1)} with a perfect score")
    N, F, q, runs = N[keep], F[keep], q[keep], runs[keep]
    n, n_sizes = len(N), len(np.unique(N))
    x_range = (float(N.min()), float(N.max())) if n else (np.nan, np.nan)
    n_runs = len(np.unique(runs))
    nan2 = Interval(np.nan, np.nan)
    if n_sizes < MIN_SIZES or n_runs < MIN_SIZES:
        return EmergenceResult("too few sizes", np.nan, nan2, np.nan, np.nan, nan2, np.nan, n, n_sizes, n_runs,
                               float(chance), level, f"too few sizes: {n_sizes} size{'s' * (n_sizes != 1)} "
                               f"above chance (a curvature needs at least {MIN_SIZES})", x_range, tuple(notes))
    u = np.log(N)
    u0 = float(np.mean(u))
    uc = u - u0
    G = -F
    w = q * np.log(q) ** 2 / (1.0 - q)
    w = w / w.mean()
    X1 = np.column_stack([np.ones(n), uc])
    X2 = np.column_stack([np.ones(n), uc, uc * uc])
    b1, se1, r1 = _wls(X1, G[None, :], w)
    b2, se2, r2 = _wls(X2, G[None, :], w)
    t_obs = b2[0, 2] / se2[0, 2] if se2[0, 2] > 0 else np.inf * np.sign(b2[0, 2])
    # wild cluster bootstrap: one Webb weight per run
    _, inv = np.unique(runs, return_inverse=True)
    V = np.random.default_rng(seed).choice(WEBB, size=(n_boot, n_runs))[:, inv]
    fit1 = b1[0] @ X1.T
    Gs = fit1[None, :] + V * r1                       # null imposed (restricted)
    bs, ses, _ = _wls(X2, Gs, w)
    with np.errstate(all="ignore"):
        t_star = bs[:, 2] / ses[:, 2]
    p_value = float(np.mean(np.abs(t_star) >= abs(t_obs) - 1e-12))
    # symmetric bootstrap-t intervals: estimate -/+ the 95% quantile of |t*| times its standard error.
    # For the curvature this inverts the test itself (the interval excludes 0 exactly when p < 0.05).
    gamma, gamma_se = float(b2[0, 2]), float(se2[0, 2])
    q_gamma = float(np.quantile(np.abs(t_star[np.isfinite(t_star)]), 1 - level))
    gamma_ci = Interval(gamma - q_gamma * gamma_se, gamma + q_gamma * gamma_se)
    bl, sel, _ = _wls(X1, Gs, w)
    with np.errstate(all="ignore"):
        t_alpha = (bl[:, 1] - b1[0, 1]) / sel[:, 1]
    q_alpha = float(np.quantile(np.abs(t_alpha[np.isfinite(t_alpha)]), 0.95))
    alpha = float(b1[0, 1])
    alpha_ci = Interval(alpha - q_alpha * float(se1[0, 1]), alpha + q_alpha * float(se1[0, 1]))
    c = float(np.exp(-(b1[0, 0] - alpha * u0)))      # F = log c - alpha ln N
    if alpha_ci[0] <= 0:
        shape = "no improvement"
    elif p_value < level:
        shape = "accelerated" if gamma > 0 else "sub-scaling"
    else:
        shape = "linear"
    evidence = f"curvature p = {p_value:.2g}, {n_sizes} sizes"
    if n_runs < 6:
        notes.append(f"With {n_runs} runs the curvature test has little power: a 'linear' verdict is weak")
    return EmergenceResult(shape, alpha, alpha_ci, c, gamma, gamma_ci, p_value, n, n_sizes, n_runs,
                           float(chance), level, evidence, x_range, tuple(notes))


SCAN_COLUMNS = ["family", "metric", "shape", "alpha", "alpha_lo", "alpha_hi", "curvature", "p_value", "chance",
                "n", "n_sizes", "summary"]


def scan_emergence(points: pd.DataFrame, *, chance_level=None, level: float = 0.05, n_boot: int = 999,
                   seed: int = 0, include_all: bool = False) -> pd.DataFrame:
    """Emergence shape for every (family, bounded higher-is-better metric) of a ``Store.points()`` table.

    ``chance_level(source, metric) -> float | None`` supplies the random baseline (``Store.chance_level``);
    the final checkpoint of each run is used, ``N = params``. Only metrics whose values lie in [0, 1] and
    are higher-is-better are scanned. Lists non-linear findings (accelerated, sub-scaling) unless
    ``include_all``; smallest p-value first.
    """
    from analysis.trend import final_points

    need = {"family", "params", "metric", "value", "higher_is_better"}
    missing = need - set(points.columns)
    if missing:
        raise EmergenceError(f"points table lacks column(s): {', '.join(sorted(missing))}",
                             "pass a table from Store.points()")
    df = final_points(points)
    rows = []
    for (family, metric), grp in df.groupby(["family", "metric"], sort=True):
        hib = grp["higher_is_better"].dropna()
        vals = pd.to_numeric(grp["value"], errors="coerce")
        if hib.empty or not bool(hib.iloc[0]) or vals.min() < 0 or vals.max() > 1:
            continue
        if grp["params"].nunique() < MIN_SIZES:
            continue
        source = grp["source"].iloc[0] if "source" in grp else str(family).split("/")[0]
        chance = chance_level(source, metric) if chance_level is not None else None
        runs = grp["run_id"].to_numpy(object) if "run_id" in grp else None
        res = classify_emergence(grp["params"].to_numpy(float), vals.to_numpy(float), chance=chance or 0.0,
                                 runs=runs, level=level, n_boot=n_boot, seed=seed)
        if not include_all and res.shape not in ("accelerated", "sub-scaling"):
            continue
        rows.append({"family": family, "metric": metric, "shape": res.shape, "alpha": res.alpha,
                     "alpha_lo": res.alpha_ci[0], "alpha_hi": res.alpha_ci[1], "curvature": res.curvature,
                     "p_value": res.p_value, "chance": res.chance, "n": res.n, "n_sizes": res.n_sizes,
                     "summary": res.summary()})
    out = pd.DataFrame(rows, columns=SCAN_COLUMNS)
    return out.sort_values("p_value", kind="mergesort", na_position="last").reset_index(drop=True)
