"""Broken neural scaling laws (Caballero et al. 2022).

.. math::
    y = a + b\\,x^{-c_0} \\prod_{i=1}^{n} \\left(1 + \\left(\\frac{x}{d_i}\\right)^{1/f_i}\\right)^{-c_i f_i}

A power law whose exponent changes by ``c_i`` around each break scale ``d_i`` (in the units of ``x``)
with sharpness ``f_i`` (smaller is sharper). ``a`` is in the metric's units, ``b`` in those units
times ``[x]^c0``; exponents and sharpnesses are dimensionless.
"""
from __future__ import annotations

import numpy as np

from analysis.laws.base import DIMENSIONLESS, Y, Law, Param, rows
from analysis.laws.maths import expit
from analysis.laws.registry import register
from analysis.laws.varpro import saturating_inits
from datasets.vocabulary import AXES


def bnsl(n_breaks: int, var: str = "C", *, offered_with_nd: bool | None = None) -> Law:
    """The broken power law with ``n_breaks`` breaks in the variable ``var``."""
    x_unit = f"{{{var}}}"
    ps = [Param("a", "limit value (y units)", 1e-8, 1e3, log=True, unit=Y),
          Param("b", "coefficient", 1e-30, 1e30, log=True, unit=f"{{y}} x ({x_unit})^c0"),
          Param("c0", "initial exponent", -3.0, 3.0, unit=DIMENSIONLESS)]
    for i in range(1, n_breaks + 1):
        ps += [Param(f"c{i}", f"change of exponent at break {i}", -5.0, 5.0, unit=DIMENSIONLESS),
               Param(f"d{i}", f"scale of break {i} ({AXES[var].unit})", 1e-30, 1e60, log=True, unit=x_unit),
               Param(f"f{i}", f"sharpness of break {i} (smaller is sharper)", 1e-3, 20.0, log=True,
                     unit=DIMENSIONLESS)]
    params = tuple(ps)
    p = len(params)

    def parts(theta, X):
        lx = np.log(rows(X, var))
        lg = theta[:, 1, None] - theta[:, 2, None] * lx
        comps = []
        for i in range(n_breaks):
            c, ld, lf = theta[:, 3 + 3 * i, None], theta[:, 4 + 3 * i, None], theta[:, 5 + 3 * i, None]
            f = np.exp(lf)
            lz = (lx - ld) / f
            l1pz = np.logaddexp(0.0, lz)
            lg = lg - c * f * l1pz
            comps.append((c, f, lz, l1pz))
        la = theta[:, 0, None] + 0 * lg
        lyhat = np.logaddexp(la, lg)
        return lx, la, lg, lyhat, comps

    def logpred(theta, X):
        return parts(theta, X)[3]

    def jac(theta, X):
        lx, la, lg, lyhat, comps = parts(theta, X)
        wa, wg = np.exp(la - lyhat), np.exp(lg - lyhat)
        J = np.empty(lyhat.shape + (p,))
        J[..., 0] = wa
        J[..., 1] = wg
        J[..., 2] = -wg * lx
        for i, (c, f, lz, l1pz) in enumerate(comps):
            s = expit(lz)   # z / (1 + z)
            J[..., 3 + 3 * i] = -wg * f * l1pz
            J[..., 4 + 3 * i] = wg * c * s
            J[..., 5 + 3 * i] = wg * (-c * f * l1pz + c * f * s * lz)
        return J

    def init(X, y):
        lx = np.log(X[var])
        base = saturating_inits(X[var], y)
        qs = np.quantile(lx, [0.25, 0.5, 0.75]) if n_breaks == 1 else np.quantile(lx, [0.33, 0.66])
        cands = []
        for la_, lb, c0 in base:
            for c1 in (-1.0, -0.3, 0.3, 1.0):
                for q in qs:
                    for lf in (np.log(0.3), np.log(1.0)):
                        row = [la_, lb + 0.0, c0, c1, q, lf]
                        if n_breaks == 2:
                            row += [-c1 / 2, np.quantile(lx, 0.8), np.log(0.5)]
                        cands.append(row)
        return np.array(cands)

    name = f"bnsl{n_breaks}" + ("" if var == "C" else f"_{var.lower()}")
    return Law(name, f"Broken power law, {n_breaks} break{'s' if n_breaks > 1 else ''}, in {var}",
               f"y = a + b*{var}^-c0 * prod_i (1 + ({var}/d_i)^(1/f_i))^(-c_i f_i)",
               rf"y = a + b\,{var}^{{-c_0}} \prod_{{i=1}}^{{{n_breaks}}} "
               rf"\left(1 + \left(\frac{{{var}}}{{d_i}}\right)^{{1/f_i}}\right)^{{-c_i f_i}}",
               (var,), params, logpred, jac, init, reference="Caballero et al. 2022 (BNSL)",
               offered_with_nd=offered_with_nd)


# bnsl1 (in compute) is offered beside the joint laws on a size ladder, like power_c
register(bnsl(1, "C", offered_with_nd=True), bnsl(2, "C"), bnsl(1, "N"), bnsl(1, "D"), bnsl(1, "step"))
