"""Compute-optimal allocation: how to split a FLOP budget between parameters and tokens.

For a budget :math:`C = k N D` (``k`` = 6 FLOPs per parameter per token by default) the optimum
minimises the fitted loss along the iso-FLOP line. Any law in both N and D can be allocated
(``Law.allocatable``). A law that knows its optimum in closed form says so (``Law.optimum``; Chinchilla's
is :math:`N^*(C) = G\\,(C/k)^{\\beta/(\\alpha+\\beta)}` with
:math:`G = (\\alpha A / \\beta B)^{1/(\\alpha+\\beta)}`, see :mod:`analysis.laws.chinchilla`); the
others (Kaplan, data-constrained with a unique-token budget) are minimised numerically on a fine grid
of :math:`\\log N` with parabolic refinement. Either way the point fit and every bootstrap resample are
solved at once, so every answer carries a 95% percentile :class:`~analysis.interval.Interval`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.diagnostics import extrapolation, split_uncertainty
from datasets.errors import WorkbenchError
from analysis.fit_result import FitResult
from analysis.interval import Interval, percentile_interval
from analysis.laws import LAWS, Law
from analysis.prepare import FLOPS_PER_PARAM_TOKEN

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


def _require_allocatable(fit: FitResult) -> Law:
    law = fit.law
    if not law.allocatable:
        able = ", ".join(name for name, other in LAWS.items() if other.allocatable)
        raise ValueError(f"law {law.name} does not model N and D jointly, so it cannot split a budget; "
                         f"fit a law in N and D ({able}) to allocate compute")
    return law


def _theta_public(fit: FitResult) -> np.ndarray:
    """Point estimate first, then the bootstrap resamples: shape (1 + n_boot, p)."""
    point = np.array([fit.params[n] for n in fit.param_names], dtype=float)[None, :]
    return point if fit.boot is None else np.vstack([point, fit.boot])


def _inputs(N, D, compute: float, unique_tokens: float | None) -> dict:
    """The variables of an N-D law along the iso-FLOP line (C fixed; U the unique-token budget or NaN)."""
    return {"N": N, "D": D, "C": np.full_like(N, compute),
            "U": np.full_like(N, unique_tokens if unique_tokens else np.nan)}


def _loss_rows(law: Law, theta: np.ndarray, X: dict) -> np.ndarray:
    """Loss of parameter row i at point i: each value of ``X`` as a (rows, 1) column paired with its
    parameter row (the laws' paired-shape contract), so B evaluations rather than a B x B diagonal."""
    L = law.logpred(theta, {v: np.asarray(x, float)[:, None] for v, x in X.items()})
    return np.exp(L[:, 0])


def _optimum(fit: FitResult, compute: float, k: float, unique_tokens: float | None, *, point_only: bool = False):
    """N*, D*, loss* for every parameter row (point first, then resamples; ``point_only``: the point fit's
    row alone), and the method in words."""
    law = _require_allocatable(fit)
    P = _theta_public(fit)
    if point_only:
        P = P[:1]
    theta = law.to_internal(P)
    budget = compute / k
    if law.optimum is not None:
        with np.errstate(all="ignore"):
            N, D = law.optimum({n: P[:, j] for j, n in enumerate(fit.param_names)}, budget)
            loss = _loss_rows(law, theta, _inputs(N, D, compute, unique_tokens))
        return N, D, loss, "closed form"
    lo, hi = np.log(1e3), np.log(budget / 1e3)
    if hi <= lo:
        raise ValueError(f"a budget of {compute:.3g} FLOPs is too small to allocate")
    grid = np.linspace(lo, hi, 600)
    Ng = np.exp(grid)
    L = law.logpred(theta, _inputs(Ng, budget / Ng, compute, unique_tokens))      # (rows, grid)
    j = np.clip(np.argmin(L, axis=1), 1, len(grid) - 2)
    rows = np.arange(len(P))
    y0, y1, y2 = L[rows, j - 1], L[rows, j], L[rows, j + 1]
    denom = y0 - 2 * y1 + y2
    shift = np.where(denom > 0, 0.5 * (y0 - y2) / np.where(denom > 0, denom, 1.0), 0.0)
    N = np.exp(grid[j] + shift * (grid[1] - grid[0]))
    D = budget / N
    loss = _loss_rows(law, theta, _inputs(N, D, compute, unique_tokens))
    return N, D, loss, "numerical (grid over log N with parabolic refinement)"


@dataclass(frozen=True)
class Allocation:
    """The compute-optimal split of one budget, with 95% bootstrap intervals.

    ``compute`` in FLOPs, ``N_opt`` parameters, ``D_opt`` tokens, ``loss`` in the fitted metric's units;
    ``ci`` maps each of them (and ``tokens_per_param``) to an :class:`~analysis.interval.Interval`;
    ``law`` is the law's name.
    """

    compute: float
    N_opt: float
    D_opt: float
    tokens_per_param: float
    loss: float
    ci: dict[str, Interval]
    law: str
    method: str
    flops_per_param_token: float
    unique_tokens: float | None = None
    notes: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())      # extrapolation, undetermined split (analysis.diagnostics)

    def to_dict(self) -> dict:
        return {"compute": self.compute, "N_opt": self.N_opt, "D_opt": self.D_opt,
                "tokens_per_param": self.tokens_per_param, "loss": self.loss,
                "ci": {k: v.to_list() for k, v in self.ci.items()}, "law": self.law, "method": self.method,
                "flops_per_param_token": self.flops_per_param_token, "unique_tokens": self.unique_tokens,
                "notes": list(self.notes), "warnings": list(self.warnings)}


