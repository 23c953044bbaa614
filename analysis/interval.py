"""The one confidence-interval type of the workbench.

Every interval a result reports (a fitted parameter's 95% run-level bootstrap interval, an optimal
allocation's, a crossing's) is an :class:`Interval`: two bounds in the units of the quantity and the
level they cover. It unpacks like the ``(lo, hi)`` tuple it replaces::

    lo, hi = fit.ci["E"]
    fit.ci["E"][0] <= fit.params["E"] <= fit.ci["E"][1]

and serialises to ``{"lo": ..., "hi": ..., "level": ...}`` (:meth:`Interval.to_dict`) or, for the CLI's
JSON contracts that predate it, to ``[lo, hi]`` (:meth:`Interval.to_list`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

__all__ = ["Interval", "percentile_interval"]


@dataclass(frozen=True)
class Interval:
    """A two-sided interval ``[lo, hi]`` at coverage ``level`` (0.95 = a 95% interval).

    Bounds may be NaN when the interval could not be computed (too few resamples); :attr:`finite`
    says whether both are numbers.
    """

    lo: float
    hi: float
    level: float = 0.95

    def __iter__(self) -> Iterator[float]:
        yield self.lo
        yield self.hi

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> float:
        return (self.lo, self.hi)[i]

    @property
    def finite(self) -> bool:
        """Both bounds are finite numbers."""
        return self.lo is not None and self.hi is not None and math.isfinite(self.lo) and math.isfinite(self.hi)

    @property
    def width(self) -> float:
        """``hi - lo`` (NaN when a bound is missing)."""
        return self.hi - self.lo if self.finite else float("nan")

    def contains(self, x: float) -> bool:
        """Whether ``lo <= x <= hi`` (False when a bound is missing)."""
        return bool(self.finite and self.lo <= x <= self.hi)

    def to_list(self) -> list[float]:
        """``[lo, hi]``: the CLI's historical JSON form."""
        return [float(self.lo), float(self.hi)]

    def to_dict(self) -> dict:
        return {"lo": float(self.lo), "hi": float(self.hi), "level": float(self.level)}

    @classmethod
    def of(cls, value, level: float = 0.95) -> "Interval":
        """An :class:`Interval` from another one, a ``(lo, hi)`` pair or a ``{"lo", "hi"[, "level"]}`` dict."""
        if isinstance(value, Interval):
            return value
        if isinstance(value, dict):
            return cls(float(value["lo"]), float(value["hi"]), float(value.get("level", level)))
        lo, hi = value
        return cls(float(lo), float(hi), level)

    def __str__(self) -> str:
        return f"[{self.lo:.4g}, {self.hi:.4g}]"


def percentile_interval(samples, level: float = 0.95, min_samples: int = 1) -> Interval:
    """The central percentile interval of the finite ``samples`` at ``level`` (NaN bounds when fewer
    than ``min_samples`` are finite)."""
    v = np.asarray(samples, float).reshape(-1)
    v = v[np.isfinite(v)]
    if len(v) < max(1, min_samples):
        return Interval(float("nan"), float("nan"), level)
    q = (1.0 - level) / 2.0
    lo, hi = np.quantile(v, [q, 1.0 - q])
    return Interval(float(lo), float(hi), level)
