"""The statistical tests behind :mod:`analysis.trend`: Mann-Kendall and Simonsohn's two lines.

* :func:`mann_kendall` -- Kendall's tau-b of the goodness ``g`` against ``u = log10(x)`` and its two-sided
  p-value: exact (scipy's Kendall distribution without ties, the permutation distribution over all n!
  orderings with ties and n <= 8), else the normal approximation with the tie-corrected variance.
* :func:`two_lines` -- Simonsohn's (2018) two-lines test for a U shape: a Whittaker-Henderson smoother with
  GCV locates the extremum, the "Robin Hood" break splits the flat region, and two interrupted regressions

      g = b0 + b1 * min(u - u_c, 0) + b2 * max(u - u_c, 0) + b3 * [u > u_c]

  give the slopes on each side (classical OLS standard errors, t on n - 4 degrees of freedom).

The full rationale (why a rank test rather than a bootstrap slope, why not a quadratic) is in
:mod:`analysis.trend`'s docstring.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

EXACT_MAX_N = 8    # exact permutation Mann-Kendall up to 8! = 40,320 orderings


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
    from scipy import stats          # on use: scipy's submodules cost the app's start-up
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


def turning_point(u: np.ndarray, g: np.ndarray, want_min: bool) -> float:
    """The turning point (in log10 x) of the smoothed goodness: the extremum refined by the vertex of the
    parabola through it and its two neighbours; NaN when the extremum is not interior."""
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
    from scipy import stats          # on use: scipy's submodules cost the app's start-up
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