class AllocationRefused(WorkbenchError, ValueError):
    """The law does not extrapolate (``law.extrapolates`` False, e.g. Farseer) and the optimum lies outside
    the fitted data's N or D range."""


def _refuse_outside_data(fit: FitResult, compute: float, N: float, D: float) -> None:
    """Raise :class:`AllocationRefused` when ``fit.law`` is not to be extrapolated and (N, D) leaves
    the data's N and D range (``fit.ranges``)."""
    if fit.law.extrapolates or not {"N", "D"} <= set(fit.ranges or {}):
        return
    (nlo, nhi), (dlo, dhi) = fit.ranges["N"], fit.ranges["D"]
    if nlo <= N <= nhi and dlo <= D <= dhi:
        return
    raise AllocationRefused(
        f"{fit.law.name} is fitted for interpolation only: its optimum at {compute:.3g} FLOPs (N = {N:.3g}, "
        f"D = {D:.3g}) lies outside the data (N {nlo:.3g}-{nhi:.3g}, D {dlo:.3g}-{dhi:.3g})",
        f"choose a budget inside the data (about {6 * nlo * dlo:.2g}-{6 * nhi * dhi:.2g} FLOPs) or a law that "
        "extrapolates (chinchilla)")


def allocate(fit: FitResult, compute: float, *, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
             unique_tokens: float | None = None) -> Allocation:
    """Split ``compute`` FLOPs into N* parameters and D* tokens minimising the fitted loss.

    Parameters
    ----------
    fit : FitResult
        A fit of a law in N and D (``fit.law.allocatable``: chinchilla, kaplan, data_constrained ...).
    compute : float
        Training budget in FLOPs.
    flops_per_param_token : float
        ``k`` in C = k N D (6 for a dense transformer's forward and backward pass).
    unique_tokens : float, optional
        Unique tokens available (data-constrained law): repeated epochs lose value.

    Raises
    ------
    AllocationRefused
        For a law that does not extrapolate (Farseer) when the optimum leaves the data's N or D range.
    """
    if not np.isfinite(compute) or compute <= 0:
        raise ValueError(f"compute must be a positive number of FLOPs, got {compute!r}")
    N, D, loss, method = _optimum(fit, float(compute), flops_per_param_token, unique_tokens)
    _refuse_outside_data(fit, float(compute), float(N[0]), float(D[0]))
    notes = []
    if unique_tokens and "U" not in fit.law.variables:
        notes.append(f"unique_tokens only matters for a law in unique tokens U (such as data_constrained); "
                     f"{fit.law.name} ignored it.")
    if unique_tokens and D[0] > unique_tokens:
        notes.append(f"D* means {D[0] / unique_tokens:.1f} epochs over the {unique_tokens:.3g} unique tokens.")
    tpp = D / N
    ci = {}
    if len(N) > 1:
        ci = {k: percentile_interval(v[1:], min_samples=2)
              for k, v in (("N_opt", N), ("D_opt", D), ("tokens_per_param", tpp), ("loss", loss))}
    warnings = extrapolation(fit, compute=float(compute), N=float(N[0]), D=float(D[0])) + split_uncertainty(ci)
    return Allocation(float(compute), float(N[0]), float(D[0]), float(tpp[0]), float(loss[0]), ci, fit.law.name,
                      method, flops_per_param_token, unique_tokens, tuple(notes), tuple(warnings))


