"""What a scaling law is: :class:`Law`, its :class:`Param` eters and its :class:`Derived` variables.

A law predicts a positive quantity ``y`` (a loss in nats, an error rate ...) from variables taken from
the fit frame: the scale axes of :mod:`datasets.vocabulary` (``N`` parameters, ``D`` training tokens,
``C`` training FLOPs, ``step`` optimiser steps, ``U`` unique tokens) and variables it derives itself from
other columns (the LR-annealing law's schedule areas ``S1``, ``S2`` from ``step`` and ``lr``). Fits
happen in log space, so each law provides

* ``logpred(theta, X)``: :math:`\\log \\hat y` for internal parameter vectors ``theta`` of shape
  ``(B, p)``; every value of ``X`` has shape ``(n,)`` (shared by all rows) or ``(B, m)`` (paired row
  by row with ``theta``); returns ``(B, n)`` or ``(B, m)``;
* ``jac(theta, X)``: the analytic Jacobian :math:`\\partial \\log \\hat y / \\partial \\theta`,
  shape ``(B, n, p)``;
* ``init(X, y)``: candidate starting points, shape ``(M, p)``, from variable projection or a grid.

Internal parameters are unconstrained where the public one is positive: a parameter with ``log=True``
is estimated as its natural logarithm, so every coefficient stays positive by construction. Public
values (:meth:`Law.to_public`) are what users see and what :meth:`Law.predict` takes.

Units
-----
A parameter's ``unit`` is a template: ``{y}`` is the unit of the fitted quantity (nats, ``1 - value``
...), ``{N}``, ``{D}``, ``{C}``, ``{step}``, ``{U}`` the units of the scale axes and ``{S1}`` ... the
units of derived variables; :meth:`Law.param_unit` fills it in. A coefficient ``A`` of a term
``A / N^alpha`` is in ``{y} x ({N})^alpha``, an exponent is ``dimensionless``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from datasets.vocabulary import AXES

Array = np.ndarray
DIMENSIONLESS = "dimensionless"
Y = "{y}"


@dataclass(frozen=True)
class Param:
    """One law parameter: name, meaning, bounds in public units, unit template, and whether it is fitted in log."""

    name: str
    meaning: str
    lower: float
    upper: float
    log: bool = False
    unit: str = ""

    def internal_bounds(self) -> tuple[float, float]:
        if self.log:
            return (np.log(self.lower) if self.lower > 0 else -50.0, np.log(self.upper))
        return (self.lower, self.upper)


@dataclass(frozen=True)
class Derived:
    """Variables a law computes from other columns of the frame, per run (e.g. schedule areas).

    ``compute(frame)`` receives the rows whose ``inputs`` are all finite, with ``run`` as text, and
    returns ``{name: array}`` aligned with those rows. ``positive`` lists the outputs that must be
    > 0 for a row to be fitted (the others only need to be finite).
    """

    names: tuple[str, ...]
    inputs: tuple[str, ...]
    compute: Callable[[pd.DataFrame], dict] = field(repr=False)
    units: tuple[str, ...]
    titles: tuple[str, ...]
    what: str = "derived variables"
    positive: tuple[str, ...] = ()

    def unit(self, name: str) -> str:
        return self.units[self.names.index(name)]

    def title(self, name: str) -> str:
        return self.titles[self.names.index(name)]


def _default_logpred_jac(law: "Law", theta: Array, X: dict) -> tuple[Array, Array]:
    return law.logpred(theta, X), law.jac(theta, X)


@dataclass(frozen=True, eq=False)
class Law:
    """A scaling law: formula, parameters, variables, units, the maths the fitter needs, and how to use it.

    Attributes beyond the formula and maths
    ---------------------------------------
    x_axis : str
        The scale axis the law is drawn against: ``C`` for laws in N and D (per-size curves and the
        compute-optimal frontier), else its first variable; a law whose first variable is derived
        (LR annealing) names the axis of its inputs (``step``) and is drawn per run.
    optional : tuple of str
        Variables that may be missing (NaN), e.g. ``U`` for the data-constrained law (no unique-token
        limit). They are still *required* columns for the law to be offered automatically.
    derived : Derived or None
        Variables the law computes from other columns (:meth:`add_derived`), in one place for the fit,
        the back-test and the figures.
    optimum : callable or None
        Closed-form compute optimum ``optimum(P, budget) -> (N, D)``: ``P`` maps parameter names to
        arrays of public values (point estimate and resamples), ``budget`` is ``C / k`` with ``C = k N D``.
        Without it, laws in N and D are optimised numerically by :mod:`analysis.allocate`.
    offered_with_nd : bool or None
        Whether back-tests and ``auto`` offer the law when the data vary both N and D (default: only
        laws in both; a 1-D law in N or D would ignore half the data).
    grid_edges : tuple of (parameter index, grid lo, grid hi)
        Initialisation grids; a start on an edge earns a warning.
    extrapolates : bool
        False for a law that is only trusted inside its data's N and D range (Farseer): allocation refuses a
        compute optimum outside it (:func:`analysis.allocate.allocate`).
    floor : bool
        Whether the law has an irreducible term: the predicted loss tends to a positive floor as the scale
        grows (E in ``E + A N^-alpha``). False for pure power laws (Kaplan's), which predict a loss that
        falls to zero; ``auto`` leaves them out of its default candidates when a law with a floor applies
        (:func:`analysis.auto_law.default_candidates`).
    """

    name: str
    title: str
    formula: str
    latex: str
    variables: tuple[str, ...]
    params: tuple[Param, ...]
    logpred: Callable[[Array, dict], Array] = field(repr=False)
    jac: Callable[[Array, dict], Array] = field(repr=False)
    init: Callable[[dict, Array], Array] = field(repr=False)
    reference: str = ""
    x_axis: str = ""
    optional: tuple[str, ...] = ()
    derived: Derived | None = None
    optimum: Callable[[dict, Array], tuple[Array, Array]] | None = field(default=None, repr=False)
    offered_with_nd: bool | None = None
    grid_edges: tuple[tuple[int, float, float], ...] = ()
    combined: Callable[[Array, dict], tuple[Array, Array]] | None = field(default=None, repr=False)
    extrapolates: bool = True
    floor: bool = True

    def __post_init__(self):
        if not self.x_axis:
            if {"N", "D"} <= set(self.variables):
                x = "C"
            elif self.derived is not None and self.variables[0] in self.derived.names:
                x = self.derived.inputs[0]
            else:
                x = self.variables[0]
            object.__setattr__(self, "x_axis", x)
        if self.offered_with_nd is None:
            object.__setattr__(self, "offered_with_nd", self.allocatable)

    # ---------------------------------------------------------------- identity
    def __str__(self) -> str:
        return self.name

    def __reduce_ex__(self, protocol):
        """Pickled by name when registered (results cached by Streamlit, copies), else field by field."""
        from analysis.laws.registry import LAWS, get_law
        if LAWS.get(self.name) is self:
            return (get_law, (self.name,))
        return super().__reduce_ex__(protocol)

    # ---------------------------------------------------------------- what it needs and offers
    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def allocatable(self) -> bool:
        """Models N and D jointly, so a FLOP budget C = k N D can be split (numerically or by :attr:`optimum`)."""
        return {"N", "D"} <= set(self.variables)

    @property
    def per_run(self) -> bool:
        """Drawn run by run against :attr:`x_axis` (the curve depends on each run's history, not on x alone)."""
        return not self.allocatable and self.x_axis not in self.variables

    @property
    def required(self) -> tuple[str, ...]:
        """Frame columns the data must provide: the law's own variables, derived ones replaced by their inputs."""
        own = [v for v in self.variables if self.derived is None or v not in self.derived.names]
        extra = list(self.derived.inputs) if self.derived is not None else []
        return tuple(dict.fromkeys(own + extra))

    @property
    def checked(self) -> tuple[str, ...]:
        """Variables that must be finite and > 0 for a row to be fitted."""
        skip = set(self.optional)
        if self.derived is not None:
            skip |= set(self.derived.names) - set(self.derived.positive)
        return tuple(v for v in self.variables if v not in skip)

    def add_derived(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the derived variables added, restricted to rows whose inputs are finite
        (index kept, so callers can align masks). Unchanged when the law derives nothing.

        Raises ``KeyError`` naming the missing input columns.
        """
        d = self.derived
        if d is None:
            return frame
        missing = [c for c in d.inputs if c not in frame or pd.to_numeric(frame[c], errors="coerce").isna().all()]
        if missing:
            raise KeyError(f"law {self.name} needs {d.what}: column(s) {', '.join(d.inputs)} "
                           f"(missing or empty: {', '.join(missing)})")
        ok = np.ones(len(frame), bool)
        for c in d.inputs:
            ok &= np.isfinite(pd.to_numeric(frame[c], errors="coerce").to_numpy(float))
        df = frame[ok].copy()
        runs = df["run"].astype(str) if "run" in df else pd.Series("0", index=df.index)   # no run: one curve
        cols = d.compute(df.assign(run=runs))
        return df.assign(**{k: np.asarray(v, float) for k, v in cols.items()})

    # ---------------------------------------------------------------- units and axes
    def variable_unit(self, var: str) -> str:
        if self.derived is not None and var in self.derived.names:
            return self.derived.unit(var)
        return AXES[var].unit if var in AXES else var

    def variable_title(self, var: str) -> str:
        if self.derived is not None and var in self.derived.names:
            return self.derived.title(var)
        return AXES[var].title if var in AXES else var

    def param_unit(self, name: str, y_unit: str | None = None) -> str:
        """Unit of parameter ``name`` when the fitted quantity is in ``y_unit`` (``"see formula"`` if undeclared)."""
        p = self.params[self.param_names.index(name)]
        if not p.unit:
            return "see formula"
        units = {v: self.variable_unit(v) for v in (*AXES, *self.variables)}
        return p.unit.format(y=y_unit or "y units", **units)

    # ---------------------------------------------------------------- maths
    def to_public(self, theta: Array) -> Array:
        theta = np.asarray(theta, dtype=float)
        out = theta.copy()
        for k, p in enumerate(self.params):
            if p.log:
                out[..., k] = np.exp(theta[..., k])
        return out

    def to_internal(self, values: Array) -> Array:
        values = np.asarray(values, dtype=float)
        out = values.copy()
        for k, p in enumerate(self.params):
            if p.log:
                out[..., k] = np.log(values[..., k])
        return out

    def bounds(self) -> list[tuple[float, float]]:
        return [p.internal_bounds() for p in self.params]

    def logpred_jac(self, theta: Array, X: dict) -> tuple[Array, Array]:
        """``(logpred, jac)`` from one model evaluation where the law offers it (``combined``), else both calls."""
        return self.combined(theta, X) if self.combined is not None else _default_logpred_jac(self, theta, X)

    def predict(self, params: dict[str, float], X: dict) -> Array:
        """Evaluate the law at public parameter values ``params`` on variables ``X`` (y units)."""
        theta = self.to_internal(np.array([params[n] for n in self.param_names], dtype=float))
        return np.exp(self.logpred(theta[None, :], as_arrays(X, self.variables))[0])

    def describe(self, y_unit: str | None = None) -> dict:
        """Plain-JSON description (``python -m analysis laws --json``)."""
        derived = None
        if self.derived is not None:
            derived = {"variables": list(self.derived.names), "from": list(self.derived.inputs),
                       "units": list(self.derived.units), "what": self.derived.what}
        return {"name": self.name, "title": self.title, "formula": self.formula, "latex": self.latex,
                "variables": list(self.variables), "reference": self.reference,
                "x_axis": self.x_axis, "required": list(self.required), "optional": list(self.optional),
                "derived": derived, "allocatable": self.allocatable, "closed_form_optimum": self.optimum is not None,
                "parameters": [{"name": p.name, "meaning": p.meaning, "bounds": [p.lower, p.upper],
                                "unit": self.param_unit(p.name, y_unit)} for p in self.params]}


def as_arrays(X, variables) -> dict[str, Array]:
    """Pull ``variables`` out of a DataFrame or mapping as 1-D float64 arrays."""
    return {v: np.asarray(X[v], dtype=float).reshape(-1) for v in variables}


def rows(X: dict, var: str) -> Array:
    """Variable ``var`` of ``X`` as a 2-D array broadcasting against ``(B, ...)`` parameter columns:
    ``(1, n)`` for values shared by every parameter row, ``(B, m)`` for values paired with the rows."""
    return np.atleast_2d(np.asarray(X[var], dtype=float))


def log_rows(X: dict, var: str) -> Array:
    """``log`` of :func:`rows` ``(X, var)``, reusing ``X["log " + var]`` when the caller precomputed it
    (the bootstrap gathers each resample's points once and evaluates the law ~10 times on them)."""
    pre = X.get("log " + var) if isinstance(X, dict) else None
    return np.log(rows(X, var)) if pre is None else np.atleast_2d(pre)
