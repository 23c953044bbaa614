"""Published hyperparameter rules, with their units, and their cost on a sweep.

Every rule maps a training setup to a peak learning rate :math:`\\eta` [1] and a batch size ``B``
[tokens]. Inputs (:class:`RuleInputs`): ``N`` [parameters], ``D`` [tokens], ``M`` [non-embedding FLOPs per
token], ``C = M D`` [FLOPs], ``seq_len`` [tokens] and, for a loss-based rule, the loss ``L`` [nats].

* **StepLaw** (Li et al. 2025, "Predictable Scale: Part I", arXiv 2503.04715):
  :math:`\\eta = 1.79\\, N^{-0.713} D^{0.307}`, :math:`B = 0.58\\, D^{0.571}` tokens (N non-embedding).
* **DeepSeek LLM** (DeepSeek-AI 2024, arXiv 2401.02954, eq. 1):
  :math:`\\eta = 0.3118\\, C^{-0.1250}`, :math:`B = 0.2920\\, C^{0.3271}` tokens, with :math:`C = M D` and
  ``M`` the non-embedding FLOPs per token, :math:`72 n_{layer} d^2 + 6 n_{layer} d\\, l_{seq}` for their
  architecture; here :math:`M = 6 N + 6 n_{layer} d\\, l_{seq}` when the sweep records the shape, else 6N.
* **Porian et al. 2024** ("Resolving Discrepancies in Compute-Optimal Scaling", arXiv 2406.19146):
  :math:`\\eta = 3.7\\, N^{-0.36}`, :math:`B = 0.00037\\, N^{0.703}` sequences of 2,048 tokens.
* **Kaplan et al. 2020** (arXiv 2001.08361): :math:`\\eta = 0.003239 - 0.0001395 \\ln N` (appendix D)
  and the critical batch :math:`B_{crit}(L) = 2 \\times 10^8 / L^{1/0.21}` tokens (section 5.1), evaluated
  at the cell's minimum loss.

Score of a rule on a sweep (:func:`score_rule`): in every cell, the converged run nearest to the rule's
:math:`(\\eta, B)` in :math:`(\\ln \\eta, \\ln B)`, and its loss gap :math:`L / L_{min} - 1` (a fraction);
the mean and max over cells. On StepLaw's 17 dense cells: StepLaw 0.096%, DeepSeek 0.85%, Porian 0.74%.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from analysis.jsonable import jsonable

from .data import SEQ_LEN, HparamsError

__all__ = ["RuleInputs", "PublishedRule", "RuleScore", "RULES", "STEPLAW", "STEPLAW_PUBLISHED", "get_rule",
           "score_rule", "score_rules", "rule_inputs"]

STEPLAW_PUBLISHED = {"c": 1.79, "a": -0.713, "b": 0.307, "d": 0.58, "g": 0.571}
PORIAN_SEQ_LEN = 2048
KAPLAN_B_STAR, KAPLAN_ALPHA_B = 2.0e8, 0.21


@dataclass(frozen=True)
class RuleInputs:
    """One setup: ``N`` [parameters], ``D`` [tokens], ``M`` [FLOPs per token; default 6 N], ``seq_len``
    [tokens per sequence], ``loss`` [nats; only loss-based rules need it]."""

    N: float
    D: float
    M: float | None = None
    seq_len: float = SEQ_LEN
    loss: float | None = None

    @property
    def flops_per_token(self) -> float:
        return float(self.M) if self.M is not None and math.isfinite(self.M) else 6.0 * self.N

    @property
    def C(self) -> float:
        """Training compute :math:`C = M D` [FLOPs]."""
        return self.flops_per_token * self.D


@dataclass(frozen=True)
class PublishedRule:
    """A published rule: ``lr(inputs)`` [1] and ``batch(inputs)`` [tokens], with formulas and source."""

    key: str
    name: str
    source: str
    lr_formula: str
    batch_formula: str
    lr: Callable[[RuleInputs], float]
    batch: Callable[[RuleInputs], float]
    needs_loss: bool = False
    note: str = ""

    def at(self, inputs: RuleInputs) -> tuple[float, float]:
        """``(lr, batch in tokens)`` at ``inputs``; NaN where the rule gives no positive value."""
        if self.needs_loss and (inputs.loss is None or not math.isfinite(inputs.loss)):
            return math.nan, math.nan
        lr, b = float(self.lr(inputs)), float(self.batch(inputs))
        return (lr if lr > 0 else math.nan), (b if b > 0 else math.nan)

    def to_dict(self) -> dict:
        return {"key": self.key, "name": self.name, "source": self.source, "lr_formula": self.lr_formula,
                "batch_formula": self.batch_formula, "needs_loss": self.needs_loss, "note": self.note}


STEPLAW = PublishedRule(
    "steplaw", "StepLaw", "Li et al. 2025, arXiv 2503.04715",
    "eta = 1.79 N^-0.713 D^0.307 (N non-embedding parameters, D tokens)", "B = 0.58 D^0.571 tokens",
    lambda x: STEPLAW_PUBLISHED["c"] * x.N ** STEPLAW_PUBLISHED["a"] * x.D ** STEPLAW_PUBLISHED["b"],
    lambda x: STEPLAW_PUBLISHED["d"] * x.D ** STEPLAW_PUBLISHED["g"])
RULES: tuple[PublishedRule, ...] = (
    STEPLAW,
    PublishedRule(
        "deepseek", "DeepSeek LLM", "DeepSeek-AI 2024, arXiv 2401.02954",
        "eta = 0.3118 C^-0.1250 (C = M D FLOPs, M non-embedding FLOPs/token)", "B = 0.2920 C^0.3271 tokens",
        lambda x: 0.3118 * x.C ** -0.1250, lambda x: 0.2920 * x.C ** 0.3271,
        note="M = 6N + 6 n_layer d_model seq_len when the shape is known, else 6N"),
    PublishedRule(
        "porian", "Porian et al.", "Porian et al. 2024, arXiv 2406.19146",
        "eta = 3.7 N^-0.36", "B = 0.00037 N^0.703 sequences of 2,048 tokens",
        lambda x: 3.7 * x.N ** -0.36, lambda x: 0.00037 * x.N ** 0.703 * PORIAN_SEQ_LEN),
    PublishedRule(
        "kaplan", "Kaplan et al. (critical batch)", "Kaplan et al. 2020, arXiv 2001.08361",
        "eta = 0.003239 - 0.0001395 ln N", "B_crit = 2e8 / L^(1/0.21) tokens (L in nats)",
        lambda x: 0.003239 - 0.0001395 * math.log(x.N),
        lambda x: KAPLAN_B_STAR / float(x.loss) ** (1.0 / KAPLAN_ALPHA_B), needs_loss=True,
        note="loss-based: evaluated at the cell's minimum loss; fitted on WebText2 with another tokenizer"),
)


def get_rule(key: str) -> PublishedRule:
    """A rule of :data:`RULES` by key (``steplaw``, ``deepseek``, ``porian``, ``kaplan``)."""
    for rule in RULES:
        if rule.key == key.lower():
            return rule
    raise HparamsError(f"unknown rule {key!r}", f"choose one of {', '.join(r.key for r in RULES)}")


@dataclass(frozen=True)
class RuleScore:
    """A rule's loss gap on a sweep: ``mean_penalty`` and ``max_penalty`` (fractions) over ``n_cells``;
    ``cells`` has one row per cell: N, D, rule lr, rule batch [tokens], the nearest run's lr and batch,
    and the gap."""

    key: str
    name: str
    mean_penalty: float
    max_penalty: float
    n_cells: int
    n_basis: str
    cells: tuple[tuple[float, float, float, float, float, float, float], ...]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.cells), columns=["N", "D", "lr_rule", "batch_rule", "lr_run", "batch_run",
                                                       "penalty"])

    def to_dict(self) -> dict:
        return jsonable({"key": self.key, "name": self.name, "mean_penalty": self.mean_penalty,
                         "max_penalty": self.max_penalty, "n_cells": self.n_cells, "n_basis": self.n_basis})


def rule_inputs(cell: pd.DataFrame, n_basis: str = "total") -> RuleInputs:
    """The :class:`RuleInputs` of one cell of a sweep frame (``N`` = total or active parameters)."""
    n_total, n_active = float(cell["N"].iat[0]), float(cell["N_active"].iat[0])
    n = n_active if n_basis == "active" else n_total
    if not math.isfinite(n):
        raise HparamsError("n_basis='active' needs the N_active column", "use n_basis='total' for dense models")
    m = float(cell["M"].iat[0])
    if not math.isfinite(m):
        m = 6.0 * (n_active if math.isfinite(n_active) else n_total)
    ok = ~cell["diverged"].to_numpy(bool)
    return RuleInputs(N=n, D=float(cell["D"].iat[0]), M=m, seq_len=float(cell["seq_len"].iat[0]),
                      loss=float(cell["loss"].to_numpy(float)[ok].min()) if ok.any() else None)


def score_rule(frame: pd.DataFrame, rule: PublishedRule, *, n_basis: str = "total") -> RuleScore:
    """The rule's loss gap in every cell of the sweep frame (see the module docstring)."""
    rows = []
    lr_all, b_all = frame["lr"].to_numpy(float), frame["batch"].to_numpy(float)
    z_all, ok_all = frame["loss"].to_numpy(float), ~frame["diverged"].to_numpy(bool)
    for _, idx in frame.groupby("cell", sort=True).indices.items():
        ok = idx[ok_all[idx]]
        if len(ok) == 0:
            continue
        inputs = rule_inputs(frame.iloc[idx], n_basis)
        lr, b = rule.at(inputs)
        if not (math.isfinite(lr) and math.isfinite(b)):
            continue
        dist = (np.log(lr_all[ok]) - math.log(lr)) ** 2 + (np.log(b_all[ok]) - math.log(b)) ** 2
        j = ok[int(np.argmin(dist))]
        rows.append((float(frame["N"].iat[idx[0]]), inputs.D, lr, b, float(lr_all[j]), float(b_all[j]),
                     float(z_all[j] / z_all[ok].min() - 1.0)))
    gaps = np.array([r[-1] for r in rows], float)
    return RuleScore(key=rule.key, name=rule.name, mean_penalty=float(gaps.mean()) if len(gaps) else math.nan,
                     max_penalty=float(gaps.max()) if len(gaps) else math.nan, n_cells=len(rows), n_basis=n_basis,
                     cells=tuple(rows))


def score_rules(frame: pd.DataFrame, rules=RULES, *, n_basis: str = "total") -> tuple[RuleScore, ...]:
    """:func:`score_rule` for every rule (``n_basis`` "active" is skipped for a sweep without N_active)."""
    return tuple(score_rule(frame, r, n_basis=n_basis) for r in rules)
