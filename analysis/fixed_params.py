"""Fitting a law with some parameters frozen: the second stage of a two-stage fit.

Muennighoff et al. (2023) fit the data-constrained law in two stages: the single-epoch (Chinchilla)
coefficients ``E, A, B, alpha, beta`` first, on other data, then only the decay constants ``R_D*`` and
``R_N*`` on the repeated-data runs with the first five frozen. :func:`fit_law(..., fixed=...)
<analysis.fit.fit_law>` does the second stage for any law: it fits the law restricted to its free
parameters (:func:`frozen_law`: same formula, the frozen values inserted, the Jacobian's free columns)
with the usual initialisation, polish and run-level bootstrap, then returns the result in the full law,
the frozen parameters at their values with zero-width intervals (their uncertainty is not propagated:
stage 2's intervals are conditional on stage 1).

``fixed`` is a mapping ``{name: public value}`` or, for ``data_constrained``, the name of a stage 1
(:func:`stage_one`):

* ``"published"``: the paper's C4 values (:data:`analysis.laws.data_constrained.PUBLISHED_SINGLE_EPOCH`);
* ``"single-epoch"``: Chinchilla fitted to the rows of the same data that see each token once
  (``D <= U``), with the same objective and filters.
"""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd

from analysis.interval import Interval
from analysis.laws import Law, get_law
from analysis.laws.data_constrained import PUBLISHED_SINGLE_EPOCH, SINGLE_EPOCH
from analysis.prepare import FitError

STAGES = ("published", "single-epoch")
"""Named stage-1 sources of :func:`stage_one` (for ``data_constrained``)."""


def parse_fixed(items) -> dict | str | None:
    """``--fix`` values: a stage name (:data:`STAGES`) or ``NAME=VALUE`` pairs (comma-separated or repeated)."""
    items = [s.strip() for item in (items or ()) for s in str(item).split(",") if s.strip()]
    if not items:
        return None
    if len(items) == 1 and items[0] in STAGES:
        return items[0]
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise FitError(f"--fix {item!r}: give NAME=VALUE (e.g. E=1.87) or one of {', '.join(STAGES)}") from None
    return out


