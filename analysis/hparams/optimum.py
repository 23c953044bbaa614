"""The optimal (learning rate, batch size) of each (N, D) cell of a sweep, three ways, with bootstrap intervals.

Let a cell's runs be :math:`(\\eta_i, B_i, L_i)` (learning rate, batch in tokens, final loss) and
:math:`L_{min}` the lowest loss of a converged run. With :math:`x = \\ln \\eta` and :math:`y = \\ln B`:

* ``argmin`` -- the run with the lowest loss: :math:`(x^*, y^*) = (x_j, y_j)`, :math:`j = \\arg\\min L_i`.
* ``filter`` -- the authors' procedure (Li et al. 2025): the runs with :math:`|L_i / L_{min} - 1| < 0.25\\%`;
  :math:`x^*, y^*` are their mean log values (the geometric means), and the cell weighs as many runs in
  a law fit (the authors pool the filtered runs in one regression, which is the same fit).
* ``bowl`` -- a convex bowl: least squares of
  :math:`L = c_0 + c_1 u + c_2 v + c_3 u^2 + c_4 uv + c_5 v^2` (``u``, ``v`` = ``x``, ``y`` about the
  best run) over the runs with :math:`L_i \\le 1.02\\, L_{min}`; the optimum is the vertex
  :math:`\\nabla L = 0` when the Hessian :math:`[[2c_3, c_4], [c_4, 2c_5]]` is positive definite and at
  least 6 runs on 3 learning rates and 3 batch sizes support it. It is clipped to the swept range (and
  flagged) when it lies outside; without a convex bowl the cell falls back to ``argmin`` (flagged).

Uncertainty: a run-level bootstrap within every cell (the runs of a cell drawn with replacement; the
same replicate index in every cell makes one replicate of the whole sweep, which :mod:`.scaling`
refits). Intervals are percentile intervals of the replicates. Diverged runs take no part in any
estimate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.interval import Interval, percentile_interval
from analysis.jsonable import jsonable

from .data import HparamsError

__all__ = ["METHODS", "FILTER_GAP", "BOWL_WINDOW", "CellOptimum", "CellOptima", "cell_optima", "resample_counts",
           "bowl_vertex"]

METHODS = {"argmin": "the lowest-loss run of the cell",
           "filter": "geometric mean of the runs within 0.25% of the cell's minimum (Li et al. 2025)",
           "bowl": "vertex of a quadratic in (log lr, log batch) over the runs within 2% of the minimum"}
FILTER_GAP = 0.0025
BOWL_WINDOW = 0.02
OK, FALLBACK, CLIPPED = 0, 1, 2


@dataclass(frozen=True)
class CellOptimum:
    """The optimum of one (N, D) cell.

    ``lr_opt`` [1] and ``batch_opt`` [tokens] with their bootstrap intervals; ``loss_min`` the lowest
    observed loss (metric units); ``loss_at_opt`` the loss at the optimum (the bowl's value at its
    vertex, else the observed minimum); ``n_support`` the runs the estimate used; ``fallback_share`` the
    share of bootstrap replicates where the bowl fell back to the argmin; ``cell`` the sweep frame's cell id.
    """

    N: float
    D: float
    N_active: float | None
    n_runs: int
    n_diverged: int
    loss_min: float
    lr_opt: float
    lr_ci: Interval
    batch_opt: float
    batch_ci: Interval
    loss_at_opt: float
    n_support: int
    method: str
    fallback_share: float = 0.0
    warnings: tuple[str, ...] = ()
    cell: int = -1

    def to_dict(self) -> dict:
        """The CLI contract's cell: N, D, lr_opt, lr_ci, batch_opt (tokens), batch_ci, loss_min, ..."""
        return jsonable({"N": self.N, "D": self.D, "N_active": self.N_active, "lr_opt": self.lr_opt,
                "lr_ci": self.lr_ci, "batch_opt": self.batch_opt, "batch_ci": self.batch_ci,
                "loss_min": self.loss_min, "loss_at_opt": self.loss_at_opt, "n_runs": self.n_runs,
                "n_diverged": self.n_diverged, "n_support": self.n_support, "method": self.method,
                "fallback_share": self.fallback_share, "warnings": list(self.warnings), "cell": self.cell})


