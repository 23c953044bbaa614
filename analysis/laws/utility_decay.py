"""Repeated-data utility decay (Goyal et al. 2024, "Scaling Laws for Data Filtering").

Fresh data: ``y = a n^b + d`` (``n`` training tokens seen, ``b < 0``). Data repeated from a pool of ``U``
unique tokens lose utility with every pass: on the k-th repetition (``k = 0`` the first, fresh pass;
``k = 1`` the second epoch ...) the local exponent is

.. math::
    b_k = b \\left(\\tfrac{1}{2}\\right)^{k/\\tau},

so ``tau`` is the half-life of the data's utility in epochs. The curve is continuous: ``log(y - d)`` is
piecewise linear in ``log n`` with slope ``b_k`` while ``n`` is in the k-th pass ``[kU, (k+1)U]``,

.. math::
    \\log(y - d) = \\log a + b\\Big[\\log\\min(n, U) + \\sum_{k \\ge 1} \\delta^k\\,
        \\operatorname{clip}\\big(\\log\\tfrac{n}{kU},\\ 0,\\ \\log\\tfrac{k+1}{k}\\big)\\Big],
    \\qquad \\delta = 2^{-1/\\tau}.

``y`` in the metric's units (nats for a loss), ``n`` = ``D`` tokens, ``U`` unique tokens (missing ``U``:
unlimited data, the plain power law). ``a`` is in ``{y} x tokens^-b``, ``d`` in ``{y}``, ``b`` and ``tau``
(epochs) are dimensionless; ``a``, ``d``, ``tau`` are estimated as logs.

Jacobian: with ``S`` the bracket, ``w_a = (y - d)/y``, ``w_d = d/y``:
``dlog y/dlog a = w_a``, ``/dlog d = w_d``, ``/db = w_a S``,
``/dlog tau = w_a b sum_k delta^k (k ln 2 / tau) clip(...)``.

Readout: the k-th repetition is worth ``(1/2)^(k/tau)`` of fresh data (its exponent relative to the fresh
one), so repeated data fall below a share ``X`` of fresh after ``k = tau log2(1/X)`` repetitions, i.e. from
epoch ``1 + tau log2(1/X)`` on (:func:`epochs_until`).
"""
from __future__ import annotations

import numpy as np

from analysis.laws.base import DIMENSIONLESS, Y, Law, Param, rows
from analysis.laws.maths import safe_log
from analysis.laws.registry import register
from analysis.laws.varpro import varpro

LN2 = np.log(2.0)
EXP_GRID = np.linspace(0.01, 1.5, 60)
TAU_STARTS = (1.0, 4.0, 16.0, 64.0)
MAX_PASSES = 100_000


def _parts(theta, X):
    """S (the bracket), dS/dlog tau, the two log-terms and log y.

    With ``m = n / U`` epochs and ``K = floor(m)`` completed passes (``m >= 1``):
    ``S = log U + sum_{k=1}^{K-1} delta^k log((k+1)/k) + delta^K log(m / K)``; the sums are prefix sums
    over k, so the cost does not grow with the number of epochs per point.
    """
    la, b, ld, lt = (theta[:, j, None] for j in range(4))
    n = rows(X, "D")
    U = rows(X, "U")
    U = np.where(np.isfinite(U) & (U > 0), U, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(np.isfinite(U), n / U, 0.0)
    K = np.floor(np.clip(m, 0.0, MAX_PASSES)).astype(int)
    shape = np.broadcast_shapes(la.shape, n.shape)
    S = np.broadcast_to(np.log(np.minimum(n, U)), shape).copy()
    dS = np.zeros(shape)
    rep = np.broadcast_to(K >= 1, shape)
    if rep.any():
        tau = np.exp(lt)                                           # (B, 1)
        kmax = int(K.max())
        k = np.arange(1, kmax + 1, dtype=float)[None, :]           # (1, kmax)
        dk = np.exp(-k * LN2 / tau)                                # delta^k  (B, kmax)
        Lk = np.log((k + 1.0) / k)
        pre = np.concatenate([np.zeros((len(tau), 1)), np.cumsum(dk * Lk, axis=1)], axis=1)
        dpre = np.concatenate([np.zeros((len(tau), 1)), np.cumsum(dk * (k * LN2 / tau) * Lk, axis=1)], axis=1)
        Kb = np.broadcast_to(K, shape)
        idx = np.maximum(Kb - 1, 0)
        full = np.take_along_axis(np.broadcast_to(pre, (shape[0], pre.shape[1])), idx, axis=1)
        dfull = np.take_along_axis(np.broadcast_to(dpre, (shape[0], dpre.shape[1])), idx, axis=1)
        dK = np.exp(-np.maximum(Kb, 1) * LN2 / tau)                # delta^K
        with np.errstate(divide="ignore", invalid="ignore"):
            part = np.where(rep, np.log(np.broadcast_to(m, shape) / np.maximum(Kb, 1)), 0.0)
        S = S + np.where(rep, full + dK * part, 0.0)
        dS = np.where(rep, dfull + dK * (np.maximum(Kb, 1) * LN2 / tau) * part, 0.0)
    T2 = la + b * S
    T1, T2 = np.broadcast_arrays(ld, T2)
    lp = np.logaddexp(T1, T2)
    return S, dS, T1, T2, lp


def _logpred(theta, X):
    return _parts(theta, X)[-1]


def _jac(theta, X):
    S, dS, T1, T2, lp = _parts(theta, X)
    wd, wa = np.exp(T1 - lp), np.exp(T2 - lp)
    J = np.empty(lp.shape + (4,))
    J[..., 0] = wa
    J[..., 1] = wa * S
    J[..., 2] = wd
    J[..., 3] = wa * theta[:, 1, None] * dS
    return J


def _init(X, y):
    cands = []
    for tau in TAU_STARTS:
        S = _parts(np.array([[0.0, 1.0, 0.0, np.log(tau)]]), X)[0].reshape(-1)
        # for fixed b and tau the law is linear in (d, a): y = d + a exp(b S)
        exps, coef = varpro(lambda e: np.column_stack([np.ones_like(S), np.exp(-e[0] * S)]), y, [EXP_GRID])
        cands.append([safe_log(coef[1]), -exps[0], safe_log(coef[0]), np.log(tau)])
    return np.array(cands)


def epochs_until(tau, share):
    """Epoch from which repeated data are worth less than ``share`` of fresh data: ``1 + tau log2(1/share)``."""
    share = np.asarray(share, float)
    return 1.0 + np.asarray(tau, float) * np.log2(1.0 / share)


UTILITY_DECAY = register(Law(
    "utility_decay", "Repeated-data utility decay y(n, U)",
    "y = a n^b + d while fresh; on the k-th repetition of U unique tokens the exponent is b (1/2)^(k/tau)",
    r"y = a\,n^{b} + d,\quad b_k = b\left(\tfrac{1}{2}\right)^{k/\tau}\ \text{on repetition } k",
    ("D", "U"),
    (Param("a", "coefficient", 1e-8, 1e15, log=True, unit="{y} x ({D})^-b"),
     Param("b", "exponent on fresh data (negative: y falls)", -3.0, 0.0, unit=DIMENSIONLESS),
     Param("d", "limit value (y units)", 1e-8, 1e3, log=True, unit=Y),
     Param("tau", "half-life of repeated data's utility (epochs)", 1e-3, 1e6, log=True, unit="epochs")),
    _logpred, _jac, _init, reference="Goyal et al. 2024, Scaling Laws for Data Filtering", optional=("U",)))
