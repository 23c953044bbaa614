"""One-variable power laws: the saturating ``E + A x^-alpha`` and Kaplan's pure ``(X_c / x)^alpha``.

.. math::
    y = E + A\\,x^{-\\alpha} \\qquad\\text{(``power_n``, ``power_d``, ``power_c``, ``power_step``)}

    y = \\left(\\frac{X_c}{x}\\right)^{\\alpha} \\qquad\\text{(``kaplan_n``, ``kaplan_d``, ``kaplan_c``)}

``x`` is one scale axis (parameters N, tokens D, FLOPs C or optimiser steps); ``E`` is in the metric's
units, ``A`` in those units times ``[x]^alpha``, the critical scale ``X_c`` in the units of ``x``.
"""
from __future__ import annotations

import numpy as np

from datasets.vocabulary import AXES
from analysis.laws.base import DIMENSIONLESS, Y, Law, Param, rows
from analysis.laws.maths import power_terms, safe_log
from analysis.laws.registry import register
from analysis.laws.varpro import varpro

SATURATING_GRID = np.linspace(0.005, 2.0, 200)


def saturating(var: str, *, offered_with_nd: bool | None = None) -> Law:
    """y = E + A * x^-alpha in the one variable ``var``."""
    logpred, jac, combined = power_terms([(0, []), (1, [(2, var)])], (var,), 3)
    grid = SATURATING_GRID

    def init(X, y):
        x = X[var]
        exps, coef = varpro(lambda e: np.column_stack([np.ones_like(x), x ** -e[0]]), y, [grid])
        return np.array([[*safe_log(coef), exps[0]]])

    return Law(f"power_{var.lower()}", f"Saturating power law in {var}", f"y = E + A*{var}^-alpha",
               rf"y = E + A\,{var}^{{-\alpha}}", (var,),
               (Param("E", "irreducible value (y units)", 1e-8, 1e3, log=True, unit=Y),
                Param("A", "coefficient", 1e-8, 1e15, log=True, unit=f"{{y}} x ({{{var}}})^alpha"),
                Param("alpha", "exponent", 0.0, 3.0, unit=DIMENSIONLESS)),
               logpred, jac, init, reference="standard single-curve baseline",
               grid_edges=((2, grid[0], grid[-1]),), offered_with_nd=offered_with_nd, combined=combined)


def pure_power(var: str) -> Law:
    """Kaplan's pure power law y = (Xc / x)^alpha, fitted as log y = alpha (log Xc - log x)."""
    def logpred(theta, X):
        return theta[:, 1, None] * (theta[:, 0, None] - np.log(rows(X, var)))

    def jac(theta, X):
        lx = np.log(rows(X, var))
        d0 = theta[:, 1, None] + 0.0 * lx
        return np.stack([d0, theta[:, 0, None] - lx], axis=-1)

    def init(X, y):
        slope, icpt = np.polyfit(np.log(X[var]), np.log(y), 1)
        a = max(-slope, 1e-3)
        return np.array([[icpt / a, a]])

    return Law(f"kaplan_{var.lower()}", f"Kaplan power law in {var}", f"L = ({var}c/{var})^alpha",
               rf"L = \left(\frac{{{var}_c}}{{{var}}}\right)^{{\alpha}}", (var,),
               (Param(f"{var}c", f"critical scale ({AXES[var].unit})", 1e-30, 1e60, log=True, unit=f"{{{var}}}"),
                Param("alpha", "exponent", 1e-4, 3.0, unit=DIMENSIONLESS)),
               logpred, jac, init, reference="Kaplan et al. 2020", floor=False)


# power_c summarises a size ladder by compute, so it is offered beside the joint laws
register(saturating("N"), saturating("D"), saturating("C", offered_with_nd=True), saturating("step"),
         pure_power("N"), pure_power("D"), pure_power("C"))
