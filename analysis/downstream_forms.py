"""The three loss-to-metric forms of :mod:`analysis.downstream`, their formulas and their least-squares fits.

``L`` is the loss (nats), ``s = +1`` for higher-is-better metrics and ``-1`` otherwise.

* ``exponential`` (Gadre et al. 2024): ``y = c + s * k * exp(-gamma * L)`` (k, gamma > 0); variable projection
  over a gamma grid (``c, k`` linear), polished by ``scipy.optimize.least_squares``;
* ``sigmoid`` (Bhagia et al. 2024; ObsScaling's floor): ``y = chance + (limit - chance) / (1 + exp(k (L - L0)))``;
* ``linear``: ``y = a + b * L``.
"""
from __future__ import annotations

import numpy as np

from analysis.laws.maths import expit


class DownstreamError(ValueError):
    """Bad input to the loss-to-metric map (the message names the row or argument)."""


FORMS = ("exponential", "sigmoid", "linear")
N_PARAMS = {"exponential": 3, "sigmoid": 4, "linear": 2}
GAMMA_GRID = np.logspace(-2, 1.3, 80)


# ----------------------------------------------------------------------------------------------
# The forms: predict from a parameter dict
# ----------------------------------------------------------------------------------------------
def formula(form: str, higher_is_better: bool) -> str:
    y = "Acc" if higher_is_better else "Err"
    if form == "exponential":
        return f"{y} = c {'+' if higher_is_better else '-'} k*exp(-gamma*L)"
    if form == "sigmoid":
        return f"{y} = chance + (limit - chance)/(1 + exp(k*(L - L0)))"
    return f"{y} = a + b*L"


def evaluate(form: str, params: dict, loss, higher_is_better: bool) -> np.ndarray:
    """The metric predicted by ``form`` with ``params`` at losses ``loss`` (metric units)."""
    L = np.asarray(loss, dtype=float)
    s = 1.0 if higher_is_better else -1.0
    if form == "exponential":
        return params["c"] + s * params["k"] * np.exp(-params["gamma"] * L)
    if form == "sigmoid":
        return params["chance"] + (params["limit"] - params["chance"]) * expit(-params["k"] * (L - params["L0"]))
    if form == "linear":
        return params["a"] + params["b"] * L
    raise DownstreamError(f"unknown form {form!r}; choose one of {', '.join(FORMS)}")


