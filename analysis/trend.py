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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.jsonable import number
from analysis.two_lines import TwoLines, mann_kendall, turning_point, two_lines

MIN_SIZES = 4      # below this: "too few sizes"
MIN_SIZES_U = 5    # the two-lines test needs a break with two sizes on each side and n - 4 >= 1

SHAPES = ("improving", "inverse", "U-shaped", "inverted-U", "flat", "too few sizes")
NON_MONOTONE = ("inverse", "U-shaped", "inverted-U")


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
    from scipy import stats          # on use: scipy's submodules cost the app's start-up
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
        tu = turning_point(u, g, tl["want_min"])
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
        vals[b] = turning_point(ub, gb, want_min)
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
