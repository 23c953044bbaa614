"""ParScale (Chen et al. 2025, "Parallel Scaling Law for Language Models"): P parallel streams act like more parameters.

.. math::
    L(N, P) = E + \\left(\\frac{A \\cdot 10^9}{N\\,(k \\ln P + 1)}\\right)^{\\alpha}

with ``N`` (non-embedding) parameters, ``P >= 1`` parallel streams (input transformations whose outputs
are aggregated), ``L`` in the metric's units (nats for a loss); ``A`` is in billions of parameters, so
``N (1 + k ln P)`` is the *equivalent parameter count*: ``P`` streams on ``N`` parameters reach the loss of
one stream on ``N (1 + k ln P)``. The paper fits Huber (delta 1e-3) on log residuals, the engine's
default objective, and finds ``k = 0.394``, ``alpha = 0.189`` on Stack-V2-Python.

Fitted in log space: ``log L = logaddexp(log E, alpha (log A + ln 1e9 - ln N - ln(1 + k ln P)))`` with
``E``, ``A``, ``k`` positive (estimated as logs). Starts: variable projection over ``(alpha, k)``, where the
law is linear in ``E`` and ``A^alpha``.
"""
from __future__ import annotations

import numpy as np

from analysis.laws.base import DIMENSIONLESS, Y, Law, Param, log_rows, rows
from analysis.laws.maths import safe_log
from analysis.laws.registry import register
from analysis.laws.varpro import varpro

SCALE = 1e9                                   # A is in billions of parameters
ALPHA_GRID = np.linspace(0.02, 1.0, 50)
K_GRID = np.geomspace(0.02, 3.0, 30)


def _parts(theta, X):
    lN = log_rows(X, "N")
    lnP = np.log(rows(X, "P"))
    lE, lA, al, lk = (theta[:, j, None] for j in range(4))
    g = 1.0 + np.exp(lk) * lnP                 # equivalent-parameter factor 1 + k ln P
    inner = lA + np.log(SCALE) - lN - np.log(g)
    T2 = al * inner
    T1, T2 = np.broadcast_arrays(lE, T2)
    lp = np.logaddexp(T1, T2)
    return lnP, g, inner, T1, T2, lp


def _logpred(theta, X):
    return _parts(theta, X)[-1]


def _jac(theta, X):
    lnP, g, inner, T1, T2, lp = _parts(theta, X)
    w1, w2 = np.exp(T1 - lp), np.exp(T2 - lp)
    al, k = theta[:, 2, None], np.exp(theta[:, 3, None])
    J = np.empty(lp.shape + (4,))
    J[..., 0] = w1
    J[..., 1] = w2 * al
    J[..., 2] = w2 * inner
    J[..., 3] = -w2 * al * k * lnP / g
    return J


def _init(X, y):
    N, P = X["N"], X["P"]
    cands = []
    for k in K_GRID[::3]:
        x = SCALE / (N * (1.0 + k * np.log(P)))
        exps, coef = varpro(lambda e: np.column_stack([np.ones_like(x), x ** e[0]]), y, [ALPHA_GRID])
        a = exps[0]
        cands.append([safe_log(coef[0]), safe_log(coef[1]) / a, a, np.log(k)])
    return np.array(cands)


def equivalent_params(params: dict, N, P):
    """``N (1 + k ln P)``: the single-stream parameter count with the same loss (parameters)."""
    return np.asarray(N, float) * (1.0 + params["k"] * np.log(np.asarray(P, float)))


PARSCALE = register(Law(
    "parscale", "ParScale L(N, P)", "L = E + (A*1e9 / (N (k ln P + 1)))^alpha",
    r"L(N,P) = E + \left(\frac{A \cdot 10^{9}}{N\,(k \ln P + 1)}\right)^{\alpha}",
    ("N", "P"),
    (Param("E", "irreducible loss (y units)", 1e-6, 1e3, log=True, unit=Y),
     Param("A", "scale of the parameter term (billions of parameters)", 1e-8, 1e8, log=True,
           unit="1e9 {N}"),
     Param("alpha", "parameter exponent", 0.0, 3.0, unit=DIMENSIONLESS),
     Param("k", "equivalent-parameter gain per e-fold of parallel streams", 1e-6, 1e3, log=True,
           unit=DIMENSIONLESS)),
    _logpred, _jac, _init, reference="Chen et al. 2025, Parallel Scaling Law (k=0.394, alpha=0.189 on Stack-V2-Python)",
    grid_edges=((2, ALPHA_GRID[0], ALPHA_GRID[-1]),)))