@dataclass(frozen=True)
class OptimumExponents:
    """Approach 3's exponents of the compute-optimal allocation, ``N* ~ C^a`` and ``D* ~ C^b``, with 95%
    bootstrap intervals (``ci``). For Chinchilla's law ``a = beta/(alpha+beta)`` and ``b = alpha/(alpha+beta)``
    exactly; for other laws in N and D they are the local slopes ``d ln N*/d ln C`` at ``compute``."""

    a: float
    b: float
    ci: dict[str, Interval]
    law: str
    method: str
    compute: float | None = None

    def to_dict(self) -> dict:
        """``{"a": {"value", "ci"}, "b": {"value", "ci"}}`` (the CLI contract), plus method and law."""
        def entry(k):
            ci = self.ci.get(k)
            return {"value": getattr(self, k), "ci": ci.to_list() if ci is not None else None}
        return {"a": entry("a"), "b": entry("b"), "method": self.method, "law": self.law, "compute": self.compute}

    def summary(self) -> str:
        def ci(k):
            c = self.ci.get(k)
            return f" [{c.lo:.4f}, {c.hi:.4f}]" if c is not None and c.finite else ""
        return (f"a (N* ~ C^a) = {self.a:.4f}{ci('a')}; b (D* ~ C^b) = {self.b:.4f}{ci('b')} "
                f"(Approach 3, {self.method})")


def optimum_exponents(fit: FitResult, compute: float | None = None, *,
                      flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN,
                      unique_tokens: float | None = None) -> OptimumExponents:
    """Exponents of the compute-optimal frontier of ``fit`` (Approach 3), for the point fit and every
    bootstrap resample.

    A law with a closed-form optimum and exponents ``alpha``, ``beta`` (Chinchilla's) gives
    ``a = beta/(alpha+beta)``, ``b = alpha/(alpha+beta)``. Any other law in N and D is differentiated
    numerically: ``a = [ln N*(C e^h) - ln N*(C e^-h)] / 2h`` with ``h = ln 10 / 2`` (half a decade each
    side) at ``compute`` (default: the largest compute in the fitted data), and ``b`` likewise from D*.
    """
    law = _require_allocatable(fit)
    P = _theta_public(fit)
    names = list(fit.param_names)
    if law.optimum is not None and {"alpha", "beta"} <= set(names):
        al, be = P[:, names.index("alpha")], P[:, names.index("beta")]
        with np.errstate(all="ignore"):
            a, b = be / (al + be), al / (al + be)
        method, at = "beta/(alpha+beta) and alpha/(alpha+beta) of the fitted law", None
    else:
        from analysis.diagnostics import data_max
        at = float(compute) if compute is not None else data_max(fit, "C")
        if not np.isfinite(at):
            raise ValueError("give a compute budget at which to differentiate the frontier")
        h = np.log(10) / 2
        N1, D1, _, _ = _optimum(fit, at * np.exp(-h), flops_per_param_token, unique_tokens)
        N2, D2, _, _ = _optimum(fit, at * np.exp(h), flops_per_param_token, unique_tokens)
        with np.errstate(all="ignore"):
            a, b = np.log(N2 / N1) / (2 * h), np.log(D2 / D1) / (2 * h)
        method = f"local slopes of ln N* and ln D* against ln C at {at:.3g} FLOPs (numerical frontier)"
    ci = {}
    if len(a) > 1:
        ci = {"a": percentile_interval(a[1:], min_samples=2), "b": percentile_interval(b[1:], min_samples=2)}
    return OptimumExponents(float(a[0]), float(b[0]), ci, law.name, method, at)


def allocations(fit: FitResult, computes) -> tuple[list[Allocation], dict[float, AllocationRefused]]:
    """The allocation at each budget that ``fit`` allows, and why each other budget was refused (a law fitted
    for interpolation only, e.g. Farseer, past its data): for tables that keep the budgets they can."""
    kept, refused = [], {}
    for c in computes:
        try:
            kept.append(allocate(fit, float(c)))
        except AllocationRefused as exc:
            refused[float(c)] = exc
    return kept, refused


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
    X = _inputs(N, D, compute, unique_tokens)
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

    def gap(logc):                  # the point fit's optimal loss at compute e^logc, less the planned loss
        c = float(np.exp(logc))
        N_, D_, best, _ = _optimum(fit, c, k, None, point_only=True)
        _refuse_outside_data(fit, c, float(N_[0]), float(D_[0]))
        return float(best[0]) - loss

    from scipy.optimize import brentq

    lo, hi = np.log(C) - np.log(1e6), np.log(C)
    try:
        c_same = float(np.exp(brentq(gap, lo, hi, xtol=1e-6))) if gap(lo) > 0 > gap(hi) else C
    except ValueError:
        c_same = float("nan")
    return PlanCost(N, D, C, loss, opt.loss, opt.N_opt, opt.D_opt, c_same, C / c_same if c_same else np.nan)
