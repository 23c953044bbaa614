"""Power laws of the optimal hyperparameters, fitted by least squares in logs with bootstrap intervals.

.. math::
    \\eta^*(N, D) = c\\, N^{a} D^{b} \\qquad B^*(D) = d\\, D^{g} \\qquad B^*(N, D) = d\\, N^{f} D^{g}

with :math:`\\eta^*` the peak learning rate [1], :math:`B^*` the batch size [tokens], ``N`` [parameters]
and ``D`` [tokens] in plain units (so ``c`` and ``d`` carry the units that make the law hold; StepLaw's
published values are ``c = 1.79, a = -0.713, b = 0.307, d = 0.58, g = 0.571``). The fit is ordinary
least squares of :math:`\\ln \\eta^*` on :math:`(1, \\ln N, \\ln D)` over the cells (weighted by the
number of filtered runs for the ``filter`` method, which equals the authors' pooled regression).

Intervals: the same regression on every bootstrap replicate of the cell optima
(:class:`.optimum.CellOptima`, runs resampled within each cell); 95% percentile intervals.

:func:`authors_procedure` reproduces Li et al.'s own code (``code/fit_tool.py`` of step-law/steplaw):
keep the runs within 0.25% of their cell's minimum, regress the pooled runs, bootstrap the pooled runs
1,000 times and report the *mean* of the replicates. :func:`read_authors_bootstrap` reads the 1,000
coefficient sets they released.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.interval import Interval, percentile_interval
from analysis.jsonable import jsonable

from .data import HparamsError
from .optimum import FILTER_GAP, CellOptima

__all__ = ["PowerLaw", "fit_power_law", "fit_optimum_laws", "authors_procedure", "read_authors_bootstrap",
           "LAW_SPECS"]

# target -> (coefficient name, ((exponent name, variable), ...), unit)
LAW_SPECS = {
    "lr": ("c", (("a", "N"), ("b", "D")), "1"),
    "batch": ("d", (("g", "D"),), "tokens"),
    "batch_nd": ("d", (("f", "N"), ("g", "D")), "tokens"),
}
_SYMBOL = {"lr": "eta*", "batch": "B*", "batch_nd": "B*"}
MIN_LOG_RANGE = 0.05      # a variable spanning less than ~5% (in ln) across cells does not determine an exponent


@dataclass(frozen=True, eq=False)
class PowerLaw:
    """``target = coef * prod(variable ** exponent)``, fitted in logs.

    ``params`` maps the coefficient (``c`` or ``d``) and exponents (``a``, ``b``, ``f``, ``g``) to values;
    an exponent whose variable does not vary in the data is NaN (and named in ``warnings``). ``ci`` holds
    95% bootstrap intervals. ``boot`` has one row per replicate: ``[ln coef, exponents...]``.
    ``residuals`` are ``ln(observed) - ln(predicted)`` per cell; ``n_basis`` says whether ``N`` meant total
    or active parameters.
    """

    target: str
    unit: str
    coef: str
    variables: tuple[tuple[str, str], ...]
    params: dict[str, float]
    ci: dict[str, Interval]
    n_cells: int
    r2: float
    residuals: tuple[float, ...] = ()
    boot: np.ndarray | None = field(default=None, repr=False)
    n_basis: str = "total"
    estimate: str = "ols"
    warnings: tuple[str, ...] = ()

    @property
    def fitted(self) -> tuple[tuple[str, str], ...]:
        """The (exponent, variable) pairs that were fitted (the variable varied)."""
        return tuple((p, v) for p, v in self.variables if math.isfinite(self.params[p]))

    @property
    def formula(self) -> str:
        """E.g. ``eta* = 1.79 N^-0.713 D^0.307`` (B* in tokens)."""
        terms = " ".join(f"{v}^{self.params[p]:.4g}" for p, v in self.fitted)
        unit = f" [{self.unit}]" if self.unit != "1" else ""
        return f"{_SYMBOL.get(self.target, self.target)}{unit} = {self.params[self.coef]:.4g} {terms}".strip()

    def _log(self, theta: np.ndarray, values: dict[str, float]) -> np.ndarray:
        out = theta[..., 0].copy()
        for k, (p, v) in enumerate(self.variables):
            if math.isfinite(self.params[p]):
                if v not in values or values[v] is None:
                    raise HparamsError(f"the {self.target} law needs {v}", f"give {v}")
                out = out + theta[..., 1 + k] * math.log(float(values[v]))
        return out

    def predict(self, **values: float) -> float:
        """The law at ``N=..., D=...`` (N in parameters, D in tokens)."""
        theta = np.array([math.log(self.params[self.coef])] + [self.params[p] for p, _ in self.variables])
        return float(np.exp(self._log(np.nan_to_num(theta), values)))

    def interval(self, level: float = 0.95, **values: float) -> Interval:
        """Percentile interval of the law's value at ``values`` over the bootstrap replicates."""
        if self.boot is None or len(self.boot) == 0:
            return Interval(math.nan, math.nan, level)
        return percentile_interval(np.exp(self._log(np.nan_to_num(self.boot), values)), level)

    def to_dict(self) -> dict:
        """``{"formula", "params", "ci", "unit", "n_cells", "r2", ...}`` (CIs as ``[lo, hi]``)."""
        return jsonable({"target": self.target, "formula": self.formula, "unit": self.unit, "params": self.params,
                         "ci": self.ci, "variables": dict(self.variables), "n_cells": self.n_cells, "r2": self.r2,
                         "residuals": self.residuals, "n_basis": self.n_basis, "estimate": self.estimate,
                         "n_boot": 0 if self.boot is None else len(self.boot), "warnings": self.warnings})