def single_epoch_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that see each token once: ``D <= U`` (within 1e-6), or no unique-token limit (``U`` missing)."""
    D = pd.to_numeric(frame["D"], errors="coerce")
    U = pd.to_numeric(frame["U"], errors="coerce") if "U" in frame else pd.Series(np.nan, index=frame.index)
    return frame[U.isna() | (D <= U * (1 + 1e-6))]


def stage_one(frame: pd.DataFrame, law: Law, how: str, fit, **kwargs) -> tuple[dict, str]:
    """``(values to freeze, description)`` for ``law`` (``data_constrained``) from stage ``how``."""
    if law.name != "data_constrained":
        raise FitError(f"a named stage 1 ({how!r}) exists for data_constrained only; fix {law.name}'s parameters "
                       "with NAME=VALUE pairs")
    if how == "published":
        return dict(PUBLISHED_SINGLE_EPOCH), ("stage 1 as published (Muennighoff et al. 2023: Chinchilla with "
                                             "alpha = beta on Hoffmann et al.'s C4 IsoFLOP points)")
    if how != "single-epoch":
        raise FitError(f"unknown stage 1 {how!r}; choose one of {', '.join(STAGES)}")
    rows = single_epoch_rows(frame)
    try:
        first = fit(rows, "chinchilla", **dict(kwargs, bootstrap=0, diagnostics=False))
    except FitError as exc:
        raise FitError(f"stage 1 (Chinchilla on the single-epoch rows, D <= U) failed: {exc}") from None
    desc = (f"stage 1: Chinchilla fitted to the {first.n_points} single-epoch rows ({first.n_runs} runs, D <= U); "
            f"its intervals are not propagated")
    return {k: first.params[k] for k in SINGLE_EPOCH}, desc


def frozen_law(law: Law, fixed: dict) -> Law:
    """``law`` over its free parameters, the ``fixed`` public values inserted (an unregistered Law)."""
    unknown = sorted(set(fixed) - set(law.param_names))
    if unknown:
        raise FitError(f"{law.name} has no parameter(s) {', '.join(unknown)}; its parameters are "
                       f"{', '.join(law.param_names)}")
    free = [k for k, n in enumerate(law.param_names) if n not in fixed]
    if not free:
        raise FitError(f"every parameter of {law.name} is fixed: nothing to fit")
    base = np.zeros(len(law.params))
    for k, p in enumerate(law.params):
        if p.name in fixed:
            v = float(fixed[p.name])
            if not (p.lower <= v <= p.upper) or (p.log and v <= 0):
                raise FitError(f"fixed {p.name} = {v:g} is outside its range [{p.lower:g}, {p.upper:g}]")
            base[k] = np.log(v) if p.log else v

    def full(theta):
        theta = np.atleast_2d(theta)
        out = np.broadcast_to(base, (theta.shape[0], len(base))).copy()
        out[:, free] = theta
        return out

    def init(X, y):
        cands = law.init(X, y)[:, free]
        grids = []
        for j, k in enumerate(free):           # around the law's own starts: x 1/8 ... x 8 (log), +- 50% (linear)
            c = np.median(cands[:, j])
            lo, hi = law.params[k].internal_bounds()
            g = c + np.log(2.0) * np.arange(-3, 4) if law.params[k].log else c * np.linspace(0.5, 1.5, 5)
            grids.append(np.clip(g, lo, hi))
        if len(free) <= 3:
            cands = np.vstack([cands, np.array(list(itertools.product(*grids)))])
        return cands

    # Every other attribute (floor, extrapolates, derived, axis ...) is the base law's. What is cleared works on
    # the full parameter vector: the closed-form optimum takes every public parameter, grid_edges index the full
    # vector, and combined (logpred and jac in one pass) would bypass the frozen values.
    return dataclasses.replace(
        law, name=f"{law.name} (fixed {', '.join(sorted(fixed))})", params=tuple(law.params[k] for k in free),
        logpred=lambda theta, X: law.logpred(full(theta), X),
        jac=lambda theta, X: law.jac(full(theta), X)[..., free],
        init=init, optimum=None, grid_edges=(), combined=None)


def fit_with_fixed(fit, frame: pd.DataFrame, law, fixed, **kwargs):
    """``fit(frame, law, **kwargs)`` (:func:`analysis.fit.fit_law`) with the ``fixed`` parameters frozen.

    Returns the result in the full law: frozen parameters at their values (zero-width intervals, constant
    bootstrap columns), ``settings["fixed"]`` the frozen values and a note saying where they came from.
    """
    law = get_law(law)
    how = None
    if isinstance(fixed, str):
        how = fixed
        keep = {k: kwargs[k] for k in ("objective", "delta", "min_tokens", "min_fraction", "exclude_runs",
                                       "y_transform", "min_tpp", "max_tpp", "max_loss") if k in kwargs}
        fixed, desc = stage_one(frame, law, how, fit, **keep)
    else:
        fixed = {str(k): float(v) for k, v in dict(fixed).items()}
        desc = "fixed by the caller"
    part = fit(frame, frozen_law(law, fixed), **kwargs)
    params = {n: float(fixed[n]) if n in fixed else part.params[n] for n in law.param_names}
    ci = {n: Interval(params[n], params[n]) if n in fixed else part.ci[n] for n in law.param_names} if part.ci else {}
    boot = None
    if part.boot is not None:
        boot = np.empty((len(part.boot), len(law.params)))
        for k, n in enumerate(law.param_names):
            boot[:, k] = params[n] if n in fixed else part.boot[:, part.param_names.index(n)]
    shown = ", ".join(f"{n} = {params[n]:.4g}" for n in law.param_names if n in fixed)
    settings = dict(part.settings, law=law.name, fixed=dict(fixed), stage1=how or "given")
    return dataclasses.replace(part, law=law, params=params, ci=ci, boot=boot, settings=settings,
                               notes=(*part.notes, f"two-stage fit: {shown} held fixed ({desc}); the intervals "
                                                   "of the other parameters are conditional on them"))
