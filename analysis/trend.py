"""Trend shape of a metric against scale within a family: improving, inverse, U-shaped, inverted-U or flat.

Everything works on ``u = log10(x)`` (x = parameters, or any positive scale) and on the *goodness*
``g = y`` for higher-is-better metrics, ``g = -y`` otherwise, so that

* **improving**  -- g rises with scale (the metric gets better);
* **inverse**    -- g falls with scale (inverse scaling, McKenzie et al. 2023);
* **U-shaped**   -- g first falls, then rises: the metric gets worse, then recovers (Wei et al. 2022,
  "Inverse scaling can become U-shaped");
* **inverted-U** -- g first rises, then falls: the metric improves, then degrades;
* **flat**       -- no significant trend;
* **too few sizes** -- fewer than :data:`MIN_SIZES` distinct scales: no verdict is attempted.

Tests
-----
Monotone trend: the Mann-Kendall test, i.e. Kendall's tau between ``u`` and ``g``, with an *exact*
null distribution whenever it matters: scipy's exact Kendall distribution for untied data, and for tied
data (several runs per size) with n <= 8 the permutation distribution over all n! orderings; larger tied
samples use the normal approximation with the tie-corrected variance. Why Mann-Kendall rather than
a bootstrap CI of the log-x slope: scaling families have 4-10 sizes, where the percentile bootstrap of a
regression slope under-covers badly (resamples of 5 points often contain 2-3 distinct sizes) while the
permutation distribution is exact at every n; the rank test also needs no assumption that the trend is
linear in log x and is not moved by one outlying model. Its honest cost: with 4 sizes even a perfectly
ordered sequence has p = 2/4! = 0.083, so four sizes can never reach alpha = 0.05. The effect size is the
Theil-Sen slope of the metric per decade of scale, with its Kendall-based confidence interval.

U shapes: Simonsohn's (2018) two-lines test. A smoother (see below) is fitted to g against u; the most
extreme fitted value among the middle 80% of the data (x strictly between the 10th and 90th percentiles)
is located, a minimum when a quadratic's slope at the smallest x is negative, else a maximum. The "flat"
region holds the middle observations whose fitted value is within one standard error of that extreme.
A first interrupted regression is run at the median of the flat region, giving |t1|, |t2|; the "Robin
Hood" break is then ``x_c = quantile(flat region, |t2| / (|t1| + |t2|))``, which gives more of the flat
region to the weaker line. Two interrupted regressions

    g = b0 + b1 * min(u - u_c, 0) + b2 * max(u - u_c, 0) + b3 * [u > u_c]

(``u_c`` belonging to the first line in one, to the second in the other) give the two slopes. The shape
is U-shaped (inverted-U) iff b1 < 0 < b2 (b1 > 0 > b2) with both two-sided p-values below alpha, and the
U-test p-value is max(p1, p2). Simonsohn uses HC3 robust standard errors; with the handful of sizes of a
scaling family a segment often has two sizes, where HC3 is undefined, so the classical OLS standard errors
with a t reference on n - 4 degrees of freedom are used instead. The two-lines test needs at least
:data:`MIN_SIZES_U` distinct sizes and two distinct sizes on each side of the break.

Smoother: a Whittaker-Henderson penalised least-squares smoother on the per-size means (the discrete
analogue of the cubic smoothing spline that Simonsohn's GAM fits): f minimises
``sum_k w_k (gbar_k - f_k)^2 + lambda * ||D2 f||^2`` with ``D2`` the second divided differences on the
(unequally spaced) u grid and ``w_k`` the number of observations at size k. lambda minimises generalised
cross-validation ``n RSS / (n - tr S)^2`` subject to ``n - tr S >= 1``; fitted-value standard errors are
``sigma * sqrt(diag(S W^-1 S^T))`` with ``sigma^2 = RSS / (n - tr S)``. A quadratic fit is *not* used for
the extremum: on OPT's TruthfulQA it puts the minimum at 45B where the data turn at 13B, and a
quadratic-term test has a very high false-positive rate on concave monotone curves (Simonsohn 2018).

Turning point: the smoother's extremum refined by the vertex of the parabola through it and its two
neighbours (in log x), reported when the two lines have opposite signs (significant or not). Its 95%
interval is the percentile interval over bootstrap resamples of the runs (or of the observations), each
refitting the smoother; ``turning_point_support`` is the share of resamples that show an interior extremum
of the same kind at all.

Evidence in words: "too few sizes: 3 sizes"; "none: 6 sizes, p = 0.31" for flat; otherwise
"strong" (p < 0.001 and at least 8 sizes), "moderate" (p < 0.01 and at least 6 sizes) or "weak",
followed by the number of sizes and the p-value, e.g. "weak: 5 sizes, p = 0.017".
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

from analysis.jsonable import number

MIN_SIZES = 4      # below this: "too few sizes"
MIN_SIZES_U = 5    # the two-lines test needs a break with two sizes on each side and n - 4 >= 1
EXACT_MAX_N = 8    # exact permutation Mann-Kendall up to 8! = 40,320 orderings

SHAPES = ("improving", "inverse", "U-shaped", "inverted-U", "flat", "too few sizes")
NON_MONOTONE = ("inverse", "U-shaped", "inverted-U")


@dataclass(frozen=True)
class TwoLines:
    """Simonsohn's interrupted regression at the Robin Hood break, slopes in metric units per decade."""

    break_x: float
    slope_before: float
    slope_after: float
    p_before: float
    p_after: float
    n_before: int
    n_after: int

    def to_dict(self) -> dict:
        return {"break_x": self.break_x, "before": self.slope_before, "after": self.slope_after,
                "p_before": self.p_before, "p_after": self.p_after,
                "n_before": self.n_before, "n_after": self.n_after}


