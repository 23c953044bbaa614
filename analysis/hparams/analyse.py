"""The one call behind the Hyperparameters page and ``python -m analysis hparams``.

:func:`analyse_sweep` takes a sweep frame (:mod:`.data`) and returns an :class:`HparamsResult`: every
cell's optimum (:mod:`.optimum`), the laws :math:`\\eta^*(N, D) = c N^a D^b`, :math:`B^*(D) = d D^g` and
:math:`B^*(N, D) = d N^f D^g` (:mod:`.scaling`), the penalty of mistuning (:mod:`.sensitivity`), the
published rules' loss gaps (:mod:`.rules`) and, when asked, a recommendation at a new (N, D)
(:mod:`.recommend`). Units: learning rate [1], batch [tokens], N [parameters], D [tokens], losses in the
metric's unit (nats for StepLaw), penalties as fractions of the cell's minimum loss (0.001 = 0.1%).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.jsonable import jsonable

from .compare import published_vs_refit
from .data import SEQ_LEN, HparamsError
from .optimum import CellOptima, CellOptimum, cell_optima
from .recommend import Recommendation, recommend
from .rules import RULES, STEPLAW, RuleScore, score_rule, score_rules
from .scaling import PowerLaw, authors_procedure, fit_optimum_laws
from .sensitivity import Sensitivity, sensitivity

__all__ = ["HparamsResult", "analyse_sweep", "moe_comparison"]


@dataclass(frozen=True, eq=False)
class HparamsResult:
    """Everything the analysis of one sweep found (see the module docstring for units).

    ``lr_law``, ``batch_law`` and ``batch_law_nd`` are None when the sweep cannot determine them (the
    reason is in ``warnings``). ``authors`` holds Li et al.'s own procedure on the same runs (lr law, batch
    law; None when it cannot run), ``moe`` StepLaw's loss gap with N = total vs active parameters
    (:func:`moe_comparison`; None for a dense sweep).
    """

    method: str
    n_basis: str
    n_runs: int
    n_diverged: int
    optima: CellOptima
    lr_law: PowerLaw | None
    batch_law: PowerLaw | None
    batch_law_nd: PowerLaw | None
    sensitivity: Sensitivity
    rules: tuple[RuleScore, ...]
    recommendation: Recommendation | None = None
    authors: tuple[PowerLaw, PowerLaw] | None = None
    moe: dict[str, RuleScore] | None = None
    metric: str | None = None
    unit: str | None = None
    family: str | None = None
    bootstrap: int = 0
    seed: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def cells(self) -> tuple[CellOptimum, ...]:
        return self.optima.cells

    @property
    def n_cells(self) -> int:
        return len(self.optima.cells)

    def hull_points(self) -> tuple:
        """The cells' (N, D) in the laws' basis (total or active parameters)."""
        n = self.optima.N_active if self.n_basis == "active" else self.optima.N
        return n, self.optima.D

    def recommend(self, N: float, D: float, *, seq_len: float = SEQ_LEN, N_active: float | None = None,
                  M: float | None = None, batch_law: str = "batch") -> Recommendation:
        """:func:`.recommend.recommend` with this sweep's laws (``batch_law`` "batch" or "batch_nd").

        Raises
        ------
        HparamsError
            The laws could not be fitted on this sweep, or a bad input.
        """
        blaw = self.batch_law_nd if batch_law == "batch_nd" else self.batch_law
        if self.lr_law is None or blaw is None:
            raise HparamsError("this sweep does not determine the optimum laws (too few cells)",
                               "sweep more (N, D) cells, or read the per-cell optima")
        n, d = self.hull_points()
        return recommend(self.lr_law, blaw, n, d, N=N, D=D, seq_len=seq_len, N_active=N_active, M=M)

    def table(self) -> pd.DataFrame:
        """One row per cell (:meth:`.optimum.CellOptima.table`)."""
        return self.optima.table()

    def comparison(self) -> pd.DataFrame:
        """StepLaw's published constants beside the authors' procedure and this refit
        (:func:`.compare.published_vs_refit`)."""
        return published_vs_refit(self.lr_law, self.batch_law, method=self.method, authors=self.authors)

    def to_dict(self) -> dict:
        """The CLI's JSON contract: ``n_cells``, ``cells``, ``lr_law``, ``batch_law``, ``rules``,
        ``sensitivity``, ``recommendation`` (plus ``batch_law_nd``, settings and warnings)."""
        return jsonable({"n_cells": self.n_cells, "n_runs": self.n_runs, "n_diverged": self.n_diverged,
                "method": self.method, "n_basis": self.n_basis, "metric": self.metric, "unit": self.unit,
                "family": self.family, "bootstrap": self.bootstrap, "seed": self.seed,
                "cells": [c.to_dict() for c in self.cells],
                "lr_law": self.lr_law.to_dict() if self.lr_law else None,
                "batch_law": self.batch_law.to_dict() if self.batch_law else None,
                "batch_law_nd": self.batch_law_nd.to_dict() if self.batch_law_nd else None,
                "rules": [r.to_dict() for r in self.rules], "sensitivity": self.sensitivity.to_dict(),
                "recommendation": self.recommendation.to_dict() if self.recommendation else None,
                "authors_procedure": ({"lr_law": self.authors[0].to_dict(), "batch_law": self.authors[1].to_dict()}
                                      if self.authors else None),
                "moe": {k: v.to_dict() for k, v in self.moe.items()} if self.moe else None,
                "units": {"lr": "1", "batch": "tokens", "N": "parameters", "D": "tokens",
                          "penalty": "fraction of the cell's minimum loss"},
                "warnings": list(self.warnings)})


def analyse_sweep(frame: pd.DataFrame, *, method: str = "bowl", bootstrap: int = 1000, seed: int = 0,
                  n_basis: str = "total", at: dict | None = None, rules=RULES, level: float = 0.95) -> HparamsResult:
    """Analyse a learning-rate x batch sweep.

    Parameters
    ----------
    frame : DataFrame
        A sweep frame (:func:`.data.from_store`, :func:`.data.from_table`).
    method : {"bowl", "filter", "argmin"}
        How each cell's optimum is found (:mod:`.optimum`); the bowl by default.
    bootstrap, seed : int
        Run-level resamples within each cell for every interval (0: none).
    n_basis : {"total", "active"}
        Which N the laws and rules use for an MoE sweep.
    at : dict, optional
        ``{"N": ..., "D": ..., "seq_len": ..., "N_active": ...}``: also recommend there.

    Raises
    ------
    HparamsError
        Bad method, basis or ``at`` values.
    """
    optima = cell_optima(frame, method, bootstrap=bootstrap, seed=seed, level=level)
    laws = fit_optimum_laws(optima, n_basis=n_basis, level=level)
    warns = [f"{k} law: {v}" for k, v in laws.items() if isinstance(v, str)]
    for law in laws.values():
        if isinstance(law, PowerLaw):
            warns.extend(f"{law.target} law: {w}" for w in law.warnings)
    for c in optima.cells:
        warns.extend(f"cell N = {c.N:.3g}, D = {c.D:.3g}: {w}" for w in c.warnings)
    n_div = int(frame["diverged"].sum())
    if n_div:
        warns.append(f"{n_div} of {len(frame)} runs diverged (loss > 1.5x their cell's minimum, or not finite): "
                     "left out of every optimum and rule score")
    get = lambda k: laws[k] if isinstance(laws[k], PowerLaw) else None   # noqa: E731
    try:
        authors = authors_procedure(frame[~frame["diverged"]], bootstrap=bootstrap, seed=seed, level=level)
    except (HparamsError, ValueError, np.linalg.LinAlgError):
        authors = None
    moe = moe_comparison(frame) if frame["N_active"].notna().all() else None
    result = HparamsResult(
        method=method, n_basis=n_basis, n_runs=len(frame), n_diverged=n_div, optima=optima, lr_law=get("lr"),
        batch_law=get("batch"), batch_law_nd=get("batch_nd"), sensitivity=sensitivity(frame),
        rules=score_rules(frame, rules, n_basis=n_basis), authors=authors, moe=moe, metric=frame.attrs.get("metric"),
        unit=frame.attrs.get("unit"), family=frame.attrs.get("family"), bootstrap=int(bootstrap), seed=int(seed),
        warnings=tuple(warns))
    if at:
        rec = result.recommend(float(at["N"]), float(at["D"]), seq_len=float(at.get("seq_len") or SEQ_LEN),
                               N_active=at.get("N_active"), M=at.get("M"))
        result = HparamsResult(**{**result.__dict__, "recommendation": rec})
    return result


def moe_comparison(frame: pd.DataFrame, rule=STEPLAW) -> dict[str, RuleScore]:
    """A dense rule on an MoE sweep with N = total vs N = active parameters: ``{"total": score,
    "active": score}`` (StepLaw on the four StepLaw MoE families: 0.16% vs 1.00% mean loss gap).

    Raises
    ------
    HparamsError
        The sweep has no N_active.
    """
    if not frame["N_active"].notna().all():
        raise HparamsError("the sweep has no active-parameter column (N_active)",
                           "give N_active for every run of an MoE sweep")
    return {b: score_rule(frame, rule, n_basis=b) for b in ("total", "active")}
