"""Where two fitted groups cross on one scale axis, and whether the bootstrap declares it.

The roots of ``d(u) = err_A(10^u) - err_B(10^u)`` on ``u = log10 x`` are bracketed on a grid and refined
with Brent's method (point estimate) or by linear interpolation (bootstrap curves). The statuses, the
declaration rule and the bootstrap quantities are described in :mod:`analysis.crossover`; the
sentences in :mod:`analysis.crossover_text`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.crossover_text import outside_data, pair_verdict
from analysis.jsonable import number

DECLARED = ("crosses", "crosses outside the data")
"""The statuses of a declared (significant) crossing."""


@dataclass(frozen=True)
class PairCrossing:
    """The comparison of two groups.

    ``crossings`` are the point-estimate roots in the search range and ``locations`` say where each lies
    ("below the data", "in the data", "above the data"). ``crossover_x`` is the first root inside the
    shown range (else the nearest one), ``median``/``ci`` its bootstrap median and 95% interval.
    ``leader_below``/``leader_above`` are the better group just below/above ``crossover_x`` (or the
    group that leads throughout when there is none: ``leader_below == leader_above``).
    """

    groups: tuple[str, str]
    status: str
    crossover_x: float | None
    location: str | None
    median: float | None
    ci: tuple[float, float] | None
    p_cross: float
    p_any: float
    crossings: tuple[float, ...]
    locations: tuple[str, ...]
    leader_below: str | None
    leader_above: str | None
    significant: bool
    verdict: str

    def to_dict(self) -> dict:
        return {"groups": list(self.groups), "status": self.status, "crossover_x": number(self.crossover_x),
                "location": self.location, "median": number(self.median),
                "ci": None if self.ci is None else [number(v) for v in self.ci], "p_cross": number(self.p_cross),
                "p_any": number(self.p_any), "crossings": [number(v) for v in self.crossings],
                "locations": list(self.locations), "leader_below": self.leader_below,
                "leader_above": self.leader_above, "significant": bool(self.significant), "verdict": self.verdict}


# ----------------------------------------------------------------------------------------------
# Roots
# ----------------------------------------------------------------------------------------------
def _roots(diff, u_grid: np.ndarray, d_grid: np.ndarray) -> list[float]:
    """Roots of ``diff(u)`` bracketed by sign changes of ``d_grid`` on ``u_grid``, refined by brentq."""
    from scipy.optimize import brentq

    out = []
    s = np.sign(d_grid)
    for i in np.flatnonzero(s[:-1] * s[1:] < 0):
        out.append(brentq(diff, u_grid[i], u_grid[i + 1], xtol=1e-10))
    for i in np.flatnonzero(s == 0):          # exact zeros on the grid
        if 0 < i < len(s) - 1 and s[i - 1] * s[i + 1] < 0:
            out.append(float(u_grid[i]))
    return sorted(out)


def _interp_roots(u_grid: np.ndarray, d: np.ndarray) -> list[float]:
    """Roots of a bootstrap curve difference by linear interpolation between bracketing grid points."""
    s = np.sign(d)
    i = np.flatnonzero(s[:-1] * s[1:] < 0)
    return list(u_grid[i] - d[i] * (u_grid[i + 1] - u_grid[i]) / (d[i + 1] - d[i]))


def _pick(roots: list[float], lo: float, hi: float) -> tuple[float, bool]:
    """The first root inside [lo, hi], else the one nearest to it; (nan, False) when there is none."""
    inside = [r for r in roots if lo <= r <= hi]
    if inside:
        return inside[0], True
    if not roots:
        return np.nan, False
    dist = [lo - r if r < lo else r - hi for r in roots]
    return roots[int(np.argmin(dist))], False


def _location(u: float, overlap: tuple[float, float]) -> str:
    if u < overlap[0]:
        return "below the data"
    if u > overlap[1]:
        return "above the data"
    return "in the data"


# ----------------------------------------------------------------------------------------------
# One pair
# ----------------------------------------------------------------------------------------------
def compare_pair(ga: str, gb: str, law_obj, fits: dict, point: dict, samples: dict, n_boot: int,
                 u_grid: np.ndarray, R: tuple[float, float], overlap: tuple[float, float], alpha: float,
                 ax: str, unit: str, ranges: dict | None = None) -> PairCrossing:
    """Compare groups ``ga`` and ``gb`` fitted with ``law_obj`` along axis ``ax`` (``unit``).

    ``point``/``samples`` are each group's predicted error on ``u_grid`` (point estimate, and ``n_boot``
    bootstrap rows); ``R`` is the shown range and ``overlap`` the range where both have data, both in
    log10 units; ``ranges`` the groups' data ranges in axis units (to say when a crossing lies outside).
    """
    pa, pb = fits[ga].params, fits[gb].params

    def diff(u):
        X = {ax: np.atleast_1d(10.0 ** u)}
        return float(law_obj.predict(pa, X)[0] - law_obj.predict(pb, X)[0])

    d0 = point[ga] - point[gb]
    roots = _roots(diff, u_grid, d0)
    u_star, inside = _pick(roots, *R)
    in_R = (u_grid >= R[0]) & (u_grid <= R[1])

    # bootstrap
    p_cross = p_any = np.nan
    median = ci = None
    sig_a = sig_b = False
    if n_boot:
        D = samples[ga] - samples[gb]                       # (B, G)
        picks = np.full(n_boot, np.nan)
        crossed_in = np.zeros(n_boot, bool)
        for k in range(n_boot):
            roots_k = _interp_roots(u_grid, D[k])
            if roots_k:
                picks[k], crossed_in[k] = _pick(roots_k, *R)
        p_cross = float(crossed_in.mean())
        p_any = float(np.isfinite(picks).mean())
        if np.isfinite(picks).sum() >= 2:
            lo, med, hi = np.quantile(picks[np.isfinite(picks)], [0.025, 0.5, 0.975])
            median, ci = float(10 ** med), (float(10 ** lo), float(10 ** hi))
        p_a_better = np.mean(D[:, in_R] < 0, axis=0)
        sig_a = bool(np.any(p_a_better >= 1 - alpha / 2))
        sig_b = bool(np.any(p_a_better <= alpha / 2))
    significant = sig_a and sig_b

    # leaders
    def better_at(u):
        return ga if diff(u) < 0 else gb

    if np.isfinite(u_star):
        leader_below, leader_above = better_at(u_star - 0.05), better_at(u_star + 0.05)
    else:
        leader_below = leader_above = better_at(float(np.mean(R)))
    x_star = float(10 ** u_star) if np.isfinite(u_star) else None
    loc = _location(u_star, overlap) if np.isfinite(u_star) else None

    # status
    if significant and inside:
        status = "crosses" if loc == "in the data" else (
            "already crossed" if loc == "below the data" else "crosses outside the data")
    elif not roots:
        status = "no crossing"
    elif inside:
        status = "not significant"
    elif u_star < R[0]:
        status = "already crossed"
    else:
        status = "crossing beyond the range"
    others = [(float(10 ** r), _location(r, overlap)) for r in roots
              if not np.isclose(10 ** r, x_star if x_star is not None else -1.0) and R[0] - 1 <= r <= R[1] + 1]
    verdict = pair_verdict(ga, gb, status, x_star, loc, ci, p_cross, leader_below, leader_above, unit,
                           sig_a, sig_b, others)
    if x_star is not None and ranges and status != "no crossing":
        verdict += outside_data(x_star, ranges, unit)
    return PairCrossing((ga, gb), status, x_star, loc, median, ci, p_cross, p_any,
                        tuple(float(10 ** r) for r in roots), tuple(_location(r, overlap) for r in roots),
                        leader_below, leader_above, significant, verdict)