@dataclass(frozen=True)
class TrendResult:
    """The verdict on one metric-vs-scale series, with its tests.

    Attributes
    ----------
    shape : one of :data:`SHAPES` (in terms of the metric getting better or worse).
    p_value : the deciding p-value: max(p1, p2) of the two-lines test for U shapes, Mann-Kendall otherwise.
    turning_point, turning_point_ci : scale of the extremum (x units) and its 95% bootstrap interval.
    turning_point_support : share of bootstrap resamples with an extremum of the same kind.
    two_lines : the two-lines test (also when not significant), or None when it could not be run.
    tau, mk_p : Kendall's tau of goodness vs scale and the Mann-Kendall p-value.
    slope_per_decade, slope_ci : Theil-Sen slope of the raw metric per 10x scale, and its 95% interval.
    pattern : what the raw values do, in words ("falls then rises", "rises", ...).
    """

    shape: str
    p_value: float
    turning_point: float | None
    turning_point_ci: tuple[float, float] | None
    turning_point_support: float | None
    two_lines: TwoLines | None
    n: int
    n_sizes: int
    evidence: str
    strength: str
    higher_is_better: bool
    tau: float
    mk_p: float
    slope_per_decade: float
    slope_ci: tuple[float, float]
    pattern: str
    alpha: float
    x_range: tuple[float, float]
    notes: tuple[str, ...] = field(default=())

    @property
    def slopes(self) -> dict | None:
        return None if self.two_lines is None else self.two_lines.to_dict()

    def to_dict(self) -> dict:
        return {"shape": self.shape, "p_value": number(self.p_value),
                "turning_point": number(self.turning_point),
                "turning_point_ci": None if self.turning_point_ci is None else [number(v) for v in self.turning_point_ci],
                "turning_point_support": number(self.turning_point_support),
                "slopes": None if self.slopes is None else {k: number(v) for k, v in self.slopes.items()},
                "n": self.n, "n_sizes": self.n_sizes, "evidence": self.evidence, "strength": self.strength,
                "higher_is_better": bool(self.higher_is_better), "tau": number(self.tau), "mk_p": number(self.mk_p),
                "slope_per_decade": number(self.slope_per_decade), "slope_ci": [number(v) for v in self.slope_ci],
                "pattern": self.pattern, "alpha": self.alpha, "x_range": [number(v) for v in self.x_range],
                "notes": list(self.notes)}

    def summary(self) -> str:
        s = f"{self.shape} ({self.evidence})"
        if self.turning_point is not None:
            s += f"; metric {self.pattern} with a turning point near {_fmt_x(self.turning_point)}"
            if self.turning_point_ci is not None:
                lo, hi = self.turning_point_ci
                s += f" (95% CI {_fmt_x(lo)} to {_fmt_x(hi)})"
        elif self.shape != "too few sizes":
            s += f"; metric {self.pattern}, {self.slope_per_decade:+.3g} per 10x scale"
        for note in self.notes:
            s += f". {note}"
        return s


