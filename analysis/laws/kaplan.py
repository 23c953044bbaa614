"""Kaplan et al. 2020, eq. 1.5: the joint law in parameters and data.

.. math::
    L(N, D) = \\left[\\left(\\frac{N_c}{N}\\right)^{\\alpha_N/\\alpha_D} + \\frac{D_c}{D}\\right]^{\\alpha_D}

``L`` in the metric's units, ``N`` parameters, ``D`` tokens; the critical scales ``N_c`` (parameters)
and ``D_c`` (tokens) set where each term matters. No closed-form compute optimum: allocation is
numerical. The one-variable pure power laws ``(X_c / X)^alpha`` are in :mod:`analysis.laws.power`.
"""
from __future__ import annotations

import numpy as np

from analysis.laws.base import DIMENSIONLESS, Law, Param, rows
from analysis.laws.registry import register


def _parts(theta, X):
    lN, lD = np.log(rows(X, "N")), np.log(rows(X, "D"))
    r = theta[:, 2, None] / theta[:, 3, None]
    u1 = r * (theta[:, 0, None] - lN)
    u2 = theta[:, 1, None] - lD + 0.0 * u1
    s = np.logaddexp(u1, u2)
    return lN, u1, u2, s


def _logpred(theta, X):
    return theta[:, 3, None] * _parts(theta, X)[3]


def _jac(theta, X):
    lN, u1, u2, s = _parts(theta, X)
    w1 = np.exp(u1 - s)
    w2 = 1.0 - w1
    aN, aD = theta[:, 2, None], theta[:, 3, None]
    J = np.empty(u1.shape + (4,))
    J[..., 0] = aN * w1
    J[..., 1] = aD * w2
    J[..., 2] = w1 * (theta[:, 0, None] - lN)
    J[..., 3] = s - w1 * u1
    return J


def _init(X, y):
    ly, lN, lD = np.log(y), np.log(X["N"]), np.log(X["D"])
    cands = []
    for aN in np.linspace(0.02, 0.6, 12):
        for aD in np.linspace(0.02, 0.6, 12):
            # choose log Nc, log Dc so that each term alone matches the mean loss: a coarse but fair start
            lNc = np.mean(ly) / aN + np.mean(lN)
            lDc = np.mean(ly) / aD + np.mean(lD)
            for shift in (-3.0, 0.0, 3.0):
                cands.append([lNc + shift, lDc + shift, aN, aD])
    return np.array(cands)


KAPLAN = register(Law(
    "kaplan", "Kaplan L(N, D)", "L = [(Nc/N)^(alphaN/alphaD) + Dc/D]^alphaD",
    r"L(N,D) = \left[\left(\frac{N_c}{N}\right)^{\alpha_N/\alpha_D} + \frac{D_c}{D}\right]^{\alpha_D}",
    ("N", "D"),
    (Param("Nc", "critical parameter count", 1e-10, 1e40, log=True, unit="{N}"),
     Param("Dc", "critical token count", 1e-10, 1e40, log=True, unit="{D}"),
     Param("alphaN", "parameter exponent", 1e-3, 2.0, unit=DIMENSIONLESS),
     Param("alphaD", "data exponent", 1e-3, 2.0, unit=DIMENSIONLESS)),
    _logpred, _jac, _init, reference="Kaplan et al. 2020, eq. 1.5", floor=False))
