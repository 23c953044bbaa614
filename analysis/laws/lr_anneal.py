"""The LR-annealing loss curve (Tissue et al. 2024): one law for the whole training curve of a schedule.

.. math::
    L(s) = L_0 + A\\,S_1^{-\\alpha} - C\\,S_2

``S1`` (forward area, in steps x LR) and ``S2`` (annealing area) are computed from each run's
learning-rate schedule by :func:`anneal_areas`, once, for the fit, the back-test and the figures alike
(the law's :class:`~analysis.laws.base.Derived` variables). ``L0`` is in the metric's units, ``A`` in
those units times ``[S1]^alpha``, ``C`` in those units per unit of annealing area.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.laws.base import DIMENSIONLESS, Y, Derived, Law, Param, rows
from analysis.laws.maths import safe_log
from analysis.laws.registry import register
from analysis.laws.varpro import varpro

DECAY = 0.999


def anneal_areas(step, lr, run=None, decay: float = DECAY):
    """Forward area S1 and annealing area S2 of a learning-rate schedule, per run.

    The schedule observed at ``step`` is interpolated linearly to every integer step
    ``1..max(step)`` (eta_0 = eta at the first observed step). Then

    .. math::
        S_1(s) = \\sum_{i=1}^{s} \\eta_i, \\qquad
        m_i = \\lambda m_{i-1} + (\\eta_{i-1} - \\eta_i), \\qquad S_2(s) = \\sum_{i=1}^{s} m_i

    with :math:`\\lambda` = ``decay`` (0.999 in the paper). Returns (S1, S2) at the observed steps.
    """
    from scipy.signal import lfilter          # on use: scipy's submodules cost the app's start-up
    step = np.asarray(step, float)
    lr = np.asarray(lr, float)
    run = np.zeros(len(step)) if run is None else np.asarray(run)
    S1, S2 = np.empty_like(step), np.empty_like(step)
    for r in np.unique(run):
        idx = np.flatnonzero(run == r)
        order = idx[np.argsort(step[idx])]
        s, e = step[order], lr[order]
        grid = np.arange(1, int(np.ceil(s.max())) + 1, dtype=float)
        eta = np.interp(grid, s, e)
        s1 = np.cumsum(eta)
        d = np.concatenate([[0.0], eta[:-1] - eta[1:]])
        m = lfilter([1.0], [1.0, -decay], d)       # m_i = decay * m_{i-1} + d_i
        s2 = np.cumsum(m)
        pos = np.clip(np.round(s).astype(int) - 1, 0, len(grid) - 1)
        S1[order], S2[order] = s1[pos], s2[pos]
    return S1, S2


def _areas(frame: pd.DataFrame) -> dict:
    S1, S2 = anneal_areas(frame["step"].to_numpy(float), frame["lr"].to_numpy(float), frame["run"].to_numpy())
    return {"S1": S1, "S2": S2}


AREAS = Derived(("S1", "S2"), ("step", "lr"), _areas, units=("LR-area (steps x LR)", "annealing area"),
                titles=("LR area S1 (steps x LR)", "Annealing area S2"), what="a learning-rate schedule",
                positive=("S1",))


def _parts(theta, X):
    S1, S2 = rows(X, "S1"), rows(X, "S2")
    L0, A, C = np.exp(theta[:, 0, None]), np.exp(theta[:, 1, None]), np.exp(theta[:, 3, None])
    t = A * S1 ** -theta[:, 2, None]
    yhat = L0 + t - C * S2
    return S1, S2, L0, t, C, np.maximum(yhat, 1e-12)


def _logpred(theta, X):
    return np.log(_parts(theta, X)[5])


def _jac(theta, X):
    S1, S2, L0, t, C, yhat = _parts(theta, X)
    J = np.empty(yhat.shape + (4,))
    J[..., 0] = L0 / yhat
    J[..., 1] = t / yhat
    J[..., 2] = -t * np.log(S1) / yhat
    J[..., 3] = -C * S2 / yhat
    return J


def _init(X, y):
    S1, S2 = X["S1"], X["S2"]
    exps, coef = varpro(lambda e: np.column_stack([np.ones_like(S1), S1 ** -e[0], -S2]), y,
                        [np.linspace(0.02, 2.0, 100)])
    return np.array([[safe_log(coef[0]), safe_log(coef[1]), exps[0], safe_log(max(coef[2], 1e-10))]])


LR_ANNEAL = register(Law(
    "lr_anneal", "LR-annealing loss curve L(s)", "L(s) = L0 + A*S1^-alpha - C*S2",
    r"L(s) = L_0 + A\,S_1^{-\alpha} - C\,S_2", ("S1", "S2"),
    (Param("L0", "loss floor", 1e-6, 1e3, log=True, unit=Y),
     Param("A", "coefficient of the forward-area term", 1e-8, 1e8, log=True, unit="{y} x ({S1})^alpha"),
     Param("alpha", "exponent of the forward area", 0.0, 3.0, unit=DIMENSIONLESS),
     Param("C", "annealing gain per unit of annealing area", 1e-12, 1e6, log=True, unit="{y} per unit of {S2}")),
    _logpred, _jac, _init, reference="Tissue et al. 2024 (lambda = 0.999)", derived=AREAS))
