"""Chinchilla (Hoffmann et al. 2022, Approach 3; refitted by Besiroglu et al. 2024).

.. math::
    L(N, D) = E + \\frac{A}{N^{\\alpha}} + \\frac{B}{D^{\\beta}}

with ``L`` in the metric's units (nats for a loss), ``N`` parameters, ``D`` training tokens. Its
compute optimum under ``C = k N D`` is closed:

.. math::
    G = \\left(\\frac{\\alpha A}{\\beta B}\\right)^{1/(\\alpha+\\beta)},\\quad
    N^*(C) = G\\,(C/k)^{\\beta/(\\alpha+\\beta)},\\quad
    D^*(C) = G^{-1}\\,(C/k)^{\\alpha/(\\alpha+\\beta)}.
"""
from __future__ import annotations

import numpy as np

from analysis.laws.base import DIMENSIONLESS, Y, Law, Param
from analysis.laws.maths import power_terms, safe_log
from analysis.laws.registry import register
from analysis.laws.varpro import EXP_GRID, varpro_terms


def optimum(P: dict, budget):
    """N*, D* minimising E + A/N^alpha + B/D^beta on N D = ``budget`` (= C / k), for arrays of parameters."""
    A, B, a, b = P["A"], P["B"], P["alpha"], P["beta"]
    with np.errstate(all="ignore"):
        G = (a * A / (b * B)) ** (1.0 / (a + b))
        return G * budget ** (b / (a + b)), G ** -1 * budget ** (a / (a + b))


def _init(X, y):
    N, D = X["N"], X["D"]
    exps, coef = varpro_terms([(None, lambda _: np.ones_like(N)), (0, lambda a: N ** -a), (1, lambda b: D ** -b)],
                              y, [EXP_GRID, EXP_GRID])
    return np.array([[*safe_log(coef), exps[0], exps[1]]])


_logpred, _jac, _combined = power_terms([(0, []), (1, [(3, "N")]), (2, [(4, "D")])], ("N", "D"), 5)

CHINCHILLA = register(Law(
    "chinchilla", "Chinchilla L(N, D)", "L = E + A/N^alpha + B/D^beta",
    r"L(N,D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}}", ("N", "D"),
    (Param("E", "irreducible loss (y units)", 1e-6, 1e3, log=True, unit=Y),
     Param("A", "parameter-term coefficient", 1e-6, 1e12, log=True, unit="{y} x ({N})^alpha"),
     Param("B", "data-term coefficient", 1e-6, 1e12, log=True, unit="{y} x ({D})^beta"),
     Param("alpha", "parameter exponent", 0.0, 3.0, unit=DIMENSIONLESS),
     Param("beta", "data exponent", 0.0, 3.0, unit=DIMENSIONLESS)),
    _logpred, _jac, _init, reference="Hoffmann et al. 2022 (Approach 3); Besiroglu et al. 2024",
    optimum=optimum, grid_edges=((3, EXP_GRID[0], EXP_GRID[-1]), (4, EXP_GRID[0], EXP_GRID[-1])),
    combined=_combined))
