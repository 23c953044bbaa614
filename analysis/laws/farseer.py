"""Farseer (Li et al. 2025, "Predictable Scale: Part II"): a data exponent that depends on model size.

.. math::
    L(N, D) = \\exp(a_3 n^{\\gamma} + b_3) + \\exp(a_2 n^{\\beta} + b_2)\\, d^{-\\exp(a_1 n^{\\alpha} + b_1)},
    \\qquad n = N / N_0,\\ d = D / D_0,

with ``N`` parameters, ``D`` training tokens, ``L`` in the metric's units (nats for a loss) and the
internal rescaling ``N_0 = 1e9`` parameters, ``D_0 = 1e11`` tokens (so ``n`` and ``d`` are near 1 on
typical data and the nine parameters are well conditioned). The first term is the loss of an infinitely
trained model of size ``N``; the second the data term, whose coefficient ``exp(a_2 n^beta + b_2)`` and
exponent ``exp(a_1 n^alpha + b_1)`` both vary with ``N``. All nine parameters are real numbers; the two
terms are positive by construction.

With ``a_1 = a_2 = 0`` and ``a_3 n^gamma + b_3 ~ log(E + A N^-alpha_c)`` the law is Chinchilla's, which
gives the staged start: a Chinchilla fit (variable projection, polished), mapped to
``b_3 = log E``, ``gamma = -alpha_c``, ``a_3 = A N_0^-alpha_c / E``, ``b_2 = log B - beta_c log D_0``,
``b_1 = log beta_c``, ``a_1 = a_2 = 0`` and a few values of the free exponents ``alpha``, ``beta``.

The Jacobian (``T_1``, ``T_2`` the log-terms, ``w_i = exp(T_i - log L)``, ``e = exp(a_1 n^alpha + b_1)``):
``dlogL/da_3 = w_1 n^gamma``, ``/db_3 = w_1``, ``/dgamma = w_1 a_3 n^gamma log n``,
``/da_2 = w_2 n^beta``, ``/db_2 = w_2``, ``/dbeta = w_2 a_2 n^beta log n``,
``/da_1 = -w_2 e log d n^alpha``, ``/db_1 = -w_2 e log d``, ``/dalpha = -w_2 e log d a_1 n^alpha log n``.

Compute allocation (no closed form) minimises the fitted loss numerically along ``C = k N D``; a
9-parameter law extrapolates poorly, so :func:`within_data` tells callers whether an optimum lies
inside the fitted N and D range.
"""
from __future__ import annotations

import numpy as np

from analysis.laws.base import DIMENSIONLESS, Law, Param, log_rows
from analysis.laws.chinchilla import CHINCHILLA
from analysis.laws.registry import register

N0 = 1e9     # parameters
D0 = 1e11    # tokens
NAMES = ("a1", "b1", "alpha", "a2", "b2", "beta", "a3", "b3", "gamma")
START_EXPONENTS = (-0.5, -0.2, 0.2, 0.5)
MAX_LOG_EXPONENT = 50.0   # cap on a1 n^alpha + b1 (the log of the data exponent)


def _parts(theta, X):
    ln = log_rows(X, "N") - np.log(N0)
    ld = log_rows(X, "D") - np.log(D0)
    a1, b1, al, a2, b2, be, a3, b3, ga = (theta[:, k, None] for k in range(9))
    with np.errstate(over="ignore", invalid="ignore"):
        na, nb, ng = np.exp(al * ln), np.exp(be * ln), np.exp(ga * ln)
        arg = a1 * na + b1
        # a log data exponent above 50 is no law; capping it keeps the optimiser's trial steps finite
        free = arg < MAX_LOG_EXPONENT
        e = np.exp(np.where(free, arg, MAX_LOG_EXPONENT))
        T1 = a3 * ng + b3
        T2 = a2 * nb + b2 - e * ld
        T1, T2 = np.broadcast_arrays(T1, T2)
        lp = np.logaddexp(T1, T2)
    return ln, ld, na, nb, ng, e * free, T1, T2, lp


def _logpred(theta, X):
    return _parts(theta, X)[-1]


