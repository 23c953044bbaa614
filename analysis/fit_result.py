"""The result of a fit: :class:`FitResult`, with its law, parameters, intervals, diagnostics and rows.

``FitResult.law`` is the :class:`~analysis.laws.Law` object itself, so a custom law passed to
:func:`analysis.fit.fit_law` predicts too; it is serialised by name (``to_dict``) and resolved through
the registry when loaded (``from_dict``). ``used`` and ``data`` are the rows the fit used (a mask over
the frame given to ``fit_law`` and the prepared rows), so figures and reports draw them directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from analysis.interval import Interval, percentile_interval
from analysis.laws import Law, as_arrays, get_law
from analysis.prepare import complete_axes

OBJECTIVES = {"huber": "Huber loss on log residuals", "mse": "squared error on log residuals",
              "lower": "asymmetric squared error (lower envelope, tau = 0.1)"}


def message_sections(warnings, notes) -> list[str]:
    """The ``[[Warnings]]`` and ``[[Notes]]`` sections of an lmfit-style text report (none when empty)."""
    lines = []
    for title, messages in (("Warnings", warnings), ("Notes", notes)):
        if messages:
            lines.append(f"[[{title}]]")
            lines += [f"    - {m}" for m in messages]
    return lines


@dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted scaling law: parameters, uncertainty, diagnostics, and the settings that produced it.

    ``params`` are public values (E, A, B, alpha, beta ...) in the units of
    ``law.param_unit(name, y_unit)``. ``ci`` are 95% percentile :class:`~analysis.interval.Interval` s
    from the run-level bootstrap (empty when no bootstrap ran); ``boot`` holds every resample's
    parameters in ``param_names`` order. ``used`` (boolean, one entry per row of the frame given to
    ``fit_law``) and ``data`` (those rows, prepared: derived variables added, ``y`` as fitted) are
    None for a result loaded from JSON.
    """

    law: Law
    params: dict[str, float]
    ci: dict[str, Interval]
    n_points: int
    n_runs: int
    success: bool
    message: str
    warnings: tuple[str, ...]
    objective: str
    delta: float
    objective_value: float
    rmse_log: float
    mare: float
    ranges: dict[str, tuple[float, float]]
    settings: dict
    y_transform: str = "none"
    boot: np.ndarray | None = field(default=None, repr=False)
    n_boot_requested: int = 0
    n_boot_unconverged: int = 0   # resamples that hit the iteration cap (kept at their best point)
    seconds: float = 0.0
    notes: tuple[str, ...] = ()
    used: np.ndarray | None = field(default=None, repr=False)
    data: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.law.param_names

    @property
    def n_boot(self) -> int:
        return 0 if self.boot is None else int(len(self.boot))

    def _inverse(self, y):
        return 1.0 - y if self.y_transform == "one_minus" else y

    def _X(self, X) -> dict:
        """The law's variables from ``X``: N, D, C completed, optional ones NaN when absent, derived
        ones computed per run from their inputs (NaN where an input is missing)."""
        law = self.law
        if all(v in X for v in law.variables):
            return as_arrays(X, law.variables)
        df = complete_axes(X).reset_index(drop=True)
        for v in law.optional:
            if v not in df:
                df[v] = np.nan
        d = law.derived
        if d is not None and any(v not in df for v in d.names) and all(c in df for c in d.inputs):
            got = law.add_derived(df)
            for v in d.names:
                df[v] = np.nan
                df.loc[got.index, v] = got[v]
        return as_arrays(df, law.variables)

    def predict(self, X) -> np.ndarray:
        """Predicted metric at ``X`` (a DataFrame or dict with the law's variables, or the columns they
        are derived from), in metric units."""
        return self._inverse(self.law.predict(self.params, self._X(X)))

    def predict_samples(self, X) -> np.ndarray:
        """Predictions of every bootstrap resample, shape (n_boot, len(X)); raises if none ran."""
        if self.boot is None or len(self.boot) == 0:
            raise ValueError("this fit has no bootstrap samples; refit with bootstrap > 0")
        theta = self.law.to_internal(self.boot)
        return self._inverse(np.exp(self.law.logpred(theta, self._X(X))))

    def band(self, X, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise percentile band ``(lo, hi)`` of the prediction at ``level``."""
        s = self.predict_samples(X)
        q = (1 - level) / 2
        # np.nanquantile loops over columns in Python (5 s for 10^4 points); without NaN, np.quantile is the same
        quantile = np.nanquantile if np.isnan(s).any() else np.quantile
        lo, hi = quantile(s, [q, 1 - q], axis=0)
        return lo, hi

    def derived(self, fn: Callable[[dict], float], level: float = 0.95) -> tuple[float, float, float]:
        """A derived quantity ``fn(params)`` and its percentile interval over the bootstrap: (value, lo, hi)."""
        value = float(fn(self.params))
        if self.boot is None or len(self.boot) == 0:
            return value, float("nan"), float("nan")
        names = self.param_names
        ci = percentile_interval([fn(dict(zip(names, row))) for row in self.boot], level)
        return value, ci.lo, ci.hi

    def to_dict(self, include_samples: bool = False) -> dict:
        """Plain-JSON view (the CLI contract: law, params, ci, n_points, n_runs, success, warnings ...)."""
        d = {
            "law": self.law.name, "formula": self.law.formula,
            "params": {k: float(v) for k, v in self.params.items()},
            "ci": {k: Interval.of(v).to_list() for k, v in self.ci.items()},
            "n_points": self.n_points, "n_runs": self.n_runs, "success": bool(self.success),
            "message": self.message, "warnings": list(self.warnings), "notes": list(self.notes),
            "objective": self.objective, "delta": self.delta, "objective_value": self.objective_value,
            "rmse_log": self.rmse_log, "mare": self.mare,
            "ranges": {k: [float(a), float(b)] for k, (a, b) in self.ranges.items()},
            "y_transform": self.y_transform, "n_boot": self.n_boot, "n_boot_requested": self.n_boot_requested,
            "n_boot_unconverged": self.n_boot_unconverged, "seconds": self.seconds, "settings": self.settings,
        }
        if include_samples and self.boot is not None:
            d["boot"] = self.boot.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict, law: Law | None = None) -> "FitResult":
        """The result saved by :meth:`to_dict`; its law is resolved by name through the registry
        (pass ``law`` for an unregistered one)."""
        boot = np.asarray(d["boot"], float) if d.get("boot") is not None else None
        return cls(law=law if law is not None else get_law(d["law"]), params=dict(d["params"]),
                   ci={k: Interval.of(v) for k, v in d["ci"].items()},
                   n_points=d["n_points"], n_runs=d["n_runs"], success=d["success"], message=d["message"],
                   warnings=tuple(d["warnings"]), objective=d["objective"], delta=d["delta"],
                   objective_value=d["objective_value"], rmse_log=d["rmse_log"], mare=d["mare"],
                   ranges={k: tuple(v) for k, v in d["ranges"].items()}, settings=d["settings"],
                   y_transform=d.get("y_transform", "none"), boot=boot,
                   n_boot_requested=d.get("n_boot_requested", 0),
                   n_boot_unconverged=d.get("n_boot_unconverged", 0), seconds=d.get("seconds", 0.0),
                   notes=tuple(d.get("notes", ())))

    def summary(self) -> str:
        """An lmfit-style text report."""
        law = self.law
        lines = [f"[[Fit]] {law.title}: {law.formula}",
                 f"    objective: {OBJECTIVES[self.objective]}" + (f" (delta={self.delta:g})" if self.objective == "huber" else ""),
                 f"    points: {self.n_points}   runs: {self.n_runs}   success: {self.success}",
                 f"    RMSE(log y): {self.rmse_log:.4g}   mean |rel. error|: {self.mare:.3%}",
                 f"[[Parameters]] (95% CI, run-level bootstrap, {self.n_boot} resamples)"]
        for k, v in self.params.items():
            ci = self.ci.get(k)
            lines.append(f"    {k:>8s} = {v:.6g}" + (f"   [{ci[0]:.5g}, {ci[1]:.5g}]" if ci else ""))
        return "\n".join(lines + message_sections(self.warnings, self.notes))