def _fmt_x(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


# ----------------------------------------------------------------------------------------------
# Mann-Kendall
# ----------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _permutations(n: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(n))), dtype=np.int8)


def mann_kendall(u: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """Kendall's tau-b of ``g`` against ``u`` and its two-sided p-value (the Mann-Kendall trend test).

    Without ties the p-value is scipy's exact Kendall distribution. With ties (several runs at one size)
    and n <= 8 it is the exact permutation p-value: the share of all n! reorderings of ``g`` whose
    statistic ``S = sum_{i<j} sign(u_j - u_i) sign(g_j - g_i)`` is at least as extreme as observed;
    larger tied samples use the normal approximation with Kendall's tie-corrected variance.
    """
    u, g = np.asarray(u, float), np.asarray(g, float)
    n = len(u)
    tau = stats.kendalltau(u, g).statistic
    if not np.isfinite(tau):   # g (or u) constant
        return 0.0, 1.0
    tied = len(np.unique(u)) < n or len(np.unique(g)) < n
    if not tied or n > EXACT_MAX_N:
        return float(tau), float(stats.kendalltau(u, g, method="exact" if not tied else "auto").pvalue)
    i, j = np.triu_indices(n, 1)
    su = np.sign(u[j] - u[i])
    perms = g[_permutations(n)]
    S_all = (np.sign(perms[:, j] - perms[:, i]) * su).sum(axis=1)
    S_obs = float((np.sign(g[j] - g[i]) * su).sum())
    p = float(np.mean(np.abs(S_all) >= abs(S_obs) - 1e-9))
    return float(tau), p


# ----------------------------------------------------------------------------------------------
# Whittaker-Henderson smoother with GCV
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Smooth:
    us: np.ndarray      # distinct sizes (log10), sorted
    f: np.ndarray       # fitted goodness at us
    se: np.ndarray      # standard error of f


def _second_differences(us: np.ndarray) -> np.ndarray:
    k = len(us)
    D = np.zeros((k - 2, k))
    for i in range(k - 2):
        h1, h2 = us[i + 1] - us[i], us[i + 2] - us[i + 1]
        D[i, i], D[i, i + 1], D[i, i + 2] = 1 / h1, -(1 / h1 + 1 / h2), 1 / h2
        D[i] *= 2.0 / (h1 + h2)
    return D


def _smooth(u: np.ndarray, g: np.ndarray) -> _Smooth | None:
    """Per-size means smoothed with a GCV-chosen second-difference penalty (see module docstring)."""
    us, inv, w = np.unique(u, return_inverse=True, return_counts=True)
    k, n = len(us), len(u)
    if k < 3:
        return None
    gbar = np.bincount(inv, weights=g) / w
    within = float(np.sum((g - gbar[inv]) ** 2))
    sw = np.sqrt(w)
    D = _second_differences(us)
    M = (D / sw[None, :]).T @ (D / sw[None, :])          # W^-1/2 P W^-1/2
    lam_eig, V = np.linalg.eigh(M)
    lam_eig = np.clip(lam_eig, 0.0, None)
    pos = lam_eig[lam_eig > 1e-12 * max(lam_eig.max(), 1e-300)]
    if len(pos) == 0:
        return None
    lams = np.logspace(np.log10(1e-4 / pos.max()), np.log10(1e4 / pos.min()), 121)
    shrink = 1.0 / (1.0 + lams[:, None] * lam_eig[None, :])             # (L, k)
    z = V.T @ (sw * gbar)
    F = (V @ (shrink * z).T).T / sw[None, :]                              # fitted means (L, k)
    tr = shrink.sum(axis=1)
    rss = within + np.sum(w[None, :] * (gbar[None, :] - F) ** 2, axis=1)
    df = n - tr
    ok = df >= 1.0 - 1e-9
    if not ok.any():
        return None
    gcv = np.where(ok, n * rss / np.where(ok, df, 1.0) ** 2, np.inf)
    b = int(np.argmin(gcv))
    sigma2 = rss[b] / df[b]
    # S = W^-1/2 V diag(shrink) V^T W^1/2 ; Cov(f) = sigma^2 S W^-1 S^T = sigma^2 W^-1/2 V diag(shrink^2) V^T W^-1/2
    var = sigma2 * ((V ** 2) @ (shrink[b] ** 2)) / w
    return _Smooth(us, F[b], np.sqrt(np.maximum(var, 0.0)))


def _vertex(us: np.ndarray, f: np.ndarray, i: int) -> float:
    """u of the vertex of the parabola through points i-1, i, i+1 (inside [u_{i-1}, u_{i+1}])."""
    x0, x1, x2 = us[i - 1:i + 2]
    y0, y1, y2 = f[i - 1:i + 2]
    den = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / den
    bq = (x2 ** 2 * (y0 - y1) + x1 ** 2 * (y2 - y0) + x0 ** 2 * (y1 - y2)) / den
    if a == 0:
        return float(x1)
    return float(np.clip(-bq / (2 * a), x0, x2))


def _look_for_min(u: np.ndarray, g: np.ndarray) -> bool:
    """Simonsohn's orientation rule: a quadratic fit decreasing at the smallest x suggests a U (minimum)."""
    c2, c1, _ = np.polyfit(u, g, 2)
    return bool(c1 + 2 * c2 * u.min() <= 0)


def _extremum(u: np.ndarray, g: np.ndarray, want_min: bool):
    """The smoother's most extreme fitted value in the middle 80% of u.

    Returns (smooth, index of the extreme size, mask of middle sizes, is_interior_local_extremum).
    """
    sm = _smooth(u, g)
    if sm is None:
        return None
    q10, q90 = np.quantile(u, [0.1, 0.9])
    middle = (sm.us > q10) & (sm.us < q90)
    if not middle.any():
        return None
    idx = np.flatnonzero(middle)
    vals = sm.f[idx]
    i = int(idx[np.argmin(vals) if want_min else np.argmax(vals)])
    interior = 0 < i < len(sm.us) - 1 and (
        (sm.f[i] < sm.f[i - 1] and sm.f[i] < sm.f[i + 1]) if want_min
        else (sm.f[i] > sm.f[i - 1] and sm.f[i] > sm.f[i + 1]))
    return sm, i, middle, interior


def _turning_u(u: np.ndarray, g: np.ndarray, want_min: bool) -> float:
    ext = _extremum(u, g, want_min)
    if ext is None or not ext[3]:
        return np.nan
    sm, i, _, _ = ext
    return _vertex(sm.us, sm.f, i)


# ----------------------------------------------------------------------------------------------
# Two-lines test
# ----------------------------------------------------------------------------------------------
def _interrupted(u: np.ndarray, g: np.ndarray, uc: float, first_includes: bool):
    """OLS of g on [1, min(u-uc,0), max(u-uc,0), high]; returns (b1, b2, t1, t2, p1, p2, n1, n2) or None."""
    high = (u > uc) if first_includes else (u >= uc)
    low = ~high
    if len(np.unique(u[low])) < 2 or len(np.unique(u[high])) < 2:
        return None
    X = np.column_stack([np.ones_like(u), np.where(low, u - uc, 0.0), np.where(high, u - uc, 0.0),
                         high.astype(float)])
    n, p = X.shape
    dof = n - p
    if dof < 1:
        return None
    beta, _, rank, _ = np.linalg.lstsq(X, g, rcond=None)
    if rank < p:
        return None
    resid = g - X @ beta
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.inv(X.T @ X)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    out = []
    for k in (1, 2):
        if se[k] == 0:
            t = np.inf if beta[k] != 0 else 0.0
        else:
            t = beta[k] / se[k]
        out.append((beta[k], t, float(2 * stats.t.sf(abs(t), dof))))
    return out[0][0], out[1][0], out[0][1], out[1][1], out[0][2], out[1][2], int(low.sum()), int(high.sum())


def two_lines(u: np.ndarray, g: np.ndarray, want_min: bool | None = None):
    """Simonsohn's two-lines test on goodness ``g`` vs ``u = log10 x`` with the Robin Hood break.

    Returns a dict with the break ``uc`` (log10 x), slopes ``b1``/``b2`` of g per decade with two-sided
    p-values ``p1``/``p2``, observation counts ``n1``/``n2`` on each side, ``interior`` (whether the smoother
    has a true local extremum there) and ``want_min``; or None when the test cannot be run.
    See the module docstring for the procedure.
    """
    if want_min is None:
        want_min = _look_for_min(u, g)
    ext = _extremum(u, g, want_min)
    if ext is None:
        return None
    sm, i, middle, interior = ext
    y_most = sm.f[i]
    # the flat region: middle observations whose fitted value is within 1 SE of the extreme
    flat_sizes = middle & ((sm.f - sm.se <= y_most) if want_min else (sm.f + sm.se >= y_most))
    flat_sizes[i] = True
    u_flat = u[np.isin(u, sm.us[flat_sizes])]
    mid = _interrupted(u, g, float(np.median(u_flat)), True)
    if mid is None:
        uc = float(np.median(u_flat))
    else:
        z1, z2 = abs(mid[2]), abs(mid[3])
        q = 0.5 if not np.isfinite(z1 + z2) or z1 + z2 == 0 else z2 / (z1 + z2)
        uc = float(np.quantile(u_flat, q))
    first = _interrupted(u, g, uc, True)
    second = _interrupted(u, g, uc, False)
    if first is None or second is None:
        # the break sits on a size that leaves one side with a single size: try the other inclusion only
        only = first or second
        if only is None:
            return None
        first = second = only
    return {"uc": uc, "b1": first[0], "p1": first[4], "b2": second[1], "p2": second[5],
            "n1": first[6], "n2": second[7], "interior": interior, "want_min": want_min}


# ----------------------------------------------------------------------------------------------
# The verdict
# ----------------------------------------------------------------------------------------------
def _strength(p: float, n_sizes: int) -> str:
    if p < 0.001 and n_sizes >= 8:
        return "strong"
    if p < 0.01 and n_sizes >= 6:
        return "moderate"
    return "weak"


def _pattern(slope_before: float, slope_after: float | None, tau_raw: float, significant: bool) -> str:
    """What the raw metric does, in words, from the two-line slopes or Kendall's tau (raw units)."""
    if slope_after is not None:
        a = "rises" if slope_before > 0 else "falls"
        b = "rises" if slope_after > 0 else "falls"
        return f"{a} then {b}"
    word = "rises" if tau_raw > 0 else "falls"
    if not significant:
        return "shows no clear trend" if tau_raw == 0 else f"{word} (not significantly)"
    return word


def trend_shape(x, y, *, higher_is_better: bool, alpha: float = 0.05, n_boot: int = 1000, seed: int = 0,
                runs=None) -> TrendResult:
    """Classify how a metric changes with scale: improving, inverse, U-shaped, inverted-U or flat.

    Parameters
    ----------
    x : array of positive scales (parameters, tokens or FLOPs); several observations may share a size.
    y : array of metric values (same length).
    higher_is_better : whether larger ``y`` is better; "improving" always means getting better.
    alpha : significance level of the Mann-Kendall and two-lines tests.
    n_boot : bootstrap resamples for the turning-point interval (0 skips it).
    seed : random seed of the bootstrap.
    runs : optional run ids (same length); the bootstrap resamples whole runs, else observations.

    Returns
    -------
    TrendResult
        See the module docstring for the statistics. Decision: fewer than 4 distinct sizes gives
        "too few sizes"; else a significant two-lines U (both slopes significant, opposite signs) gives
        "U-shaped"/"inverted-U"; else a significant Mann-Kendall trend gives "improving"/"inverse";
        else "flat".
    """
    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length (got {len(x)} and {len(y)})")
    if runs is not None:
        runs = np.asarray(runs, dtype=object).reshape(-1)
        if len(runs) != len(x):
            raise ValueError(f"runs must have the same length as x (got {len(runs)} and {len(x)})")
    bad = np.flatnonzero(np.isfinite(x) & (x <= 0))
    if len(bad):
        raise ValueError(f"x must be positive: row {int(bad[0])} has x = {x[bad[0]]}")
    keep = np.isfinite(x) & np.isfinite(y)
    notes = []
    if not keep.all():
        notes.append(f"Left out {int((~keep).sum())} rows with a missing x or y")
    x, y = x[keep], y[keep]
    if runs is not None:
        runs = runs[keep]
    sign = 1.0 if higher_is_better else -1.0
    u, g = np.log10(x), sign * y
    n, n_sizes = len(x), len(np.unique(x))
    x_range = (float(x.min()), float(x.max())) if n else (np.nan, np.nan)

    if n_sizes < MIN_SIZES:
        return TrendResult("too few sizes", np.nan, None, None, None, None, n, n_sizes,
                           f"too few sizes: {n_sizes} size{'s' if n_sizes != 1 else ''} "
                           f"(a trend needs at least {MIN_SIZES})", "too few sizes",
                           bool(higher_is_better), np.nan, np.nan, np.nan, (np.nan, np.nan),
                           "cannot be judged", alpha, x_range, tuple(notes))

    tau, mk_p = mann_kendall(u, g)
    ts = stats.theilslopes(y, u, alpha=0.95)
    slope, slope_ci = float(ts.slope), (float(ts.low_slope), float(ts.high_slope))

    tl = two_lines(u, g) if n_sizes >= MIN_SIZES_U else None
    opposite = tl is not None and tl["b1"] * tl["b2"] < 0 and tl["interior"]
    u_shape = opposite and tl["p1"] < alpha and tl["p2"] < alpha

    if u_shape:
        shape = "U-shaped" if tl["b1"] < 0 else "inverted-U"
        p_value = max(tl["p1"], tl["p2"])
    elif mk_p < alpha:
        shape = "improving" if tau > 0 else "inverse"
        p_value = mk_p
    else:
        shape, p_value = "flat", mk_p

    if shape == "flat":
        strength = "none"
        evidence = f"none: {n_sizes} sizes, p = {p_value:.2g}"
        if n_sizes == MIN_SIZES and mk_p <= 2 / 24 + 1e-9:
            notes.append("All 4 sizes are in order, but with 4 sizes the smallest attainable p is 0.083")
    else:
        strength = _strength(p_value, n_sizes)
        evidence = f"{strength}: {n_sizes} sizes, p = {p_value:.2g}"
    if n_sizes < MIN_SIZES_U:
        notes.append(f"A U shape cannot be tested with {n_sizes} sizes (needs {MIN_SIZES_U})")

    two = None
    turning = turning_ci = support = None
    if tl is not None:
        two = TwoLines(float(10 ** tl["uc"]), sign * tl["b1"], sign * tl["b2"], float(tl["p1"]), float(tl["p2"]),
                       tl["n1"], tl["n2"])
    if opposite:
        tu = _turning_u(u, g, tl["want_min"])
        if np.isfinite(tu):
            turning = float(10 ** tu)
            if n_boot > 0:
                turning_ci, support = _bootstrap_turning(u, g, runs, tl["want_min"], n_boot, seed)
        if not u_shape:
            weak_after = tl["p2"] >= alpha
            b_weak, p_weak = (tl["b2"], tl["p2"]) if weak_after else (tl["b1"], tl["p1"])
            move = "rise" if sign * b_weak > 0 else "fall"
            notes.append(f"The metric turns near {_fmt_x(10 ** tl['uc'])}, but the {move} "
                         f"{'after' if weak_after else 'before'} it is not significant (p = {p_weak:.2g}): "
                         "not a significant U shape")
    pattern = _pattern(sign * tl["b1"], sign * tl["b2"], sign * tau, True) if opposite else \
        _pattern(0.0, None, sign * tau, shape != "flat")
    return TrendResult(shape, float(p_value), turning, turning_ci, support, two, n, n_sizes, evidence, strength,
                       bool(higher_is_better), float(tau), float(mk_p), slope, slope_ci, pattern, alpha, x_range,
                       tuple(notes))


def _bootstrap_turning(u, g, runs, want_min, n_boot, seed):
    """Percentile 95% interval of the turning point over resamples of runs (or observations)."""
    rng = np.random.default_rng(seed)
    if runs is None:
        groups = [np.array([i]) for i in range(len(u))]
    else:
        _, inv = np.unique(runs.astype(str), return_inverse=True)
        groups = [np.flatnonzero(inv == k) for k in range(inv.max() + 1)]
    m = len(groups)
    vals = np.full(n_boot, np.nan)
    for b in range(n_boot):
        pick = rng.integers(0, m, m)
        idx = np.concatenate([groups[k] for k in pick])
        ub, gb = u[idx], g[idx]
        if len(np.unique(ub)) < MIN_SIZES:
            continue
        vals[b] = _turning_u(ub, gb, want_min)
    ok = np.isfinite(vals)
    support = float(ok.mean())
    if ok.sum() < 2:
        return None, support
    lo, hi = np.percentile(vals[ok], [2.5, 97.5])
    return (float(10 ** lo), float(10 ** hi)), support


# ----------------------------------------------------------------------------------------------
# Scanning a points table
# ----------------------------------------------------------------------------------------------
SCAN_COLUMNS = ["family", "metric", "shape", "p_value", "turning_point", "turning_point_lo", "turning_point_hi",
                "n", "n_sizes", "evidence", "pattern", "higher_is_better", "first_value", "last_value",
                "min_params", "max_params", "summary"]


def final_points(points: pd.DataFrame) -> pd.DataFrame:
    """The last checkpoint (largest tokens, then step) of every (run, metric) in a Store.points() table."""
    run_col = "run_id" if "run_id" in points.columns else "model"
    order = [c for c in ("tokens", "step") if c in points.columns]
    df = points
    if order:
        df = df.sort_values(order, na_position="first", kind="mergesort")
    return df.groupby([run_col, "metric"], sort=False, dropna=False).tail(1)


def scan_trends(points: pd.DataFrame, *, alpha: float = 0.05, n_boot: int = 200, seed: int = 0,
                include_all: bool = False) -> pd.DataFrame:
    """Trend shape for every (family, metric) of a points table; lists the non-monotone findings.

    Parameters
    ----------
    points : long table as returned by ``Store.points()`` (columns family, model, params, metric, value,
        higher_is_better, and run_id / tokens / step when present). Only the final checkpoint of each run
        is used; x = params.
    alpha, seed : as in :func:`trend_shape`.
    n_boot : bootstrap resamples for the turning-point interval of each finding.
    include_all : list every (family, metric), not only inverse / U-shaped / inverted-U findings.

    Returns
    -------
    DataFrame with :data:`SCAN_COLUMNS`, strongest findings (smallest p) first.
    """
    need = {"family", "params", "metric", "value", "higher_is_better"}
    missing = need - set(points.columns)
    if missing:
        raise ValueError(f"points table lacks column(s): {', '.join(sorted(missing))}")
    df = final_points(points)
    df = df[np.isfinite(pd.to_numeric(df["params"], errors="coerce")) &
            np.isfinite(pd.to_numeric(df["value"], errors="coerce"))]
    rows = []
    for (family, metric), grp in df.groupby(["family", "metric"], sort=True):
        hib = grp["higher_is_better"].dropna()
        if hib.empty or grp["params"].nunique() < MIN_SIZES:
            continue
        hib = bool(hib.iloc[0])
        x = grp["params"].to_numpy(float)
        y = grp["value"].to_numpy(float)
        runs = grp["run_id"].to_numpy(object) if "run_id" in grp else None
        res = trend_shape(x, y, higher_is_better=hib, alpha=alpha, n_boot=0, seed=seed, runs=runs)
        if not include_all and res.shape not in NON_MONOTONE:
            continue
        if n_boot > 0 and res.turning_point is not None:
            res = trend_shape(x, y, higher_is_better=hib, alpha=alpha, n_boot=n_boot, seed=seed, runs=runs)
        order = np.argsort(x, kind="mergesort")
        ci = res.turning_point_ci or (None, None)
        rows.append({"family": family, "metric": metric, "shape": res.shape, "p_value": res.p_value,
                     "turning_point": res.turning_point, "turning_point_lo": ci[0], "turning_point_hi": ci[1],
                     "n": res.n, "n_sizes": res.n_sizes, "evidence": res.evidence, "pattern": res.pattern,
                     "higher_is_better": hib, "first_value": float(y[order[0]]), "last_value": float(y[order[-1]]),
                     "min_params": float(x.min()), "max_params": float(x.max()), "summary": res.summary()})
    out = pd.DataFrame(rows, columns=SCAN_COLUMNS)
    return out.sort_values("p_value", kind="mergesort").reset_index(drop=True)