def _jac(theta, X):
    ln, ld, na, nb, ng, e, T1, T2, lp = _parts(theta, X)     # e is 0 where capped (no gradient there)
    with np.errstate(over="ignore", invalid="ignore"):
        w1, w2 = np.exp(T1 - lp), np.exp(T2 - lp)
    a1, a2, a3 = theta[:, 0, None], theta[:, 3, None], theta[:, 6, None]
    J = np.empty(lp.shape + (9,))
    g = -w2 * e * ld
    J[..., 0] = g * na
    J[..., 1] = g
    J[..., 2] = g * a1 * na * ln
    J[..., 3] = w2 * nb
    J[..., 4] = w2
    J[..., 5] = w2 * a2 * nb * ln
    J[..., 6] = w1 * ng
    J[..., 7] = w1
    J[..., 8] = w1 * a3 * ng * ln
    return J


def chinchilla_start(X, y) -> np.ndarray:
    """Public Chinchilla parameters (E, A, B, alpha, beta): variable projection polished in log least squares."""
    from scipy.optimize import minimize

    th0 = CHINCHILLA.init(X, y)[0]
    ly = np.log(y)

    def f(th):
        t = th[None, :]
        r = CHINCHILLA.logpred(t, X)[0] - ly
        return 0.5 * float(r @ r), r @ CHINCHILLA.jac(t, X)[0]

    res = minimize(f, th0, jac=True, method="L-BFGS-B", bounds=CHINCHILLA.bounds(),
                   options={"maxiter": 500, "ftol": 1e-14, "gtol": 1e-10})
    return CHINCHILLA.to_public(res.x)


def from_chinchilla(E, A, B, alpha_c, beta_c, alpha=0.0, beta=0.0) -> np.ndarray:
    """The Farseer parameters (in :data:`NAMES` order) that reproduce a Chinchilla law to first order."""
    return np.array([0.0, np.log(beta_c), alpha, 0.0, np.log(B) - beta_c * np.log(D0), beta,
                     A * N0 ** -alpha_c / E, np.log(E), -alpha_c])


def _init(X, y):
    E, A, B, ac, bc = chinchilla_start(X, y)
    return np.array([from_chinchilla(E, A, B, ac, bc, a, b) for a in START_EXPONENTS for b in START_EXPONENTS])


def within_data(fit_ranges: dict, N, D) -> np.ndarray:
    """Whether each (N, D) lies inside the fitted data's N and D range (Farseer is not for extrapolation)."""
    (nlo, nhi), (dlo, dhi) = fit_ranges["N"], fit_ranges["D"]
    N, D = np.asarray(N, float), np.asarray(D, float)
    return (N >= nlo) & (N <= nhi) & (D >= dlo) & (D <= dhi)


_COEF = (-50.0, 50.0)
_EXP = (-3.0, 3.0)
FARSEER = register(Law(
    "farseer", "Farseer L(N, D)",
    "L = exp(a3 n^gamma + b3) + exp(a2 n^beta + b2) d^-exp(a1 n^alpha + b1); n = N/1e9, d = D/1e11",
    r"L = e^{a_3 n^{\gamma} + b_3} + e^{a_2 n^{\beta} + b_2}\, d^{-e^{a_1 n^{\alpha} + b_1}},\ "
    r"n = \frac{N}{10^9},\ d = \frac{D}{10^{11}}",
    ("N", "D"),
    (Param("a1", "coefficient of n^alpha in the log data exponent", *_COEF, unit=DIMENSIONLESS),
     Param("b1", "log data exponent at n = 0 offset", *_COEF, unit=DIMENSIONLESS),
     Param("alpha", "how the data exponent varies with N", *_EXP, unit=DIMENSIONLESS),
     Param("a2", "coefficient of n^beta in the log data coefficient", *_COEF, unit=DIMENSIONLESS),
     Param("b2", "log data coefficient offset (log y units)", *_COEF, unit="log {y}"),
     Param("beta", "how the data coefficient varies with N", *_EXP, unit=DIMENSIONLESS),
     Param("a3", "coefficient of n^gamma in the log infinite-data loss", *_COEF, unit=DIMENSIONLESS),
     Param("b3", "log infinite-data loss offset (log y units)", *_COEF, unit="log {y}"),
     Param("gamma", "how the infinite-data loss varies with N", *_EXP, unit=DIMENSIONLESS)),
    _logpred, _jac, _init, reference="Li et al. 2025, Predictable Scale Part II (Farseer)",
    # nine ill-conditioned parameters: several seconds per fit, so `auto` does not try it on every N-D
    # family; fit it by name (or in the law bake-off)
    offered_with_nd=False,
    extrapolates=False))     # allocation is refused outside the data's N and D range (issue 15)