@dataclass(frozen=True, eq=False)
class CellOptima:
    """Every cell's optimum plus the bootstrap replicates the laws are refitted on.

    ``log_lr``, ``log_batch`` and ``weight`` have shape (1 + bootstrap, n_cells): row 0 is the estimate
    on all runs, rows 1.. the replicates. ``weight`` is 1 per cell, or the number of filtered runs for
    ``filter``.
    """

    method: str
    cells: tuple[CellOptimum, ...]
    log_lr: np.ndarray = field(repr=False)
    log_batch: np.ndarray = field(repr=False)
    weight: np.ndarray = field(repr=False)
    bootstrap: int = 0
    seed: int = 0

    def of(self, cell: int) -> CellOptimum:
        """The optimum of the sweep frame's cell ``cell``."""
        for c in self.cells:
            if c.cell == cell:
                return c
        raise HparamsError(f"no optimum for cell {cell} (all its runs diverged, or no such cell)")

    @property
    def N(self) -> np.ndarray:
        return np.array([c.N for c in self.cells], float)

    @property
    def N_active(self) -> np.ndarray:
        return np.array([np.nan if c.N_active is None else c.N_active for c in self.cells], float)

    @property
    def D(self) -> np.ndarray:
        return np.array([c.D for c in self.cells], float)

    def table(self) -> pd.DataFrame:
        """One row per cell (the :meth:`CellOptimum.to_dict` fields, CIs as lo/hi columns)."""
        rows = []
        for c in self.cells:
            d = c.to_dict()
            lo, hi = d.pop("lr_ci")
            blo, bhi = d.pop("batch_ci")
            d.update(lr_lo=lo, lr_hi=hi, batch_lo=blo, batch_hi=bhi, warnings="; ".join(c.warnings))
            rows.append(d)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return jsonable({"method": self.method, "bootstrap": self.bootstrap, "seed": self.seed,
                         "cells": [c.to_dict() for c in self.cells]})


def resample_counts(n: int, bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Integer weights of shape (1 + bootstrap, n): row 0 all ones, then one row per resample of the
    ``n`` runs drawn with replacement."""
    W = np.ones((1 + bootstrap, n))
    if bootstrap:
        idx = rng.integers(0, n, size=(bootstrap, n)) + n * np.arange(bootstrap)[:, None]
        W[1:] = np.bincount(idx.ravel(), minlength=bootstrap * n).reshape(bootstrap, n)
    return W


def _minimum(z: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    zz = np.where(W > 0, z[None, :], np.inf)
    j = np.argmin(zz, axis=1)
    return j, zz[np.arange(len(j)), j]


def _argmin(x, y, z, W):
    j, m = _minimum(z, W)
    ones = np.ones(len(j))
    return x[j], y[j], ones, m, np.zeros(len(j), int), ones


def _filter(x, y, z, W, gap=FILTER_GAP):
    _, m = _minimum(z, W)
    sel = W * (np.abs(z[None, :] / m[:, None] - 1.0) < gap)
    s = sel.sum(axis=1)
    return (sel @ x) / s, (sel @ y) / s, s, m, np.zeros(len(m), int), s


def _distinct(sel: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Number of distinct ``codes`` among the selected runs, per replicate."""
    used = sel > 0
    return sum(used[:, codes == k].any(axis=1).astype(int) for k in range(codes.max() + 1))


def _bowl(x, y, z, W, window=BOWL_WINDOW):
    j, m = _minimum(z, W)
    x0, y0 = x[np.argmin(z)], y[np.argmin(z)]
    u, v = x - x0, y - y0
    A = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)
    sel = W * (z[None, :] <= m[:, None] * (1.0 + window))
    xcode = np.unique(np.round(u, 3), return_inverse=True)[1]
    ycode = np.unique(np.round(v, 3), return_inverse=True)[1]
    enough = ((sel > 0).sum(axis=1) >= 6) & (_distinct(sel, xcode) >= 3) & (_distinct(sel, ycode) >= 3)
    SA = sel[:, :, None] * A[None, :, :]                         # (K, n, 6)
    G = np.swapaxes(SA, 1, 2) @ A                               # (K, 6, 6) normal equations
    b = np.swapaxes(SA, 1, 2) @ z                               # (K, 6)
    G[~enough] = np.eye(A.shape[1])                             # unsupported replicates fall back below
    try:
        c = np.linalg.solve(G, b[..., None])[..., 0]
    except np.linalg.LinAlgError:                               # an exactly singular design: least squares
        c = np.einsum("kij,kj->ki", np.linalg.pinv(G), b)
    det = 4.0 * c[:, 3] * c[:, 5] - c[:, 4] ** 2
    convex = enough & (c[:, 3] > 0) & (det > 0)
    safe = np.where(convex, det, 1.0)
    us = (-2.0 * c[:, 5] * c[:, 1] + c[:, 4] * c[:, 2]) / safe
    vs = (-2.0 * c[:, 3] * c[:, 2] + c[:, 4] * c[:, 1]) / safe
    uc, vc = np.clip(us, u.min(), u.max()), np.clip(vs, v.min(), v.max())
    clipped = convex & ((uc != us) | (vc != vs))
    zhat = c[:, 0] + c[:, 1] * uc + c[:, 2] * vc + c[:, 3] * uc ** 2 + c[:, 4] * uc * vc + c[:, 5] * vc ** 2
    flag = np.where(~convex, FALLBACK, np.where(clipped, CLIPPED, OK))
    lx = np.where(convex, uc + x0, x[j])
    ly = np.where(convex, vc + y0, y[j])
    zhat = np.where(convex, np.minimum(zhat, m), m)
    return lx, ly, np.ones(len(j)), zhat, flag, (sel > 0).sum(axis=1)


_ESTIMATORS = {"argmin": _argmin, "filter": _filter, "bowl": _bowl}