def _law(target: str, point: np.ndarray, boot: np.ndarray | None, *, fitted: list[bool], n_cells: int, r2: float,
         residuals=(), n_basis="total", estimate="ols", warnings=(), level=0.95) -> PowerLaw:
    coef, variables, unit = LAW_SPECS[target]
    names = [coef] + [p for p, _ in variables]
    params, ci = {}, {}
    for k, name in enumerate(names):
        if k and not fitted[k - 1]:
            params[name], ci[name] = math.nan, Interval(math.nan, math.nan, level)
            continue
        if k == 0:
            params[name] = float(np.exp(point[0]))
            ci[name] = (percentile_interval(np.exp(boot[:, 0]), level) if boot is not None and len(boot)
                        else Interval(math.nan, math.nan, level))
        else:
            params[name] = float(point[k])
            ci[name] = (percentile_interval(boot[:, k], level) if boot is not None and len(boot)
                        else Interval(math.nan, math.nan, level))
    return PowerLaw(target=target, unit=unit, coef=coef, variables=variables, params=params, ci=ci,
                    n_cells=n_cells, r2=r2, residuals=tuple(float(r) for r in residuals), boot=boot,
                    n_basis=n_basis, estimate=estimate, warnings=tuple(warnings))


def _wls(X: np.ndarray, Y: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Batched weighted least squares: X (n, p), Y and W (R, n) -> coefficients (R, p)."""
    G = np.einsum("rn,ni,nj->rij", W, X, X)
    b = np.einsum("rn,ni,rn->ri", W, X, Y)
    return np.einsum("rij,rj->ri", np.linalg.pinv(G), b)


def fit_power_law(optima: CellOptima, target: str = "lr", *, n_basis: str = "total", level: float = 0.95) -> PowerLaw:
    """Fit the ``target`` law (``"lr"``, ``"batch"`` or ``"batch_nd"``) to the cell optima.

    ``n_basis`` = "total" uses ``N``; "active" uses ``N_active`` (MoE). Variables with a single value
    across cells are left out (their exponent is NaN, with a warning).

    Raises
    ------
    HparamsError
        Fewer cells than fitted parameters, or an unknown target / basis.
    """
    if target not in LAW_SPECS:
        raise HparamsError(f"unknown law {target!r}", f"choose one of {', '.join(LAW_SPECS)}")
    if n_basis not in ("total", "active"):
        raise HparamsError(f"n_basis {n_basis!r} is not 'total' or 'active'")
    coef, variables, unit = LAW_SPECS[target]
    cols = {"N": optima.N_active if n_basis == "active" else optima.N, "D": optima.D}
    if n_basis == "active" and not np.all(np.isfinite(cols["N"])):
        raise HparamsError("n_basis='active' needs N_active for every cell", "use n_basis='total' for dense models")
    logs = {v: np.log(cols[v]) for _, v in variables}
    fitted = [bool(np.ptp(logs[v]) > MIN_LOG_RANGE) for _, v in variables]
    warns = [f"{v} varies by less than {MIN_LOG_RANGE:.0%} across the cells: its exponent {p} is not identified "
             "(left out)" for (p, v), f in zip(variables, fitted) if not f]
    if not any(fitted):
        raise HparamsError(f"every cell has the same {' and '.join(v for _, v in variables)}: there is no "
                           f"{target} law to fit", "sweep at least two (N, D) cells")
    X = np.column_stack([np.ones(len(optima.cells))] + [logs[v] for (_, v), f in zip(variables, fitted) if f])
    n_cells, n_par = X.shape
    if n_cells < n_par:
        raise HparamsError(f"{n_cells} cell(s) cannot determine the {n_par} parameters of the {target} law",
                           "sweep at least one more (N, D) cell")
    if n_cells == n_par:
        warns.append(f"{n_cells} cells for {n_par} parameters: the law passes through every cell exactly; "
                     "its intervals only reflect the per-cell uncertainty")
    Y = optima.log_lr if target == "lr" else optima.log_batch
    ok = np.all(np.isfinite(Y), axis=1)
    coeffs = _wls(X, np.where(np.isfinite(Y), Y, 0.0), optima.weight)
    full = np.full((len(Y), 1 + len(variables)), np.nan)
    full[:, [0] + [1 + k for k, f in enumerate(fitted) if f]] = coeffs
    full[~ok] = np.nan
    point = full[0]
    resid = Y[0] - X @ coeffs[0]
    tss = float(np.sum((Y[0] - Y[0].mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / tss if tss > 0 else math.nan
    boot = full[1:][ok[1:]] if len(full) > 1 else None
    return _law(target, point, boot, fitted=fitted, n_cells=n_cells, r2=r2, residuals=resid, n_basis=n_basis,
                warnings=warns, level=level)


def fit_optimum_laws(optima: CellOptima, *, n_basis: str = "total", level: float = 0.95) -> dict[str, PowerLaw | str]:
    """The three laws (``lr``, ``batch``, ``batch_nd``) on ``optima``; a law that cannot be fitted maps to
    the message saying why."""
    out: dict[str, PowerLaw | str] = {}
    for target in LAW_SPECS:
        try:
            out[target] = fit_power_law(optima, target, n_basis=n_basis, level=level)
        except HparamsError as e:
            out[target] = str(e)
    return out


def authors_procedure(frame: pd.DataFrame, *, threshold: float = FILTER_GAP, bootstrap: int = 1000,
                      seed: int = 0, level: float = 0.95) -> tuple[PowerLaw, PowerLaw]:
    """Li et al.'s fit of ``eta*(N, D) = c N^a D^b`` and ``B*(D) = d D^g`` (B in tokens), as their code does it.

    1. Keep the runs whose loss is within ``threshold`` (0.25%) of their cell's minimum (relative).
    2. Regress ``ln lr`` on ``(1, ln N, ln D)`` and ``ln batch`` on ``(1, ln D)`` over the pooled runs.
    3. Repeat on ``bootstrap`` resamples of the pooled runs; the reported law is the **mean** of the
       replicates' coefficients (``estimate = "bootstrap mean"``), the intervals their percentiles.
    """
    best = frame.groupby("cell")["loss"].transform("min")
    keep = frame[(frame["loss"] / best - 1.0).abs() < threshold]
    x = {"N": np.log(keep["N"].to_numpy(float)), "D": np.log(keep["D"].to_numpy(float))}
    rng = np.random.default_rng(seed)
    n = len(keep)
    W = resample_rows(n, bootstrap, rng)
    out = []
    for target, y in (("lr", np.log(keep["lr"].to_numpy(float))), ("batch", np.log(keep["batch"].to_numpy(float)))):
        _, variables, _ = LAW_SPECS[target]
        fitted = [bool(n and np.ptp(x[v]) > MIN_LOG_RANGE) for _, v in variables]
        if not any(fitted):
            raise HparamsError(f"the filtered runs share one {' and '.join(v for _, v in variables)}: no {target} law")
        X = np.column_stack([np.ones(n)] + [x[v] for (_, v), f in zip(variables, fitted) if f])
        coeffs = _wls(X, np.broadcast_to(y, W.shape), W)
        full = np.full((len(coeffs), 1 + len(variables)), np.nan)
        full[:, [0] + [1 + k for k, f in enumerate(fitted) if f]] = coeffs
        boot = full[1:] if bootstrap else full
        point = boot.mean(axis=0)
        resid = y - X @ coeffs[1:].mean(axis=0) if bootstrap else y - X @ coeffs[0]
        tss = float(np.sum((y - y.mean()) ** 2))
        out.append(_law(target, point, boot if bootstrap else None, fitted=fitted,
                        n_cells=int(keep["cell"].nunique()), r2=1.0 - float(np.sum(resid ** 2)) / tss if tss else
                        math.nan, estimate="bootstrap mean" if bootstrap else "ols", level=level))
    return out[0], out[1]


def resample_rows(n: int, bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Weights (1 + bootstrap, n): all ones, then one row of counts per resample of ``n`` rows."""
    W = np.ones((1 + bootstrap, n))
    if bootstrap:
        idx = rng.integers(0, n, size=(bootstrap, n)) + n * np.arange(bootstrap)[:, None]
        W[1:] = np.bincount(idx.ravel(), minlength=bootstrap * n).reshape(bootstrap, n)
    return W


def read_authors_bootstrap(path: Path | str, level: float = 0.95) -> tuple[PowerLaw, PowerLaw]:
    """The authors' released bootstrap coefficients (``1004_fitted_lr_bs_scaling_model_parameters.csv``:
    columns ``lr_intercept, lr_coefN, lr_coefD, bs_intercept, bs_coefD``, natural logs, batch in tokens)
    as the two laws: values = the means of the replicates (as the authors' tool reports), intervals =
    their percentiles.

    Raises
    ------
    HparamsError
        The file is missing a column or holds a value that is not a number.
    """
    df = pd.read_csv(path)
    need = ["lr_intercept", "lr_coefN", "lr_coefD", "bs_intercept", "bs_coefD"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise HparamsError(f"{Path(path).name}: no column {', '.join(missing)}",
                           "give the authors' bootstrap coefficient file")
    vals = df[need].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(vals)):
        r, c = np.argwhere(~np.isfinite(vals))[0]
        raise HparamsError(f"{Path(path).name}: row {r + 1}, column {need[c]!r} is not a number")
    lr = _law("lr", vals[:, :3].mean(axis=0), vals[:, :3], fitted=[True, True], n_cells=0, r2=math.nan,
              estimate="bootstrap mean (published file)", level=level)
    bs = _law("batch", vals[:, 3:].mean(axis=0), vals[:, 3:], fitted=[True], n_cells=0, r2=math.nan,
              estimate="bootstrap mean (published file)", level=level)
    return lr, bs
