"""Losses on log residuals ``r = log yhat - log y``: value, slope and curvature.

* ``"huber"``: :math:`\\rho(r) = r^2/2` for :math:`|r| \\le \\delta`, :math:`\\delta(|r| - \\delta/2)` beyond
  (``delta`` = 1e-3 by default, as in Hoffmann et al. and Epoch), so :math:`\\rho' = \\mathrm{clip}(r, -\\delta,
  \\delta)` and :math:`\\rho'' = 1\\{|r| \\le \\delta\\}`;
* ``"mse"``: :math:`r^2/2`;
* ``"lower"``: an expectile that keeps the curve under the data, :math:`c(r)\\, r^2/2` with
  :math:`c = 1 - \\tau` above the curve (:math:`r > 0`) and :math:`\\tau` = 0.1 below (points below weigh 9x more).

All are dimensionless (``r`` is a log ratio).
"""
from __future__ import annotations

import numpy as np

LOWER_TAU = 0.1
OBJECTIVE_NAMES = ("huber", "mse", "lower")


def _unknown(objective: str) -> ValueError:
    return ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVE_NAMES)}")


def loss_value(r: np.ndarray, objective: str, delta: float) -> np.ndarray:
    """:math:`\\rho(r)` elementwise."""
    if objective == "huber":
        a = np.abs(r)
        return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
    if objective == "mse":
        return 0.5 * r * r
    if objective == "lower":
        return 0.5 * np.where(r > 0, 1.0 - LOWER_TAU, LOWER_TAU) * r * r
    raise _unknown(objective)


def loss_terms(r: np.ndarray, objective: str, delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:math:`(\\rho(r), \\rho'(r), \\rho''(r))` elementwise: the loss, its slope and its curvature."""
    if objective == "huber":
        psi = np.clip(r, -delta, delta)
        return psi * (r - 0.5 * psi), psi, (psi == r).astype(float)   # psi (r - psi/2) is both branches
    if objective == "mse":
        return 0.5 * r * r, r, np.ones_like(r)
    if objective == "lower":
        c = np.where(r > 0, 1.0 - LOWER_TAU, LOWER_TAU)
        return 0.5 * c * r * r, c * r, c
    raise _unknown(objective)