def evaluate_batch(form: str, P: np.ndarray, L: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Vectorised :func:`evaluate` for parameter rows ``P`` (B, p) and losses ``L`` (B, n)."""
    s = 1.0 if higher_is_better else -1.0
    if form == "exponential":
        return P[:, :1] + s * P[:, 1:2] * np.exp(-P[:, 2:3] * L)
    if form == "sigmoid":
        return P[:, :1] + (P[:, 1:2] - P[:, :1]) * expit(-P[:, 2:3] * (L - P[:, 3:4]))
    return P[:, :1] + P[:, 1:2] * L


PARAM_NAMES = {"exponential": ("c", "k", "gamma"), "sigmoid": ("chance", "limit", "k", "L0"), "linear": ("a", "b")}


# ----------------------------------------------------------------------------------------------
# Fitting one form
# ----------------------------------------------------------------------------------------------
def _fit_exponential(L, y, w, s, start=None):
    """y = c + s*k*exp(-gamma L): grid over gamma (c, k linear, k >= 0), then least squares."""
    sw = np.sqrt(w)
    if start is None:
        best = None
        for g in GAMMA_GRID:
            e = np.exp(-g * L)
            M = np.column_stack([np.ones_like(L), s * e]) * sw[:, None]
            coef, *_ = np.linalg.lstsq(M, y * sw, rcond=None)
            if coef[1] <= 0:
                continue
            r = float(np.sum(w * (y - coef[0] - s * coef[1] * e) ** 2))
            if best is None or r < best[0]:
                best = (r, coef[0], coef[1], g)
        if best is None:
            return None
        start = np.array([best[1], np.log(best[2]), np.log(best[3])])

    def resid(t):
        with np.errstate(over="ignore", invalid="ignore"):
            r = sw * (t[0] + s * np.exp(t[1] - np.exp(t[2]) * L) - y)
        return np.nan_to_num(r, nan=1e6, posinf=1e6, neginf=-1e6)

    from scipy.optimize import least_squares

    res = least_squares(resid, start, method="lm" if len(L) > 3 else "trf", xtol=1e-12, ftol=1e-12)
    c, lk, lg = res.x
    return {"c": float(c), "k": float(np.exp(lk)), "gamma": float(np.exp(lg))}, res.x


def _fit_sigmoid(L, y, w, s, chance, unit_bounded, start=None):
    """y = f + (h - f) * expit(-k (L - L0)); f fixed at ``chance`` when given."""
    sw = np.sqrt(w)
    Lr = max(np.ptp(L), 1e-6)
    if start is None:
        best = None
        for k in np.logspace(np.log10(0.5 / Lr), np.log10(40 / Lr), 25):
            for L0 in np.linspace(L.min() - 0.5 * Lr, L.max() + 0.5 * Lr, 25):
                z = expit(-k * (L - L0))
                if chance is None:
                    M = np.column_stack([1 - z, z]) * sw[:, None]
                    coef, *_ = np.linalg.lstsq(M, y * sw, rcond=None)
                    f, h = coef
                else:
                    f = chance
                    den = np.sum(w * z * z)
                    if den <= 0:
                        continue
                    h = f + np.sum(w * z * (y - f)) / den
                if unit_bounded:
                    h = min(h, 1.0) if s > 0 else max(h, 0.0)
                if s * (h - f) <= 0:
                    continue
                r = float(np.sum(w * (f + (h - f) * z - y) ** 2))
                if best is None or r < best[0]:
                    best = (r, f, h, k, L0)
        if best is None:
            return None
        _, f, h, k, L0 = best
        start = np.array([f, h, np.log(k), L0]) if chance is None else np.array([h, np.log(k), L0])
    free_f = chance is None
    lo = [-np.inf] * len(start)
    hi = [np.inf] * len(start)
    ih = 1 if free_f else 0
    if unit_bounded:
        if s > 0:
            hi[ih] = 1.0
        else:
            lo[ih] = 0.0
    start = np.clip(start, np.array(lo) + 1e-12, np.array(hi) - 1e-12)

    def unpack(t):
        if free_f:
            return t[0], t[1], np.exp(t[2]), t[3]
        return chance, t[0], np.exp(t[1]), t[2]

    def resid(t):
        f, h, k, L0 = unpack(t)
        return sw * (f + (h - f) * expit(-k * (L - L0)) - y)

    from scipy.optimize import least_squares

    res = least_squares(resid, start, bounds=(lo, hi), xtol=1e-12, ftol=1e-12)
    f, h, k, L0 = unpack(res.x)
    if s * (h - f) <= 0:
        return None
    return {"chance": float(f), "limit": float(h), "k": float(k), "L0": float(L0)}, res.x


def _fit_linear(L, y, w):
    sw = np.sqrt(w)
    M = np.column_stack([np.ones_like(L), L]) * sw[:, None]
    coef, *_ = np.linalg.lstsq(M, y * sw, rcond=None)
    return {"a": float(coef[0]), "b": float(coef[1])}, coef


def fit_form(form, L, y, w, s, chance, unit_bounded, start=None):
    """Fit one form; returns (params, internal start vector) or None when it cannot be fitted."""
    if np.count_nonzero(w) < N_PARAMS[form] - (1 if form == "sigmoid" and chance is not None else 0) + 1:
        return None
    try:
        if form == "exponential":
            return _fit_exponential(L, y, w, s, start)
        if form == "sigmoid":
            return _fit_sigmoid(L, y, w, s, chance, unit_bounded, start)
        return _fit_linear(L, y, w)
    except (ValueError, np.linalg.LinAlgError, FloatingPointError):
        return None
