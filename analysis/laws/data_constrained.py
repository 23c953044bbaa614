"""Data-constrained scaling (Muennighoff et al. 2023): repeated tokens and excess parameters lose value.

.. math::
    L = E + \\frac{A}{N'^{\\alpha}} + \\frac{B}{D'^{\\beta}},\\qquad
    D' = U_D + U_D R_D^{*}\\left(1 - e^{-R_D/R_D^{*}}\\right),\\quad R_D = D/U_D - 1,

and ``N'`` likewise with ``U_N = min(N, U_D / 20)``, ``R_N = N / U_N - 1``. ``N`` parameters, ``D``
tokens, ``U`` unique tokens (``U_D = min(U, D)``; a missing ``U`` means unlimited data, where the law
is Chinchilla's); ``R_D*`` and ``R_N*`` are dimensionless (the paper fits 15.4 and 5.3).
Allocation under a unique-token budget is numerical.
"""
from __future__ import annotations

import numpy as np

from analysis.laws.base import DIMENSIONLESS, Y, Law, Param, rows
from analysis.laws.maths import logsumexp, safe_log
from analysis.laws.registry import register
from analysis.laws.varpro import varpro_terms

TOKENS_PER_PARAM_FOR_UNIQUE = 20.0


def effective(U, R, lRstar):
    """Effective amount U + U R* (1 - exp(-R/R*)) and d log(eff)/d log R*."""
    Rs = np.exp(lRstar)
    e = np.exp(-R / Rs)
    eff = U + U * Rs * (1.0 - e)
    deff = U * Rs * ((1.0 - e) - (R / Rs) * e)   # d eff / d log R*
    return eff, deff / eff


def _effective(theta, X):
    N, D, U = rows(X, "N"), rows(X, "D"), rows(X, "U")
    U = np.where(np.isfinite(U) & (U > 0), U, D)
    U_D = np.minimum(U, D)
    R_D = D / U_D - 1.0
    U_N = np.minimum(N, U_D / TOKENS_PER_PARAM_FOR_UNIQUE)
    R_N = np.maximum(N / U_N - 1.0, 0.0)
    Dp, dlD = effective(U_D, R_D, theta[:, 5, None])
    Np, dlN = effective(U_N, R_N, theta[:, 6, None])
    return Np, Dp, dlN, dlD


def _terms(theta, lNp, lDp):
    return np.stack([np.broadcast_to(theta[:, 0, None], lDp.shape), theta[:, 1, None] - theta[:, 3, None] * lNp,
                     theta[:, 2, None] - theta[:, 4, None] * lDp], axis=1)


def _logpred(theta, X):
    Np, Dp, _, _ = _effective(theta, X)
    return logsumexp(_terms(theta, np.log(Np), np.log(Dp)), axis=1)


def _jac(theta, X):
    Np, Dp, dlN, dlD = _effective(theta, X)
    lNp, lDp = np.log(Np), np.log(Dp)
    T = _terms(theta, lNp, lDp)
    w = np.exp(T - logsumexp(T, axis=1, keepdims=True))
    J = np.empty(Dp.shape + (7,))
    J[..., 0], J[..., 1], J[..., 2] = w[:, 0], w[:, 1], w[:, 2]
    J[..., 3] = -w[:, 1] * lNp
    J[..., 4] = -w[:, 2] * lDp
    J[..., 5] = -w[:, 2] * theta[:, 4, None] * dlD
    J[..., 6] = -w[:, 1] * theta[:, 3, None] * dlN
    return J


def _init(X, y):
    cands = []
    grid = np.linspace(0.05, 1.5, 16)
    for rd in (5.0, 15.4, 50.0):
        for rn in (5.3,):
            th = np.array([[0, 0, 0, 0, 0, np.log(rd), np.log(rn)]], dtype=float)
            Np, Dp, _, _ = _effective(th, X)
            Np, Dp = Np[0], Dp[0]
            exps, coef = varpro_terms([(None, lambda _, Np=Np: np.ones_like(Np)), (0, lambda a, Np=Np: Np ** -a),
                                       (1, lambda b, Dp=Dp: Dp ** -b)], y, [grid, grid])
            cands.append([*safe_log(coef), exps[0], exps[1], np.log(rd), np.log(rn)])
    return np.array(cands)


DATA_CONSTRAINED = register(Law(
    "data_constrained", "Data-constrained L(N, D, U)",
    "L = E + A/N'^alpha + B/D'^beta; D' = U_D + U_D R_D* (1 - exp(-R_D/R_D*)), R_D = D/U_D - 1; "
    "N' likewise with U_N = min(N, U_D/20), R_N = N/U_N - 1",
    r"L = E + \frac{A}{N'^{\alpha}} + \frac{B}{D'^{\beta}},\ "
    r"D' = U_D + U_D R_D^{*}\left(1 - e^{-R_D/R_D^{*}}\right)",
    ("N", "D", "U"),
    (Param("E", "irreducible loss", 1e-6, 1e3, log=True, unit=Y),
     Param("A", "parameter-term coefficient", 1e-6, 1e12, log=True, unit="{y} x ({N})^alpha"),
     Param("B", "data-term coefficient", 1e-6, 1e12, log=True, unit="{y} x ({D})^beta"),
     Param("alpha", "parameter exponent", 0.0, 3.0, unit=DIMENSIONLESS),
     Param("beta", "data exponent", 0.0, 3.0, unit=DIMENSIONLESS),
     Param("R_D*", "repetitions of data at which returns decay by 1/e", 0.01, 1e4, log=True, unit=DIMENSIONLESS),
     Param("R_N*", "excess parameters (in multiples) at which returns decay by 1/e", 0.01, 1e4, log=True,
           unit=DIMENSIONLESS)),
    _logpred, _jac, _init, reference="Muennighoff et al. 2023 (R_D*=15.4, R_N*=5.3)", optional=("U",)))
