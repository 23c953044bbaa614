"""A throw-away law, written the way a new law file in ``analysis/laws/`` is: one ``Law`` and ``register``.

Chinchilla with one shared exponent, ``L = E + A/N^a + B/D^a``; its compute optimum under ``C = k N D``
is closed: ``N* = (A/B)^(1/(2a)) (C/k)^(1/2)``, ``D* = (C/k) / N*``. Used by tests/test_law_registry.py
to check that a registered law reaches every place that offers laws.
"""
from __future__ import annotations

import numpy as np

from analysis.laws import DIMENSIONLESS, Law, Param, register
from analysis.laws.maths import power_terms, safe_log
from analysis.laws.varpro import EXP_GRID, varpro


def _optimum(P, budget):
    G = (P["A"] / P["B"]) ** (1.0 / (2.0 * P["a"]))
    return G * np.sqrt(budget), np.sqrt(budget) / G


def _init(X, y):
    N, D = X["N"], X["D"]
    exps, coef = varpro(lambda e: np.column_stack([np.ones_like(N), N ** -e[0], D ** -e[0]]), y, [EXP_GRID])
    return np.array([[*safe_log(coef), exps[0]]])


_logpred, _jac, _combined = power_terms([(0, []), (1, [(3, "N")]), (2, [(3, "D")])], ("N", "D"), 4)

SHARED = Law("shared_exponent_test", "Shared-exponent L(N, D) (test law)", "L = E + A/N^a + B/D^a",
             r"L = E + \frac{A}{N^{a}} + \frac{B}{D^{a}}", ("N", "D"),
             (Param("E", "irreducible loss", 1e-6, 1e3, log=True, unit="{y}"),
              Param("A", "parameter-term coefficient", 1e-6, 1e12, log=True, unit="{y} x ({N})^a"),
              Param("B", "data-term coefficient", 1e-6, 1e12, log=True, unit="{y} x ({D})^a"),
              Param("a", "shared exponent", 0.0, 3.0, unit=DIMENSIONLESS)),
             _logpred, _jac, _init, reference="test only", optimum=_optimum, combined=_combined)

register(SHARED)
