"""Compute-optimal allocation: how to split a FLOP budget between parameters and tokens.

For a budget :math:`C = k N D` (``k`` = 6 FLOPs per parameter per token by default) the optimum
minimises the fitted loss along the iso-FLOP line. For the Chinchilla form it is closed:

.. math::
    G = \\left(\\frac{\\alpha A}{\\beta B}\\right)^{1/(\\alpha+\\beta)},\\quad
    N^*(C) = G\\,(C/k)^{\\beta/(\\alpha+\\beta)},\\quad
    D^*(C) = G^{-1}\\,(C/k)^{\\alpha/(\\alpha+\\beta)}.

Other laws (Kaplan, data-constrained with a unique-token budget) are minimised numerically on a
fine grid of :math:`\\log N` with parabolic refinement, for the point fit and every bootstrap
resample at once, so every answer carries a percentile interval.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from analysis.fit import FLOPS_PER_PARAM_TOKEN, FitResult

H100_BF16_DENSE_FLOPS = 989e12   # peak dense BF16 FLOP/s of one H100 SXM
DEFAULT_UTILISATION = 0.4        # model FLOPs utilisation typical of large dense pretraining


def gpu_hours_to_flops(hours: float, peak_flops_per_gpu: float = H100_BF16_DENSE_FLOPS,
                       utilisation: float = DEFAULT_UTILISATION) -> float:
    """Training FLOPs delivered by ``hours`` GPU-hours: hours x 3600 s x peak FLOP/s x utilisation."""
    return float(hours) * 3600.0 * peak_flops_per_gpu * utilisation


def flops_to_gpu_hours(flops: float, peak_flops_per_gpu: float = H100_BF16_DENSE_FLOPS,
                       utilisation: float = DEFAULT_UTILISATION) -> float:
    """GPU-hours needed for ``flops`` training FLOPs (inverse of :func:`gpu_hours_to_flops`)."""
    return float(flops) / (3600.0 * peak_flops_per_gpu * utilisation)


def _require_allocatable(fit: FitResult):
    law = fit.law_obj
    if not law.allocatable:
        raise ValueError(f"law {fit.law} does not model N and D jointly, so it cannot split a budget; "
                         "fit chinchilla, kaplan or data_constrained to allocate compute")
    return law


def _theta_public(fit: FitResult) -> np.ndarray:
    """Point estimate first, then the bootstrap resamples: shape (1 + n_boot, p)."""
    point = np.array([fit.params[n] for n in fit.param_names], dtype=float)[None, :]
    return point if fit.boot is None else np.vstack([point, fit.boot])


def _optimum(fit: FitResult, compute: float, k: float, unique_tokens: float | None):
    """N*, D*, loss* for every parameter row (point first, then resamples)."""
    law = _require_allocatable(fit)
    P = _theta_public(fit)
    names = fit.param_names
    budget = compute / k
    if law.name == "chinchilla":
        E, A, B, a, b = (P[:, names.index(n)] for n in ("E", "A", "B", "alpha", "beta"))
        with np.errstate(all="ignore"):
            G = (a * A / (b * B)) ** (1.0 / (a + b))
            N = G * budget ** (b / (a + b))
            D = G ** -1 * budget ** (a / (a + b))
            loss = E + A / N ** a + B / D ** b
        return N, D, loss, "closed form"
    lo, hi = np.log(1e3), np.log(budget / 1e3)
    if hi <= lo:
        raise ValueError(f"a budget of {compute:.3g} FLOPs is too small to allocate")
    grid = np.linspace(lo, hi, 600)
    Ng = np.exp(grid)
    X = {"N": Ng, "D": budget / Ng, "C": np.full_like(Ng, compute),
         "U": np.full_like(Ng, unique_tokens if unique_tokens else np.nan)}
    theta = law.to_internal(P)
    L = law.logpred(theta, X)                               # (rows, grid)
    j = np.clip(np.argmin(L, axis=1), 1, len(grid) - 2)
    rows = np.arange(len(P))
    y0, y1, y2 = L[rows, j - 1], L[rows, j], L[rows, j + 1]
    denom = y0 - 2 * y1 + y2
    shift = np.where(denom > 0, 0.5 * (y0 - y2) / np.where(denom > 0, denom, 1.0), 0.0)
    lnN = grid[j] + shift * (grid[1] - grid[0])
    N = np.exp(lnN)
    D = budget / N
    Xo = {"N": N, "D": D, "C": np.full_like(N, compute), "U": np.full_like(N, unique_tokens or np.nan)}
    loss = np.array([np.exp(law.logpred(theta[i:i + 1], {v: Xo[v][i:i + 1] for v in Xo})[0, 0])
                     for i in range(len(P))])
    return N, D, loss, "numerical (grid over log N with parabolic refinement)"


def _ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return (float("nan"), float("nan"))
    q = (1 - level) / 2
    lo, hi = np.quantile(v, [q, 1 - q])
    return (float(lo), float(hi))


@dataclass(frozen=True)
class Allocation:
    """The compute-optimal split of one budget, with 95% bootstrap intervals."""

    compute: float
    N_opt: float
    D_opt: float
    tokens_per_param: float
    loss: float
    ci: dict[str, tuple[float, float]]
    law: str
    method: str
    flops_per_param_token: float
    unique_tokens: float | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {"compute": self.compute, "N_opt": self.N_opt, "D_opt": self.D_opt,
                "tokens_per_param": self.tokens_per_param, "loss": self.loss,
                "ci": {k: [v[0], v[1]] for k, v in self.ci.items()}, "law": self.law, "method": self.method,
                "flops_per_param_token": self.flops_per_param_token, "unique_tokens": self.unique_tokens,
                "notes": list(self.notes)}


def allocate(fit: FitResult, compute: float, *, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
             unique_tokens: float | None = None) -> Allocation:
    """Split ``compute`` FLOPs into N* parameters and D* tokens minimising the fitted loss.

    Parameters
    ----------
    fit : FitResult
        A fit of a law in N and D (chinchilla, kaplan, data_constrained).
    compute : float
        Training budget in FLOPs.
    flops_per_param_token : float
        ``k`` in C = k N D (6 for a dense transformer's forward and backward pass).
    unique_tokens : float, optional
        Unique tokens available (data-constrained law): repeated epochs lose value.
    """
    if not np.isfinite(compute) or compute <= 0:
        raise ValueError(f"compute must be a positive number of FLOPs, got {compute!r}")
    N, D, loss, method = _optimum(fit, float(compute), flops_per_param_token, unique_tokens)
    notes = []
    lo_n, hi_n = fit.ranges.get("N", (np.nan, np.nan))
    if np.isfinite(hi_n) and N[0] > 10 * hi_n:
        notes.append(f"N* is {N[0] / hi_n:.0f}x the largest model in the data: an extrapolation.")
    if unique_tokens and fit.law != "data_constrained":
        notes.append("unique_tokens only matters for the data_constrained law; it was ignored.")
    if unique_tokens and D[0] > unique_tokens:
        notes.append(f"D* means {D[0] / unique_tokens:.1f} epochs over the {unique_tokens:.3g} unique tokens.")
    tpp = D / N
    ci = {}
    if len(N) > 1:
        ci = {"N_opt": _ci(N[1:]), "D_opt": _ci(D[1:]), "tokens_per_param": _ci(tpp[1:]), "loss": _ci(loss[1:])}
    return Allocation(float(compute), float(N[0]), float(D[0]), float(tpp[0]), float(loss[0]), ci, fit.law,
                      method, flops_per_param_token, unique_tokens, tuple(notes))


def frontier(fit: FitResult, computes, *, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
             unique_tokens: float | None = None) -> pd.DataFrame:
    """The efficient frontier: the optimum at each budget, with ``*_lo`` / ``*_hi`` 95% bounds."""
    rows = []
    for c in np.asarray(computes, float):
        a = allocate(fit, c, flops_per_param_token=flops_per_param_token, unique_tokens=unique_tokens)
        row = {"compute": c, "N_opt": a.N_opt, "D_opt": a.D_opt, "tokens_per_param": a.tokens_per_param,
               "loss": a.loss}
        for k, (lo, hi) in a.ci.items():
            row[f"{k}_lo"], row[f"{k}_hi"] = lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def isoflop(fit: FitResult, compute: float, N, *, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
            unique_tokens: float | None = None) -> pd.DataFrame:
    """Predicted loss along the iso-FLOP line C = k N D for the model sizes ``N``."""
    N = np.asarray(N, float)
    D = compute / (flops_per_param_token * N)
    X = {"N": N, "D": D, "C": np.full_like(N, compute), "U": np.full_like(N, unique_tokens or np.nan)}
    out = pd.DataFrame({"N": N, "D": D, "loss": fit.predict(X)})
    if fit.n_boot:
        out["loss_lo"], out["loss_hi"] = fit.band(X)
    return out


@dataclass(frozen=True)
class PlanCost:
    """What a planned run (N, D) costs against the compute-optimal frontier."""

    N: float
    D: float
    compute: float
    loss: float
    optimal_loss: float
    optimal_N: float
    optimal_D: float
    compute_for_same_loss: float
    multiplier: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def summary(self) -> str:
        if not np.isfinite(self.multiplier):
            return "the optimum cannot reach this plan's loss within the searched range"
        if self.multiplier <= 1.01:
            return "this plan is within 1% of compute-optimal"
        return (f"the optimum reaches this plan's loss with {1 / self.multiplier:.1%} of its compute "
                f"({self.multiplier:.2f}x less)")


def plan_cost(fit: FitResult, N: float, D: float, *,
              flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN) -> PlanCost:
    """Loss of the planned (N, D), the optimal loss at the same compute, and the compute the optimum
    needs to match the planned loss (``multiplier`` = planned compute / that compute, >= 1)."""
    k = flops_per_param_token
    C = k * N * D
    loss = float(fit.predict({"N": np.array([N]), "D": np.array([D]), "C": np.array([C]),
                              "U": np.array([np.nan])})[0])
    opt = allocate(fit, C, flops_per_param_token=k)

    def gap(logc):
        return allocate(fit, float(np.exp(logc)), flops_per_param_token=k).loss - loss

    lo, hi = np.log(C) - np.log(1e6), np.log(C)
    try:
        c_same = float(np.exp(brentq(gap, lo, hi, xtol=1e-6))) if gap(lo) > 0 > gap(hi) else C
    except ValueError:
        c_same = float("nan")
    return PlanCost(N, D, C, loss, opt.loss, opt.N_opt, opt.D_opt, c_same, C / c_same if c_same else np.nan)


def isoflop_minima(frame: pd.DataFrame, *, gap_dex: float = 0.05, min_sizes: int = 3) -> tuple[pd.DataFrame, dict]:
    """Approach 2: the loss-minimising N of each iso-FLOP group, and the power law N_opt ~ C^a.

    Runs are grouped by compute: sorted log10 C values split wherever consecutive values differ by
    more than ``gap_dex``. Each group with at least ``min_sizes`` distinct N gets a parabola in
    log N, whose vertex is that budget's N_opt. Returns (table, {"a": exponent, "n_budgets"}).
    Approach 2 is biased when alpha != beta or the N grid is off-centre; compare with Approach 3
    (the fitted law's b / (a + b)).
    """
    df = frame[["N", "C", "y"]].dropna()
    df = df[(df["N"] > 0) & (df["C"] > 0)].sort_values("C")
    lc = np.log10(df["C"].to_numpy())
    groups = np.concatenate([[0], np.cumsum(np.diff(lc) > gap_dex)])
    rows = []
    for g in np.unique(groups):
        sub = df[groups == g]
        if sub["N"].nunique() < min_sizes:
            continue
        x = np.log(sub["N"].to_numpy())
        a2, a1, a0 = np.polyfit(x, sub["y"].to_numpy(), 2)
        if a2 <= 0:
            continue
        xm = -a1 / (2 * a2)
        inside = x.min() <= xm <= x.max()
        rows.append({"compute": float(np.exp(np.mean(np.log(sub["C"])))), "N_opt": float(np.exp(xm)),
                     "loss_min": float(a0 + a1 * xm + a2 * xm * xm), "n_runs": len(sub), "vertex_inside": inside})
    table = pd.DataFrame(rows)
    info = {"n_budgets": len(table), "a": float("nan")}
    if len(table) >= 2:
        info["a"] = float(np.polyfit(np.log(table["compute"]), np.log(table["N_opt"]), 1)[0])
    return table, info
