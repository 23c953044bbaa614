"""M4 (Alabdulmohsin et al. 2022): a learning-curve law with a plateau, solved for ``y``.

.. math::
    \\frac{y - E}{(L_0 - y)^{\\alpha}} = \\beta\\, x^{-c}, \\qquad L_0 = E + B,

so ``y`` falls from the plateau ``L0`` (the random-guessing value) at small ``x`` to a power law
``y - E ~ beta B^alpha x^-c`` at large ``x``; ``alpha = 0`` is the plain power law ``E + beta x^-c``
(capped at ``L0``), ``alpha = 1`` the logistic in ``log x``. ``y``, ``E`` and ``B`` are in the
metric's units, ``x`` in the units of the variable, ``beta`` in ``[y]^(1 - alpha) [x]^c``. With
``u = (y - E) / B`` the law is ``log u - alpha log(1 - u) = log beta - c log x + (alpha - 1) log B``,
solved exactly by Newton's method in ``t = logit u``; the Jacobian follows from the implicit-function
theorem.
"""
from __future__ import annotations

import numpy as np

from analysis.laws.base import DIMENSIONLESS, Y, Law, Param, rows
from analysis.laws.maths import expit, softplus
from analysis.laws.registry import register
from analysis.laws.varpro import saturating_inits

NEWTON_ITERS = 60


def solve(s, alpha):
    """Solve ``log u - alpha log(1 - u) = s`` for ``u = sigmoid(t)`` in (0, 1); returns ``t``.

    In ``t`` the left side is ``g(t) = -softplus(-t) + alpha softplus(t)``, increasing with slope
    ``(1 - u) + alpha u`` in [min(1, alpha), max(1, alpha)] and concave (alpha < 1) or convex
    (alpha > 1), so Newton's method converges from any start after its first step (monotonically
    from then on). The start is the asymptote: ``t = s`` for ``s < 0``, ``t = s / alpha`` above.
    """
    a = np.maximum(alpha, 1e-12)
    t = np.where(s < 0, s, s / a)
    for _ in range(NEWTON_ITERS):
        u = expit(t)
        g = -softplus(-t) + a * softplus(t) - s
        step = g / ((1.0 - u) + a * u)
        t = t - step
        if np.all(np.abs(step) <= 1e-12 * (1.0 + np.abs(t))):
            break
    return t


def m4(var: str = "D") -> Law:
    """The M4 law in the variable ``var``."""
    def parts(theta, X):
        lx = np.log(rows(X, var))
        lE, lB, lb, c, al = (theta[:, k, None] for k in range(5))
        s = lb - c * lx + (al - 1.0) * lB
        t = solve(s + 0.0 * lE, al + 0.0 * lx)
        lu = -softplus(-t)
        lg = lB + lu
        lyhat = np.logaddexp(lE + 0.0 * lg, lg)
        return lx, lE, lB, al, t, lu, lg, lyhat

    def logpred(theta, X):
        return parts(theta, X)[-1]

    def jac(theta, X):
        lx, lE, lB, al, t, lu, lg, lyhat = parts(theta, X)
        u = np.exp(lu)
        wa, wg = np.exp(lE - lyhat), np.exp(lg - lyhat)
        dlu_ds = (1.0 - u) / ((1.0 - u) + np.maximum(al, 1e-12) * u)   # d log u / d s
        J = np.empty(lyhat.shape + (5,))
        J[..., 0] = wa
        J[..., 1] = wg * (1.0 + dlu_ds * (al - 1.0))
        J[..., 2] = wg * dlu_ds
        J[..., 3] = -wg * dlu_ds * lx
        J[..., 4] = wg * dlu_ds * (lB - softplus(t))
        return J

    def init(X, y):
        lx = np.log(X[var])
        lo, hi = float(np.min(y)), float(np.max(y))
        cands = []
        # For fixed E and L0 the law is linear in (log beta, c, alpha): M4's own regression step.
        for e_frac in (0.0, 0.3, 0.6, 0.85, 0.97):
            E = max(e_frac * lo, 1e-6)
            for l0 in (hi * 1.001 + 1e-6, hi * 1.02, hi * 1.1, hi * 1.5, hi * 3.0):
                A = np.column_stack([np.ones_like(lx), -lx, np.log(l0 - y)])
                coef, *_ = np.linalg.lstsq(A, np.log(np.maximum(y - E, 1e-12)), rcond=None)
                lb_, c_, al_ = coef
                c_, al_ = float(np.clip(c_, 1e-3, 5.0)), float(np.clip(al_, 0.0, 10.0))
                cands.append([np.log(E), np.log(l0 - E), lb_, c_, al_])
        # and from the saturating fit y = E + A x^-c (alpha = 0, L0 well above the data)
        for la_, lA, c0 in saturating_inits(X[var], y):
            if c0 > 0:
                cands.append([la_, np.log(hi * 3.0), lA, c0, 0.0])
        return np.array(cands)

    return Law(f"m4_{var.lower()}", f"M4 learning-curve law in {var}",
               f"(y - E)/(L0 - y)^alpha = beta*{var}^-c, L0 = E + B",
               rf"\frac{{y - E}}{{(L_0 - y)^{{\alpha}}}} = \beta\,{var}^{{-c}},\ L_0 = E + B", (var,),
               (Param("E", "limit value as x grows (y units)", 1e-8, 1e3, log=True, unit=Y),
                Param("B", "span L0 - E from the small-x plateau L0 to the limit (y units)", 1e-8, 1e4, log=True,
                      unit=Y),
                Param("beta", "coefficient of the power term", 1e-30, 1e60, log=True,
                      unit=f"({{y}})^(1-alpha) x ({{{var}}})^c"),
                Param("c", "exponent", 0.0, 5.0, unit=DIMENSIONLESS),
                Param("alpha", "shape: 0 = plain power law, 1 = logistic in log x", 0.0, 10.0, unit=DIMENSIONLESS)),
               logpred, jac, init, reference="Alabdulmohsin et al. 2022 (M4)")


register(m4("D"))