def bowl_vertex(lr, batch, loss, window: float = BOWL_WINDOW) -> tuple[float, float, float] | None:
    """``(lr*, batch*, loss at the vertex)`` of the convex bowl through the runs within ``window`` of the
    lowest finite ``loss``; None when they do not make a convex bowl or its vertex lies outside the swept
    range (then only the lowest run is known)."""
    lr, batch, loss = (np.asarray(v, float) for v in (lr, batch, loss))
    ok = np.isfinite(loss) & (lr > 0) & (batch > 0)
    if ok.sum() < 6:
        return None
    lx, ly, _, zhat, flag, _ = _bowl(np.log(lr[ok]), np.log(batch[ok]), loss[ok], np.ones((1, int(ok.sum()))),
                                     window)
    if flag[0] != OK:
        return None
    return float(np.exp(lx[0])), float(np.exp(ly[0])), float(zhat[0])


def _warnings(method, flags, lx, ly, x, y, n_support) -> tuple[str, ...]:
    out = []
    if method == "bowl" and flags[0] == FALLBACK:
        out.append(f"no convex bowl: only {int(n_support)} runs lie within {BOWL_WINDOW:.0%} of the minimum, or "
                   "they do not curve up in both directions; the lowest-loss run is used -- sweep 3+ learning "
                   "rates and batch sizes around it")
    if method == "bowl" and flags[0] == CLIPPED:
        out.append("the bowl's vertex lies outside the swept range and was clipped to its edge: the optimum may "
                   "lie beyond the grid -- extend the sweep in that direction")
    if method == "bowl" and flags[0] == CLIPPED:
        return tuple(out)
    tol = 1e-9
    for name, val, grid in (("learning rate", lx, x), ("batch size", ly, y)):
        if len(np.unique(np.round(grid, 3))) > 2 and (val <= grid.min() + tol or val >= grid.max() - tol):
            edge = "smallest" if val <= grid.min() + tol else "largest"
            out.append(f"the optimal {name} is the {edge} one swept: the true optimum may lie beyond it -- "
                       "extend the sweep")
    return tuple(out)


def cell_optima(frame: pd.DataFrame, method: str = "bowl", *, bootstrap: int = 1000, seed: int = 0,
                level: float = 0.95) -> CellOptima:
    """The optimum of every cell of the sweep frame ``frame`` (see :mod:`.data`) by ``method``.

    Parameters
    ----------
    method : {"argmin", "filter", "bowl"}
        See the module docstring.
    bootstrap : int
        Run-level resamples per cell (0: no intervals).
    seed : int
        Seed of the resampling (cell ``k`` uses the ``k``-th stream of ``seed``).

    Raises
    ------
    HparamsError
        Unknown method.
    """
    if method not in _ESTIMATORS:
        raise HparamsError(f"unknown cell method {method!r}", f"choose one of {', '.join(METHODS)}")
    bootstrap = max(0, int(bootstrap))
    est = _ESTIMATORS[method]
    ok_frame = frame[~frame["diverged"].to_numpy(bool)]
    groups = list(ok_frame.groupby("cell", sort=True))
    counts = frame.groupby("cell")["run"].size()
    diverged = frame.groupby("cell")["diverged"].sum()
    streams = np.random.SeedSequence(seed).spawn(max(1, len(groups)))
    LX, LY, WT, cells = [], [], [], []
    for (cell, g), stream in zip(groups, streams):
        x, y = np.log(g["lr"].to_numpy(float)), np.log(g["batch"].to_numpy(float))
        z = g["loss"].to_numpy(float)
        W = resample_counts(len(g), bootstrap, np.random.default_rng(stream))
        lx, ly, w, zhat, flags, support = est(x, y, z, W)
        LX.append(lx)
        LY.append(ly)
        WT.append(w)
        na = float(g["N_active"].iloc[0])
        cells.append(CellOptimum(
            N=float(g["N"].iloc[0]), D=float(g["D"].iloc[0]), N_active=na if np.isfinite(na) else None,
            n_runs=int(counts[cell]), n_diverged=int(diverged[cell]), loss_min=float(z.min()),
            lr_opt=float(np.exp(lx[0])), lr_ci=percentile_interval(np.exp(lx[1:]), level),
            batch_opt=float(np.exp(ly[0])), batch_ci=percentile_interval(np.exp(ly[1:]), level),
            loss_at_opt=float(zhat[0]), n_support=int(support[0]), method=method,
            fallback_share=float(np.mean(flags[1:] == FALLBACK)) if bootstrap else float(flags[0] == FALLBACK),
            warnings=_warnings(method, flags, lx[0], ly[0], x, y, support[0]), cell=int(cell)))
    if not cells:
        raise HparamsError("the sweep has no converged run", "check the loss column")
    return CellOptima(method=method, cells=tuple(cells), log_lr=np.stack(LX, axis=1), log_batch=np.stack(LY, axis=1),
                      weight=np.stack(WT, axis=1), bootstrap=bootstrap, seed=seed)
