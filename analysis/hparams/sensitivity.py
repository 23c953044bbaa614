"""How much loss a mistuned learning rate or batch size costs: the sweep's own penalty curve.

For a cell with minimum loss :math:`L_{min}` at the lowest-loss run :math:`(\\eta_0, B_0)`, moving the
learning rate by a factor ``k`` with the batch re-optimised costs

.. math::
    \\Delta_\\eta(k) = \\min_{B} L(k\\,\\eta_0, B) / L_{min} - 1,

the minimum over the runs whose learning rate is within a factor :math:`2^{1/4}` of :math:`k \\eta_0`
(the nearest grid point; none -> the cell has no value for ``k``); likewise :math:`\\Delta_B(k)` with the
learning rate re-optimised. Reported per cell and as the median over the cells that have the point,
as fractions (0.007 = 0.7%). Diverged runs count with their real loss: a move into the unstable region
costs what it cost. On StepLaw's dense sweep: doubling the learning rate costs 0.70%, halving it 0.25%.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.jsonable import jsonable

__all__ = ["FACTORS", "Sensitivity", "sensitivity", "factor_label"]

FACTORS = (0.25, 0.5, 2.0, 4.0)
TOLERANCE = math.log(2.0) / 4.0      # |ln(value / target)| within which a grid point counts as the target


def factor_label(k: float) -> str:
    """``0.25`` -> ``"x1/4"``, ``2`` -> ``"x2"``."""
    return f"x1/{round(1 / k):d}" if k < 1 else f"x{k:g}"


@dataclass(frozen=True)
class Sensitivity:
    """Median (over cells) loss penalty of moving ``lr`` or ``batch`` by each factor, the other re-optimised.

    ``lr`` / ``batch`` map factor -> median penalty (fraction; NaN when no cell has the point);
    ``n_cells`` maps ``(param, factor)`` -> cells that had it; ``per_cell`` holds one row per (cell,
    param, factor): ``N, D, param, factor, penalty``.
    """

    factors: tuple[float, ...]
    lr: dict[float, float]
    batch: dict[float, float]
    n_cells: dict[tuple[str, float], int]
    per_cell: tuple[tuple[float, float, str, float, float], ...]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.per_cell), columns=["N", "D", "param", "factor", "penalty"])

    def to_dict(self) -> dict:
        return jsonable({"lr": {factor_label(k): v for k, v in self.lr.items()},
                         "batch": {factor_label(k): v for k, v in self.batch.items()},
                         "n_cells": {f"{p} {factor_label(k)}": n for (p, k), n in self.n_cells.items()},
                         "unit": "fraction of the cell's minimum loss (median over cells)"})


def sensitivity(frame: pd.DataFrame, factors=FACTORS) -> Sensitivity:
    """The penalty curves of the sweep frame ``frame`` (see the module docstring)."""
    rows = []
    for _, g in frame.groupby("cell", sort=True):
        z = g["loss"].to_numpy(float)
        z = np.where(np.isfinite(z), z, np.inf)
        ok = ~g["diverged"].to_numpy(bool)
        if not ok.any():
            continue
        j = int(np.argmin(np.where(ok, z, np.inf)))
        best = z[j]
        logs = {"lr": np.log(g["lr"].to_numpy(float)), "batch": np.log(g["batch"].to_numpy(float))}
        n, d = float(g["N"].iloc[0]), float(g["D"].iloc[0])
        for param, x in logs.items():
            for k in factors:
                near = np.abs(x - (x[j] + math.log(k))) < TOLERANCE
                pen = float(z[near].min() / best - 1.0) if near.any() else math.nan
                rows.append((n, d, param, float(k), pen))
    table = pd.DataFrame(rows, columns=["N", "D", "param", "factor", "penalty"])
    med, count = {}, {}
    for param in ("lr", "batch"):
        med[param] = {}
        for k in factors:
            v = table.loc[(table["param"] == param) & (table["factor"] == k), "penalty"].to_numpy(float)
            v = v[~np.isnan(v)]
            med[param][float(k)] = float(np.median(v)) if len(v) else math.nan
            count[(param, float(k))] = int(len(v))
    return Sensitivity(factors=tuple(float(k) for k in factors), lr=med["lr"], batch=med["batch"], n_cells=count,
                       per_cell=tuple(rows))
